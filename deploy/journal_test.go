package deploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/deploytest"
	"github.com/stevedore-dev/stevedore/deploy/store"
)

var journalServices = []string{"db", "web", "api"}

// journalStages is a release in two stages, db then web and api, with a gate between.
func journalStages(w *deploytest.Memory) []deploy.Stage {
	pass := deploy.CheckFunc("smoke", func(context.Context) (deploy.Measurement, error) {
		return deploy.Measurement{Verdict: deploy.Pass, Evidence: "ok"}, nil
	})
	return []deploy.Stage{
		{Name: "db", Targets: []deploy.Target{w.Target("db")}, Gates: []deploy.Gate{{Check: pass}}},
		{Name: "app", Targets: []deploy.Target{w.Target("web"), w.Target("api")}},
	}
}

func journalTargets(w *deploytest.Memory) []deploy.Target {
	var ts []deploy.Target
	for _, s := range journalServices {
		ts = append(ts, w.Target(s))
	}
	return ts
}

// crashPoint is a moment a runner could die at: the journal as last written, the world as
// it then was.
type crashPoint struct {
	step  string
	rec   []byte
	world map[string]string
}

// crashJournal records, at every write, the crash points it closes and opens: the record
// written before it with the world as it is now (the latest a crash before this write could
// leave), and this record with the world now (the earliest after it).
type crashJournal struct {
	*store.Memory
	w      *deploytest.Memory
	mu     sync.Mutex
	last   []byte
	points []crashPoint
}

func (j *crashJournal) world() map[string]string {
	m := map[string]string{}
	for _, s := range journalServices {
		m[s] = j.w.Image(s)
	}
	return m
}

func (j *crashJournal) Write(ctx context.Context, r *deploy.Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	b, _ := json.Marshal(r)
	now := j.world()
	if j.last != nil {
		j.points = append(j.points, crashPoint{"before " + r.Step, j.last, now})
	}
	j.points = append(j.points, crashPoint{"after " + r.Step, b, now})
	j.last = b
	return j.Memory.Write(ctx, r)
}

// A release is killed at every point its journal allows, on a release that succeeds and one
// whose web fails; each time another process's Recover, by either policy, leaves every
// service on the release or back where it was, as the record says.
func TestRecoverAfterACrashAtEveryPoint(t *testing.T) {
	for _, webImage := range []string{"v2", "v2-crash"} {
		var points []crashPoint
		synctest.Test(t, func(t *testing.T) {
			w := deploytest.NewMemory("v1", journalServices...)
			j := &crashJournal{Memory: store.NewMemory(), w: w}
			rel := deploy.Release{Images: map[string]string{"": "v2"}}
			stages := journalStages(w)
			if webImage != "v2" {
				stages[1].Targets[0] = imageOverride{w.Target("web"), webImage}
			}
			_, _ = deploy.RunStages(t.Context(), rel, stages, &deploy.Options{Journal: j})
			points = j.points
		})
		if len(points) < 10 {
			t.Fatalf("%s: only %d crash points", webImage, len(points))
		}
		for n, pt := range points {
			var rec deploy.Record
			if err := json.Unmarshal(pt.rec, &rec); err != nil {
				t.Fatal(err)
			}
			for _, policy := range []deploy.RecoverPolicy{deploy.RecoverRollback, deploy.RecoverResume} {
				name := fmt.Sprintf("%s/%02d-%s/%s", webImage, n, strings.ReplaceAll(pt.step, " ", "-"), policy)
				t.Run(name, func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						checkRecover(t, rec, pt.world, policy)
					})
				})
			}
		}
	}
}

// imageOverride releases its own image to its target, whatever the release says.
type imageOverride struct {
	*deploytest.MemoryTarget
	image string
}

func (o imageOverride) Plan(ctx context.Context, r deploy.Release) (deploy.Plan, error) {
	return o.MemoryTarget.Plan(ctx, deploy.Release{Images: map[string]string{"": o.image}})
}

