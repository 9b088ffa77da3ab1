package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultRollbackTimeout bounds a rollback that runs after the deploy's own context ended.
const DefaultRollbackTimeout = 10 * time.Minute

// Options tune Run. The zero value is ready to use.
type Options struct {
	// Logger receives debug and info records; nil discards them.
	Logger *slog.Logger
	// OnEvent receives progress events, one call at a time; nil discards them.
	OnEvent EventFunc
	// Concurrency bounds how many targets are planned, applied or rolled back at once;
	// 0 means 4.
	Concurrency int
	// Timeout bounds planning and applying; 0 means only ctx bounds them.
	Timeout time.Duration
	// RollbackTimeout bounds the rollback, which runs on a fresh context so that it still
	// happens after a timeout or cancellation; 0 means DefaultRollbackTimeout.
	RollbackTimeout time.Duration
	// DryRun stops after planning: Result holds each plan and its diff, nothing changes.
	DryRun bool
	// DisableRollback leaves a failed deploy as it is.
	DisableRollback bool
}

// Result says what happened to each target, in the order the targets were given.
type Result struct {
	Targets []TargetResult
}

// TargetResult is one target's outcome.
type TargetResult struct {
	Target     string
	Plan       Plan  // nil when planning failed
	Started    bool  // Apply was called
	Applied    bool  // Apply returned without error
	RolledBack bool  // Rollback ran and succeeded
	Err        error // why this target did not end on the release, or nil
}

// Run rolls r out to targets: it plans every target, then applies the plans with bounded
// concurrency. When any apply fails, times out or is cancelled, the other applies are
// cancelled and every target whose apply had started is rolled back on a fresh bounded
// context. The error is nil only when every target ended on the release.
func Run(ctx context.Context, r Release, targets []Target, opts *Options) (*Result, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.RollbackTimeout <= 0 {
		o.RollbackTimeout = DefaultRollbackTimeout
	}
	res := &Result{Targets: make([]TargetResult, len(targets))}
	for i, t := range targets {
		res.Targets[i].Target = t.Name()
	}
	if len(targets) == 0 {
		return res, Errorf(ErrInvalid, "", "deploy", "no targets given")
	}
	if err := r.Validate(); err != nil {
		return res, err
	}
	emit := serialise(o.OnEvent)

	runCtx := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}

	// Plan everything first: nothing changes unless every target can be planned.
	eachBounded(len(targets), o.Concurrency, func(i int) {
		tr := &res.Targets[i]
		o.Logger.DebugContext(runCtx, "planning", "target", tr.Target, "release", r.String())
		p, err := targets[i].Plan(runCtx, r)
		if err != nil {
			tr.Err = classifyCtx(runCtx, tr.Target, "plan", err)
			emit(Event{Target: tr.Target, Phase: PhaseFailed, Message: tr.Err.Error()})
			return
		}
		tr.Plan = p
		msg := "no change"
		if p.Changed() {
			msg = "change planned"
		}
		emit(Event{Target: tr.Target, Phase: PhasePlan, Message: msg})
	})
	if err := joinErrs(res); err != nil || o.DryRun {
		return res, err
	}

	applyCtx, cancelApply := context.WithCancel(runCtx)
	defer cancelApply()
	var failMu sync.Mutex
	var firstFailure string
	eachBounded(len(targets), o.Concurrency, func(i int) {
		tr := &res.Targets[i]
		if applyCtx.Err() != nil {
			return // a sibling failed or the caller gave up before this one started
		}
		tr.Started = true
		err := tr.Plan.Apply(applyCtx, emit.forTarget(tr.Target))
		if err == nil {
			tr.Applied = true
			emit(Event{Target: tr.Target, Phase: PhaseDone, Message: "rolled out " + r.String()})
			return
		}
		failMu.Lock()
		if firstFailure == "" && runCtx.Err() == nil {
			firstFailure = tr.Target
		}
		sibling := firstFailure != "" && firstFailure != tr.Target
		failMu.Unlock()
		if sibling && errors.Is(err, context.Canceled) && runCtx.Err() == nil {
			err = Errorf(ErrCanceled, tr.Target, "apply", "cancelled because %s failed", firstFailure)
		} else {
			err = classifyCtx(runCtx, tr.Target, "apply", err)
		}
		tr.Err = err
		emit(Event{Target: tr.Target, Phase: PhaseFailed, Message: err.Error()})
		cancelApply()
	})

	// Failed means a target failed or never started; a deadline that passes after every
	// target succeeded changes nothing.
	for i := range res.Targets {
		tr := &res.Targets[i]
		if tr.Err == nil && !tr.Started {
			tr.Err = Errorf(ErrCanceled, tr.Target, "apply", "not started because the deploy failed or was cancelled")
		}
	}
	if !anyErr(res) {
		return res, nil
	}
	if o.DisableRollback {
		return res, joinErrs(res)
	}

	// Roll back on a context of its own: the deploy's may be cancelled or past its deadline.
	rbCtx, cancelRB := context.WithTimeout(context.WithoutCancel(ctx), o.RollbackTimeout)
	defer cancelRB()
	eachBounded(len(targets), o.Concurrency, func(i int) {
		tr := &res.Targets[i]
		if !tr.Started || !tr.Plan.Changed() {
			return
		}
		cause := tr.Err
		if cause == nil {
			cause = fmt.Errorf("another target failed")
		}
		emit(Event{Target: tr.Target, Phase: PhaseRollback, Message: "rolling back"})
		o.Logger.InfoContext(rbCtx, "rolling back", "target", tr.Target, "cause", cause.Error())
		rbErr := tr.Plan.Rollback(rbCtx, emit.forTarget(tr.Target))
		if rbErr != nil {
			tr.Err = &Error{Kind: ErrRollbackFailed, Target: tr.Target, Op: "rollback",
				Detail: "the target may be left on the new release; fix it by hand",
				Err:    fmt.Errorf("%w; then the rollback failed: %w", cause, rbErr)}
			emit(Event{Target: tr.Target, Phase: PhaseFailed, Message: tr.Err.Error()})
			return
		}
		tr.RolledBack = true
		tr.Applied = false
		tr.Err = &Error{Kind: ErrRolledBack, Target: tr.Target, Detail: "rolled back", Err: cause}
		emit(Event{Target: tr.Target, Phase: PhaseRollback, Message: "rolled back"})
	})
	return res, joinErrs(res)
}

