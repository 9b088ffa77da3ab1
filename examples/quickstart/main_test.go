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
		"registered shop:2", "SUCCESSFUL: 3/3 tasks of the new revision running", "done     rolled out version v2",
		"event: (service shop)", "CannotPullContainerError", "rolling service deployment", // ECS rolls it back itself: the wait or the rollback says so
		"rollback deregistered shop:3", "v3: failed and was rolled back in", "CannotPullContainerError: 123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:v3: not found; latest events",
		"IN_PROGRESS BAKE_TIME", "of bake time left", "done     rolled out version v4",
		"10% of production traffic", "alarms in ALARM: shop-5xx", "v5: canary rolled back by ECS when shop-5xx fired",
		// v6 in three stages with a gate; v7 fails in the last and all three go back
		"ecs gate                                  gate alarms shop-p99-latency passed", `eks wait     k8s:default/Deployment/shop  deployment "shop" successfully rolled out`,
		"ec2 done     ec2:tag:app=shop             version v6 runs on 3/3 instances", "): deployed in ",
		"install: shop.tar.gz: checksum mismatch", "): rolled back in ", "gate alarms shop-p99-latency after ecs: pass, 3 measurements",
		"ecs demo/shop runs shop:6", "eks default/shop has 3 ready pods of shop:v6", "ec2 app=shop instances run v6, v6, v6",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// v7's rollbacks run latest stage first, each ended before the next starts.
	v7 := text[strings.Index(text, "6. Releasing v7"):]
	order := []string{"ec2 rollback ec2:tag:app=shop             rolled back", "eks rollback k8s:default/Deployment/shop  rolling back",
		"eks rollback k8s:default/Deployment/shop  rolled back", "ecs rollback ecs:demo/shop                rolling back"}
	for i := 1; i < len(order); i++ {
		if a, b := strings.Index(v7, order[i-1]), strings.Index(v7, order[i]); a < 0 || b < a {
			t.Errorf("%q (at %d) does not come before %q (at %d)", order[i-1], a, order[i], b)
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
