package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stevedore-dev/stevedore/deploy"
)

// fakeTarget scripts one target: how long apply takes, whether it fails, whether rollback fails.
type fakeTarget struct {
	name        string
	planErr     error
	unchanged   bool
	work        time.Duration // API work before it waits, holding its slot; 0: it holds it throughout
	applyTime   time.Duration // how long it waits (or works, when work is 0)
	applyErr    error
	rollbackErr error
	panicIn     string     // "plan", "apply" or "rollback": panic there instead
	cancelErr   error      // what Apply returns when cancelled; nil means ctx.Err()
	shared      *sharedLog // also records "<name> <step>" in one log across targets

	mu       sync.Mutex
	log      []string // what happened, in order
	rbCtxErr error
	inFlight *atomic.Int32
	maxSeen  *atomic.Int32
}

func (f *fakeTarget) record(s string) {
	f.mu.Lock()
	f.log = append(f.log, s)
	f.mu.Unlock()
	if f.shared != nil {
		f.shared.add(f.name + " " + s)
	}
}

// sharedLog records what several targets did, in one order.
type sharedLog struct {
	mu  sync.Mutex
	all []string
}

func (l *sharedLog) add(s string) { l.mu.Lock(); l.all = append(l.all, s); l.mu.Unlock() }
func (l *sharedLog) only(suffix string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.all {
		if name, ok := strings.CutSuffix(s, " "+suffix); ok {
			out = append(out, name)
		}
	}
	return out
}
func (f *fakeTarget) events() []string { f.mu.Lock(); defer f.mu.Unlock(); return slices.Clone(f.log) }

func (f *fakeTarget) Name() string { return f.name }

func (f *fakeTarget) Plan(ctx context.Context, r deploy.Release) (deploy.Plan, error) {
	f.record("plan")
	if f.panicIn == "plan" {
		panic("plan exploded")
	}
	if f.planErr != nil {
		return nil, f.planErr
	}
	return &fakePlan{f}, nil
}

type fakePlan struct{ t *fakeTarget }

func (p *fakePlan) Changed() bool { return !p.t.unchanged }
func (p *fakePlan) Diff() string {
	if p.t.unchanged {
		return ""
	}
	return "-old\n+new"
}

