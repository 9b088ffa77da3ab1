package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
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
	// Concurrency bounds how many targets are planned, applied or rolled back at once, a
	// target counting only until it starts waiting (its first PhaseWait event): the bound
	// limits API work, and every wait can run at once. 0 means 4.
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
	// ReleaseID names this run in leases, the journal and the report; "" means a random one.
	ReleaseID string
	// Lock, when set, leases every target before planning and holds the leases to the end
	// (see LockOptions).
	Lock *LockOptions
	// Journal, when set, records where the release stands before each change, so that
	// Recover can finish or undo it if this process dies.
	Journal Journal
}

// Result says what happened to each target, in the order the targets were given (stage by
// stage), and to each stage.
type Result struct {
	ID       string // Options.ReleaseID, or the one made up
	Release  string // what was released (Release.String)
	Started  time.Time
	Finished time.Time
	Targets  []TargetResult
	Stages   []StageResult
}

// StageResult is one stage's outcome: whether it started, and its gates.
type StageResult struct {
	Name    string
	Started bool
	Gates   []GateResult // in the stage's order; only the gates that ran
	Err     error        // the first gate that failed, or nil
}

// TargetResult is one target's outcome.
type TargetResult struct {
	Target     string
	Stage      string // the release stage it belongs to; "" for Run's one stage
	Plan       Plan   // nil when planning failed
	Changed    bool   // the plan would change something (Plan.Changed, asked once)
	Started    bool   // Apply was called
	Applied    bool   // Apply returned without error, and no rollback undid it
	RolledBack bool   // Rollback ran and succeeded
	Err        error  // why this target did not end on the release, or nil
	Calls      int64  // the API calls the target made (see CountCall)

	began, ended time.Time // of its Apply, and of its Rollback if one ran
	events       []Event   // what it reported, the latest maxEvents
}

// maxEvents is how many of a target's events the report keeps.
const maxEvents = 300

// Outcome says where a release ended, over all its targets.
type Outcome string

const (
	// OutcomeDeployed: every target ended on the release.
	OutcomeDeployed Outcome = "deployed"
	// OutcomeUnchanged: nothing was changed: a dry run, or a release that failed before any
	// target changed anything (planning failed, or it was cancelled first).
	OutcomeUnchanged Outcome = "unchanged"
	// OutcomeRolledBack: the release failed, and every target it changed is back where it was.
	OutcomeRolledBack Outcome = "rolled back"
	// OutcomePartial: the release failed and some targets are left changed: their rollback
	// failed, rollback was disabled, or another writer changed them meanwhile (ErrSuperseded).
	// Result.Targets says which.
	OutcomePartial Outcome = "partial"
)

// Outcome says where the release ended. Unlike errors.Is(err, ErrRolledBack), which is true
// when any one target rolled back, it accounts for every target.
func (r *Result) Outcome() Outcome {
	if r == nil || len(r.Targets) == 0 {
		return OutcomeUnchanged
	}
	all, changed := true, false
	for _, tr := range r.Targets {
		switch {
		case tr.Applied && tr.Err == nil:
			changed = changed || tr.Changed
		case tr.RolledBack || !tr.Started || !tr.Changed:
			all = false // restored, or never changed
		default:
			return OutcomePartial // started, changed, failed and not restored
		}
	}
	switch {
	case all:
		return OutcomeDeployed
	case changed:
		return OutcomePartial // some on the release, others not (rollback disabled)
	}
	for _, tr := range r.Targets {
		if tr.RolledBack {
			return OutcomeRolledBack
		}
	}
	return OutcomeUnchanged
}

// PanicError is the cause of a target's failure when its Plan, Apply or Rollback panicked:
// Run recovers the panic, fails that target and rolls the others back as for any failure.
// The stack goes to the logger at debug level.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Run rolls r out to targets: it plans every target, then applies the plans with bounded
// concurrency. When any apply fails, times out or is cancelled, the other applies are
// cancelled and every target whose apply had started is rolled back, in the reverse order of
// apply, on a fresh bounded context. A panic in a target is that target's failure. The error
// is nil only when every target ended on the release; Result.Outcome says where it ended
// otherwise. Run returns only once every goroutine it started has ended, and calls
// Options.OnEvent no more after it returns.
func Run(ctx context.Context, r Release, targets []Target, opts *Options) (*Result, error) {
	return RunStages(ctx, r, []Stage{{Targets: targets}}, opts)
}

