package deploy_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/deploytest"
	"github.com/stevedore-dev/stevedore/deploy/store"
)

func lockOpts(s *store.Memory, policy deploy.LockPolicy, who string) *deploy.Options {
	return &deploy.Options{ReleaseID: who, Lock: &deploy.LockOptions{Locker: s, Policy: policy, Who: who, TTL: time.Minute, Wait: 30 * time.Minute}}
}

func imageRelease(img string) deploy.Release {
	return deploy.Release{Images: map[string]string{"": img}}
}

// Two releases of one service at once: with LockWait the second waits for the first's lease
// and applies after it; only one applies at a time, and each ends on its own release in turn.
func TestLockWaitRunsReleasesOneAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := deploytest.NewMemory("web:v1", "web")
		s := store.NewMemory()
		var mu sync.Mutex
		var log []string
		onEvent := func(who string) deploy.EventFunc {
			return func(e deploy.Event) {
				if e.Phase == deploy.PhaseApply || e.Phase == deploy.PhaseDone {
					mu.Lock()
					log = append(log, who+" "+string(e.Phase))
					mu.Unlock()
				}
			}
		}
		var wg sync.WaitGroup
		var errA, errB error
		wg.Go(func() {
			o := lockOpts(s, deploy.LockWait, "a")
			o.OnEvent = onEvent("a")
			_, errA = deploy.Run(t.Context(), imageRelease("web:v2"), []deploy.Target{w.Target("web")}, o)
		})
		time.Sleep(time.Second) // a leases first
		wg.Go(func() {
			o := lockOpts(s, deploy.LockWait, "b")
			o.OnEvent = onEvent("b")
			_, errB = deploy.Run(t.Context(), imageRelease("web:v3"), []deploy.Target{w.Target("web")}, o)
		})
		wg.Wait()
		if errA != nil || errB != nil {
			t.Fatalf("a: %v; b: %v", errA, errB)
		}
		want := "a apply a done b apply b done"
		if got := strings.Join(log, " "); got != want {
			t.Errorf("order %q, want %q", got, want)
		}
		if img := w.Image("web"); img != "web:v3" {
			t.Errorf("web runs %s, want the second release's web:v3", img)
		}
		if h := s.Holder("memory:web"); h != nil {
			t.Errorf("the lease is still held by %s", h)
		}
	})
}

// With LockFail a release fails at once, before planning, naming the holder.
func TestLockFailNamesTheHolder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := deploytest.NewMemory("web:v1", "web")
		s := store.NewMemory()
		since := time.Now()
		if _, err := s.Lock(t.Context(), "memory:web", deploy.Holder{ID: "r-1", Who: "ci@runner-7", Release: "image web:v2", Since: since, Expires: since.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		_, err := deploy.Run(t.Context(), imageRelease("web:v3"), []deploy.Target{w.Target("web")}, lockOpts(s, deploy.LockFail, "b"))
		var le *deploy.LockedError
		if !errors.Is(err, deploy.ErrLocked) || !errors.As(err, &le) || le.Holder == nil || le.Holder.ID != "r-1" ||
			!strings.Contains(err.Error(), "memory:web is held by release r-1 (image web:v2) by ci@runner-7 since 2000-01-01T00:00:00Z") {
			t.Fatalf("err = %v", err)
		}
		if img := w.Image("web"); img != "web:v1" {
			t.Errorf("web runs %s", img)
		}
	})
}

// A crashed holder's lease lapses at its expiry; a waiting release takes it then.
func TestLockWaitOutlastsACrashedHolder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := deploytest.NewMemory("web:v1", "web")
		s := store.NewMemory()
		if _, err := s.Lock(t.Context(), "memory:web", deploy.Holder{ID: "dead", Expires: time.Now().Add(90 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := deploy.Run(t.Context(), imageRelease("web:v2"), []deploy.Target{w.Target("web")}, lockOpts(s, deploy.LockWait, "b")); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < 90*time.Second || took > 120*time.Second {
			t.Errorf("took %v: want the lease taken soon after its expiry at 90 s (then 10 s to start)", took)
		}
	})
}

// A release holds its leases for as long as it runs: a ten-minute rollout on a one-minute TTL
// keeps renewing, and another release with LockFail is refused throughout.
func TestLeasesAreRenewedWhileTheReleaseRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, s, done := slowRelease(t)
		for range 9 {
			time.Sleep(time.Minute)
			if _, err := deploy.Run(t.Context(), imageRelease("web:v3"), []deploy.Target{w.Target("web")}, lockOpts(s, deploy.LockFail, "b")); !errors.Is(err, deploy.ErrLocked) {
				t.Fatalf("at %v another release was not refused: %v", time.Since(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)), err)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// LockSupersede: the newer release asks the holder to yield; the holder learns it at its
// next renewal, stops, rolls back what it started and gives way; the newer one then applies.
func TestLockSupersedeNewestWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := deploytest.NewMemory("web:v1", "web")
		s := store.NewMemory()
		var wg sync.Mutex
		wg.Lock()
		var resA *deploy.Result
		var errA error
		go func() {
			defer wg.Unlock()
			resA, errA = deploy.Run(t.Context(), imageRelease("web:slow"), []deploy.Target{w.Target("web")}, lockOpts(s, deploy.LockWait, "a"))
		}()
		time.Sleep(time.Minute)
		if _, err := deploy.Run(t.Context(), imageRelease("web:v3"), []deploy.Target{w.Target("web")}, lockOpts(s, deploy.LockSupersede, "b")); err != nil {
			t.Fatalf("the newer release: %v", err)
		}
		wg.Lock()
		if !errors.Is(errA, deploy.ErrSuperseded) || !strings.Contains(errA.Error(), "release b") || resA.Outcome() != deploy.OutcomeRolledBack {
			t.Errorf("the older release: %v (outcome %s)", errA, resA.Outcome())
		}
		if img := w.Image("web"); img != "web:v3" {
			t.Errorf("web runs %s, want the newer release's", img)
		}
	})
}

