package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/cli"
)

// deployCommand finishes what a killed run left in the journal, then rolls the release out
// stage by stage, and ends with the report.
func deployCommand(fs *flag.FlagSet) func(context.Context, *app) error {
	report := fs.String("json", "", "write the release report as JSON to this path")
	artifacts := fs.String("artifacts", "", "write CodePipeline's imagedefinitions.json and imageDetail.json into this directory")
	policy := fs.String("recover", "rollback", "what to do with a release a killed run left: rollback, or resume its waits")
	staleAfter := fs.Duration("stale-after", 10*time.Minute, "with a file store, how long a release must have gone unwritten to count as left by a killed run")
	return func(ctx context.Context, a *app) error {
		if *policy != "rollback" && *policy != "resume" {
			return cli.UsageError("-recover: use rollback or resume")
		}
		if err := cli.CheckWritable(*report); err != nil {
			return fmt.Errorf("%v; nothing was changed", err)
		}
		v := newView(a.stderr, a.plain, a.stageNames())
		if a.built.store != nil {
			if err := a.recover(ctx, deploy.RecoverPolicy(*policy), *staleAfter, v); err != nil {
				v.done()
				return err
			}
		}
		res, err := deploy.RunStages(ctx, a.built.release, a.built.stages, a.options(v))
		v.done()
		a.res = res
		if res != nil && len(res.Targets) > 0 {
			rep := res.Report(err)
			if werr := rep.WriteTable(a.stdout); werr != nil && err == nil {
				err = werr
			}
			if *report != "" {
				data, _ := json.MarshalIndent(rep, "", "  ")
				if werr := os.WriteFile(*report, append(data, '\n'), 0o644); werr != nil && err == nil {
					err = werr
				}
			}
		}
		if err == nil && *artifacts != "" {
			err = writeArtifacts(*artifacts, a.built, res)
		}
		return err
	}
}