// Stage is one step of a release: its targets are applied together, as Run applies them, and
// once they all succeeded its gates run in order; the next stage starts when every gate passed.
type Stage struct {
	Name    string
	Targets []Target
	Gates   []Gate
}

// RunStages rolls r out stage by stage. Every target of every stage is planned first, so
// nothing changes unless all can be (and a dry run shows every stage's plans). A target that
// fails, or a gate that fails, stops the release: the stage's other applies are cancelled,
// later stages never start, and every target that started is rolled back, latest stage first.
// Otherwise it behaves as Run.
func RunStages(ctx context.Context, r Release, stages []Stage, opts *Options) (*Result, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Logger = LoggerOrDiscard(o.Logger)
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.RollbackTimeout <= 0 {
		o.RollbackTimeout = DefaultRollbackTimeout
	}
	if o.ReleaseID == "" {
		o.ReleaseID = newReleaseID()
	}
	if o.Lock != nil && o.Lock.Locker == nil {
		return &Result{}, Errorf(ErrInvalid, "", "deploy", "Options.Lock has no Locker")
	}
	d := &run{r: r, stages: stages, o: o, res: &Result{ID: o.ReleaseID, Release: r.String(), Started: time.Now()}, desc: r.String()}
	defer func() { d.res.Finished = time.Now() }()
	for si, st := range stages {
		d.res.Stages = append(d.res.Stages, StageResult{Name: st.Name})
		for _, t := range st.Targets {
			d.targets = append(d.targets, t)
			d.stageOf = append(d.stageOf, si)
			d.res.Targets = append(d.res.Targets, TargetResult{Stage: st.Name})
		}
	}
	d.changed = make([]bool, len(d.targets))
	d.calls = make([]atomic.Int64, len(d.targets))
	defer d.countCalls()
	if err := d.check(ctx); err != nil {
		return d.res, err
	}
	var closeEmit func()
	d.emit, closeEmit = serialise(o.OnEvent, o.Logger)
	defer closeEmit()
	defer d.close()

	runCtx := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	runCtx, cancelRun := context.WithCancelCause(runCtx)
	defer cancelRun(nil)
	if o.Lock != nil && !o.DryRun {
		var lostOnce sync.Once
		err := d.lockAll(runCtx, func(err error) {
			lostOnce.Do(func() {
				d.setCause(err)
				d.emit(Event{Phase: PhaseFailed, Message: err.Error()})
				cancelRun(err)
			})
		})
		if err != nil {
			return d.res, err
		}
		defer d.unlockAll(ctx)
	}
	// Plan everything first: nothing changes unless every target can be planned.
	d.plan(runCtx)
	if err := joinErrs(d.res); err != nil || o.DryRun {
		return d.res, err
	}
	d.inFlight(runCtx)
	if err := joinErrs(d.res); err != nil {
		return d.res, err
	}
	if err := d.startJournal(runCtx); err != nil {
		return d.res, err
	}
	order := d.applyStages(runCtx)
	if !anyErr(d.res) && d.getCause() == nil {
		d.finishJournal(ctx)
		return d.res, nil
	}
	d.notStarted()
	if o.DisableRollback {
		d.finishJournal(ctx)
		return d.res, d.err()
	}
	// Roll back on a context of its own: the deploy's may be cancelled or past its deadline.
	rbCtx, cancelRB := context.WithTimeout(context.WithoutCancel(ctx), o.RollbackTimeout)
	defer cancelRB()
	d.rollback(rbCtx, order)
	d.finishJournal(ctx)
	return d.res, d.err()
}

// applyStages applies the stages in order, each once the one before succeeded and its gates
// passed, and returns the started targets in the order their applies started.
func (d *run) applyStages(ctx context.Context) []int {
	var order []int
	for si := range d.stages {
		d.res.Stages[si].Started = true
		if err := d.journal(ctx, "", func(r *Record) { r.Stages[si].Started = true }); err != nil {
			d.setCause(err)
			break
		}
		order = append(order, d.apply(ctx, si)...)
		if anyErr(d.res) || d.getCause() != nil {
			break
		}
		if err := d.gates(ctx, si); err != nil {
			d.setCause(err)
			break
		}
	}
	return order
}

// countCalls copies each target's call count into the result.
func (d *run) countCalls() {
	for i := range d.res.Targets {
		if i < len(d.calls) {
			d.res.Targets[i].Calls = d.calls[i].Load()
		}
	}
}

