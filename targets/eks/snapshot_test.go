package eks

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/clitest"
	"github.com/stevedore-dev/stevedore/internal/kubetest"
)

// A snapshot taken mid-rollout (the new image never becomes ready) is restored in a fresh
// process (this test binary run again), which undoes the Deployment on the control plane.
func TestSnapshotRestoredInAnotherProcessRollsBack(t *testing.T) {
	k := newKube(t)
	tg := k.deployWorkload(Deployment, "web", registry+"web:v1", 2)
	before := k.get(tg).Get("spec.template").Raw
	p, err := tg.Plan(t.Context(), deploy.Release{Version: "v2", Images: map[string]string{"app": registry + "web:broken"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	err = p.Apply(ctx, func(e deploy.Event) {
		if e.Phase == deploy.PhaseWait {
			cancel() // the process "crashes" once the change is made
		}
	})
	cancel()
	if err == nil {
		t.Fatal("the broken rollout succeeded")
	}
	snap, err := p.(deploy.Snapshotter).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := kubetest.Get(t)
	for name, data := range map[string][]byte{"snapshot.json": snap, "ca.pem": c.CA} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	clitest.InAnotherProcess(t, "TestRestoreHelper", "restored and rolled back", "STEVEDORE_EKS_RESTORE="+dir, "STEVEDORE_EKS_ENDPOINT="+c.Endpoint, "STEVEDORE_EKS_TOKEN="+c.Token, "STEVEDORE_EKS_NS="+k.ns)
	if after := k.get(tg).Get("spec.template").Raw; !jsonEqual(before, after) {
		t.Errorf("the template after the other process's undo differs:\n%s\n%s", before, after)
	}
}

// TestRestoreHelper is the other process of the test above; it does nothing on its own.
func TestRestoreHelper(t *testing.T) {
	dir := os.Getenv("STEVEDORE_EKS_RESTORE")
	if dir == "" {
		t.Skip("run by TestSnapshotRestoredInAnotherProcessRollsBack")
	}
	snap, err := os.ReadFile(filepath.Join(dir, "snapshot.json"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(ClientConfig{Endpoint: os.Getenv("STEVEDORE_EKS_ENDPOINT"), CAData: ca, Tokens: StaticToken(os.Getenv("STEVEDORE_EKS_TOKEN"))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := New(c, Deployment, os.Getenv("STEVEDORE_EKS_NS"), "web", &Options{PollInterval: 200 * time.Millisecond}).Restore(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Rollback(ctx, nil); err != nil {
		t.Fatal(err)
	}
	t.Log("restored and rolled back")
}
