package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stevedore-dev/stevedore/deploy"
)

// A panicking target fails like any other: its error holds the panic value, the stack goes
// to the debug log, and the other targets are rolled back. The process does not die.
func TestRunPanicIsThatTargetsFailure(t *testing.T) {
	for _, where := range []string{"plan", "apply", "rollback"} {
		t.Run(where, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var logs bytes.Buffer
				log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				ok := &fakeTarget{name: "ok", applyTime: time.Second}
				bad := &fakeTarget{name: "bad", applyTime: 2 * time.Second, panicIn: where}
				if where == "rollback" {
					bad.applyErr = errors.New("tasks keep stopping")
				}
				// One at a time: ok has applied when bad panics, so there is something to roll back.
				res, err := deploy.Run(t.Context(), rel, []deploy.Target{ok, bad}, &deploy.Options{Logger: log, Concurrency: 1})
				if err == nil {
					t.Fatal("Run returned nil after a target panicked")
				}
				var pe *deploy.PanicError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), "panic: ") {
					t.Errorf("the error does not carry the panic: %v", err)
				}
				if !strings.Contains(logs.String(), "a target panicked") || !strings.Contains(logs.String(), "goroutine") {
					t.Errorf("no stack in the debug log:\n%s", logs.String())
				}
				switch where {
				case "plan":
					if !errors.Is(err, deploy.ErrFailed) || ok.events()[len(ok.events())-1] != "plan" {
						t.Errorf("a panic in Plan: err %v; ok did %v", err, ok.events())
					}
					if got := res.Outcome(); got != deploy.OutcomeUnchanged {
						t.Errorf("Outcome = %q", got)
					}
				case "apply":
					if !errors.Is(res.Targets[1].Err, deploy.ErrFailed) || !errors.Is(res.Targets[1].Err, deploy.ErrRolledBack) {
						t.Errorf("bad: %v", res.Targets[1].Err)
					}
					if !res.Targets[0].RolledBack {
						t.Errorf("ok was not rolled back: %v", ok.events())
					}
					if !strings.Contains(err.Error(), "index out of range") {
						t.Errorf("the panic value is not in the error: %v", err)
					}
				case "rollback":
					if !errors.Is(res.Targets[1].Err, deploy.ErrRollbackFailed) || !strings.Contains(err.Error(), "rollback exploded") {
						t.Errorf("bad: %v", res.Targets[1].Err)
					}
					if !res.Targets[0].RolledBack {
						t.Errorf("ok was not rolled back: %v", ok.events())
					}
					if got := res.Outcome(); got != deploy.OutcomePartial {
						t.Errorf("Outcome = %q", got)
					}
				}
			})
		})
	}
}

// leakyTarget's Apply returns at once but leaves a goroutine that emits later.
type leakyTarget struct{ fakeTarget }

func (l *leakyTarget) Plan(context.Context, deploy.Release) (deploy.Plan, error) {
	return &leakyPlan{fakePlan{&l.fakeTarget}}, nil
}

type leakyPlan struct{ fakePlan }

func (p *leakyPlan) Apply(ctx context.Context, emit deploy.EventFunc) error {
	go func() {
		time.Sleep(time.Minute)
		emit.Emit(deploy.Event{Phase: deploy.PhaseWait, Message: "late"})
	}()
	return nil
}

// The callback a caller passes is never called after Run returns, even by a goroutine a
// target left behind.
func TestRunNoEventsAfterReturn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var returned atomic.Bool
		var late atomic.Int32
		onEvent := func(e deploy.Event) {
			if returned.Load() {
				late.Add(1)
			}
		}
		if _, err := deploy.Run(t.Context(), rel, []deploy.Target{&leakyTarget{fakeTarget{name: "leaky"}}}, &deploy.Options{OnEvent: onEvent}); err != nil {
			t.Fatal(err)
		}
		returned.Store(true)
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if n := late.Load(); n != 0 {
			t.Errorf("OnEvent was called %d times after Run returned", n)
		}
	})
}

// Rollbacks start in the reverse order of the applies: the latest change is undone first.
func TestRunRollsBackInReverseOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log sharedLog
		var targets []deploy.Target
		for _, name := range []string{"db", "workers", "web", "edge"} {
			ft := &fakeTarget{name: name, applyTime: time.Second, shared: &log}
			if name == "edge" {
				ft.applyErr = errors.New("health check failed")
			}
			targets = append(targets, ft)
		}
		res, err := deploy.Run(t.Context(), rel, targets, &deploy.Options{Concurrency: 1})
		if !errors.Is(err, deploy.ErrRolledBack) {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"db", "workers", "web", "edge"}, log.only("apply")); diff != "" {
			t.Errorf("apply order (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"edge", "web", "workers", "db"}, log.only("rollback")); diff != "" {
			t.Errorf("rollback order (-want +got):\n%s", diff)
		}
		if got := res.Outcome(); got != deploy.OutcomeRolledBack {
			t.Errorf("Outcome = %q", got)
		}
	})
}