// checkRecover recovers rec in a world as pt left it and checks where each service ends.
func checkRecover(t *testing.T, rec deploy.Record, world map[string]string, policy deploy.RecoverPolicy) {
	w := deploytest.NewMemory("v1")
	for s, img := range world {
		w.Set(s, img)
	}
	j := store.NewMemory()
	if err := j.Write(t.Context(), &rec); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Hour) // the runner is long dead
	out, err := deploy.Recover(t.Context(), j, journalTargets(w), &deploy.RecoverOptions{Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Done {
		if len(out) != 0 {
			t.Errorf("a finished release was recovered: %+v", out)
		}
		return
	}
	if len(out) != 1 || out[0].Result == nil {
		t.Fatalf("recovered %+v", out)
	}
	if left, _ := j.Unfinished(t.Context()); len(left) != 0 {
		t.Errorf("the record is still unfinished after Recover: %+v", left[0])
	}
	got := map[string]string{}
	for _, s := range journalServices {
		got[s] = w.Image(s)
	}
	rolledBack := policy == deploy.RecoverRollback || failed(rec) || errors.Is(out[0].Err, deploy.ErrRolledBack)
	for _, s := range journalServices {
		want := "v1"
		if !rolledBack && applied(rec, "memory:"+s) {
			want = "v2" // resumed: the change made (again, if need be) and settled
		}
		if got[s] != want {
			t.Errorf("%s runs %s, want %s (rolled back: %v; world at the crash %v; err %v)", s, got[s], want, rolledBack, maps.Collect(maps.All(world)), out[0].Err)
		}
	}
}

// failed reports whether the record shows the release failing already.
func failed(rec deploy.Record) bool {
	for _, st := range rec.Stages {
		for _, t := range st.Targets {
			switch t.State {
			case deploy.StateFailed, deploy.StateRollingBack, deploy.StateRolledBack, deploy.StateRollbackFailed:
				return true
			}
		}
	}
	return false
}

// applied reports whether the record shows target applying or applied.
func applied(rec deploy.Record, target string) bool {
	for _, st := range rec.Stages {
		for _, t := range st.Targets {
			if t.Name == target {
				return t.State == deploy.StateApplying || t.State == deploy.StateApplied
			}
		}
	}
	return false
}

// What Recover leaves alone, one condition per row: a release written to a moment ago (its
// runner may be alive), a release of targets it was not given, and a finished one.
func TestRecoverLeavesAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := deploytest.NewMemory("v1", journalServices...)
		rec := func(id string, updated time.Time, done bool, target string) *deploy.Record {
			return &deploy.Record{Version: deploy.RecordVersion, ID: id, Updated: updated, Done: done, Stages: []deploy.RecordStage{{Name: "s", Started: true,
				Targets: []deploy.RecordTarget{{Name: target, State: deploy.StateApplying, Snapshot: json.RawMessage(`{"version":1,"service":"web","observed":"v0","want":"v2","applied":true}`)}}}}}
		}
		for _, tc := range []struct {
			name string
			rec  *deploy.Record
			want int // records reported
		}{
			{"a live release", rec("live", time.Now(), false, "memory:web"), 1},
			{"another's targets", rec("theirs", time.Now().Add(-time.Hour), false, "memory:billing"), 0},
			{"a finished release", rec("done", time.Now().Add(-time.Hour), true, "memory:web"), 0},
		} {
			j := store.NewMemory()
			if err := j.Write(t.Context(), tc.rec); err != nil {
				t.Fatal(err)
			}
			out, err := deploy.Recover(t.Context(), j, journalTargets(w), nil)
			if err != nil || len(out) != tc.want {
				t.Errorf("%s: %d recovered (%v), want %d", tc.name, len(out), err, tc.want)
			}
			if tc.want == 1 && (!errors.Is(out[0].Err, deploy.ErrLocked) || out[0].Result != nil) {
				t.Errorf("%s: %+v", tc.name, out[0])
			}
			if img := w.Image("web"); img != "v1" {
				t.Errorf("%s: web was changed to %s", tc.name, img)
			}
		}
	})
}

