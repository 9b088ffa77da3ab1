package poll

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestBudgetAllowsItsBurstAtOnceThenItsRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBudget(2, 3)
		start := time.Now()
		var at []time.Duration
		for range 7 {
			if err := b.Take(t.Context()); err != nil {
				t.Fatal(err)
			}
			at = append(at, time.Since(start))
		}
		ms := time.Millisecond
		want := []time.Duration{0, 0, 0, 500 * ms, 1000 * ms, 1500 * ms, 2000 * ms}
		for i := range want {
			if at[i] != want[i] {
				t.Fatalf("calls at %v, want %v", at, want)
			}
		}
	})
}

func TestBudgetIsSharedByItsUsers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBudget(10, 1)
		start := time.Now()
		var mu sync.Mutex
		var last time.Duration
		var wg sync.WaitGroup
		for range 4 { // four pollers, 5 calls each: 20 calls at 10 a second
			wg.Go(func() {
				for range 5 {
					_ = b.Take(t.Context())
				}
				mu.Lock()
				last = max(last, time.Since(start))
				mu.Unlock()
			})
		}
		wg.Wait()
		if last != 1900*time.Millisecond {
			t.Errorf("20 calls at 10 a second with a burst of 1 took %v, want 1.9 s", last)
		}
	})
}

func TestBudgetWaitEndsWithTheContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBudget(0.1, 1)
		_ = b.Take(t.Context())
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := b.Take(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want the deadline", err)
		}
		var nilBudget *Budget
		if err := nilBudget.Take(ctx); err != nil {
			t.Errorf("a nil budget waited: %v", err)
		}
	})
}
