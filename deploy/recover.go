package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// RecoverPolicy is what Recover does with a release its runner left unfinished.
type RecoverPolicy string

const (
	// RecoverRollback rolls back every target the release may have changed, the latest stage
	// first, to the state its plan observed (the default).
	RecoverRollback RecoverPolicy = "rollback"
	// RecoverResume waits on the targets whose Apply was under way (their change is made,
	// maybe still rolling out) and keeps the release if they all settle; if one fails, or
	// the release had failed already, it rolls every changed target back.
	RecoverResume RecoverPolicy = "resume"
)

// RecoverOptions tune Recover. The zero value is ready to use.
type RecoverOptions struct {
	Policy  RecoverPolicy // "" means RecoverRollback
	Logger  *slog.Logger
	OnEvent EventFunc
	// Concurrency bounds the targets rolled back or resumed at once, as Options.Concurrency.
	Concurrency int
	// RollbackTimeout bounds each release's rollback; 0 means DefaultRollbackTimeout.
	RollbackTimeout time.Duration
	// Lock, when set, leases a release's targets before touching them: a release whose
	// runner is alive still holds them, and is left alone. Without it, only records not
	// written for StaleAfter are recovered.
	Lock *LockOptions
	// StaleAfter is how long a record must have gone unwritten before Recover, without Lock,
	// takes its runner for dead; 0 means 10 minutes.
	StaleAfter time.Duration
}

// Recovered is what Recover did with one unfinished release.
type Recovered struct {
	Record *Record // as Recover left it
	Result *Result // each target's outcome; nil when the release was left alone
	Err    error   // why it was left alone, or what failed
}

// Recover finishes the unfinished releases of j whose targets are all among targets (matched
// by name; each must be a Restorer, as the built-in ones are): it makes every changed target's
// plan again from the snapshot in the record and, by policy, rolls them back or resumes their
// waits, then marks the record done. Releases of other targets, and live ones, are left alone.
func Recover(ctx context.Context, j Journal, targets []Target, opts *RecoverOptions) ([]Recovered, error) {
	var o RecoverOptions
	if opts != nil {
		o = *opts
	}
	if o.Policy == "" {
		o.Policy = RecoverRollback
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = 10 * time.Minute
	}
	byName := map[string]Target{}
	for _, t := range targets {
		byName[t.Name()] = t
	}
	recs, err := j.Unfinished(ctx)
	if err != nil {
		return nil, Wrap(ErrUnavailable, "", "read the journal", err, "")
	}
	var out []Recovered
	for _, rec := range recs {
		if !ours(rec, byName) {
			continue
		}
		if o.Lock == nil && time.Since(rec.Updated) < o.StaleAfter {
			out = append(out, Recovered{Record: rec, Err: Errorf(ErrLocked, "", "recover",
				"release %s was written %s ago: its runner may be alive (set RecoverOptions.Lock to find out)", rec.ID, time.Since(rec.Updated).Round(time.Second))})
			continue
		}
		res, err := recoverOne(ctx, j, rec, byName, o, nil)
		out = append(out, Recovered{Record: rec, Result: res, Err: err})
	}
	return out, nil
}

// ours reports whether every target of rec is among byName.
func ours(rec *Record, byName map[string]Target) bool {
	for _, st := range rec.Stages {
		for _, t := range st.Targets {
			if byName[t.Name] == nil {
				return false
			}
		}
	}
	return true
}