// With RecoverOptions.Lock, Recover leases the targets first: a release whose runner still
// holds them is left alone however old its record; a dead runner's lapse and are taken.
func TestRecoverWithLeases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := deploytest.NewMemory("v1", journalServices...)
		w.Set("web", "v2")
		s := store.NewMemory()
		rec := &deploy.Record{Version: deploy.RecordVersion, ID: "r1", Updated: time.Now(), Stages: []deploy.RecordStage{{Name: "s", Started: true,
			Targets: []deploy.RecordTarget{{Name: "memory:web", State: deploy.StateApplying, Snapshot: json.RawMessage(`{"version":1,"service":"web","observed":"v1","want":"v2","applied":true}`)}}}}}
		if err := s.Write(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Lock(t.Context(), "memory:web", deploy.Holder{ID: "r1", Expires: time.Now().Add(2 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		lock := &deploy.LockOptions{Locker: s, Policy: deploy.LockFail, Who: "recover"}
		out, err := deploy.Recover(t.Context(), s, journalTargets(w), &deploy.RecoverOptions{Lock: lock})
		if err != nil || len(out) != 1 || !errors.Is(out[0].Err, deploy.ErrLocked) || w.Image("web") != "v2" {
			t.Fatalf("while the runner holds the lease: %+v, %v; web %s", out, err, w.Image("web"))
		}
		time.Sleep(3 * time.Minute) // it died: its lease lapses
		out, err = deploy.Recover(t.Context(), s, journalTargets(w), &deploy.RecoverOptions{Lock: lock})
		if err != nil || len(out) != 1 || out[0].Result == nil || w.Image("web") != "v1" {
			t.Fatalf("after the lease lapsed: %+v, %v; web %s", out, err, w.Image("web"))
		}
	})
}

// A target that reports after its Apply returned (a goroutine it left) changes neither the
// report nor the journal.
func TestLateEventsChangeNeitherReportNorJournal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := &countingJournal{Memory: store.NewMemory()}
		res, err := deploy.Run(t.Context(), rel, []deploy.Target{snappingLeaky{&leakyTarget{fakeTarget{name: "leaky"}}}}, &deploy.Options{Journal: j})
		if err != nil {
			t.Fatal(err)
		}
		events, writes := len(res.Report(nil).Stages[0].Targets[0].Events), j.n.Load()
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if n := j.n.Load(); n != writes {
			t.Errorf("%d journal writes after Run returned", n-writes)
		}
		if n := len(res.Report(nil).Stages[0].Targets[0].Events); n != events {
			t.Errorf("%d events in the report after Run returned, %d before", n, events)
		}
	})
}

// countingJournal counts the writes.
type countingJournal struct {
	*store.Memory
	n atomic.Int32
}

func (j *countingJournal) Write(ctx context.Context, r *deploy.Record) error {
	j.n.Add(1)
	return j.Memory.Write(ctx, r)
}

// snappingLeaky is a leakyTarget whose plan's snapshot changes every time it is taken.
type snappingLeaky struct{ *leakyTarget }

func (s snappingLeaky) Plan(ctx context.Context, r deploy.Release) (deploy.Plan, error) {
	p, err := s.leakyTarget.Plan(ctx, r)
	return &snappingPlan{Plan: p}, err
}

type snappingPlan struct {
	deploy.Plan
	n atomic.Int32
}

func (p *snappingPlan) Snapshot() ([]byte, error) {
	return fmt.Appendf(nil, `{"version":1,"n":%d}`, p.n.Add(1)), nil
}

// Recover that waits for a live release's lease finds, once it has it, that the release
// finished meanwhile, and leaves it alone.
func TestRecoverWaitingForALiveReleaseLeavesItAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := deploytest.NewMemory("v1", journalServices...)
		s := store.NewMemory()
		done := make(chan error, 1)
		go func() {
			_, err := deploy.Run(t.Context(), imageRelease("v2"), []deploy.Target{w.Target("web")},
				&deploy.Options{Journal: s, Lock: &deploy.LockOptions{Locker: s, TTL: time.Minute}, ReleaseID: "live"})
			done <- err
		}()
		time.Sleep(time.Second) // the release is under way, its record unfinished
		out, err := deploy.Recover(t.Context(), s, journalTargets(w), &deploy.RecoverOptions{Lock: &deploy.LockOptions{Locker: s, Policy: deploy.LockWait}})
		if err != nil || len(out) != 1 || out[0].Result != nil || !strings.Contains(fmt.Sprint(out[0].Err), "finished while Recover waited") {
			t.Fatalf("Recover: %+v, %v", out, err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if img := w.Image("web"); img != "v2" {
			t.Errorf("web runs %s: Recover rolled back a release that had finished", img)
		}
	})
}
