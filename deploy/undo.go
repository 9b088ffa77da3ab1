package deploy

import (
	"context"
	"log/slog"
	"time"
)

// UndoOptions tune Undo.
type UndoOptions struct {
	Logger  *slog.Logger
	OnEvent EventFunc
	// Concurrency bounds the rollbacks doing API work at once; 0 means 4.
	Concurrency int
	// RollbackTimeout bounds the rollback; 0 means DefaultRollbackTimeout.
	RollbackTimeout time.Duration
	// Lock, when set, leases the targets first, as release "undo-<id>".
	Lock *LockOptions
	// Search is how many of the latest finished releases to look through; 0 means 50.
	Search int
}

// Undo rolls back the latest finished release of targets that deployed: every target it
// changed goes back, from the plan snapshot its journal record keeps, to what ran before it,
// the latest stage first, as a rollback of that release would have done. The undo is
// journalled as a release of its own ("undo of <id>"), and the release it undid is marked
// (Record.UndoneBy). Undo goes back one release, not further: when the latest release was
// undone already, or none deployed in the latest Search, it returns ErrNotFound saying so
// (the one before was deployed over, and its snapshots no longer describe the targets).
// Every target of the release must be among targets.
func Undo(ctx context.Context, h History, targets []Target, opts *UndoOptions) (*Result, error) {
	var o UndoOptions
	if opts != nil {
		o = *opts
	}
	if o.Search <= 0 {
		o.Search = 50
	}
	byName := map[string]Target{}
	for _, t := range targets {
		byName[t.Name()] = t
	}
	recs, err := h.Finished(ctx, o.Search)
	if err != nil {
		return nil, Wrap(ErrUnavailable, "", "read the journal", err, "")
	}
	for _, rec := range recs {
		if rec.Outcome != OutcomeDeployed || !ours(rec, byName) {
			continue // failed (rolled back already), an undo, or of other targets
		}
		if rec.UndoneBy != "" {
			return nil, Errorf(ErrNotFound, "", "undo", "the latest release that deployed, %s (%s), was undone already by %s; deploy the release wanted instead", rec.ID, rec.Release, rec.UndoneBy)
		}
		undo := *rec
		undo.ID = "undo-" + newReleaseID()
		undo.Release = "undo of " + rec.ID
		if rec.Release != "" {
			undo.Release += " (" + rec.Release + ")"
		}
		undo.Done, undo.Outcome, undo.Step, undo.Started = false, "", "undo", time.Now()
		res, err := recoverOne(ctx, h, &undo, byName, RecoverOptions{Policy: RecoverRollback, Logger: o.Logger, OnEvent: o.OnEvent,
			Concurrency: o.Concurrency, RollbackTimeout: o.RollbackTimeout, Lock: o.Lock}, rec)
		if res != nil && res.Outcome() == OutcomeRolledBack {
			done := *rec
			done.UndoneBy = undo.ID
			err = nil // undone, as asked
			if werr := h.Write(ctx, &done); werr != nil {
				err = Wrap(ErrUnavailable, "", "write the journal", werr, "")
			}
		}
		return res, err
	}
	return nil, Errorf(ErrNotFound, "", "undo", "none of the latest %d finished releases of these targets deployed and is still in place", o.Search)
}
