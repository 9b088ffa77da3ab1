package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/stevedore-dev/stevedore/deploy"
)

// rollbackCommand rolls the latest release of the file's targets that deployed back to what
// ran before it, from the journal (each target's plan snapshot); run again, it goes one more
// release back.
func rollbackCommand(fs *flag.FlagSet) func(context.Context, *app) error {
	search := fs.Int("search", 50, "how many of the latest finished releases to look through")
	return func(ctx context.Context, a *app) error {
		h, ok := a.built.store.(deploy.History)
		if !ok || a.built.store == nil {
			return errors.New("rollback needs the journal: name a store in the release file (s3://, dynamodb:// or file://) and deploy with it")
		}
		var targets []deploy.Target
		for _, e := range a.built.targets {
			targets = append(targets, e.target)
		}
		v := newView(a.stderr, a.plain, a.stageNames())
		res, err := deploy.Undo(ctx, h, targets, &deploy.UndoOptions{OnEvent: v.event, Lock: a.built.opts.Lock,
			RollbackTimeout: a.built.opts.RollbackTimeout, Concurrency: a.built.opts.Concurrency, Search: *search})
		v.done()
		a.res = res
		if res != nil && len(res.Targets) > 0 {
			if werr := res.Report(err).WriteTable(a.stdout); werr != nil && err == nil {
				err = werr
			}
		}
		if err == nil {
			fmt.Fprintln(a.stderr, "rolled back to what ran before the latest release")
		}
		return err
	}
}