// recoverOne recovers one release: a run made of the record, its plans restored. With
// undoing, rec is a new record made from that finished release's, which it rolls back.
func recoverOne(ctx context.Context, j Journal, rec *Record, byName map[string]Target, o RecoverOptions, undoing *Record) (*Result, error) {
	d := &run{o: Options{Logger: LoggerOrDiscard(o.Logger), Concurrency: o.Concurrency, RollbackTimeout: o.RollbackTimeout,
		ReleaseID: "recover-" + newReleaseID(), Lock: o.Lock, Journal: j}, res: &Result{}}
	if d.o.Concurrency <= 0 {
		d.o.Concurrency = 4
	}
	if d.o.RollbackTimeout <= 0 {
		d.o.RollbackTimeout = DefaultRollbackTimeout
	}
	var closeEmit func()
	d.emit, closeEmit = serialise(o.OnEvent, d.o.Logger)
	defer closeEmit()
	defer d.close()
	d.desc = "recovery of release " + rec.ID
	if undoing != nil {
		d.desc = "undo of release " + undoing.ID
		d.o.ReleaseID = rec.ID // "undo-...": what its leases and events name
	}
	d.jr = &journaler{j: j, rec: *rec}
	defer d.countCalls()
	var order, applying []int
	failed := false
	for si, st := range rec.Stages {
		d.stages = append(d.stages, Stage{Name: st.Name})
		d.res.Stages = append(d.res.Stages, StageResult{Name: st.Name, Started: st.Started})
		for k, rt := range st.Targets {
			i := len(d.targets)
			d.targets = append(d.targets, byName[rt.Name])
			d.stageOf = append(d.stageOf, si)
			d.names = append(d.names, rt.Name)
			d.jr.pos = append(d.jr.pos, [2]int{si, k})
			tr := TargetResult{Target: rt.Name, Stage: st.Name, Started: rt.touched(), Applied: rt.State == StateApplied}
			d.changed = append(d.changed, rt.touched())
			if rt.touched() {
				order = append(order, i)
				p, err := restore(ctx, byName[rt.Name], rt)
				if err != nil {
					tr.Err = err
				}
				tr.Plan, tr.Changed = p, p != nil
				d.changed[i] = p != nil
			}
			switch rt.State {
			case StateApplying:
				applying = append(applying, i)
			case StateFailed, StateRollingBack, StateRolledBack, StateRollbackFailed:
				failed = true // the release had failed: resuming it makes no sense
			}
			d.res.Targets = append(d.res.Targets, tr)
		}
	}
	d.calls = make([]atomic.Int64, len(d.targets))
	if o.Lock != nil {
		if err := d.lockAll(ctx, func(error) {}); err != nil {
			return nil, err
		}
		defer d.unlockAll(ctx)
		// The lease may have been waited for while the release's runner finished it.
		if still, err := unfinished(ctx, j, rec.ID); undoing == nil && (err != nil || !still) {
			if err == nil {
				err = Errorf(ErrCanceled, "", "recover", "release %s finished while Recover waited for its targets", rec.ID)
			}
			return nil, err
		}
	}
	for _, tr := range d.res.Targets {
		if tr.Err != nil {
			d.setCause(tr.Err)
		}
	}
	if o.Policy == RecoverResume && !failed && d.getCause() == nil {
		d.resume(ctx, applying)
		if !anyErr(d.res) {
			d.finishJournal(ctx)
			return d.res, d.notFinished(rec)
		}
	}
	if undoing != nil {
		d.setCause(fmt.Errorf("undoing release %s (%s, by %s)", undoing.ID, cmp.Or(undoing.Release, "no description"), cmp.Or(undoing.Who, "an unknown runner")))
	} else {
		d.setCause(fmt.Errorf("recovering release %s (%s, begun by %s): %s", rec.ID, cmp.Or(rec.Release, "no description"), cmp.Or(rec.Who, "an unknown runner"), o.Policy))
	}
	rbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.o.RollbackTimeout)
	defer cancel()
	d.rollback(rbCtx, order)
	d.finishJournal(ctx)
	return d.res, d.err()
}

// unfinished reports whether j still holds release id unfinished.
func unfinished(ctx context.Context, j Journal, id string) (bool, error) {
	recs, err := j.Unfinished(ctx)
	if err != nil {
		return false, Wrap(ErrUnavailable, "", "read the journal", err, "")
	}
	for _, r := range recs {
		if r.ID == id {
			return true, nil
		}
	}
	return false, nil
}

// restore makes a target's plan again from its record, or says why it cannot.
func restore(ctx context.Context, t Target, rt RecordTarget) (Plan, error) {
	r, ok := t.(Restorer)
	if !ok || len(rt.Snapshot) == 0 {
		return nil, Errorf(ErrInvalid, rt.Name, "recover", "the release may have changed the target, but it keeps no snapshot to restore; check it by hand")
	}
	p, err := r.Restore(ctx, rt.Snapshot)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// resume resumes the Apply of the targets that were applying: each waits on the change its
// original made.
func (d *run) resume(ctx context.Context, applying []int) {
	eachBounded(applying, d.o.Concurrency, func(i int, free func()) {
		tr := &d.res.Targets[i]
		ctx := withCalls(ctx, &d.calls[i])
		_, err := guarded(ctx, d.o.Logger, tr.Target, "resume", func() (struct{}, error) {
			return struct{}{}, tr.Plan.Apply(ctx, d.targetEmit(ctx, i, free))
		})
		state := StateApplied
		if err != nil {
			tr.Err, state = classifyCtx(ctx, tr.Target, "resume", err), StateFailed
			d.emitFor(i, Event{Phase: PhaseFailed, Message: tr.Err.Error()})
		} else {
			tr.Applied = true
			d.emitFor(i, Event{Phase: PhaseDone, Message: "resumed and settled"})
		}
		if jerr := d.journalTarget(ctx, i, state, "", tr.Err); jerr != nil {
			d.o.Logger.WarnContext(ctx, "could not write the journal", "target", tr.Target, "err", jerr)
		}
	})
}

// notFinished says which stages a resumed release never started: they need the release run
// again (a re-run finds the finished targets on the release already).
func (d *run) notFinished(rec *Record) error {
	var left []string
	for i, st := range rec.Stages {
		if !st.Started {
			left = append(left, fmt.Sprintf("%q", st.Name))
		}
		if st.Started {
			for _, t := range rec.Stages[i].Targets {
				if t.State == StatePlanned {
					left = append(left, t.Name)
				}
			}
		}
	}
	if len(left) == 0 {
		return nil
	}
	return &Error{Kind: ErrCanceled, Op: "recover", Detail: fmt.Sprintf("release %s resumed, but never reached %v: run it again to finish", rec.ID, left),
		Err: errors.New("the runner died before these started")}
}