func (p *fakePlan) Apply(ctx context.Context, emit deploy.EventFunc) error {
	t := p.t
	t.record("apply")
	if t.panicIn == "apply" {
		_ = t.log[len(t.log)+1] // a runtime error, as a buggy target would make
	}
	if t.inFlight != nil {
		n := t.inFlight.Add(1)
		for {
			m := t.maxSeen.Load()
			if n <= m || t.maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		if t.work > 0 {
			time.Sleep(t.work)
			t.inFlight.Add(-1)
		} else {
			defer t.inFlight.Add(-1)
		}
	}
	if t.work > 0 {
		emit.Emit(deploy.Event{Phase: deploy.PhaseWait, Message: "waiting", Counts: deploy.Counts{Desired: 2}})
	} else {
		emit.Emit(deploy.Event{Phase: deploy.PhaseApply, Message: "applying", Counts: deploy.Counts{Desired: 2}})
	}
	select {
	case <-time.After(t.applyTime):
	case <-ctx.Done():
		t.record("apply cancelled")
		if t.cancelErr != nil {
			return t.cancelErr
		}
		return ctx.Err()
	}
	if t.applyErr != nil {
		t.record("apply failed")
		return t.applyErr
	}
	t.record("applied")
	return nil
}

func (p *fakePlan) Rollback(ctx context.Context, emit deploy.EventFunc) error {
	p.t.record("rollback")
	if p.t.panicIn == "rollback" {
		panic(fmt.Errorf("rollback exploded"))
	}
	p.t.mu.Lock()
	p.t.rbCtxErr = ctx.Err()
	p.t.mu.Unlock()
	return p.t.rollbackErr
}

var rel = deploy.Release{Version: "abc123", Images: map[string]string{"app": "repo/app:abc123"}}

func TestRunSingle(t *testing.T) {
	boom := errors.New("tasks keep stopping")
	tests := []struct {
		name       string
		target     *fakeTarget
		wantLog    []string
		wantIs     []error
		wantNotIs  []error
		rolledBack bool
	}{
		{
			name:    "success",
			target:  &fakeTarget{name: "t", applyTime: time.Second},
			wantLog: []string{"plan", "apply", "applied"},
		},
		{
			name:       "apply fails then rolls back",
			target:     &fakeTarget{name: "t", applyTime: time.Second, applyErr: deploy.Wrap(deploy.ErrFailed, "t", "wait", boom, "")},
			wantLog:    []string{"plan", "apply", "apply failed", "rollback"},
			wantIs:     []error{deploy.ErrRolledBack, deploy.ErrFailed, boom},
			wantNotIs:  []error{deploy.ErrRollbackFailed},
			rolledBack: true,
		},
		{
			name:      "rollback fails too",
			target:    &fakeTarget{name: "t", applyErr: boom, rollbackErr: errors.New("update service denied")},
			wantLog:   []string{"plan", "apply", "apply failed", "rollback"},
			wantIs:    []error{deploy.ErrRollbackFailed, deploy.ErrFailed, boom},
			wantNotIs: []error{deploy.ErrRolledBack},
		},
		{
			name:      "plan fails: nothing applied",
			target:    &fakeTarget{name: "t", planErr: deploy.Errorf(deploy.ErrNotFound, "t", "plan", "service web not found")},
			wantLog:   []string{"plan"},
			wantIs:    []error{deploy.ErrNotFound},
			wantNotIs: []error{deploy.ErrRolledBack},
		},
		{
			name:      "unchanged plan that fails is not rolled back",
			target:    &fakeTarget{name: "t", unchanged: true, applyErr: boom},
			wantLog:   []string{"plan", "apply", "apply failed"},
			wantIs:    []error{deploy.ErrFailed, boom},
			wantNotIs: []error{deploy.ErrRolledBack},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				res, err := deploy.Run(t.Context(), rel, []deploy.Target{tc.target}, nil)
				if diff := cmp.Diff(tc.wantLog, tc.target.events()); diff != "" {
					t.Errorf("log (-want +got):\n%s", diff)
				}
				if len(tc.wantIs) == 0 && err != nil {
					t.Fatalf("Run: %v", err)
				}
				for _, w := range tc.wantIs {
					if !errors.Is(err, w) {
						t.Errorf("errors.Is(%v, %v) = false", err, w)
					}
				}
				for _, w := range tc.wantNotIs {
					if errors.Is(err, w) {
						t.Errorf("errors.Is(%v, %v) = true", err, w)
					}
				}
				if got := res.Targets[0].RolledBack; got != tc.rolledBack {
					t.Errorf("RolledBack = %v, want %v", got, tc.rolledBack)
				}
			})
		})
	}
}

func TestRunSeveralOneFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fast := &fakeTarget{name: "fast", applyTime: time.Second}
		bad := &fakeTarget{name: "bad", applyTime: 5 * time.Second, applyErr: errors.New("circuit breaker")}
		slow := &fakeTarget{name: "slow", applyTime: time.Hour}
		later := &fakeTarget{name: "later", applyTime: time.Second}
		res, err := deploy.Run(t.Context(), rel, []deploy.Target{fast, bad, slow, later}, &deploy.Options{Concurrency: 3})
		if !errors.Is(err, deploy.ErrRolledBack) {
			t.Fatalf("err = %v, want ErrRolledBack", err)
		}
		want := map[string][]string{
			"fast":  {"plan", "apply", "applied", "rollback"},
			"bad":   {"plan", "apply", "apply failed", "rollback"},
			"slow":  {"plan", "apply", "apply cancelled", "rollback"},
			"later": {"plan", "apply", "applied", "rollback"}, // started when fast freed a slot
		}
		for _, ft := range []*fakeTarget{fast, bad, slow, later} {
			if diff := cmp.Diff(want[ft.name], ft.events()); diff != "" {
				t.Errorf("%s (-want +got):\n%s", ft.name, diff)
			}
		}
		for _, tr := range res.Targets {
			if !tr.RolledBack || tr.Err == nil || tr.Applied {
				t.Errorf("%s: RolledBack=%v Applied=%v Err=%v, want rolled back, not applied, with an error", tr.Target, tr.RolledBack, tr.Applied, tr.Err)
			}
		}
		if got := res.Targets[2].Err.Error(); !strings.Contains(got, "cancelled because bad failed") {
			t.Errorf("slow's error %q does not name the failing sibling", got)
		}
	})
}

func TestRunNotStartedAfterFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bad := &fakeTarget{name: "bad", applyErr: errors.New("no")}
		next := &fakeTarget{name: "next"}
		res, err := deploy.Run(t.Context(), rel, []deploy.Target{bad, next}, &deploy.Options{Concurrency: 1})
		if err == nil {
			t.Fatal("want an error")
		}
		if diff := cmp.Diff([]string{"plan"}, next.events()); diff != "" {
			t.Errorf("next (-want +got):\n%s", diff)
		}
		if tr := res.Targets[1]; tr.Started || !errors.Is(tr.Err, deploy.ErrCanceled) {
			t.Errorf("next: Started=%v Err=%v, want not started and ErrCanceled", tr.Started, tr.Err)
		}
	})
}

func TestRunPlanFailureAppliesNothing(t *testing.T) {
	ok := &fakeTarget{name: "ok"}
	bad := &fakeTarget{name: "bad", planErr: errors.New("describe failed")}
	_, err := deploy.Run(t.Context(), rel, []deploy.Target{ok, bad}, nil)
	if err == nil {
		t.Fatal("want an error")
	}
	if diff := cmp.Diff([]string{"plan"}, ok.events()); diff != "" {
		t.Errorf("ok (-want +got):\n%s", diff)
	}
}

func TestRunCancelledRollsBackOnFreshContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		slow := &fakeTarget{name: "slow", applyTime: time.Hour}
		time.AfterFunc(time.Minute, cancel)
		res, err := deploy.Run(ctx, rel, []deploy.Target{slow}, nil)
		if !errors.Is(err, deploy.ErrCanceled) || !errors.Is(err, deploy.ErrRolledBack) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want ErrCanceled, ErrRolledBack and context.Canceled", err)
		}
		if slow.rbCtxErr != nil {
			t.Errorf("rollback ran on an ended context: %v", slow.rbCtxErr)
		}
		if !res.Targets[0].RolledBack {
			t.Error("not rolled back")
		}
	})
}

func TestRunTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := &fakeTarget{name: "slow", applyTime: time.Hour}
		start := time.Now()
		_, err := deploy.Run(t.Context(), rel, []deploy.Target{slow}, &deploy.Options{Timeout: 10 * time.Minute})
		if !errors.Is(err, deploy.ErrTimeout) || !errors.Is(err, deploy.ErrRolledBack) {
			t.Fatalf("err = %v, want ErrTimeout and ErrRolledBack", err)
		}
		if got := time.Since(start); got != 10*time.Minute {
			t.Errorf("gave up after %v, want 10m", got)
		}
	})
}

func TestRunDisableRollbackAndDryRun(t *testing.T) {
	bad := &fakeTarget{name: "bad", applyErr: errors.New("no")}
	_, err := deploy.Run(t.Context(), rel, []deploy.Target{bad}, &deploy.Options{DisableRollback: true})
	if err == nil || errors.Is(err, deploy.ErrRolledBack) {
		t.Errorf("err = %v, want a failure that was not rolled back", err)
	}
	if diff := cmp.Diff([]string{"plan", "apply", "apply failed"}, bad.events()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	dry := &fakeTarget{name: "dry"}
	res, err := deploy.Run(t.Context(), rel, []deploy.Target{dry}, &deploy.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"plan"}, dry.events()); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}
	if res.Targets[0].Plan.Diff() == "" {
		t.Error("dry run result has no diff")
	}
}

func TestRunConcurrencyBoundAndSerialEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var inFlight, maxSeen atomic.Int32
		var targets []deploy.Target
		for i := range 10 {
			targets = append(targets, &fakeTarget{name: fmt.Sprint("t", i), applyTime: time.Duration(i+1) * time.Second, inFlight: &inFlight, maxSeen: &maxSeen})
		}
		var inCallback atomic.Int32
		var events []deploy.Event
		_, err := deploy.Run(t.Context(), rel, targets, &deploy.Options{Concurrency: 3, OnEvent: func(e deploy.Event) {
			if inCallback.Add(1) != 1 {
				t.Error("OnEvent called concurrently")
			}
			events = append(events, e)
			for range 10 {
				runtime.Gosched()
			}
			inCallback.Add(-1)
		}})
		if err != nil {
			t.Fatal(err)
		}
		if got := maxSeen.Load(); got != 3 {
			t.Errorf("max applies in flight = %d, want 3", got)
		}
		var done int
		for _, e := range events {
			if e.Time.IsZero() || e.Target == "" {
				t.Errorf("event not stamped: %+v", e)
			}
			if e.Phase == deploy.PhaseDone {
				done++
			}
		}
		if done != 10 {
			t.Errorf("%d done events, want 10", done)
		}
	})
}

