package main

import (
	"context"
	"flag"

	"github.com/stevedore-dev/stevedore/deploy"
)

// waitCommand waits for the rollout each target is in, whoever started it: an ECS service's
// current deployment, a workload's rollout, the SSM commands running on a fleet. Targets are
// waited on together; the first failure is returned once all have ended.
func waitCommand(fs *flag.FlagSet) func(context.Context, *app) error {
	return func(ctx context.Context, a *app) error {
		v := newView(a.stderr, a.plain, a.stageNames())
		defer v.done()
		errs := make([]error, len(a.built.targets))
		done := make(chan int)
		for i, e := range a.built.targets {
			go func() {
				emit := func(ev deploy.Event) {
					ev.ReleaseStage = e.stage
					if ev.Time.IsZero() {
						ev.Time = now()
					}
					v.event(ev)
				}
				switch {
				case e.ecs != nil:
					st, err := e.ecs.Wait(ctx, emit)
					if err == nil {
						emit(deploy.Event{Target: e.target.Name(), Phase: deploy.PhaseDone, Message: st.Message, Counts: st.Counts})
					}
					errs[i] = err
				case e.eks != nil:
					errs[i] = e.eks.Wait(ctx, emit)
				case e.ec2 != nil:
					errs[i] = e.ec2.Wait(ctx, emit)
				}
				done <- i
			}()
		}
		for range a.built.targets {
			<-done
		}
		for _, err := range errs {
			if err != nil {
				return err // it names its target
			}
		}
		return nil
	}
}
