package clitest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// InAnotherProcess runs the test named test of the running test binary again, in a new
// process with env added, as another process (a second CI job, say) would run it, and fails t
// unless that test passes and logs want.
func InAnotherProcess(t *testing.T, test string, want string, env ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), want) {
		t.Fatalf("%s in another process: %v\n%s", test, err, out)
	}
}
