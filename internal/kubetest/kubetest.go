// Package kubetest hands tests a real Kubernetes control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok on loopback): the one .ci/run started
// (STEVEDORE_KUBE_ENDPOINT, _TOKEN, _CA), or one it starts itself with controlplane.sh. Tests
// fail, not skip, when there is none, unless STEVEDORE_SKIP_KUBE=1 says to skip them.
package kubetest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Cluster is how tests reach the control plane.
type Cluster struct {
	Endpoint string
	Token    string
	CA       []byte
	// Dir holds its kubeconfig ("kubeconfig") and logs, when known.
	Dir string
	// Kubectl is a kubectl of the same version, for benchmarks that compare with it; "" when
	// not known.
	Kubectl string
}

var (
	once    sync.Once
	cluster Cluster
	err     error
	started string // the state directory of a control plane this package started
)

func script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "controlplane.sh")
}

// Main runs the tests and stops a control plane this package started. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops a control plane this package started; for a TestMain that needs other cleanup too.
func Stop() {
	if started != "" {
		_ = exec.Command("bash", script(), "stop", started).Run()
		_ = os.RemoveAll(started)
	}
}

// Get returns the control plane, starting one if none was given.
func Get(t testing.TB) Cluster {
	t.Helper()
	if os.Getenv("STEVEDORE_SKIP_KUBE") == "1" {
		t.Skip("STEVEDORE_SKIP_KUBE=1: skipping a test that needs the Kubernetes control plane")
	}
	once.Do(func() {
		if e := os.Getenv("STEVEDORE_KUBE_ENDPOINT"); e != "" {
			cluster = Cluster{Endpoint: e, Token: os.Getenv("STEVEDORE_KUBE_TOKEN"), Dir: os.Getenv("STEVEDORE_KUBE_DIR"), Kubectl: os.Getenv("STEVEDORE_KUBECTL")}
			cluster.CA, err = os.ReadFile(os.Getenv("STEVEDORE_KUBE_CA"))
			return
		}
		dir, derr := os.MkdirTemp("", "stevedore-kube-")
		if derr != nil {
			err = derr
			return
		}
		var out, stderr bytes.Buffer
		cmd := exec.Command("bash", script(), "start", dir)
		cmd.Stdout, cmd.Stderr = &out, &stderr
		started = dir // stopped by Stop even if start fails half-way
		if err = cmd.Run(); err != nil {
			err = fmt.Errorf("%v: %s", err, stderr.String())
			return
		}
		env := map[string]string{}
		sc := bufio.NewScanner(&out)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				env[k] = v
			}
		}
		cluster = Cluster{Endpoint: env["STEVEDORE_KUBE_ENDPOINT"], Token: env["STEVEDORE_KUBE_TOKEN"], Dir: dir, Kubectl: env["STEVEDORE_KUBECTL"]}
		cluster.CA, err = os.ReadFile(env["STEVEDORE_KUBE_CA"])
	})
	if err != nil {
		t.Fatalf("these tests need a Kubernetes control plane: %v\n"+
			"start one with `bash internal/kubetest/controlplane.sh start DIR` and export what it prints, "+
			"or let the tests start it (the first build takes about 10 minutes; "+
			"`bash internal/kubetest/controlplane.sh build` does it ahead); STEVEDORE_SKIP_KUBE=1 skips them", err)
	}
	return cluster
}
