package eks

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/store"
	"github.com/stevedore-dev/stevedore/internal/kubetest"
)

// A journalled release of a Deployment (to an image that never pulls) is killed (SIGKILL) as
// its write is on record but not made, after the write, and in the middle of its undo;
// another process's Recover puts the pod template back as it was, and leaves nothing
// unfinished.
func TestJournalCrashAndRecover(t *testing.T) {
	for _, crashOn := range []string{"writing the new pod template", "updated:", "rolling back"} {
		t.Run(strings.Fields(crashOn)[0], func(t *testing.T) {
			k := newKube(t)
			tg := k.deployWorkload(Deployment, "web", registry+"web:v1", 2)
			before := k.get(tg).Get("spec.template").Raw
			dir := t.TempDir()
			c := kubetest.Get(t)
			if err := os.WriteFile(filepath.Join(dir, "ca.pem"), c.CA, 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestJournalCrashHelper$", "-test.v", "-test.timeout=2m")
			cmd.Env = append(os.Environ(), "STEVEDORE_EKS_CRASH="+dir, "STEVEDORE_EKS_ENDPOINT="+c.Endpoint, "STEVEDORE_EKS_TOKEN="+c.Token,
				"STEVEDORE_EKS_NS="+k.ns, "STEVEDORE_EKS_CRASH_ON="+crashOn)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the release did not die at %q: %v\n%s", crashOn, err, out)
			}
			j := store.NewFile(filepath.Join(dir, "journal"))
			target := New(k.c, Deployment, k.ns, "web", &Options{PollInterval: 200 * time.Millisecond})
			got, err := deploy.Recover(t.Context(), j, []deploy.Target{target}, &deploy.RecoverOptions{StaleAfter: time.Nanosecond})
			if err != nil || len(got) != 1 || got[0].Result == nil {
				t.Fatalf("Recover: %+v, %v", got, err)
			}
			if after := k.get(tg).Get("spec.template").Raw; !jsonEqual(before, after) {
				t.Errorf("the template after Recover (%v) differs:\n%s\n%s", got[0].Err, before, after)
			}
			if left, _ := j.Unfinished(t.Context()); len(left) != 0 {
				t.Errorf("%d releases unfinished after Recover", len(left))
			}
		})
	}
}

// TestJournalCrashHelper is the release TestJournalCrashAndRecover kills.
func TestJournalCrashHelper(t *testing.T) {
	dir := os.Getenv("STEVEDORE_EKS_CRASH")
	if dir == "" {
		t.Skip("run by TestJournalCrashAndRecover")
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(ClientConfig{Endpoint: os.Getenv("STEVEDORE_EKS_ENDPOINT"), CAData: ca, Tokens: StaticToken(os.Getenv("STEVEDORE_EKS_TOKEN"))})
	if err != nil {
		t.Fatal(err)
	}
	crashOn := os.Getenv("STEVEDORE_EKS_CRASH_ON")
	target := New(c, Deployment, os.Getenv("STEVEDORE_EKS_NS"), "web", &Options{PollInterval: 200 * time.Millisecond})
	_, err = deploy.Run(t.Context(), deploy.Release{Images: map[string]string{"app": registry + "web:broken"}}, []deploy.Target{target},
		&deploy.Options{Journal: store.NewFile(filepath.Join(dir, "journal")), OnEvent: func(e deploy.Event) {
			if strings.HasPrefix(e.Message, crashOn) {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}})
	t.Fatalf("the release ended without dying: %v", err)
}
