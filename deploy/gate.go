package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stevedore-dev/stevedore/internal/poll"
)

// ErrGateFailed: a gate between stages, or between a target's steps, failed or stayed
// inconclusive; the error's detail gives its evidence.
var ErrGateFailed = errors.New("gate failed")

// Verdict is what one measurement of a Check says.
type Verdict string

const (
	Pass         Verdict = "pass"
	Fail         Verdict = "fail"
	Inconclusive Verdict = "inconclusive" // no data, or not enough to tell
)

// Measurement is one look a Check took: its verdict and the evidence behind it (alarm names
// and reasons, metric values, an HTTP answer), which the release reports as it is.
type Measurement struct {
	Verdict  Verdict
	Evidence string
}

// Check measures whether the release may go on: a CloudWatch alarm's state, a metric against
// a threshold, an HTTP answer, any Go function (package deploy/gate has those). An error is a
// failure to measure, not a failing measurement: the Gate looks again, unless it is
// ErrInvalid or ErrAccessDenied, which no second look mends.
type Check interface {
	Name() string
	Measure(ctx context.Context) (Measurement, error)
}

// Gate runs a Check on a schedule and decides, with the semantics Argo Rollouts' analysis
// made familiar: Count measurements Interval apart (the first at once); the gate fails as
// soon as more than FailureLimit measurements fail, errs when more than
// ConsecutiveErrorLimit measurements in a row could not be taken, and passes after Count
// measurements otherwise. Inconclusive measurements beyond InconclusiveLimit fail the gate;
// with WaitOnInconclusive they do not count at all, and the gate measures until Count
// conclusive ones are taken or ctx ends.
type Gate struct {
	Check Check
	// Interval is the time between measurements; 0 means 30 s. A bake period is
	// Interval × Count: "no alarm in ALARM for ten minutes" is every 30 s, 21 times.
	Interval time.Duration
	// Count is how many measurements to take; 0 means 1.
	Count int
	// FailureLimit is how many failed measurements are tolerated.
	FailureLimit int
	// InconclusiveLimit is how many inconclusive measurements are tolerated.
	InconclusiveLimit int
	// WaitOnInconclusive measures again past InconclusiveLimit instead of failing.
	WaitOnInconclusive bool
	// ConsecutiveErrorLimit is how many measurements in a row may fail to be taken; 0 means 4.
	ConsecutiveErrorLimit int
}

// GateResult is how a gate ended and every measurement behind it.
type GateResult struct {
	Name         string
	Verdict      Verdict // Pass, Fail or Inconclusive; "" when it erred or was cut short
	Measurements []MeasurementAt
	Err          error // nil when it passed
}

// MeasurementAt is one measurement and when it was taken; Err is set when none could be.
type MeasurementAt struct {
	Time time.Time
	Measurement
	Err error `json:"-"`
}

// tally counts what a gate measured so far: the analysis rules, as a pure function of them.
type tally struct{ pass, fail, inconclusive int }

// decide returns the gate's verdict after t, or "" while it must measure again.
func (g Gate) decide(t tally) Verdict {
	switch {
	case t.fail > g.FailureLimit:
		return Fail
	case t.inconclusive > g.InconclusiveLimit && !g.WaitOnInconclusive:
		return Inconclusive
	case t.pass+t.fail+t.inconclusive >= g.count() && !g.WaitOnInconclusive:
		return Pass
	case t.pass+t.fail >= g.count() && g.WaitOnInconclusive:
		return Pass
	}
	return ""
}

func (g Gate) count() int { return max(g.Count, 1) }

