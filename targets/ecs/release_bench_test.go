package ecs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/bubble"
	"github.com/stevedore-dev/stevedore/targets/ecs"
	"github.com/stevedore-dev/stevedore/targets/ecs/ecstest"
)

// waitHolds wraps a target so that its plans never report a wait: deploy.Run then keeps its
// concurrency slot for the whole Apply, waits included, as it did before slots freed at the
// first wait event. For comparison only.
type waitHolds struct{ deploy.Target }

func (w waitHolds) Plan(ctx context.Context, r deploy.Release) (deploy.Plan, error) {
	p, err := w.Target.Plan(ctx, r)
	if err != nil {
		return nil, err
	}
	return holdingPlan{p}, nil
}

type holdingPlan struct{ deploy.Plan }

func (p holdingPlan) Apply(ctx context.Context, emit deploy.EventFunc) error {
	return p.Plan.Apply(ctx, func(e deploy.Event) {
		if e.Phase == deploy.PhaseWait {
			e.Phase = deploy.PhaseApply
		}
		emit.Emit(e)
	})
}

// BenchmarkRelease100Services releases a new image to 100 services of one cluster (one task
// each, started 10 s after the update), a fresh fake each iteration, and reports the release's
// length on the fake clock and the ECS calls it made: at the default Concurrency of 4 with
// slots freed when a target starts waiting, with slots held through the waits (the old rule),
// and at Concurrency 100.
func BenchmarkRelease100Services(b *testing.B) {
	for _, bc := range []struct {
		name        string
		concurrency int
		hold        bool
	}{
		{"concurrency-4", 4, false},
		{"concurrency-4-waits-hold-slots", 4, true},
		{"concurrency-100", 100, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var took time.Duration
			var calls int
			for b.Loop() {
				bubble.Bench(b, func(t *testing.T) {
					e := newEnv(t, 1, true, true)
					e.srv.SetBehavior(newImage, ecstest.Behavior{StartEvery: 10 * time.Second})
					cl := ecs.NewCluster(e.client, "prod", nil)
					var targets []deploy.Target
					for i := range 100 {
						name := fmt.Sprintf("svc%03d", i)
						if err := e.srv.CreateService(ecstest.ServiceSpec{Cluster: "prod", Name: name, TaskDefinition: "web:1", DesiredCount: 1}); err != nil {
							t.Fatal(err)
						}
						var tg deploy.Target = cl.Service(name)
						if bc.hold {
							tg = waitHolds{tg}
						}
						targets = append(targets, tg)
					}
					start := time.Now()
					if _, err := deploy.Run(t.Context(), release, targets, &deploy.Options{Concurrency: bc.concurrency}); err != nil {
						t.Fatal(err)
					}
					took = time.Since(start)
					e.mu.Lock()
					calls = len(e.calls)
					e.mu.Unlock()
				})
			}
			b.ReportMetric(took.Seconds(), "release-s")
			b.ReportMetric(float64(calls), "calls")
		})
	}
}