// classifyCtx marks an error caused by the run's context ending as a timeout or a
// cancellation, unless the target already classified it.
func classifyCtx(ctx context.Context, target, op string, err error) error {
	var de *Error
	if errors.As(err, &de) {
		return err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &Error{Kind: ErrTimeout, Target: target, Op: op, Detail: "deadline exceeded", Err: err}
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		return &Error{Kind: ErrCanceled, Target: target, Op: op, Err: err}
	}
	return &Error{Kind: ErrFailed, Target: target, Op: op, Err: err}
}

func anyErr(res *Result) bool {
	for _, tr := range res.Targets {
		if tr.Err != nil {
			return true
		}
	}
	return false
}

// joinErrs returns the single target error as it is, or all of them joined.
func joinErrs(res *Result) error {
	var errs []error
	for _, tr := range res.Targets {
		if tr.Err != nil {
			errs = append(errs, tr.Err)
		}
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// eachBounded runs f(0..n-1) with at most limit calls at once, starting them in order.
func eachBounded(n, limit int, f func(i int)) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// forTarget names target in the events that do not name one.
func (f EventFunc) forTarget(target string) EventFunc {
	return func(e Event) {
		if e.Target == "" {
			e.Target = target
		}
		f(e)
	}
}

// serialise stamps events with the time and delivers them one at a time.
func serialise(f EventFunc) EventFunc {
	if f == nil {
		return func(Event) {}
	}
	var mu sync.Mutex
	return func(e Event) {
		if e.Time.IsZero() {
			e.Time = time.Now()
		}
		mu.Lock()
		defer mu.Unlock()
		f(e)
	}
}