// A target cancelled because another failed says which, even when it reports the
// cancellation as its own error rather than context.Canceled.
func TestRunCancelledSiblingNamesTheFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bad := &fakeTarget{name: "ecs:prod/api", applyTime: time.Second, applyErr: errors.New("circuit breaker")}
		slow := &fakeTarget{name: "ec2:tag:app=web", applyTime: time.Hour,
			cancelErr: deploy.Errorf(deploy.ErrCanceled, "ec2:tag:app=web", "wait", "the command was cancelled")}
		never := &fakeTarget{name: "eks:prod/web", applyTime: time.Second}
		res, _ := deploy.Run(t.Context(), rel, []deploy.Target{bad, slow, never}, &deploy.Options{Concurrency: 2})
		if got := res.Targets[1].Err; !errors.Is(got, deploy.ErrCanceled) || !strings.Contains(got.Error(), "cancelled because ecs:prod/api failed") {
			t.Errorf("the cancelled target's error does not name the failed one: %v", got)
		}
		if got := res.Targets[2].Err; res.Targets[2].Started || !strings.Contains(got.Error(), "not started because ecs:prod/api failed") {
			t.Errorf("the target never started: %v", got)
		}
	})
}

// Outcome, one condition per row.
func TestRunOutcome(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		targets func() []*fakeTarget
		opts    deploy.Options
		cancel  bool // the caller's context is cancelled before Run
		want    deploy.Outcome
	}{
		{"every target applied", func() []*fakeTarget {
			return []*fakeTarget{{name: "a"}, {name: "b"}}
		}, deploy.Options{}, false, deploy.OutcomeDeployed},
		{"a dry run", func() []*fakeTarget {
			return []*fakeTarget{{name: "a"}, {name: "b"}}
		}, deploy.Options{DryRun: true}, false, deploy.OutcomeUnchanged},
		{"planning failed", func() []*fakeTarget {
			return []*fakeTarget{{name: "a"}, {name: "b", planErr: boom}}
		}, deploy.Options{}, false, deploy.OutcomeUnchanged},
		{"cancelled before any apply", func() []*fakeTarget {
			return []*fakeTarget{{name: "a"}, {name: "b"}}
		}, deploy.Options{}, true, deploy.OutcomeUnchanged},
		{"a failure, every change rolled back", func() []*fakeTarget {
			return []*fakeTarget{{name: "a"}, {name: "b", applyErr: boom}}
		}, deploy.Options{Concurrency: 1}, false, deploy.OutcomeRolledBack},
		{"a failure, another target's rollback failed", func() []*fakeTarget {
			return []*fakeTarget{{name: "a", rollbackErr: boom}, {name: "b", applyErr: boom}}
		}, deploy.Options{Concurrency: 1}, false, deploy.OutcomePartial},
		{"a failure, the failed target's own rollback failed", func() []*fakeTarget {
			return []*fakeTarget{{name: "a"}, {name: "b", applyErr: boom, rollbackErr: boom}}
		}, deploy.Options{Concurrency: 1}, false, deploy.OutcomePartial},
		{"a failure with rollback disabled", func() []*fakeTarget {
			return []*fakeTarget{{name: "a"}, {name: "b", applyErr: boom}}
		}, deploy.Options{Concurrency: 1, DisableRollback: true}, false, deploy.OutcomePartial},
		{"rollback disabled, the failed target changed nothing", func() []*fakeTarget {
			return []*fakeTarget{{name: "a", unchanged: true}, {name: "b", unchanged: true, applyErr: boom}}
		}, deploy.Options{Concurrency: 1, DisableRollback: true}, false, deploy.OutcomeUnchanged},
		{"rollback disabled: one target on the release, the failed one unchanged", func() []*fakeTarget {
			return []*fakeTarget{{name: "a"}, {name: "b", unchanged: true, applyErr: boom}}
		}, deploy.Options{Concurrency: 1, DisableRollback: true}, false, deploy.OutcomePartial},
		{"another writer took over: not rolled back", func() []*fakeTarget {
			return []*fakeTarget{{name: "a", applyErr: boom, rollbackErr: deploy.Errorf(deploy.ErrSuperseded, "a", "rollback", "the service runs web:9 now")}}
		}, deploy.Options{}, false, deploy.OutcomePartial},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				if tc.cancel {
					cancel()
				}
				defer cancel()
				var targets []deploy.Target
				for _, ft := range tc.targets() {
					targets = append(targets, ft)
				}
				opts := tc.opts
				res, err := deploy.Run(ctx, rel, targets, &opts)
				if got := res.Outcome(); got != tc.want {
					t.Errorf("Outcome = %q, want %q (err %v)", got, tc.want, err)
				}
				if (tc.want == deploy.OutcomeDeployed) != (err == nil) && !opts.DryRun {
					t.Errorf("Outcome %q with err %v", tc.want, err)
				}
			})
		})
	}
}

// errors.Is(err, ErrRolledBack) on a joined error is true when any target rolled back, which
// is why Outcome exists: here one target is left on the new release.
func TestRunOutcomeWhereErrorsIsMisleads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &fakeTarget{name: "a", rollbackErr: errors.New("update service denied")}
		b := &fakeTarget{name: "b", applyErr: errors.New("circuit breaker")}
		res, err := deploy.Run(t.Context(), rel, []deploy.Target{a, b}, &deploy.Options{Concurrency: 1})
		if !errors.Is(err, deploy.ErrRolledBack) || !errors.Is(err, deploy.ErrRollbackFailed) {
			t.Fatalf("err = %v", err)
		}
		if res.Outcome() != deploy.OutcomePartial {
			t.Errorf("Outcome = %q, want partial: a is left on the new release", res.Outcome())
		}
	})
}