// setCause records what stopped the release when no target failed: a gate, a lost lease.
func (d *run) setCause(err error) {
	d.causeMu.Lock()
	defer d.causeMu.Unlock()
	if d.cause == nil {
		d.cause = err
	}
}

func (d *run) getCause() error {
	d.causeMu.Lock()
	defer d.causeMu.Unlock()
	return d.cause
}

// finishJournal marks the release done, with its outcome.
func (d *run) finishJournal(ctx context.Context) {
	out := d.res.Outcome()
	if err := d.journal(ctx, "done", func(r *Record) { r.Done, r.Outcome = true, out }); err != nil {
		d.o.Logger.WarnContext(ctx, "could not mark the release done in the journal; Recover will find it finished", "err", err)
	}
}

// who names this runner.
func (d *run) who() string {
	if d.o.Lock != nil && d.o.Lock.Who != "" {
		return d.o.Lock.Who
	}
	return whoAmI()
}

// run is one call of RunStages: its inputs, and the result its phases fill in.
type run struct {
	r       Release
	stages  []Stage
	targets []Target // every stage's, in order
	stageOf []int    // by target: its stage
	o       Options
	res     *Result
	emit    EventFunc
	changed []bool         // by target: whether its plan changes anything
	names   []string       // by target: its name
	calls   []atomic.Int64 // by target: the API calls it made
	evMu    sync.Mutex     // guards each target's events, and closed
	closed  bool           // the run returned: what targets report later is dropped
	desc    string         // what the release is, for leases and the journal
	ls      *leases
	jr      *journaler

	causeMu sync.Mutex
	cause   error // what stopped the release when no target failed: a gate, a lost lease
}

// check validates the release, names the targets and rejects a release part a target does
// not honour, before anything is planned.
func (d *run) check(ctx context.Context) error {
	if len(d.targets) == 0 {
		return Errorf(ErrInvalid, "", "deploy", "no targets given")
	}
	seen := map[string]bool{}
	for si, st := range d.stages {
		if len(st.Targets) == 0 {
			return Errorf(ErrInvalid, "", "deploy", "stage %d (%q) has no targets", si+1, st.Name)
		}
		if seen[st.Name] && st.Name != "" {
			return Errorf(ErrInvalid, "", "deploy", "two stages are named %q", st.Name)
		}
		seen[st.Name] = true
		for gi, g := range st.Gates {
			if g.Check == nil {
				return Errorf(ErrInvalid, "", "deploy", "gate %d of stage %q has no Check", gi+1, st.Name)
			}
		}
	}
	if err := d.r.Validate(); err != nil {
		return err
	}
	names := make([]string, len(d.targets))
	for i, t := range d.targets {
		name, err := guarded(ctx, d.o.Logger, fmt.Sprintf("targets[%d]", i), "name", func() (string, error) { return t.Name(), nil })
		if err != nil {
			return err
		}
		d.res.Targets[i].Target, names[i] = name, name
	}
	d.names = names
	for i, name := range names {
		if j := slices.Index(names, name); j < i {
			return Errorf(ErrInvalid, name, "deploy", "the target is given twice (%s and %s): one release changes a target once",
				d.place(j), d.place(i))
		}
	}
	perTarget, err := unhonoured(ctx, d.o.Logger, d.r, d.targets, names)
	for i, e := range perTarget {
		d.res.Targets[i].Err = e
	}
	return err
}

// plan plans every target with bounded concurrency; a failure is recorded on its target.
func (d *run) plan(ctx context.Context) {
	eachBounded(seq(len(d.targets)), d.o.Concurrency, func(i int, _ func()) {
		tr := &d.res.Targets[i]
		ctx := withCalls(ctx, &d.calls[i])
		d.o.Logger.DebugContext(ctx, "planning", "target", tr.Target, "release", d.r.String())
		p, err := guarded(ctx, d.o.Logger, tr.Target, "plan", func() (Plan, error) {
			p, err := d.targets[i].Plan(ctx, d.r)
			if err == nil && p == nil {
				err = Errorf(ErrFailed, tr.Target, "plan", "the target returned neither a plan nor an error")
			}
			if err == nil {
				d.changed[i] = p.Changed()
			}
			return p, err
		})
		if err != nil {
			tr.Err = classifyCtx(ctx, tr.Target, "plan", err)
			d.emitFor(i, Event{Phase: PhaseFailed, Message: tr.Err.Error()})
			return
		}
		tr.Plan, tr.Changed = p, d.changed[i]
		msg := "no change"
		if d.changed[i] {
			msg = "change planned"
		}
		d.emitFor(i, Event{Phase: PhasePlan, Message: msg})
	})
}

