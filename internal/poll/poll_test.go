package poll

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

var (
	errThrottled = errors.New("throttled")
	errBusy      = errors.New("503")
	errFatal     = errors.New("access denied")
)

func classify(err error) (bool, bool) {
	return err == errThrottled || err == errBusy, err == errThrottled
}

// run polls a scripted sequence of looks (nil error and done at the last) and returns when
// each look happened, relative to the start, and Until's result.
func run(t *testing.T, p Policy, script []error, doneAt int) ([]time.Duration, error) {
	var at []time.Duration
	var err error
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		i := 0
		err = Until(t.Context(), p, func(context.Context) (Look, error) {
			at = append(at, time.Since(start))
			i++
			if i-1 < len(script) && script[i-1] != nil {
				return Look{}, script[i-1]
			}
			return Look{Done: i >= doneAt}, nil
		}, nil)
	})
	return at, err
}

// One condition per row.
func TestUntil(t *testing.T) {
	noJitter := Policy{Interval: 2 * time.Second, Max: 15 * time.Second, Growth: 1.5, Jitter: -1, Transient: 2, Classify: classify}
	s := time.Second
	ms := time.Millisecond
	for _, tc := range []struct {
		name   string
		script []error
		doneAt int
		want   []time.Duration
		err    error
	}{
		{"first look at once", nil, 1, []time.Duration{0}, nil},
		{"then a growing interval", nil, 4, []time.Duration{0, 2 * s, 5 * s, 9500 * ms}, nil},
		{"capped at Max", nil, 9, []time.Duration{0, 2 * s, 5 * s, 9500 * ms, 16250 * ms, 26375 * ms, 41375 * ms, 56375 * ms, 71375 * ms}, nil},
		{"slower after throttling", []error{nil, errThrottled}, 3, []time.Duration{0, 2 * s, 8 * s}, nil},
		{"slower still after throttling twice", []error{nil, errThrottled, errThrottled}, 4, []time.Duration{0, 2 * s, 8 * s, 23 * s}, nil},
		{"a clean look after throttling halves the slow-down", []error{errThrottled, errThrottled, nil}, 5, []time.Duration{0, 4 * s, 16 * s, 25 * s, 31750 * ms}, nil},
		{"a transient error is looked past", []error{errBusy}, 2, []time.Duration{0, 2 * s}, nil},
		{"the budget of transient errors in a row ends the wait", []error{errBusy, errBusy, errBusy}, 9, []time.Duration{0, 2 * s, 5 * s}, errBusy},
		{"a success resets the budget", []error{errBusy, errBusy, nil, errBusy, errBusy}, 6, []time.Duration{0, 2 * s, 5 * s, 9500 * ms, 16250 * ms, 26375 * ms}, nil},
		{"a non-transient error ends the wait at once", []error{nil, errFatal}, 9, []time.Duration{0, 2 * s}, errFatal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, err := run(t, noJitter, tc.script, tc.doneAt)
			if !errors.Is(err, tc.err) || err == nil && tc.err != nil {
				t.Errorf("err = %v, want %v", err, tc.err)
			}
			if len(at) != len(tc.want) {
				t.Fatalf("looked at %v, want %v", at, tc.want)
			}
			for i := range at {
				if at[i] != tc.want[i] {
					t.Errorf("look %d at %v, want %v (all: %v)", i, at[i], tc.want[i], at)
				}
			}
		})
	}
}

func TestSoonShortensTheNextWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var at []time.Duration
		_ = Until(t.Context(), Policy{Jitter: -1}, func(context.Context) (Look, error) {
			at = append(at, time.Since(start))
			return Look{Done: len(at) == 3, Soon: 500 * time.Millisecond}, nil
		}, nil)
		if len(at) != 3 || at[1] != 500*time.Millisecond || at[2] != time.Second {
			t.Errorf("looked at %v, want 0, 0.5 s, 1 s", at)
		}
	})
}

func TestContextEndsTheWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		looks := 0
		err := Until(ctx, Policy{Jitter: -1}, func(context.Context) (Look, error) { looks++; return Look{}, nil }, nil)
		if !errors.Is(err, context.DeadlineExceeded) || looks != 4 { // 0, 2, 5, 9.5 s
			t.Errorf("err = %v after %d looks, want the deadline after 4", err, looks)
		}
	})
}

func TestJitterStaysWithinItsFraction(t *testing.T) {
	p := Policy{Jitter: 0.1}.withDefaults()
	for range 1000 {
		if d := p.jitter(10 * time.Second); d < 9*time.Second || d > 11*time.Second {
			t.Fatalf("jittered 10 s to %v", d)
		}
	}
}

// looks records when a policy looks at a scripted verdict, in a synctest bubble.
func looks(t *testing.T, p Policy, verdict func(i int) Look, n int) []time.Duration {
	var at []time.Duration
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		_ = Until(t.Context(), p, func(context.Context) (Look, error) {
			at = append(at, time.Since(start))
			l := verdict(len(at) - 1)
			l.Done = len(at) == n
			return l, nil
		}, nil)
	})
	return at
}

func TestGrowthOneKeepsASteadyPace(t *testing.T) {
	at := looks(t, Policy{Interval: time.Second, Growth: 1, Jitter: -1}, func(int) Look { return Look{} }, 5)
	for i, d := range at {
		if d != time.Duration(i)*time.Second {
			t.Fatalf("looked at %v, want every second", at)
		}
	}
}

func TestAThrottledLookSlowsASteadyPaceAndCleanLooksRestoreIt(t *testing.T) {
	// Looks 1 and 2 were throttled: 1 s becomes 2 s, then 4 s; clean looks halve it back.
	at := looks(t, Policy{Interval: time.Second, Growth: 1, Jitter: -1}, func(i int) Look { return Look{Throttled: i == 1 || i == 2} }, 7)
	want := []time.Duration{0, 1, 3, 7, 9, 10, 11}
	for i := range want {
		if i >= len(at) || at[i] != want[i]*time.Second {
			t.Fatalf("looked at %v, want %v seconds", at, want)
		}
	}
}

func TestBlockingLooksAgainAtOnce(t *testing.T) {
	at := looks(t, Policy{Blocking: true, Jitter: -1}, func(int) Look { return Look{} }, 3)
	if len(at) != 3 || at[2] != 0 {
		t.Errorf("looked at %v, want three looks with no wait between them", at)
	}
}

func TestWakeLooksNoSoonerThanTheFirstInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wake := make(chan struct{})
		start := time.Now()
		var at []time.Duration
		go func() {
			time.Sleep(5500 * time.Millisecond) // looks at 0, 2, 5; wake half a second after
			wake <- struct{}{}
		}()
		_ = Until(t.Context(), Policy{Wake: wake, Jitter: -1}, func(context.Context) (Look, error) {
			at = append(at, time.Since(start))
			return Look{Done: len(at) == 5}, nil
		}, nil)
		want := []time.Duration{0, 2000, 5000, 7000, 9000}
		for i := range want {
			if i >= len(at) || at[i] != want[i]*time.Millisecond {
				t.Fatalf("looked at %v, want %v ms", at, want)
			}
		}
	})
}

func TestWakeLooksAtOnceAndStartsTheIntervalsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wake := make(chan struct{})
		start := time.Now()
		var at []time.Duration
		go func() {
			time.Sleep(8 * time.Second) // looks at 0, 2, 5 (next at 9.5); wake at 8
			wake <- struct{}{}
		}()
		_ = Until(t.Context(), Policy{Wake: wake, Jitter: -1}, func(context.Context) (Look, error) {
			at = append(at, time.Since(start))
			return Look{Done: len(at) == 5}, nil
		}, nil)
		want := []time.Duration{0, 2, 5, 8, 10}
		for i := range want {
			if i >= len(at) || at[i] != want[i]*time.Second {
				t.Fatalf("looked at %v, want %v seconds", at, want)
			}
		}
	})
}
