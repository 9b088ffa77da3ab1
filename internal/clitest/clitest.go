// Package clitest builds an example command and runs it as a user would, for what only a
// real process shows: signals, exit statuses, output as it comes.
package clitest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	mu    sync.Mutex
	built = map[string]string{}
)

// Build compiles the command in the module's package pkg (say "examples/ecs-rollout") once
// per test binary and returns the program's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if bin, ok := built[pkg]; ok {
		return bin
	}
	dir, err := os.MkdirTemp("", "stevedore-clitest-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, "github.com/stevedore-dev/stevedore/"+pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	built[pkg] = bin
	return bin
}

// Cleanup removes the programs Build made; call it from TestMain.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	for _, bin := range built {
		_ = os.RemoveAll(filepath.Dir(bin))
	}
}

// Proc is a running program.
type Proc struct {
	t              testing.TB
	cmd            *exec.Cmd
	stdout, stderr *buffer
	done           chan struct{}
	code           int
	ended          time.Time
}

type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) { b.mu.Lock(); defer b.mu.Unlock(); return b.b.Write(p) }
func (b *buffer) String() string              { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// Start runs bin with args, its environment the test's plus env (KEY=VALUE), in dir when not
// empty. The process is killed at the end of the test if still running.
func Start(t testing.TB, bin string, env []string, args ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, cmd: exec.Command(bin, args...), stdout: &buffer{}, stderr: &buffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		p.code, p.ended = p.cmd.ProcessState.ExitCode(), time.Now()
		if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.code = 128 + int(ws.Signal())
		}
		_ = err
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// WaitFor waits until stderr holds s, failing the test after within.
func (p *Proc) WaitFor(s string, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(p.stderr.String(), s) {
		select {
		case <-p.done:
			p.t.Fatalf("the program ended (exit %d) before saying %q\nstdout:\n%s\nstderr:\n%s", p.code, s, p.stdout, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the program did not say %q within %v\nstderr:\n%s", s, within, p.stderr)
		}
	}
}

// Signal sends sig to the program.
func (p *Proc) Signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// Wait waits for the program to end, failing the test after within, and returns its exit
// status (128 + the signal for one killed by a signal) and when it ended.
func (p *Proc) Wait(within time.Duration) (int, time.Time) {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code, p.ended
	case <-time.After(within):
		p.t.Fatalf("the program did not end within %v\nstderr:\n%s", within, p.stderr)
		return 0, time.Time{}
	}
}

// Stdout and Stderr are what the program wrote so far.
func (p *Proc) Stdout() string { return p.stdout.String() }
func (p *Proc) Stderr() string { return p.stderr.String() }