// apply applies the plans of stage si with bounded concurrency. The first failure cancels
// the other applies, naming itself as the cause; a target that never started is marked
// cancelled. It returns the indexes of the started targets in the order their applies started.
func (d *run) apply(runCtx context.Context, si int) []int {
	applyCtx, cancelApply := context.WithCancelCause(runCtx)
	defer cancelApply(nil)
	var orderMu sync.Mutex
	var order []int
	eachBounded(d.ofStage(si), d.o.Concurrency, func(i int, free func()) {
		tr := &d.res.Targets[i]
		orderMu.Lock()
		if applyCtx.Err() != nil {
			orderMu.Unlock()
			return // a sibling failed or the caller gave up before this one started
		}
		tr.Started = true
		order = append(order, i)
		orderMu.Unlock()
		applyCtx := withCalls(applyCtx, &d.calls[i])
		tr.began = time.Now()
		defer func() { tr.ended = time.Now() }()
		err := d.journalTarget(applyCtx, i, StateApplying, "apply "+tr.Target, nil)
		if err == nil {
			_, err = guarded(applyCtx, d.o.Logger, tr.Target, "apply", func() (struct{}, error) {
				return struct{}{}, tr.Plan.Apply(applyCtx, d.targetEmit(applyCtx, i, free))
			})
		}
		if err == nil {
			tr.Applied = true
			d.emitFor(i, Event{Phase: PhaseDone, Message: "rolled out " + d.r.String()})
			if jerr := d.journalTarget(applyCtx, i, StateApplied, "", nil); jerr != nil {
				d.o.Logger.WarnContext(applyCtx, "could not write the journal", "target", tr.Target, "err", jerr)
			}
			return
		}
		var sf *siblingFailure
		if errors.As(context.Cause(applyCtx), &sf) && sf.target != tr.Target && runCtx.Err() == nil &&
			(errors.Is(err, context.Canceled) || errors.Is(err, ErrCanceled)) {
			err = &Error{Kind: ErrCanceled, Target: tr.Target, Op: "apply", Detail: "cancelled because " + sf.target + " failed", Err: err}
		} else {
			err = classifyCtx(runCtx, tr.Target, "apply", err)
		}
		tr.Err = err
		d.emitFor(i, Event{Phase: PhaseFailed, Message: err.Error()})
		if jerr := d.journalTarget(applyCtx, i, StateFailed, "", err); jerr != nil {
			d.o.Logger.WarnContext(applyCtx, "could not write the journal", "target", tr.Target, "err", jerr)
		}
		if runCtx.Err() == nil {
			cancelApply(&siblingFailure{tr.Target})
		} else {
			cancelApply(nil)
		}
	})
	// Failed means a target failed or never started; a deadline that passes after every
	// target succeeded changes nothing.
	for _, i := range d.ofStage(si) {
		tr := &d.res.Targets[i]
		if tr.Err == nil && !tr.Started {
			detail := "not started because the deploy was cancelled"
			var sf *siblingFailure
			if errors.As(context.Cause(applyCtx), &sf) {
				detail = "not started because " + sf.target + " failed"
			}
			tr.Err = Errorf(ErrCanceled, tr.Target, "apply", "%s", detail)
		}
	}
	return order
}

// gates runs stage si's gates in order and returns the first failure.
func (d *run) gates(ctx context.Context, si int) error {
	st := &d.res.Stages[si]
	for _, g := range d.stages[si].Gates {
		if err := d.journal(ctx, "gate "+g.Check.Name(), nil); err != nil {
			return err
		}
		emit := func(e Event) { e.ReleaseStage = st.Name; d.emit(e) }
		gr := g.Run(ctx, emit)
		st.Gates = append(st.Gates, gr)
		if gr.Err != nil {
			st.Err = gr.Err
			d.emit(Event{Phase: PhaseFailed, ReleaseStage: st.Name, Message: gr.Err.Error()})
			return gr.Err
		}
		d.emit(Event{Phase: PhaseGate, ReleaseStage: st.Name, Message: "gate " + gr.Name + " passed"})
	}
	return nil
}

