// Package deploytest is the conformance suite for [deploy.Target] implementations: the
// promises of the Target and Plan contract, checked against a fresh world for each check.
// Every built-in target runs it (ECS and EC2 against their simulators, EKS against a real
// control plane), and so can yours:
//
//	func TestConformance(t *testing.T) {
//		deploytest.Run(t, deploytest.Harness{
//			New: func(t *testing.T) *deploytest.World {
//				world := newFakeLambda(t)                  // a fresh world per check
//				return &deploytest.World{
//					Target:  lambda.New(world.Client(), "fn"), // your target over it
//					State:   world.State,                    // what runs, comparable with go-cmp
//					Release: deploy.Release{Images: map[string]string{"": "repo/fn:v2"}},
//					Failing: deploy.Release{Images: map[string]string{"": "repo/fn:crash"}},
//					Slow:    deploy.Release{Images: map[string]string{"": "repo/fn:slow"}},
//					Missing: lambda.New(world.Client(), "no-such-fn"),
//				}
//			},
//			Bubble: synctest.Test, // when the world keeps time on the caller's clock
//		})
//	}
//
// [MemoryTarget] is a small target of this kind, kept in memory: read it as the example of a
// third-party target.
package deploytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stevedore-dev/stevedore/deploy"
)

// World is one fresh world with a target over it, made for one check.
type World struct {
	// Target is the target under test.
	Target deploy.Target
	// State reads what the world runs now, in a form compared with go-cmp: two equal states
	// are the same world as far as the target is concerned.
	State func(ctx context.Context) (any, error)
	// Release changes the world and succeeds. Failing changes it and then fails (an image
	// whose tasks crash, say). Slow changes it and takes minutes to settle, so that the
	// suite can cancel it midway.
	Release, Failing, Slow deploy.Release
	// Missing is a target over a resource that does not exist.
	Missing deploy.Target
	// Unsupported, when set, is a release with a part Target does not honour.
	Unsupported *deploy.Release
}

// Harness makes worlds for the suite.
type Harness struct {
	// New makes a fresh world; the suite calls it once per check.
	New func(t *testing.T) *World
	// Bubble runs a check: testing/synctest.Test for worlds on the caller's clock, so waits
	// take no time. Nil runs checks directly, for worlds on real time (a real control plane).
	Bubble func(t *testing.T, f func(t *testing.T))
	// Restore, when set, makes a target over the same world as another process would (a new
	// client, a new target): the suite restores plans from snapshots with it. Nil uses the
	// world's own target.
	Restore func(t *testing.T, w *World) deploy.Target
}

// Run runs every check of the contract against h, each as a subtest.
func Run(t *testing.T, h Harness) {
	bubble := h.Bubble
	if bubble == nil {
		bubble = func(t *testing.T, f func(t *testing.T)) { f(t) }
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				w := h.New(t)
				before := state(t, w)
				c.run(t, &check{h: h, w: w, before: before})
				noLeftoverGoroutines(t)
			})
		})
	}
}

type check struct {
	h      Harness
	w      *World
	before any
}