// A release whose lease is taken from it (expired while its renewals failed, or deleted)
// stops and rolls back.
func TestLostLeaseStopsTheRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, s, done := slowRelease(t)
		time.Sleep(time.Minute)
		h := s.Holder("memory:web")
		if h == nil {
			t.Fatal("no lease held")
		}
		lease, _ := s.Lock(t.Context(), "memory:web", *h) // the same ID: an operator removing it by hand
		_ = lease.Release(t.Context())
		err := <-done
		if !errors.Is(err, deploy.ErrLockLost) || !errors.Is(err, deploy.ErrRolledBack) {
			t.Fatalf("err = %v", err)
		}
		if img := w.Image("web"); img != "web:v1" {
			t.Errorf("web runs %s", img)
		}
	})
}

// inFlight is a target whose plans report a rollout in progress until a time.
type inFlightTarget struct {
	*deploytest.MemoryTarget
	until time.Time
}

func (t inFlightTarget) Plan(ctx context.Context, r deploy.Release) (deploy.Plan, error) {
	p, err := t.MemoryTarget.Plan(ctx, r)
	if err != nil {
		return nil, err
	}
	return inFlightPlan{p, t.until}, nil
}

type inFlightPlan struct {
	deploy.Plan
	until time.Time
}

func (p inFlightPlan) InFlight() string {
	if time.Now().Before(p.until) {
		return "service deployment ecs-svc/123 IN_PROGRESS"
	}
	return ""
}

// A target deploying already (by another tool): LockFail names the rollout, LockWait plans
// again until it has settled, LockSupersede goes ahead. One condition per row.
func TestInFlightRollouts(t *testing.T) {
	for _, tc := range []struct {
		policy deploy.LockPolicy
		err    error
		after  time.Duration // when the release applied, at the soonest
	}{
		{deploy.LockFail, deploy.ErrLocked, 0},
		{deploy.LockWait, nil, 3 * time.Minute},
		{deploy.LockSupersede, nil, 0},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := deploytest.NewMemory("web:v1", "web")
				tg := inFlightTarget{w.Target("web"), time.Now().Add(3 * time.Minute)}
				start := time.Now()
				var applied time.Duration
				o := lockOpts(store.NewMemory(), tc.policy, "a")
				o.OnEvent = func(e deploy.Event) {
					if e.Phase == deploy.PhaseApply && applied == 0 {
						applied = time.Since(start)
					}
				}
				_, err := deploy.Run(t.Context(), imageRelease("web:v2"), []deploy.Target{tg}, o)
				if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if err != nil && !strings.Contains(err.Error(), "deploying already: service deployment ecs-svc/123 IN_PROGRESS") {
					t.Errorf("err = %v", err)
				}
				if tc.err == nil && (applied < tc.after || applied > tc.after+time.Minute) {
					t.Errorf("applied after %v, want about %v", applied, tc.after)
				}
			})
		})
	}
}

// slowLocker takes a second to answer each Lock, as a store across a network may.
type slowLocker struct{ *store.Memory }

func (l slowLocker) Lock(ctx context.Context, key string, h deploy.Holder) (deploy.Lease, error) {
	time.Sleep(time.Second)
	return l.Memory.Lock(ctx, key, h)
}

// Two releases of the same two services, given in opposite orders, both finish: leases are
// taken in name order, so neither can hold one while waiting for the other's.
func TestLocksAreTakenInNameOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := deploytest.NewMemory("v1", "api", "web")
		s := store.NewMemory()
		var wg sync.WaitGroup
		errs := make([]error, 2)
		start := time.Now()
		for i, order := range [][]string{{"api", "web"}, {"web", "api"}} {
			wg.Go(func() {
				o := lockOpts(s, deploy.LockWait, order[0])
				o.Lock.Locker = slowLocker{s}
				o.Concurrency = 1
				_, errs[i] = deploy.Run(t.Context(), imageRelease("v2"), []deploy.Target{w.Target(order[0]), w.Target(order[1])}, o)
			})
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("%v; %v", errs[0], errs[1])
		}
		if took := time.Since(start); took > 2*time.Minute {
			t.Errorf("took %v: the releases waited on each other", took)
		}
	})
}

// slowRelease starts release "a" of a ten-minute rollout (web:slow) to memory:web, leased
// with LockWait; done gives its error.
func slowRelease(t *testing.T) (*deploytest.Memory, *store.Memory, <-chan error) {
	w := deploytest.NewMemory("web:v1", "web")
	s := store.NewMemory()
	done := make(chan error, 1)
	go func() {
		_, err := deploy.Run(t.Context(), imageRelease("web:slow"), []deploy.Target{w.Target("web")}, lockOpts(s, deploy.LockWait, "a"))
		done <- err
	}()
	return w, s, done
}