// notStarted marks the targets of the stages that never started as cancelled, naming why.
func (d *run) notStarted() {
	why := "an earlier stage failed"
	if c := d.getCause(); c != nil {
		why = c.Error()
	}
	for i := range d.res.Targets {
		if tr := &d.res.Targets[i]; tr.Err == nil && !tr.Started {
			tr.Err = Errorf(ErrCanceled, tr.Target, "apply", "stage %q not started: %s", d.stages[d.stageOf[i]].Name, why)
		}
	}
}

// err is the release's error: every target's, and the gate failure that stopped it.
func (d *run) err() error {
	err := joinErrs(d.res)
	if c := d.getCause(); c != nil && !errors.Is(err, c) {
		return errors.Join(c, err)
	}
	return err
}

// ofStage returns the indexes of stage si's targets.
func (d *run) ofStage(si int) []int {
	var out []int
	for i, s := range d.stageOf {
		if s == si {
			out = append(out, i)
		}
	}
	return out
}

// place names where target i is: its stage and position.
func (d *run) place(i int) string {
	if len(d.stages) == 1 {
		return fmt.Sprintf("targets[%d]", i)
	}
	return fmt.Sprintf("stage %q", d.stages[d.stageOf[i]].Name)
}

// emitFor emits e as target i's.
func (d *run) emitFor(i int, e Event) {
	e.Target, e.ReleaseStage = d.res.Targets[i].Target, d.res.Targets[i].Stage
	d.keep(i, e)
	d.emit(e)
}

// close marks the run returned: events targets report later are neither kept nor journalled.
func (d *run) close() {
	d.evMu.Lock()
	d.closed = true
	d.evMu.Unlock()
}

func (d *run) isClosed() bool {
	d.evMu.Lock()
	defer d.evMu.Unlock()
	return d.closed
}

// keep adds e to target i's events for the report.
func (d *run) keep(i int, e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	d.evMu.Lock()
	defer d.evMu.Unlock()
	if d.closed {
		return // a goroutine the target left behind, after the run returned
	}
	tr := &d.res.Targets[i]
	if len(tr.events) == maxEvents {
		tr.events = slices.Delete(tr.events, 0, 1)
	}
	tr.events = append(tr.events, e)
}

// targetEmit is what target i reports through: its name and stage filled in, its slot freed
// at its first wait, and its plan's snapshot written to the journal whenever it changed.
func (d *run) targetEmit(ctx context.Context, i int, free func()) EventFunc {
	tr := &d.res.Targets[i]
	return func(e Event) {
		if e.Target == "" {
			e.Target = tr.Target
		}
		e.ReleaseStage = tr.Stage
		if e.Phase == PhaseWait {
			free()
		}
		d.journalSnapshot(ctx, i)
		d.keep(i, e)
		d.emit(e)
	}
}

// rollback rolls back every started target whose plan changed something, stage by stage
// from the latest (a stage starts its rollbacks once the later stage's have ended), the
// latest apply to start first within a stage, and records how each rollback ended.
func (d *run) rollback(ctx context.Context, order []int) {
	for si := len(d.stages) - 1; si >= 0; si-- {
		var reverse []int
		for _, i := range slices.Backward(order) {
			if d.stageOf[i] == si {
				reverse = append(reverse, i)
			}
		}
		d.rollbackStage(ctx, reverse)
	}
}

