package poll

import (
	"context"
	"sync"
	"time"
)

// Budget is a token bucket of calls a second shared by the pollers that use it, so pollers
// that share an account's API quota slow down together instead of being throttled.
type Budget struct {
	rate  float64 // tokens a second
	burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// NewBudget allows perSecond calls a second on average and bursts of up to burst (at least 1).
func NewBudget(perSecond float64, burst int) *Budget {
	return &Budget{rate: perSecond, burst: float64(max(burst, 1)), tokens: float64(max(burst, 1))}
}

// Take waits until a call may be made, or ctx ends (its error is returned). A nil Budget
// never waits.
func (b *Budget) Take(ctx context.Context) error {
	if b == nil || b.rate <= 0 {
		return nil
	}
	b.mu.Lock()
	now := time.Now()
	if since := now.Sub(b.last); !b.last.IsZero() && since > 0 {
		b.tokens = min(b.burst, b.tokens+since.Seconds()*b.rate)
	}
	b.last = now
	b.tokens-- // reserve this call's token now; a debt is paid back by waiting
	wait := time.Duration(0)
	if b.tokens < 0 {
		wait = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	b.mu.Unlock()
	if wait == 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		b.tokens++ // give back the unused reservation
		b.mu.Unlock()
		return ctx.Err()
	}
}