// The concurrency bound counts API work, not waits: a target's slot frees at its first wait
// event, so ten targets that work 1 s and wait 60 s take about 64 s at Concurrency 3 (the
// work in four rounds, the waits together), not the 4 × 61 s a bound on waits would make.
func TestRunWaitsDoNotCountAgainstTheBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var inFlight, maxSeen atomic.Int32
		var targets []deploy.Target
		for i := range 10 {
			targets = append(targets, &fakeTarget{name: fmt.Sprint("t", i), work: time.Second, applyTime: time.Minute, inFlight: &inFlight, maxSeen: &maxSeen})
		}
		start := time.Now()
		if _, err := deploy.Run(t.Context(), rel, targets, &deploy.Options{Concurrency: 3}); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != 64*time.Second {
			t.Errorf("took %v of fake time, want 64s: waits ran one slot each", took)
		}
		if got := maxSeen.Load(); got != 3 {
			t.Errorf("at most %d targets worked at once, want 3", got)
		}
	})
}

func TestRunRejectsEmptyInput(t *testing.T) {
	if _, err := deploy.Run(t.Context(), rel, nil, nil); !errors.Is(err, deploy.ErrInvalid) {
		t.Errorf("no targets: err = %v, want ErrInvalid", err)
	}
	ft := &fakeTarget{name: "t"}
	if _, err := deploy.Run(t.Context(), deploy.Release{Env: []deploy.EnvChange{{Name: "1BAD"}}}, []deploy.Target{ft}, nil); !errors.Is(err, deploy.ErrInvalid) {
		t.Errorf("invalid release: err = %v, want ErrInvalid", err)
	}
	if len(ft.events()) != 0 {
		t.Errorf("an invalid release was planned: %v", ft.events())
	}
}

// untilDeadline is a target whose apply finishes successfully just as the deploy's
// deadline passes.
type untilDeadline struct{ fakeTarget }

func (u *untilDeadline) Plan(ctx context.Context, r deploy.Release) (deploy.Plan, error) {
	return &deadlinePlan{fakePlan{&u.fakeTarget}}, nil
}

type deadlinePlan struct{ fakePlan }

func (p *deadlinePlan) Apply(ctx context.Context, emit deploy.EventFunc) error {
	<-ctx.Done()
	p.t.record("applied")
	return nil
}

func TestRunDeadlineAfterSuccessRollsNothingBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		u := &untilDeadline{fakeTarget{name: "u"}}
		res, err := deploy.Run(t.Context(), rel, []deploy.Target{u}, &deploy.Options{Timeout: time.Minute})
		if err != nil || !res.Targets[0].Applied || res.Targets[0].RolledBack {
			t.Errorf("err %v, applied %v, rolled back %v: a target that succeeded was treated as failed", err, res.Targets[0].Applied, res.Targets[0].RolledBack)
		}
		if diff := cmp.Diff([]string{"applied"}, u.events()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

// countingTarget makes n API calls (as CountCall hears them) in each of Plan and Apply.
type countingTarget struct {
	fakeTarget
	n int
}

func (c *countingTarget) Plan(ctx context.Context, r deploy.Release) (deploy.Plan, error) {
	for range c.n {
		deploy.CountCall(ctx)
	}
	p, err := c.fakeTarget.Plan(ctx, r)
	return countingPlan{p, c.n}, err
}

type countingPlan struct {
	deploy.Plan
	n int
}

func (p countingPlan) Apply(ctx context.Context, emit deploy.EventFunc) error {
	for range p.n {
		deploy.CountCall(ctx)
	}
	return p.Plan.Apply(ctx, emit)
}

// Each target's calls are counted apart.
func TestRunCountsEachTargetsCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := &countingTarget{fakeTarget{name: "a", applyTime: time.Second}, 2}, &countingTarget{fakeTarget{name: "b", applyTime: time.Second}, 5}
		res, err := deploy.Run(t.Context(), rel, []deploy.Target{a, b}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Targets[0].Calls != 4 || res.Targets[1].Calls != 10 {
			t.Errorf("calls %d and %d, want 4 and 10", res.Targets[0].Calls, res.Targets[1].Calls)
		}
	})
}
