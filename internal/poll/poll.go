// Package poll is the one polling engine the targets' waits run on: the first look at once,
// then a capped, jittered, growing interval, slower after throttling, a budget of consecutive
// transient errors, and the context honoured. What a look means stays with the target, as a
// pure status function; the engine only decides when to look again.
package poll

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is how a wait polls. The zero value of a field takes its default.
type Policy struct {
	// Interval is the wait after the first look; default 2 s.
	Interval time.Duration
	// Max caps the interval; default 15 s.
	Max time.Duration
	// Growth multiplies the interval after each look; default 1.5.
	Growth float64
	// Jitter spreads each wait by up to this fraction either way, so waits that started
	// together do not poll together; default 0.1. Negative means none.
	Jitter float64
	// Transient is how many looks in a row may fail with a transient error before the wait
	// gives up with that error; default 8.
	Transient int
	// Classify says whether an error of a look is transient (worth another look) and whether
	// it was throttling (the interval doubles). Nil means no error is transient.
	Classify func(error) (transient, throttled bool)
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
}

// Until looks at once and then at the policy's intervals until look reports Done, returns a
// non-transient error (returned as is), fails transiently more than the budget allows in a
// row (the last error is returned), or ctx ends (ctx.Err() is returned; the caller words it).
// onTransient, when set, hears each transient error and the attempt number.
func Until(ctx context.Context, p Policy, look func(context.Context) (Look, error), onTransient func(err error, attempt int)) error {
	p = p.withDefaults()
	interval := p.Interval
	failures := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		l, err := look(ctx)
		next := interval
		interval = p.Next(interval, false)
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			transient, throttled := false, false
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
			if throttled {
				interval = p.Next(interval, true)
				next = interval
			}
		case l.Done:
			return nil
		default:
			failures = 0
			if l.Soon > 0 && l.Soon < next {
				next = l.Soon
			}
		}
		timer.Reset(p.jitter(next))
	}
}

// Next is the interval after cur: grown by Growth, or doubled after throttling, and never
// more than Max. Loops driven from elsewhere (a poller shared by many waits) use it to keep
// the same rule. p must have its defaults: use Defaults.
func (p Policy) Next(cur time.Duration, throttled bool) time.Duration {
	if throttled {
		return min(cur*2, p.Max)
	}
	return min(time.Duration(float64(cur)*p.Growth), p.Max)
}

// Defaults returns p with every zero field set to its default.
func (p Policy) Defaults() Policy { return p.withDefaults() }

func (p Policy) jitter(d time.Duration) time.Duration {
	if p.Jitter <= 0 {
		return d
	}
	f := 1 + p.Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(d) * f)
}
