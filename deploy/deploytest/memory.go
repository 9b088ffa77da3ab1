package deploytest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
)

// Memory is a world held in memory: services by name, each running one image. It is the
// example of a third-party target this package's doc points to, and runs the suite itself.
type Memory struct {
	mu       sync.Mutex
	services map[string]string
	// StartTime is how long a service takes to start a new image; 0 means 10 s. An image
	// whose tag contains "crash" starts and then fails; one containing "slow" takes 10 minutes.
	StartTime time.Duration
}

// NewMemory returns a world where each named service runs image.
func NewMemory(image string, services ...string) *Memory {
	m := &Memory{services: map[string]string{}}
	for _, s := range services {
		m.services[s] = image
	}
	return m
}

// Image returns what service runs, or "" when it does not exist.
func (m *Memory) Image(service string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.services[service]
}

// Set makes service run image, creating it if need be: a test's setup, or another writer.
func (m *Memory) Set(service, image string) { m.set(service, image) }

func (m *Memory) set(service, image string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.services[service] = image
}

// Target returns the target for one service of the world.
func (m *Memory) Target(service string) *MemoryTarget { return &MemoryTarget{m: m, service: service} }

// MemoryTarget sets a service's image. It honours images and a version, and restores plans
// from snapshots.
type MemoryTarget struct {
	m       *Memory
	service string
}

// Name is "memory:<service>".
func (t *MemoryTarget) Name() string { return "memory:" + t.service }

// Honours says the target sets an image and records nothing else.
func (t *MemoryTarget) Honours() deploy.Parts { return deploy.Images | deploy.Version }

// Plan reads what the service runs. It changes nothing.
func (t *MemoryTarget) Plan(ctx context.Context, r deploy.Release) (deploy.Plan, error) {
	observed := t.m.Image(t.service)
	if observed == "" {
		return nil, deploy.Errorf(deploy.ErrNotFound, t.Name(), "plan", "no service %q; create it first", t.service)
	}
	want := observed
	if img, ok := r.Images[""]; ok {
		want = img
	}
	return &memoryPlan{t: t, snap: memorySnapshot{Version: 1, Service: t.service, Observed: observed, Want: want}}, nil
}

// Restore makes a plan from a snapshot one of the target's plans wrote.
func (t *MemoryTarget) Restore(ctx context.Context, snapshot []byte) (deploy.Plan, error) {
	var s memorySnapshot
	if err := deploy.DecodeSnapshot(t.Name(), snapshot, 1, &s); err != nil {
		return nil, err
	}
	if s.Service != t.service {
		return nil, deploy.Errorf(deploy.ErrInvalid, t.Name(), "restore", "the snapshot is of memory:%s", s.Service)
	}
	return &memoryPlan{t: t, snap: s}, nil
}

// memorySnapshot is everything a plan knows: what it observed, what it wants, whether it
// has started changing it.
type memorySnapshot struct {
	Version  int    `json:"version"`
	Service  string `json:"service"`
	Observed string `json:"observed"`
	Want     string `json:"want"`
	Applied  bool   `json:"applied"`
}

type memoryPlan struct {
	t    *MemoryTarget
	mu   sync.Mutex
	snap memorySnapshot
}

func (p *memoryPlan) Changed() bool { return p.snap.Observed != p.snap.Want }

// Describe says what image the service ran and what it is given.
func (p *memoryPlan) Describe() (before, after deploy.State) {
	return deploy.State{Images: map[string]string{"": p.snap.Observed}}, deploy.State{Images: map[string]string{"": p.snap.Want}}
}

func (p *memoryPlan) Diff() string {
	if !p.Changed() {
		return ""
	}
	return fmt.Sprintf("%s image:\n-%s\n+%s\n", p.t.Name(), p.snap.Observed, p.snap.Want)
}

func (p *memoryPlan) Snapshot() ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return json.Marshal(p.snap)
}

// Apply sets the image, then waits while the service starts it.
func (p *memoryPlan) Apply(ctx context.Context, emit deploy.EventFunc) error {
	if !p.Changed() {
		emit.Emit(deploy.Event{Target: p.t.Name(), Phase: deploy.PhaseApply, Message: "no change"})
		return nil
	}
	p.mu.Lock()
	p.snap.Applied = true // set before the change: a crash right after must roll back
	p.mu.Unlock()
	// Said before the change, with the snapshot already saying so: a release's journal
	// writes the snapshot as the event passes, so the change is on record before it is made.
	emit.Emit(deploy.Event{Target: p.t.Name(), Phase: deploy.PhaseApply, Message: "setting " + p.snap.Want})
	p.t.m.set(p.t.service, p.snap.Want)
	return p.wait(ctx, p.snap.Want, emit)
}

func (p *memoryPlan) wait(ctx context.Context, image string, emit deploy.EventFunc) error {
	d := p.t.m.StartTime
	if d <= 0 {
		d = 10 * time.Second
	}
	if strings.Contains(image, "slow") {
		d = 10 * time.Minute
	}
	emit.Emit(deploy.Event{Target: p.t.Name(), Phase: deploy.PhaseWait, Message: "starting " + image, Counts: deploy.Counts{Desired: 1}})
	select {
	case <-ctx.Done():
		return deploy.ContextError(ctx.Err(), p.t.Name(), "wait", "still starting "+image)
	case <-time.After(d):
	}
	if strings.Contains(image, "crash") {
		return deploy.Errorf(deploy.ErrFailed, p.t.Name(), "wait", "%s crashed on start", image)
	}
	emit.Emit(deploy.Event{Target: p.t.Name(), Phase: deploy.PhaseWait, Message: "running " + image, Counts: deploy.Counts{Desired: 1, Updated: 1, Running: 1}})
	return nil
}

// Rollback puts back the observed image unless Apply changed nothing.
func (p *memoryPlan) Rollback(ctx context.Context, emit deploy.EventFunc) error {
	p.mu.Lock()
	applied := p.snap.Applied
	p.mu.Unlock()
	if !applied {
		return nil
	}
	emit.Emit(deploy.Event{Target: p.t.Name(), Phase: deploy.PhaseRollback, Message: "setting " + p.snap.Observed})
	p.t.m.set(p.t.service, p.snap.Observed)
	return p.wait(ctx, p.snap.Observed, emit)
}

var (
	_ deploy.Target      = (*MemoryTarget)(nil)
	_ deploy.Honourer    = (*MemoryTarget)(nil)
	_ deploy.Restorer    = (*MemoryTarget)(nil)
	_ deploy.Snapshotter = (*memoryPlan)(nil)
)
