package kubetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// controlplane runs controlplane.sh with args and the cache at cache ("" for the default).
func controlplane(t *testing.T, cache string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command("bash", append([]string{script()}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if cache != "" {
		cmd.Env = append(os.Environ(), "STEVEDORE_CACHE="+cache)
	}
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// processesIn returns the PIDs of running processes whose command line mentions dir.
func processesIn(t *testing.T, dir string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc to look for processes in: %v", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(dir)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// The path the README's test command takes on a fresh machine: start finds a binary missing,
// builds it, and starts everything. It must exit 0 (a RETURN trap left by the build once made
// it die with "work: unbound variable", leaving five servers running), and stop must return
// only once every process it started has exited.
func TestStartBuildsWhatIsMissingAndStopLeavesNothing(t *testing.T) {
	if os.Getenv("STEVEDORE_SKIP_KUBE") == "1" {
		t.Skip("STEVEDORE_SKIP_KUBE=1")
	}
	// Read by this process, the script is part of what go test's result cache keys on: a
	// changed script runs the test again.
	if _, err := os.ReadFile(script()); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"go", "openssl", "curl", "flock"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the control plane needs %s", tool)
		}
	}
	// The full set, built once (instant when cached), to borrow all but kwok from.
	if _, stderr, err := controlplane(t, "", "build"); err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	full, _, err := controlplane(t, "", "bindir")
	if err != nil {
		t.Fatal(err)
	}
	full = strings.TrimSpace(full)

	cache := t.TempDir()
	bin, _, err := controlplane(t, cache, "bindir")
	if err != nil {
		t.Fatal(err)
	}
	bin = strings.TrimSpace(bin)
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		if err := os.Symlink(filepath.Join(full, b), filepath.Join(bin, b)); err != nil {
			t.Fatal(err)
		}
	}

	state := filepath.Join(t.TempDir(), "state")
	t.Cleanup(func() { _, _, _ = controlplane(t, cache, "stop", state) })
	stdout, stderr, err := controlplane(t, cache, "start", state)
	if err != nil {
		t.Fatalf("start with kwok missing from the cache: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "building kwok") {
		t.Errorf("start did not build the missing kwok:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(bin, "kwok")); err != nil {
		t.Errorf("kwok is not in the cache after start: %v", err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(stdout, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	ca, err := os.ReadFile(env["STEVEDORE_KUBE_CA"])
	if err != nil {
		t.Fatalf("start printed %q: %v", stdout, err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, env["STEVEDORE_KUBE_ENDPOINT"]+"/readyz", nil)
	req.Header.Set("Authorization", "Bearer "+env["STEVEDORE_KUBE_TOKEN"])
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("the started control plane does not answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("readyz: %d", resp.StatusCode)
	}

	running := processesIn(t, state)
	if len(running) < 5 {
		t.Errorf("%d processes run in %s; want etcd, kube-apiserver, the controllers, the scheduler and kwok", len(running), state)
	}
	if _, stderr, err := controlplane(t, cache, "stop", state); err != nil {
		t.Fatalf("stop: %v\n%s", err, stderr)
	}
	if left := processesIn(t, state); len(left) > 0 {
		t.Errorf("processes still running right after stop returned: %v", left)
	}

	// Started again in the same directory (a developer's second run): the old etcd data and
	// certificates must not get in the way; and a start over a running plane refuses,
	// leaving it running.
	if _, stderr, err = controlplane(t, cache, "start", state); err != nil {
		t.Fatalf("a second start in the same directory: %v\n%s", err, stderr)
	}
	if strings.Contains(stderr, "No such file") {
		t.Errorf("start printed noise:\n%s", stderr)
	}
	running = processesIn(t, state)
	if _, stderr, err = controlplane(t, cache, "start", state); err == nil || !strings.Contains(stderr, "already runs in") {
		t.Errorf("start over a running plane: %v\n%s", err, stderr)
	}
	if now := processesIn(t, state); len(now) != len(running) {
		t.Errorf("a refused start changed the running plane: %v, then %v", running, now)
	}
	if _, stderr, err := controlplane(t, cache, "stop", state); err != nil || strings.Contains(stderr, "No such file") {
		t.Fatalf("stop: %v\n%s", err, stderr)
	}
}
