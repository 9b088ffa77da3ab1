package ec2_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/store"
	"github.com/stevedore-dev/stevedore/targets/ec2/ec2test"
)

// A journalled release to a fleet is killed (SIGKILL) as its deploy command is on record but
// not yet sent, while the command runs, and in the middle of a rollback; another process's
// Recover then leaves every instance on the release (resumed) or back on v1 (rolled back,
// the instances the command may have reached given the rollback commands), and nothing
// unfinished.
func TestJournalCrashAndRecover(t *testing.T) {
	for _, tc := range []struct {
		crashOn string
		fail    bool // the third instance fails the deploy
		policy  deploy.RecoverPolicy
		want    string // every instance's recorded version at the end
	}{
		{"sending the deploy command", false, deploy.RecoverRollback, "v1"},
		{"deploy: 0/3 succeeded, 0 failed, 1 running", false, deploy.RecoverRollback, "v1"},
		{"deploy: 0/3 succeeded, 0 failed, 1 running", false, deploy.RecoverResume, "v2"},
		{"rolling back", true, deploy.RecoverRollback, "v1"},
		{"rolling back", true, deploy.RecoverResume, "v1"},
	} {
		t.Run(strings.Fields(tc.crashOn)[0]+"/"+string(tc.policy), func(t *testing.T) {
			srv, ids, url := crashFleet(t, 3, 300*time.Millisecond)
			if tc.fail {
				srv.Script(failThird(t, ids[2]))
			}
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestJournalCrashHelper$", "-test.v", "-test.timeout=50s")
			cmd.Env = append(os.Environ(), "STEVEDORE_EC2_URL="+url, "STEVEDORE_EC2_JOURNAL="+dir, "STEVEDORE_EC2_CRASH_ON="+tc.crashOn)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the release did not die at %q: %v\n%s", tc.crashOn, err, out)
			}
			j := store.NewFile(dir)
			got, err := deploy.Recover(t.Context(), j, []deploy.Target{crashTarget(url, false)}, &deploy.RecoverOptions{Policy: tc.policy, StaleAfter: time.Nanosecond})
			if err != nil || len(got) != 1 || got[0].Result == nil {
				t.Fatalf("Recover: %+v, %v", got, err)
			}
			for _, id := range ids {
				if v := srv.Tags(id)["stevedore:version"]; v != tc.want {
					t.Errorf("%s recorded on %s after Recover (%v), want %s", id, v, got[0].Err, tc.want)
				}
			}
			if tc.want == "v1" { // rolled back: every instance a deploy command reached got the rollback
				reached, back := map[string]bool{}, map[string]bool{}
				for _, r := range srv.Ran() {
					v := exported(t, r.Commands)
					for _, id := range r.Instances {
						if v["STEVEDORE_FAILED_VERSION"] == "v2" {
							back[id] = true
						} else {
							reached[id] = true
						}
					}
				}
				for id := range reached {
					if !back[id] {
						t.Errorf("%s was reached by the deploy and not rolled back (rolled back: %v)", id, back)
					}
				}
				if tc.crashOn == "sending the deploy command" && len(back) != 3 {
					t.Errorf("rolled back %v: a command being sent may have reached every instance", back)
				}
			}
			if left, _ := j.Unfinished(t.Context()); len(left) != 0 {
				t.Errorf("%d releases unfinished after Recover", len(left))
			}
		})
	}
}

// TestJournalCrashHelper is the release TestJournalCrashAndRecover kills.
func TestJournalCrashHelper(t *testing.T) {
	url := os.Getenv("STEVEDORE_EC2_URL")
	if url == "" || os.Getenv("STEVEDORE_EC2_JOURNAL") == "" {
		t.Skip("run by TestJournalCrashAndRecover")
	}
	crashOn := os.Getenv("STEVEDORE_EC2_CRASH_ON")
	_, err := deploy.Run(t.Context(), deploy.Release{Version: "v2"}, []deploy.Target{crashTarget(url, false)},
		&deploy.Options{Journal: store.NewFile(os.Getenv("STEVEDORE_EC2_JOURNAL")), OnEvent: func(e deploy.Event) {
			if strings.HasPrefix(e.Message, crashOn) {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}})
	t.Fatalf("the release ended without dying: %v", err)
}

// failThird is a script whose deploy fails on instance bad; the rest take 300 ms, rollbacks 1.
func failThird(t *testing.T, bad string) func(ec2test.Invocation) ec2test.Outcome {
	return func(inv ec2test.Invocation) ec2test.Outcome {
		if strings.Contains(strings.Join(inv.Commands, "\n"), "export STEVEDORE_FAILED_VERSION=") {
			return ec2test.Outcome{Duration: time.Millisecond}
		}
		if inv.InstanceID == bad {
			return ec2test.Outcome{Status: "Failed", Exit: 1, Duration: 300 * time.Millisecond}
		}
		return ec2test.Outcome{Duration: 300 * time.Millisecond}
	}
}
