package ecs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
	"github.com/stevedore-dev/stevedore/internal/poll"
)

// maxTransient is how many polls in a row may be throttled or fail with a server error
// (each after the SDK's own retries) before waiting gives up.
const maxTransient = 8

type pollResult struct {
	svc *types.Service // nil when the service is missing
	err error
}

// poller describes every service someone waits on, ten per DescribeServices call, while
// anyone waits: the first poll comes at once when a waiter subscribes, later ones at an
// interval that grows from min to MaxPollInterval and doubles after throttling.
type poller struct {
	api     API
	cluster string
	min     time.Duration
	log     *slog.Logger
	policy  poll.Policy // the growth rule; the poller keeps its own cadence for many waits

	mu      sync.Mutex
	subs    map[string][]chan pollResult
	wake    chan struct{}
	running bool
	stop    context.CancelFunc
}

// subscribe delivers fresh observations of service to the returned channel until cancel is
// called. Only the latest undelivered observation is kept.
func (p *poller) subscribe(ctx context.Context, service string) (<-chan pollResult, func()) {
	ch := make(chan pollResult, 1)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.subs[service] = append(p.subs[service], ch)
	if !p.running {
		p.running = true
		p.wake = make(chan struct{}, 1)
		// The loop outlives any one waiter, so it keeps the values of the context that
		// started it but not its cancellation; it stops when the last waiter leaves.
		loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
		p.stop = stop
		go p.loop(loopCtx, p.wake)
	} else {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return ch, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.subs[service] = slices.DeleteFunc(p.subs[service], func(c chan pollResult) bool { return c == ch })
		if len(p.subs[service]) == 0 {
			delete(p.subs, service)
		}
		if len(p.subs) == 0 && p.running {
			p.running = false
			p.stop()
		}
	}
}

func (p *poller) loop(ctx context.Context, wake chan struct{}) {
	interval := p.min
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
			interval = p.min
		case <-timer.C:
		}
		interval = p.policy.Next(interval, p.pollOnce(ctx))
		timer.Reset(interval)
	}
}

func (p *poller) pollOnce(ctx context.Context) (throttled bool) {
	p.mu.Lock()
	names := make([]string, 0, len(p.subs))
	for n := range p.subs {
		names = append(names, n)
	}
	p.mu.Unlock()
	slices.Sort(names)
	for batch := range slices.Chunk(names, 10) {
		out, err := p.api.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(p.cluster), Services: batch})
		if ctx.Err() != nil {
			return false
		}
		results := map[string]pollResult{}
		if err != nil {
			throttled = throttled || awserr.Kind(err) == deploy.ErrThrottled
			for _, n := range batch {
				results[n] = pollResult{err: err}
			}
		} else {
			for _, n := range batch {
				results[n] = pollResult{}
			}
			for i := range out.Services {
				svc := &out.Services[i]
				for _, n := range batch {
					if n == aws.ToString(svc.ServiceName) || n == aws.ToString(svc.ServiceArn) {
						results[n] = pollResult{svc: svc}
					}
				}
			}
		}
		p.deliver(results)
	}
	return throttled
}

func (p *poller) deliver(results map[string]pollResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for n, r := range results {
		for _, ch := range p.subs[n] {
			select { // keep only the latest observation
			case <-ch:
			default:
			}
			ch <- r
		}
	}
}

