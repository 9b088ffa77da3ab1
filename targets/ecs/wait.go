package ecs

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
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
		throttled := p.pollOnce(ctx)
		if throttled {
			interval *= 2
		} else {
			interval += interval / 2
		}
		interval = min(interval, MaxPollInterval)
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

// waitStable waits until the service runs w.TaskDefinition alone and settled, judging the
// deployment w names, and returns the last status it saw.
func (t *Target) waitStable(ctx context.Context, w Want, phase deploy.Phase, emit deploy.EventFunc) (Status, error) {
	want := w.TaskDefinition
	ch, cancel := t.c.poller.subscribe(ctx, t.service)
	defer cancel()
	var last Status
	seenEvents := w.Since
	eventsFrom := !w.Since.IsZero() // whether seenEvents marks where this rollout's events start
	transient := 0
	for {
		var r pollResult
		select {
		case <-ctx.Done():
			msg := "still waiting"
			if last.Message != "" {
				msg += ": " + last.Message
			}
			return last, t.ctxErr(ctx, "wait for "+shortTD(want), msg)
		case r = <-ch:
		}
		if r.err != nil {
			if awserr.Transient(r.err) && transient < maxTransient {
				transient++
				t.log().WarnContext(ctx, "describe services failed; will poll again", "target", t.Name(), "err", r.err, "attempt", transient)
				continue
			}
			return last, awserr.Wrap(t.Name(), "describe services", r.err, "while waiting for "+shortTD(want))
		}
		transient = 0
		if r.svc == nil {
			return last, deploy.Errorf(deploy.ErrNotFound, t.Name(), "wait for "+shortTD(want), "the service is MISSING: it was deleted while the deploy waited")
		}
		if !eventsFrom {
			// No start time known (UpdateService's answer lacked the new deployment): stream
			// only what happens from now on, not the service's history.
			seenEvents, eventsFrom = newestEvent(r.svc), true
		}
		seenEvents = t.streamEvents(r.svc, seenEvents, phase, emit)
		st := ServiceStatus(*r.svc, w)
		if st.Message != last.Message || st.Counts != last.Counts {
			emit.Emit(deploy.Event{Target: t.Name(), Phase: phase, Message: st.Message, Counts: st.Counts})
			t.log().DebugContext(ctx, "service status", "target", t.Name(), "status", st.Message)
		}
		last = st
		if st.Done {
			return st, nil
		}
		if st.Superseded {
			return st, deploy.Errorf(deploy.ErrSuperseded, t.Name(), "wait for "+shortTD(want), "%s", st.Message)
		}
		if st.Failed {
			return st, t.failure(ctx, r.svc, want, w.Since, st)
		}
	}
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
	kind := deploy.ErrCanceled
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		kind = deploy.ErrTimeout
	}
	return &deploy.Error{Kind: kind, Target: t.Name(), Op: op, Detail: detail, Err: ctx.Err()}
}
