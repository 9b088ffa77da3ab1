package ecs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
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

// observation is what one poll of the cluster saw of a waiter's service and deployment.
type observation struct {
	svc    *types.Service           // nil when the service is missing
	dep    *types.ServiceDeployment // the deployment the waiter follows, when it names one
	err    error                    // DescribeServices failed
	depErr error                    // DescribeServiceDeployments failed, or lacks the deployment
}

// subscription is one waiter: a service, the service deployment it follows ("" for none),
// and where the latest observation is left for it.
type subscription struct {
	service, deployment string
	ctx                 context.Context // the waiter's: the poller's calls count against its target
	ch                  chan observation
	due                 time.Time // not polled for this waiter before then (guarded by the poller's mu)
}

// poller describes the services of a cluster that someone waits on, while anyone waits: per
// poll, one DescribeServiceDeployments call for the deployments followed and one
// DescribeServices call for ten services (the ones seen longest ago), at a steady
// Options.PollInterval that slows down after throttling, each call taken from the cluster's
// Budget. The first poll comes at once when a waiter subscribes.
type poller struct {
	c      *Cluster
	policy poll.Policy
	budget *poll.Budget

	mu      sync.Mutex
	subs    []*subscription
	seen    map[string]time.Time // when each service was last described
	wake    chan struct{}
	running bool
	stop    context.CancelFunc
}

// subscribe delivers fresh observations of service, and of deployment when not "", until
// cancel is called. Only the latest undelivered observation is kept.
func (p *poller) subscribe(ctx context.Context, service, deployment string) (*subscription, func()) {
	s := &subscription{service: service, deployment: deployment, ctx: ctx, ch: make(chan observation, 1)}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.subs = append(p.subs, s)
	if !p.running {
		p.running = true
		p.wake = make(chan struct{}, 1)
		// The loop outlives any one waiter, so it keeps the values of the context that
		// started it but not its cancellation; it stops when the last waiter leaves.
		loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
		p.stop = stop
		policy := p.policy
		policy.Wake = p.wake
		go func() {
			_ = poll.Until(loopCtx, policy, func(ctx context.Context) (poll.Look, error) {
				return poll.Look{Throttled: p.pollOnce(ctx)}, nil
			}, nil)
		}()
	} else {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return s, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.subs = slices.DeleteFunc(p.subs, func(x *subscription) bool { return x == s })
		if len(p.subs) == 0 && p.running {
			p.running = false
			p.stop()
		}
	}
}

// rest says that s's waiter needs no observation for d: its next move is predictable and
// further off (a long bake).
func (p *poller) rest(s *subscription, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s.due = time.Now().Add(d)
}

// next picks what one poll reads: of the services some waiter needs now, the ten seen
// longest ago (new ones first), and the deployments their waiters follow.
func (p *poller) next() (services, deployments []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for _, s := range p.subs {
		if now.Before(s.due) {
			continue
		}
		if !slices.Contains(services, s.service) {
			services = append(services, s.service)
		}
	}
	slices.SortFunc(services, func(a, b string) int {
		if c := p.seen[a].Compare(p.seen[b]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	services = services[:min(len(services), 10)]
	for _, s := range p.subs {
		if s.deployment != "" && slices.Contains(services, s.service) && !slices.Contains(deployments, s.deployment) {
			deployments = append(deployments, s.deployment)
		}
	}
	return services, deployments
}

// pollOnce reads what next picks and leaves each waiter of those services its observation.
func (p *poller) pollOnce(ctx context.Context) (throttled bool) {
	services, arns := p.next()
	if len(services) == 0 {
		return false
	}
	noAPI := p.c.noDeployments.Load()
	deps := map[string]*types.ServiceDeployment{}
	var depErr error
	if !noAPI {
		// The deployments first: the service, read after them, then already names any
		// deployment that stopped one of them.
		for chunk := range slices.Chunk(arns, 20) {
			if p.budget.Take(ctx) != nil {
				return false
			}
			out, err := p.c.raw.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: chunk})
			if err != nil {
				throttled = awserr.Kind(err) == deploy.ErrThrottled
				if unavailable(err) {
					err = fmt.Errorf("%w: %w", errNoDeploymentAPI, err)
				}
				depErr = err
				break
			}
			for i := range out.ServiceDeployments {
				deps[aws.ToString(out.ServiceDeployments[i].ServiceDeploymentArn)] = &out.ServiceDeployments[i]
			}
		}
	}
	if p.budget.Take(ctx) != nil {
		return false
	}
	out, err := p.c.raw.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(p.c.name), Services: services})
	if ctx.Err() != nil {
		return false
	}
	throttled = throttled || err != nil && awserr.Kind(err) == deploy.ErrThrottled
	svcs := map[string]*types.Service{}
	if err == nil {
		for i := range out.Services {
			svc := &out.Services[i]
			svcs[aws.ToString(svc.ServiceName)], svcs[aws.ToString(svc.ServiceArn)] = svc, svc
		}
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, name := range services {
		p.seen[name] = now
	}
	for _, s := range p.subs {
		if !slices.Contains(services, s.service) {
			continue
		}
		deploy.CountCall(s.ctx) // the DescribeServices that served it
		if s.deployment != "" && slices.Contains(arns, s.deployment) && !noAPI {
			deploy.CountCall(s.ctx) // and the DescribeServiceDeployments
		}
		o := observation{svc: svcs[s.service], err: err}
		switch {
		case s.deployment == "":
		case noAPI:
			o.depErr = errNoDeploymentAPI
		case depErr != nil:
			o.depErr = depErr
		case deps[s.deployment] != nil:
			o.dep = deps[s.deployment]
		default:
			o.depErr = deploy.Errorf(deploy.ErrNotFound, "ecs:"+p.c.name+"/"+s.service, "describe service deployment",
				"service deployment %s is MISSING", s.deployment)
		}
		select { // keep only the latest observation
		case <-s.ch:
		default:
		}
		s.ch <- o
	}
	return throttled
}