var checks = []struct {
	name string
	run  func(t *testing.T, c *check)
}{
	{"Plan changes nothing", func(t *testing.T, c *check) {
		p := c.plan(t, c.w.Release)
		if !p.Changed() || p.Diff() == "" {
			t.Errorf("the plan of a release that changes the world says Changed %v, Diff %q", p.Changed(), p.Diff())
		}
		c.same(t, "after Plan")
	}},
	{"Apply then Rollback restores the observed state", func(t *testing.T, c *check) {
		p := c.plan(t, c.w.Release)
		if err := p.Apply(t.Context(), nil); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if after := state(t, c.w); cmp.Equal(c.before, after) {
			t.Fatalf("Apply succeeded and changed nothing: %v", after)
		}
		c.rollback(t, p, "after a successful Apply")
		c.rollback(t, p, "after a second Rollback")
	}},
	{"Rollback after a failed Apply restores the observed state", func(t *testing.T, c *check) {
		p := c.plan(t, c.w.Failing)
		if err := p.Apply(t.Context(), nil); err == nil {
			t.Fatal("Apply of the failing release succeeded")
		}
		c.rollback(t, p, "after a failed Apply")
	}},
	{"a cancelled Apply ends promptly with ErrCanceled and rolls back", func(t *testing.T, c *check) {
		p := c.plan(t, c.w.Slow)
		ctx, cancel := context.WithCancel(t.Context())
		var once sync.Once
		var cancelled time.Time
		emit := func(e deploy.Event) {
			if e.Phase == deploy.PhaseWait {
				once.Do(func() { cancelled = time.Now(); cancel() })
			}
		}
		err := p.Apply(ctx, emit)
		cancel()
		if !errors.Is(err, deploy.ErrCanceled) {
			t.Errorf("Apply cancelled mid-wait: %v, want ErrCanceled", err)
		}
		if cancelled.IsZero() {
			t.Fatal("Apply of the slow release emitted no wait event to cancel at")
		}
		if took := time.Since(cancelled); took > 5*time.Second {
			t.Errorf("Apply returned %v after its context was cancelled", took)
		}
		c.rollback(t, p, "after a cancelled Apply")
	}},
	{"a release that changes nothing does nothing", func(t *testing.T, c *check) {
		if err := c.plan(t, c.w.Release).Apply(t.Context(), nil); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		on := state(t, c.w)
		p := c.plan(t, c.w.Release)
		if p.Changed() || p.Diff() != "" {
			t.Errorf("the world runs the release, yet the plan says Changed %v, Diff %q", p.Changed(), p.Diff())
		}
		if err := p.Apply(t.Context(), nil); err != nil {
			t.Errorf("Apply of no change: %v", err)
		}
		if err := p.Rollback(t.Context(), nil); err != nil {
			t.Errorf("Rollback of no change: %v", err)
		}
		if after := state(t, c.w); !cmp.Equal(on, after) {
			t.Errorf("applying and rolling back no change changed the world (-before +after):\n%s", cmp.Diff(on, after))
		}
	}},
	{"a missing resource is ErrNotFound", func(t *testing.T, c *check) {
		if _, err := c.w.Missing.Plan(t.Context(), c.w.Release); !errors.Is(err, deploy.ErrNotFound) {
			t.Errorf("Plan on a missing resource: %v, want ErrNotFound", err)
		}
		c.same(t, "after planning a missing resource")
	}},
	{"an unsupported release part is ErrInvalid before anything changes", func(t *testing.T, c *check) {
		if c.w.Unsupported == nil {
			h, ok := c.w.Target.(deploy.Honourer)
			if ok && h.Honours() != deploy.AllParts {
				t.Fatalf("the target honours only %s, but the world gives no Unsupported release", h.Honours())
			}
			t.Skip("the target honours every part of a release")
		}
		_, err := deploy.Run(t.Context(), *c.w.Unsupported, []deploy.Target{c.w.Target}, nil)
		if !errors.Is(err, deploy.ErrInvalid) || !strings.Contains(err.Error(), c.w.Target.Name()) {
			t.Errorf("deploy.Run of an unsupported part: %v, want ErrInvalid naming %s", err, c.w.Target.Name())
		}
		c.same(t, "after the unsupported release")
	}},
	{"events name the target and come in phase order", func(t *testing.T, c *check) {
		var mu sync.Mutex
		var events []deploy.Event
		_, err := deploy.Run(t.Context(), c.w.Release, []deploy.Target{c.w.Target}, &deploy.Options{OnEvent: func(e deploy.Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		}})
		if err != nil {
			t.Fatalf("deploy.Run: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		name := c.w.Target.Name()
		for i, e := range events {
			if e.Target != name {
				t.Errorf("event %d names %q, want %q: %+v", i, e.Target, name, e)
			}
			if i > 0 && e.Phase == deploy.PhasePlan && events[i-1].Phase != deploy.PhasePlan {
				t.Errorf("a plan event after %s: %+v", events[i-1].Phase, e)
			}
			if e.Phase == deploy.PhaseRollback || e.Phase == deploy.PhaseFailed {
				t.Errorf("a %s event in a successful deploy: %+v", e.Phase, e)
			}
			if e.Time.IsZero() {
				t.Errorf("event %d has no time", i)
			}
		}
		if len(events) < 2 || events[0].Phase != deploy.PhasePlan || events[len(events)-1].Phase != deploy.PhaseDone {
			t.Errorf("events run from %v, want plan first and done last", phases(events))
		}
	}},
	{"a plan restored from its snapshot rolls back as the original would", func(t *testing.T, c *check) {
		p := c.plan(t, c.w.Release)
		s, ok := p.(deploy.Snapshotter)
		if !ok {
			t.Skip("the target's plans make no snapshots")
		}
		if err := p.Apply(t.Context(), nil); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		snap, err := s.Snapshot()
		if err != nil {
			t.Fatalf("Snapshot: %v", err)
		}
		var v struct{ Version int }
		if err := json.Unmarshal(snap, &v); err != nil || v.Version < 1 {
			t.Errorf("the snapshot is not versioned JSON: %s", snap)
		}
		target := c.w.Target
		if c.h.Restore != nil {
			target = c.h.Restore(t, c.w)
		}
		r, ok := target.(deploy.Restorer)
		if !ok {
			t.Fatalf("the plans make snapshots but %s restores none", target.Name())
		}
		restored, err := r.Restore(t.Context(), snap)
		if err != nil {
			t.Fatalf("Restore: %v", err)
		}
		var future map[string]any
		_ = json.Unmarshal(snap, &future)
		future["version"] = 999
		b, _ := json.Marshal(future)
		if _, err := r.Restore(t.Context(), b); !errors.Is(err, deploy.ErrInvalid) {
			t.Errorf("Restore of the snapshot with version 999: %v, want ErrInvalid", err)
		}
		c.rollback(t, restored, "after a restored plan's Rollback")
	}},
}

func (c *check) plan(t *testing.T, r deploy.Release) deploy.Plan {
	t.Helper()
	p, err := c.w.Target.Plan(t.Context(), r)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	return p
}

func (c *check) rollback(t *testing.T, p deploy.Plan, when string) {
	t.Helper()
	if err := p.Rollback(t.Context(), nil); err != nil {
		t.Fatalf("Rollback %s: %v", when, err)
	}
	c.same(t, when)
}

// same fails t unless the world is as the check found it.
func (c *check) same(t *testing.T, when string) {
	t.Helper()
	if after := state(t, c.w); !cmp.Equal(c.before, after) {
		t.Errorf("the world changed %s (-observed +now):\n%s", when, cmp.Diff(c.before, after))
	}
}

func state(t *testing.T, w *World) any {
	t.Helper()
	s, err := w.State(t.Context())
	if err != nil {
		t.Fatalf("reading the world's state: %v", err)
	}
	return s
}

func phases(events []deploy.Event) []deploy.Phase {
	var ps []deploy.Phase
	for _, e := range events {
		ps = append(ps, e.Phase)
	}
	return ps
}

// ours matches a stack running code of this module.
var ours = regexp.MustCompile(`github\.com/stevedore-dev/stevedore/`)

// noLeftoverGoroutines fails t if a goroutine started by the code under test still runs a
// moment after the check returned.
func noLeftoverGoroutines(t *testing.T) {
	t.Helper()
	var left []string
	for range 50 {
		left = left[:0]
		var buf bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 2)
		for _, g := range strings.Split(buf.String(), "\n\n") {
			if strings.Contains(g, "deploytest.noLeftoverGoroutines") || strings.Contains(g, "testing.tRunner") || !ours.MatchString(g) {
				continue
			}
			left = append(left, g)
		}
		if len(left) == 0 {
			return
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d goroutines outlived the check:\n%s", len(left), strings.Join(left, "\n\n"))
}