// rollbackStage rolls back the targets of one stage, in the order given, concurrently.
func (d *run) rollbackStage(ctx context.Context, reverse []int) {
	eachBounded(reverse, d.o.Concurrency, func(i int, free func()) {
		tr := &d.res.Targets[i]
		if !d.changed[i] {
			return
		}
		ctx := withCalls(ctx, &d.calls[i])
		if tr.began.IsZero() { // a recovery's: its Apply ran in another process
			tr.began = time.Now()
		}
		defer func() { tr.ended = time.Now() }()
		cause := tr.Err
		switch {
		case cause != nil:
		case d.getCause() != nil:
			cause = d.getCause()
		default:
			cause = fmt.Errorf("another target failed")
		}
		d.emitFor(i, Event{Phase: PhaseRollback, Message: "rolling back"})
		if err := d.journalTarget(ctx, i, StateRollingBack, "rollback "+tr.Target, tr.Err); err != nil {
			d.o.Logger.WarnContext(ctx, "could not write the journal; rolling back regardless", "target", tr.Target, "err", err)
		}
		d.o.Logger.InfoContext(ctx, "rolling back", "target", tr.Target, "cause", cause.Error())
		_, rbErr := guarded(ctx, d.o.Logger, tr.Target, "rollback", func() (struct{}, error) {
			return struct{}{}, tr.Plan.Rollback(ctx, d.targetEmit(ctx, i, free))
		})
		tr.Applied = false
		state := StateRolledBack
		if rbErr != nil {
			state = StateRollbackFailed
		}
		defer func() {
			if err := d.journalTarget(ctx, i, state, "", tr.Err); err != nil {
				d.o.Logger.WarnContext(ctx, "could not write the journal", "target", tr.Target, "err", err)
			}
		}()
		switch {
		case rbErr != nil && errors.Is(rbErr, ErrSuperseded):
			tr.Err = &Error{Kind: ErrSuperseded, Target: tr.Target, Op: "rollback",
				Detail: "not rolled back: another writer changed the target after this deploy, and it is left as that writer set it",
				Err:    fmt.Errorf("%w; %w", cause, rbErr)}
			d.emitFor(i, Event{Phase: PhaseFailed, Message: tr.Err.Error()})
		case rbErr != nil:
			tr.Err = &Error{Kind: ErrRollbackFailed, Target: tr.Target, Op: "rollback",
				Detail: "the target may be left on the new release; fix it by hand",
				Err:    fmt.Errorf("%w; then the rollback failed: %w", cause, rbErr)}
			d.emitFor(i, Event{Phase: PhaseFailed, Message: tr.Err.Error()})
		default:
			tr.RolledBack = true
			tr.Err = &Error{Kind: ErrRolledBack, Target: tr.Target, Detail: "rolled back", Err: cause}
			d.emitFor(i, Event{Phase: PhaseRollback, Message: "rolled back"})
		}
	})
}

// siblingFailure is the cause of cancelling the other applies: target failed.
type siblingFailure struct{ target string }

func (s *siblingFailure) Error() string { return s.target + " failed" }

// guarded calls f, turning a panic into an error of target's (the stack at debug level).
func guarded[T any](ctx context.Context, log *slog.Logger, target, op string, f func() (T, error)) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			pe := &PanicError{Value: p, Stack: debug.Stack()}
			log.DebugContext(ctx, "a target panicked", "target", target, "op", op, "panic", fmt.Sprint(p), "stack", string(pe.Stack))
			err = &Error{Kind: ErrFailed, Target: target, Op: op, Err: pe}
		}
	}()
	return f()
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// classifyCtx marks an error caused by the run's context ending as a timeout or a
// cancellation, unless the target already classified it.
func classifyCtx(ctx context.Context, target, op string, err error) error {
	var de *Error
	if errors.As(err, &de) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || ctx.Err() != nil {
		kind := contextKind(err, ctx.Err())
		detail := ""
		if kind == ErrTimeout {
			detail = "deadline exceeded"
		}
		return &Error{Kind: kind, Target: target, Op: op, Detail: detail, Err: err}
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

// eachBounded runs f(i, free) for each i of order with at most limit calls holding a slot at
// once, starting them in order, and returns when every call has returned. A call gives its
// slot up when it returns or calls free, whichever comes first.
func eachBounded(order []int, limit int, f func(i int, free func())) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for _, i := range order {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			free := sync.OnceFunc(func() { <-sem })
			defer free()
			f(i, free)
		}()
	}
	wg.Wait()
}

// serialise stamps events with the time and delivers them one at a time, until the returned
// close is called: events a target emits after that (from a goroutine it left running) are
// dropped, so the caller's callback is never called after Run returns.
func serialise(f EventFunc, log *slog.Logger) (EventFunc, func()) {
	var mu sync.Mutex
	closed := false
	emit := func(e Event) {
		if e.Time.IsZero() {
			e.Time = time.Now()
		}
		mu.Lock()
		defer mu.Unlock()
		if closed {
			log.Debug("event after the deploy returned, dropped", "target", e.Target, "phase", string(e.Phase), "message", e.Message)
			return
		}
		if f != nil {
			f(e)
		}
	}
	return emit, func() {
		mu.Lock()
		closed = true
		mu.Unlock()
	}
}