// waitStable waits for the rollout w names and returns the last status it saw. It follows
// the service deployment UpdateService started (DeploymentStatus) where ECS reports one, and
// otherwise judges the service's deployments list (ServiceStatus).
func (t *Target) waitStable(ctx context.Context, w Want, phase deploy.Phase, emit deploy.EventFunc) (Status, error) {
	want := w.TaskDefinition
	op := "wait for " + shortTD(want)
	if w.RollingBack {
		op = "wait for the rollback of " + shortARN(w.Deployment)
	}
	if w.Deployment != "" && t.c.noDeployments.Load() {
		w.Deployment = ""
	}
	if w.Deployment == "" && w.Until != Deployed {
		t.log().DebugContext(ctx, "waiting for a lifecycle stage needs the service-deployment API; waiting until the service is stable",
			"target", t.Name(), "until", string(w.Until))
	}
	ch, cancel := t.c.poller.subscribe(ctx, t.service)
	defer cancel()
	var (
		last       Status
		svc        *types.Service
		seenEvents = w.Since
		eventsFrom = !w.Since.IsZero() // whether seenEvents marks where this rollout's events start
		transient  = 0
		stage      string
		stageSince time.Time
		hooks      = map[string]types.DeploymentLifecycleHookStatus{}
		soon       = time.NewTimer(time.Hour) // an early look at the deployment when its end is near
	)
	soon.Stop()
	defer soon.Stop()
	for {
		var r pollResult
		select {
		case <-ctx.Done():
			msg := "still waiting"
			if last.Message != "" {
				msg += ": " + last.Message
			}
			return last, t.ctxErr(ctx, op, msg)
		case r = <-ch:
		case <-soon.C:
			if svc == nil {
				continue
			}
			r = pollResult{svc: svc} // the service as last seen; the deployment is read afresh
		}
		if r.err != nil {
			if awserr.Transient(r.err) && transient < maxTransient {
				transient++
				t.log().WarnContext(ctx, "describe services failed; will poll again", "target", t.Name(), "err", r.err, "attempt", transient)
				continue
			}
			return last, awserr.Wrap(t.Name(), "describe services", r.err, "while waiting for "+shortTD(want))
		}
		if r.svc == nil {
			return last, deploy.Errorf(deploy.ErrNotFound, t.Name(), op, "the service is MISSING: it was deleted while the deploy waited")
		}
		svc = r.svc
		if !eventsFrom {
			// No start time known (UpdateService's answer lacked the new deployment): stream
			// only what happens from now on, not the service's history.
			seenEvents, eventsFrom = newestEvent(svc), true
		}
		seenEvents = t.streamEvents(svc, seenEvents, phase, emit)
		var st Status
		if s := aws.ToString(svc.Status); s == "DRAINING" || s == "INACTIVE" {
			st = ServiceStatus(*svc, w) // fails, whichever deployment is followed
		} else if w.Deployment != "" {
			d, err := t.describeDeployment(ctx, w.Deployment)
			switch {
			case err == nil:
				// A stage's age, or a traffic step's: when this wait first saw it.
				at := string(d.LifecycleStage)
				if r := d.TargetServiceRevision; r != nil && r.RequestedProductionTrafficWeight != nil {
					at += fmt.Sprint(*r.RequestedProductionTrafficWeight)
				}
				if at != stage || stageSince.IsZero() {
					stage, stageSince = at, time.Now()
				}
				st = DeploymentStatus(*d, aws.ToString(svc.CurrentServiceDeployment), time.Since(stageSince))
				if st.State == types.ServiceDeploymentStatusStopped || st.State == types.ServiceDeploymentStatusStopRequested {
					// The service was read before the deployment: read it again to see whether
					// another writer's deployment stopped this one.
					if fresh, err := t.describeService(ctx); err == nil {
						svc = fresh
						st = DeploymentStatus(*d, aws.ToString(svc.CurrentServiceDeployment), time.Since(stageSince))
					}
				}
			case errors.Is(err, errNoDeploymentAPI):
				t.c.fallBack(ctx, t.log(), err)
				w.Deployment = ""
				st = ServiceStatus(*svc, w)
			case awserr.Transient(err) && transient < maxTransient:
				transient++
				t.log().WarnContext(ctx, "describe service deployments failed; will poll again", "target", t.Name(), "err", err, "attempt", transient)
				continue
			default:
				return last, t.deploymentErr(w.Deployment, err)
			}
		} else {
			st = ServiceStatus(*svc, w)
		}
		transient = 0
		if st.Message != last.Message || st.Counts != last.Counts {
			emit.Emit(deploy.Event{Target: t.Name(), Phase: phase, Message: st.Message, Counts: st.Counts,
				Stage: st.Stage, Traffic: st.Traffic, Remaining: st.Remaining})
			t.log().DebugContext(ctx, "rollout status", "target", t.Name(), "status", st.Message)
		}
		last = st
		if err := t.hooks(ctx, st, hooks, phase, emit); err != nil {
			return st, err
		}
		if w.RollingBack {
			switch {
			case st.State == types.ServiceDeploymentStatusRollbackSuccessful:
				return st, nil
			case st.Superseded:
				return st, deploy.Errorf(deploy.ErrSuperseded, t.Name(), op, "%s", st.Message)
			case st.Done || st.Failed && !st.RolledBack:
				return st, deploy.Errorf(deploy.ErrFailed, t.Name(), op, "%s", st.Message)
			}
		} else {
			switch {
			case st.Done || w.Until.reached(st):
				return st, nil
			case st.Superseded:
				return st, deploy.Errorf(deploy.ErrSuperseded, t.Name(), op, "%s", st.Message)
			case st.Failed:
				return st, t.failure(ctx, svc, want, w.Since, st)
			}
		}
		if d := nearEnd(st); d > 0 {
			soon.Reset(d)
		}
	}
}

