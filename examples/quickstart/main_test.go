package main

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stevedore-dev/stevedore/internal/clitest"
)

func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), &out, 20*time.Millisecond); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"registered shop:2", "shop:2: 3/3 running, stable", "done     rolled out version v2",
		"event: (service shop)", "CannotPullContainerError", "ECS rolled the service back to shop:2 by itself",
		"rollback deregistered shop:3", "v3: failed and was rolled back",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

// SIGTERM during the first rollout cancels it, rolls it back, says so and exits 143.
func TestSIGTERMRollsBack(t *testing.T) {
	p := clitest.Start(t, clitest.Build(t, "examples/quickstart"), nil)
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(p.Stdout(), "updated service to shop:2") {
		if time.Now().After(deadline) {
			t.Fatalf("the first rollout did not start:\n%s", p.Stdout())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Signal(syscall.SIGTERM)
	code, _ := p.Wait(time.Minute)
	if code != 143 || !strings.Contains(p.Stderr(), "quickstart: terminated: cancelling and rolling back") ||
		!strings.Contains(p.Stdout(), "rollback rolled back") || !strings.Contains(p.Stderr(), "the good release did not go out (rolled back)") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, p.Stdout(), p.Stderr())
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	clitest.Cleanup()
	os.Exit(code)
}