// Run measures until the gate decides, reporting each measurement to emit, and returns the
// result, whose Err is an ErrGateFailed *Error giving the evidence unless the gate passed.
func (g Gate) Run(ctx context.Context, emit EventFunc) GateResult {
	name := g.Check.Name()
	res := GateResult{Name: name}
	interval := g.Interval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	errLimit := g.ConsecutiveErrorLimit
	if errLimit <= 0 {
		errLimit = 4
	}
	var t tally
	look := func(ctx context.Context) (poll.Look, error) {
		m, err := g.Check.Measure(ctx)
		at := MeasurementAt{Time: time.Now(), Measurement: m, Err: err}
		res.Measurements = append(res.Measurements, at)
		if err != nil {
			emit.Emit(Event{Phase: PhaseGate, Message: fmt.Sprintf("gate %s: could not measure: %v", name, err)})
			return poll.Look{}, errMeasure{err}
		}
		switch m.Verdict {
		case Pass:
			t.pass++
		case Fail:
			t.fail++
		case Inconclusive:
			t.inconclusive++
		default:
			return poll.Look{}, fmt.Errorf("the check returned the verdict %q, which is none of pass, fail and inconclusive", m.Verdict)
		}
		res.Verdict = g.decide(t)
		emit.Emit(Event{Phase: PhaseGate, Message: fmt.Sprintf("gate %s: %s (%d passed, %d failed, %d inconclusive of %d): %s",
			name, m.Verdict, t.pass, t.fail, t.inconclusive, g.count(), m.Evidence)})
		return poll.Look{Done: res.Verdict != ""}, nil
	}
	policy := poll.Policy{Interval: interval, Growth: 1, Jitter: -1, Max: interval, Transient: errLimit,
		Classify: func(err error) (bool, bool) {
			var me errMeasure
			return errors.As(err, &me) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrAccessDenied), false
		}}
	err := poll.Until(ctx, policy, look, nil)
	var me errMeasure
	switch {
	case err == nil && res.Verdict == Pass:
		return res
	case err == nil:
		res.Err = Errorf(ErrGateFailed, "", "gate "+name, "%s: %s", res.Verdict, evidence(res.Measurements, res.Verdict))
	case ctx.Err() != nil:
		res.Verdict = ""
		res.Err = ContextError(ctx.Err(), "", "gate "+name, fmt.Sprintf("after %d measurements", len(res.Measurements)))
	case errors.As(err, &me) && (errors.Is(err, ErrInvalid) || errors.Is(err, ErrAccessDenied)):
		res.Err = &Error{Kind: ErrGateFailed, Op: "gate " + name, Detail: "could not measure", Err: me.err}
	case errors.As(err, &me):
		res.Err = &Error{Kind: ErrGateFailed, Op: "gate " + name,
			Detail: fmt.Sprintf("could not measure %d times in a row (ConsecutiveErrorLimit %d)", errLimit+1, errLimit), Err: me.err}
	default:
		res.Err = &Error{Kind: ErrGateFailed, Op: "gate " + name, Err: err}
	}
	return res
}

// errMeasure marks an error of a Check's Measure: worth measuring again.
type errMeasure struct{ err error }

func (e errMeasure) Error() string { return e.err.Error() }
func (e errMeasure) Unwrap() error { return e.err }

// evidence joins the evidence of the measurements that gave verdict, the last three.
func evidence(ms []MeasurementAt, verdict Verdict) string {
	var out []string
	for _, m := range ms {
		if m.Err == nil && m.Verdict == verdict && m.Evidence != "" {
			out = append(out, m.Evidence)
		}
	}
	if len(out) > 3 {
		out = append([]string{fmt.Sprintf("(%d more before)", len(out)-3)}, out[len(out)-3:]...)
	}
	return strings.Join(out, "; ")
}

// CheckFunc makes a Check of a Go function, named name.
func CheckFunc(name string, measure func(ctx context.Context) (Measurement, error)) Check {
	return funcCheck{name, measure}
}

type funcCheck struct {
	name    string
	measure func(ctx context.Context) (Measurement, error)
}

func (c funcCheck) Name() string                                     { return c.name }
func (c funcCheck) Measure(ctx context.Context) (Measurement, error) { return c.measure(ctx) }