// waitStable waits for the rollout w names and returns the last status it saw. It follows
// the service deployment UpdateService started (DeploymentStatus) where ECS reports one, and
// otherwise judges the service's deployments list (ServiceStatus). Each look judges the
// cluster poller's next observation.
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
	// Said at once, before the first observation: a release frees this target's concurrency
	// slot at its first wait event, and the cluster's poller may be busy with others.
	msg := "waiting for " + shortTD(want)
	if w.Deployment != "" {
		msg = op + " (service deployment " + shortARN(w.Deployment) + ")"
		if !w.RollingBack {
			msg = "waiting for service deployment " + shortARN(w.Deployment) + " to " + shortTD(want)
		}
	}
	emit.Emit(deploy.Event{Target: t.Name(), Phase: phase, Message: msg})
	sub, cancel := t.c.poller.subscribe(ctx, t.service, w.Deployment)
	defer cancel()
	var (
		last       Status
		seenEvents = w.Since
		eventsFrom = !w.Since.IsZero() // whether seenEvents marks where this rollout's events start
		stage      string
		stageSince time.Time
		hooks      = map[string]types.DeploymentLifecycleHookStatus{}
	)
	look := func(ctx context.Context) (poll.Look, error) {
		var o observation
		select {
		case <-ctx.Done():
			return poll.Look{}, ctx.Err()
		case o = <-sub.ch:
		}
		if o.err != nil {
			return poll.Look{}, awserr.Wrap(t.Name(), "describe services", o.err, "while waiting for "+shortTD(want))
		}
		svc := o.svc
		if svc == nil {
			return poll.Look{}, deploy.Errorf(deploy.ErrNotFound, t.Name(), op, "the service is MISSING: it was deleted while the deploy waited")
		}
		if !eventsFrom {
			// No start time known (UpdateService's answer lacked the new deployment): stream
			// only what happens from now on, not the service's history.
			seenEvents, eventsFrom = newestEvent(svc), true
		}
		seenEvents = t.streamEvents(svc, seenEvents, phase, emit)
		var st Status
		switch {
		case aws.ToString(svc.Status) == "DRAINING" || aws.ToString(svc.Status) == "INACTIVE":
			st = ServiceStatus(*svc, w) // fails, whichever deployment is followed
		case w.Deployment == "":
			st = ServiceStatus(*svc, w)
		case errors.Is(o.depErr, errNoDeploymentAPI):
			t.c.fallBack(ctx, t.log(), o.depErr)
			w.Deployment = ""
			st = ServiceStatus(*svc, w)
		case o.depErr != nil:
			return poll.Look{}, t.deploymentErr(w.Deployment, o.depErr)
		default:
			d := o.dep
			// A stage's age, or a traffic step's: when this wait first saw it.
			at := string(d.LifecycleStage)
			if r := d.TargetServiceRevision; r != nil && r.RequestedProductionTrafficWeight != nil {
				at += fmt.Sprint(*r.RequestedProductionTrafficWeight)
			}
			if at != stage || stageSince.IsZero() {
				stage, stageSince = at, time.Now()
			}
			st = DeploymentStatus(*d, aws.ToString(svc.CurrentServiceDeployment), time.Since(stageSince))
		}
		if st.Message != last.Message || st.Counts != last.Counts {
			emit.Emit(deploy.Event{Target: t.Name(), Phase: phase, Message: st.Message, Counts: st.Counts,
				Stage: st.Stage, Traffic: st.Traffic, Remaining: st.Remaining})
			t.log().DebugContext(ctx, "rollout status", "target", t.Name(), "status", st.Message)
		}
		last = st
		if err := t.hooks(ctx, st, hooks, phase, emit); err != nil {
			return poll.Look{}, err
		}
		done, err := t.verdict(ctx, svc, w, op, st)
		if d := restFor(st, t.c.opts.PollInterval); d > 0 && !done && err == nil {
			t.c.poller.rest(sub, d)
		}
		return poll.Look{Done: done}, err
	}
	err := poll.Until(ctx, poll.Policy{Blocking: true, Transient: poll.TransientFor(ctx, maxTransient), Classify: awserr.Classify}, look,
		func(err error, attempt int) {
			t.log().WarnContext(ctx, "polling the service failed; will poll again", "target", t.Name(), "err", err, "attempt", attempt)
		})
	if err != nil && ctx.Err() != nil {
		msg := "still waiting"
		if last.Message != "" {
			msg += ": " + last.Message
		}
		return last, t.ctxErr(ctx, op, msg)
	}
	return last, err
}