// nearEnd says how soon to look at a deployment again, outside the poller's rhythm, when its
// next move is near and predictable: the end of a bake or of a traffic step's bake (whose
// start is known only to within a poll, so the last 30 s are watched closely), clean-up, and a
// rolling update's last task. 0 leaves it to the poller, whose DescribeServices calls are
// shared by every service of the cluster.
func nearEnd(st Status) time.Duration {
	const quick = time.Second
	switch {
	case st.Deployment == "" || st.State != types.ServiceDeploymentStatusInProgress:
		return 0
	case st.timed && st.Remaining > 2*MaxPollInterval:
		return min(st.Remaining-2*MaxPollInterval, MaxPollInterval)
	case st.timed, st.Stage == string(types.ServiceDeploymentLifecycleStageCleanUp),
		st.Traffic == nil && st.Counts.Desired > 0 && st.Counts.Updated >= st.Counts.Desired-1:
		return quick
	}
	return 0
}

// hooks reports lifecycle hooks as their status changes and answers PAUSE hooks awaiting
// action through Options.Hooks: CONTINUE when it approves, ROLLBACK when it does not.
func (t *Target) hooks(ctx context.Context, st Status, seen map[string]types.DeploymentLifecycleHookStatus, phase deploy.Phase, emit deploy.EventFunc) error {
	for _, h := range st.Hooks {
		if seen[h.ID] == h.Status {
			continue
		}
		seen[h.ID] = h.Status
		emit.Emit(deploy.Event{Target: t.Name(), Phase: phase, Stage: h.Stage, Message: "lifecycle " + h.String()})
		gate := t.c.opts.Hooks
		if h.Status != types.DeploymentLifecycleHookStatusAwaitingAction || gate == nil {
			continue
		}
		ok, err := gate(ctx, h)
		if err != nil {
			// Inconclusive: ask again at the next poll; the hook's timeout action decides if
			// the gate never answers.
			delete(seen, h.ID)
			t.log().WarnContext(ctx, "the lifecycle hook gate failed; asking again at the next poll", "target", t.Name(), "hook", h.ID, "err", err)
			continue
		}
		action := types.DeploymentLifecycleHookActionContinue
		if !ok {
			action = types.DeploymentLifecycleHookActionRollback
		}
		if _, err := t.c.api.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{
			ServiceDeploymentArn: aws.String(h.Deployment), HookId: aws.String(h.ID), Action: action}); err != nil {
			return awserr.Wrap(t.Name(), "continue service deployment "+shortARN(h.Deployment), err,
				"the credentials need ecs:ContinueServiceDeployment")
		}
		emit.Emit(deploy.Event{Target: t.Name(), Phase: phase, Stage: h.Stage, Message: fmt.Sprintf("answered %s hook %s with %s", h.Type, h.Target, action)})
	}
	return nil
}

func newestEvent(svc *types.Service) time.Time {
	var newest time.Time
	for _, e := range svc.Events {
		if at := aws.ToTime(e.CreatedAt); at.After(newest) {
			newest = at
		}
	}
	return newest
}

// streamEvents emits the service events newer than after, oldest first, and returns the
// newest event time seen.
func (t *Target) streamEvents(svc *types.Service, after time.Time, phase deploy.Phase, emit deploy.EventFunc) time.Time {
	newest := after
	for i := len(svc.Events) - 1; i >= 0; i-- { // ECS lists the newest first
		e := svc.Events[i]
		at := aws.ToTime(e.CreatedAt)
		if !at.After(after) {
			continue
		}
		emit.Emit(deploy.Event{Target: t.Name(), Phase: phase, Message: "event: " + aws.ToString(e.Message)})
		if at.After(newest) {
			newest = at
		}
	}
	return newest
}

// ctxErr reports that ctx ended while op was under way: ErrTimeout for a deadline,
// ErrCanceled otherwise, with detail saying where things stood.
func (t *Target) ctxErr(ctx context.Context, op, detail string) error {
	return deploy.ContextError(ctx.Err(), t.Name(), op, detail)
}
