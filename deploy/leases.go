package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/user"
	"slices"
	"sync"
	"time"

	"github.com/stevedore-dev/stevedore/internal/poll"
)

// leases are the leases a release holds, renewed until it ends.
type leases struct {
	o      LockOptions
	holder Holder
	mu     sync.Mutex
	held   map[string]Lease
	stop   func()
	done   chan struct{}
}

// newReleaseID is a random run ID.
func newReleaseID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// whoAmI names this runner: user@host.
func whoAmI() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

// lockAll leases every target, in name order (so two releases of overlapping targets cannot
// each hold what the other waits for), by the policy; then renews them every TTL/3 until
// unlock, calling lost with the first renewal that failed for good.
func (d *run) lockAll(ctx context.Context, lost func(error)) error {
	o := *d.o.Lock
	if o.Policy == "" {
		o.Policy = LockWait
	}
	if o.Wait <= 0 {
		o.Wait = 10 * time.Minute
	}
	if o.TTL <= 0 {
		o.TTL = 2 * time.Minute
	}
	if o.Who == "" {
		o.Who = whoAmI()
	}
	d.ls = &leases{o: o, held: map[string]Lease{},
		holder: Holder{ID: d.o.ReleaseID, Who: o.Who, Release: d.desc, Since: time.Now()}}
	// The heartbeat starts first: the leases taken are renewed while the others are waited for.
	hctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	d.ls.stop, d.ls.done = stop, make(chan struct{})
	go func() {
		defer close(d.ls.done)
		d.ls.heartbeat(hctx, lost)
	}()
	keys := slices.Clone(d.names)
	slices.Sort(keys)
	deadline := time.Now().Add(o.Wait)
	for _, key := range keys {
		if err := d.lockOne(ctx, key, deadline); err != nil {
			d.unlockAll(ctx)
			return err
		}
	}
	return nil
}

// lockOne takes key's lease, waiting or asking the holder to yield as the policy says.
func (d *run) lockOne(ctx context.Context, key string, deadline time.Time) error {
	ls := d.ls
	asked := false
	var last *LockedError
	look := func(ctx context.Context) (poll.Look, error) {
		h := ls.holder
		h.Expires = time.Now().Add(ls.o.TTL)
		lease, err := ls.o.Locker.Lock(ctx, key, h)
		if err == nil {
			ls.mu.Lock()
			ls.held[key] = lease
			ls.mu.Unlock()
			return poll.Look{Done: true}, nil
		}
		var le *LockedError
		if !errors.As(err, &le) {
			return poll.Look{}, Wrap(ErrUnavailable, key, "lock", err, "the lock store failed")
		}
		last = le
		switch {
		case ls.o.Policy == LockFail:
			return poll.Look{}, err
		case time.Now().After(deadline):
			return poll.Look{}, &Error{Kind: ErrLocked, Target: key, Op: "lock", Detail: fmt.Sprintf("waited %s for the lease", ls.o.Wait), Err: le}
		case ls.o.Policy == LockSupersede && !asked && le.Holder != nil && le.Holder.YieldTo == nil:
			if err := ls.o.Locker.Yield(ctx, key, h); err != nil {
				return poll.Look{}, Wrap(ErrUnavailable, key, "lock", err, "asking the holder to yield failed")
			}
			asked = true
			d.emit(Event{Target: key, Phase: PhasePlan, Message: "asked " + le.Holder.String() + " to yield"})
		}
		d.emit(Event{Target: key, Phase: PhasePlan, Message: "waiting for the lease: " + le.Error()})
		return poll.Look{}, nil
	}
	err := poll.Until(ctx, poll.Policy{Interval: time.Second, Growth: 1.5, Max: min(15*time.Second, ls.o.TTL/2)}, look, nil)
	if err != nil && ctx.Err() != nil {
		detail := "waiting for the lease"
		if last != nil {
			detail += ": " + last.Error()
		}
		return ContextError(ctx.Err(), key, "lock", detail)
	}
	return err
}

// heartbeat renews every lease every TTL/3 until ctx ends. A lease lost, or a newer release
// asking to supersede this one, is reported to lost once; transient failures are retried at
// the next beat, and reported when the lease would have expired meanwhile.
func (ls *leases) heartbeat(ctx context.Context, lost func(error)) {
	every := ls.o.TTL / 3
	t := time.NewTicker(every)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ls.mu.Lock()
		held := maps.Clone(ls.held)
		ls.mu.Unlock()
		until := time.Now().Add(ls.o.TTL)
		var failed error
		for _, key := range sortedKeys(held) {
			if err := held[key].Renew(ctx, until); err != nil {
				if ctx.Err() != nil {
					return
				}
				if errors.Is(err, ErrLockLost) || errors.Is(err, ErrSuperseded) {
					lost(Wrap(ErrLockLost, key, "renew lease", err, ""))
					return
				}
				failed = err
			}
		}
		if failed == nil {
			lastOK = time.Now()
		} else if time.Since(lastOK) > ls.o.TTL-every {
			lost(&Error{Kind: ErrLockLost, Op: "renew lease", Detail: "could not renew the leases before they expire", Err: failed})
			return
		}
	}
}

// unlockAll stops the heartbeat and gives every lease up, on a context of its own.
func (d *run) unlockAll(ctx context.Context) {
	ls := d.ls
	if ls == nil {
		return
	}
	if ls.stop != nil {
		ls.stop()
		<-ls.done
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	ls.mu.Lock()
	held := maps.Clone(ls.held)
	ls.held = map[string]Lease{}
	ls.mu.Unlock()
	for _, key := range sortedKeys(held) {
		if err := held[key].Release(ctx); err != nil {
			d.o.Logger.WarnContext(ctx, "could not give a lease up; it lapses when it expires", "target", key, "err", err)
		}
	}
}

// inFlight applies the lock policy to the plans that report a rollout in progress: fail
// names it; wait plans the target again until it has none (or the wait is over); supersede
// goes ahead.
func (d *run) inFlight(ctx context.Context) {
	if d.o.Lock == nil || d.ls.o.Policy == LockSupersede {
		return
	}
	deadline := time.Now().Add(d.ls.o.Wait)
	for i := range d.res.Targets {
		tr := &d.res.Targets[i]
		f, ok := tr.Plan.(InFlighter)
		if !ok || f.InFlight() == "" {
			continue
		}
		what := f.InFlight()
		look := func(ctx context.Context) (poll.Look, error) {
			le := &LockedError{Key: tr.Target, InFlight: what}
			if d.ls.o.Policy == LockFail || time.Now().After(deadline) {
				return poll.Look{}, &Error{Kind: ErrLocked, Target: tr.Target, Op: "plan", Err: le}
			}
			d.emitFor(i, Event{Phase: PhasePlan, Message: "waiting: " + le.Error()})
			p, err := d.targets[i].Plan(ctx, d.r)
			if err != nil {
				return poll.Look{}, err
			}
			tr.Plan, tr.Changed, d.changed[i] = p, p.Changed(), p.Changed()
			f, ok := p.(InFlighter)
			if ok {
				what = f.InFlight()
			}
			return poll.Look{Done: !ok || what == ""}, nil
		}
		if err := poll.Until(ctx, poll.Policy{Interval: 5 * time.Second, Growth: 1.5, Max: 30 * time.Second}, look, nil); err != nil {
			tr.Err = classifyCtx(ctx, tr.Target, "plan", err)
			d.emitFor(i, Event{Phase: PhaseFailed, Message: tr.Err.Error()})
		}
	}
}

func sortedKeys(m map[string]Lease) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