// restFor is how long a wait polling every interval can go without looking at a deployment
// whose next move is predictable: in a bake, or a traffic step's bake, with more than five
// polls left, up to fifteen polls (MaxPollInterval at the default interval) at a time, so an
// alarm still fails the wait within that; every poll again for the last five, as the wait
// knows the bake's start only to within a poll.
func restFor(st Status, interval time.Duration) time.Duration {
	margin := 5 * interval
	if st.State != types.ServiceDeploymentStatusInProgress || st.Remaining <= margin {
		return 0
	}
	return min(st.Remaining-margin, 15*interval, MaxPollInterval)
}

// verdict is where a wait stands after st: done, still going (false, nil), or failed.
func (t *Target) verdict(ctx context.Context, svc *types.Service, w Want, op string, st Status) (bool, error) {
	if w.RollingBack {
		switch {
		case st.State == types.ServiceDeploymentStatusRollbackSuccessful:
			return true, nil
		case st.Superseded:
			return false, deploy.Errorf(deploy.ErrSuperseded, t.Name(), op, "%s", st.Message)
		case st.Done || st.Failed && !st.RolledBack:
			return false, deploy.Errorf(deploy.ErrFailed, t.Name(), op, "%s", st.Message)
		}
		return false, nil
	}
	switch {
	case st.Done || w.Until.reached(st):
		return true, nil
	case st.Superseded:
		return false, deploy.Errorf(deploy.ErrSuperseded, t.Name(), op, "%s", st.Message)
	case st.Failed:
		return false, t.failure(ctx, svc, w.TaskDefinition, w.Since, st)
	}
	return false, nil
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

// HookGate answers PAUSE lifecycle hooks (Options.Hooks) with a release gate: when a hook
// awaits action the gate runs (Count measurements Interval apart), and CONTINUE follows a
// pass, ROLLBACK a failure or an inconclusive end. Keep the gate's length within the hook's
// timeoutInMinutes: ECS takes the timeout action when it passes. Its evidence goes to log.
func HookGate(g deploy.Gate, log *slog.Logger) func(ctx context.Context, h Hook) (bool, error) {
	log = deploy.LoggerOrDiscard(log)
	return func(ctx context.Context, h Hook) (bool, error) {
		res := g.Run(ctx, nil)
		if ctx.Err() != nil {
			return false, ctx.Err() // asked again, if the wait goes on
		}
		log.InfoContext(ctx, "lifecycle hook gate", "hook", h.ID, "stage", h.Stage, "verdict", string(res.Verdict), "err", res.Err)
		return res.Err == nil, nil
	}
}
