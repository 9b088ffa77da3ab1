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
		{"slower after throttling", []error{nil, errThrottled}, 3, []time.Duration{0, 2 * s, 11 * s}, nil},
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
