package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
)

// recoverCommand rolls back (or resumes) the releases of the file's targets that a killed
// run left unfinished in the journal.
func recoverCommand(fs *flag.FlagSet) func(context.Context, *app) error {
	resume := fs.Bool("resume", false, "resume the waits of the release left, instead of rolling it back")
	staleAfter := fs.Duration("stale-after", 10*time.Minute, "with a file store, how long a release must have gone unwritten to count as left by a killed run")
	return func(ctx context.Context, a *app) error {
		if a.built.store == nil {
			return errors.New("the release file names no store, so there is no journal to recover from")
		}
		policy := deploy.RecoverRollback
		if *resume {
			policy = deploy.RecoverResume
		}
		v := newView(a.stderr, a.plain, a.stageNames())
		err := a.recover(ctx, policy, *staleAfter, v)
		v.done()
		return err
	}
}

// recover finishes the unfinished releases of the file's targets and says what it did.
func (a *app) recover(ctx context.Context, policy deploy.RecoverPolicy, staleAfter time.Duration, v view) error {
	var targets []deploy.Target
	for _, e := range a.built.targets {
		targets = append(targets, e.target)
	}
	opts := &deploy.RecoverOptions{Policy: policy, Lock: a.built.opts.Lock, StaleAfter: staleAfter, OnEvent: v.event,
		RollbackTimeout: a.built.opts.RollbackTimeout}
	found, err := deploy.Recover(ctx, a.built.store, targets, opts)
	if err != nil {
		return err
	}
	var failed error
	for _, r := range found {
		switch {
		case r.Result == nil:
			fmt.Fprintf(a.stderr, "left release %s (%s) alone: %v\n", r.Record.ID, r.Record.Release, r.Err)
		case r.Err != nil:
			fmt.Fprintf(a.stderr, "recovering release %s (%s) failed: %v\n", r.Record.ID, r.Record.Release, r.Err)
			failed = r.Err
			a.res = r.Result
		default:
			fmt.Fprintf(a.stderr, "recovered release %s (%s) a killed run left: %s\n", r.Record.ID, r.Record.Release, r.Result.Outcome())
		}
	}
	if len(found) == 0 {
		fmt.Fprintln(a.stderr, "no unfinished release of these targets in the journal")
	}
	return failed
}
