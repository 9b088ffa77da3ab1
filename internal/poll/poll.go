// Package poll is the one polling engine the targets' waits run on: the first look at once,
// then a capped, jittered, growing interval, slower after throttling, a budget of consecutive
// transient errors, and the context honoured. What a look means stays with the target, as a
// pure status function; the engine only decides when to look again.
package poll

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Policy is how a wait polls. The zero value of a field takes its default.
type Policy struct {
	// Interval is the wait after the first look; default 2 s.
	Interval time.Duration
	// Max caps the interval, slowed down or not; default 15 s.
	Max time.Duration
	// Growth multiplies the interval after each look; below 1 takes the default, 1.5.
	// Exactly 1 keeps a steady pace.
	Growth float64
	// Jitter spreads each wait by up to this fraction either way, so waits that started
	// together do not poll together; default 0.1. Negative means none.
	Jitter float64
	// Transient is how many looks in a row may fail with a transient error before the wait
	// gives up with that error; default 8.
	Transient int
	// Classify says whether an error of a look is transient (worth another look) and whether
	// it was throttling. Nil means no error is transient.
	Classify func(error) (transient, throttled bool)
	// Blocking says the look waits for its own observation (a watch's next event, or the
	// next result of a poller shared by many waits): the engine looks again as soon as a look
	// returns, and the intervals are not used.
	Blocking bool
	// Wake, when set, makes the engine look as soon as the first interval allows (at once if
	// the last look was at least Interval ago) whenever it fires, and start its intervals
	// over: a shared poller hears of a new waiter this way.
	Wake <-chan struct{}
}

func (p Policy) withDefaults() Policy {
	if p.Interval <= 0 {
		p.Interval = 2 * time.Second
	}
	if p.Max <= 0 {
		p.Max = 15 * time.Second
	}
	p.Interval = min(p.Interval, p.Max)
	if p.Growth < 1 {
		p.Growth = 1.5
	}
	if p.Jitter == 0 {
		p.Jitter = 0.1
	}
	if p.Transient <= 0 {
		p.Transient = 8
	}
	return p
}

// Look is one observation's verdict.
type Look struct {
	// Done ends the wait successfully.
	Done bool
	// Soon, when positive and shorter than the policy's next interval, is when to look next:
	// the end is near and predictable (a bake about to end).
	Soon time.Duration
	// Throttled says the look was slowed down by the service (some of its calls were
	// throttled, and it made do with what it had): the pace slows as after a throttling error.
	Throttled bool
}

// maxSlow bounds how far throttling slows the pace down, before Max caps it.
const maxSlow = 64

// Until looks at once and then at the policy's intervals until look reports Done, returns a
// non-transient error (returned as is), fails transiently more than the budget allows in a
// row (the last error is returned), or ctx ends (ctx.Err() is returned; the caller words it).
// Each throttled look doubles the pace's slow-down and each clean one halves it again.
// onTransient, when set, hears each transient error and the attempt number.
func Until(ctx context.Context, p Policy, look func(context.Context) (Look, error), onTransient func(err error, attempt int)) error {
	p = p.withDefaults()
	base, slow := p.Interval, time.Duration(1)
	failures := 0
	var last time.Time // when the last look began
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		case <-p.Wake:
			base = p.Interval
			if wait := p.Interval - time.Since(last); wait > 0 {
				timer.Reset(wait)
				continue
			}
			timer.Stop()
		}
		last = time.Now()
		l, err := look(ctx)
		throttled := l.Throttled
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			transient := false
			if p.Classify != nil {
				transient, throttled = p.Classify(err)
			}
			failures++
			if !transient || failures > p.Transient {
				return err
			}
			if onTransient != nil {
				onTransient(err, failures)
			}
		case l.Done:
			return nil
		default:
			failures = 0
		}
		switch {
		case throttled:
			slow = min(slow*2, maxSlow)
		case err == nil && slow > 1:
			slow /= 2
		}
		next := min(base*slow, p.Max)
		base = p.Next(base)
		if err == nil && l.Soon > 0 && l.Soon < next {
			next = l.Soon
		}
		if p.Blocking {
			next = 0
		}
		timer.Reset(p.jitter(next))
	}
}

// Next is the interval after cur: grown by Growth and never more than Max. p must have its
// defaults: use Defaults.
func (p Policy) Next(cur time.Duration) time.Duration {
	return min(time.Duration(float64(cur)*p.Growth), p.Max)
}

// Defaults returns p with every zero field set to its default.
func (p Policy) Defaults() Policy { return p.withDefaults() }

func (p Policy) jitter(d time.Duration) time.Duration {
	if p.Jitter <= 0 || d <= 0 {
		return d
	}
	f := 1 + p.Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(d) * f)
}

type persistentKey struct{}

// Persistently returns ctx marked as a rollback's: it must not give up while it may still
// succeed. Its waits take TransientFor's budget, and the targets give their SDK calls on it a
// retryer without the client-side retry quota (awserr.PersistentRetryer).
func Persistently(ctx context.Context) context.Context {
	return context.WithValue(ctx, persistentKey{}, true)
}

// IsPersistent reports whether ctx was marked by Persistently.
func IsPersistent(ctx context.Context) bool {
	v, _ := ctx.Value(persistentKey{}).(bool)
	return v
}

// TransientFor is the Policy.Transient of a wait that may give up after n transient errors
// in a row: n, or no limit on a persistent context (the wait ends with the context).
func TransientFor(ctx context.Context, n int) int {
	if IsPersistent(ctx) {
		return math.MaxInt
	}
	return n
}
