package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/stevedore-dev/stevedore/deploy"
)

// planCommand shows each target's change, stage by stage, changing nothing (no lease is
// taken and nothing is journalled either).
func planCommand(fs *flag.FlagSet) func(context.Context, *app) error {
	return func(ctx context.Context, a *app) error {
		o := a.built.opts
		o.DryRun, o.Lock, o.Journal = true, nil, nil
		res, err := deploy.RunStages(ctx, a.built.release, a.built.stages, &o)
		if err != nil {
			return err
		}
		changed := 0
		for _, st := range a.built.stages {
			fmt.Fprintf(a.stdout, "stage %s\n", st.Name)
			for _, tr := range res.Targets {
				if tr.Stage != st.Name {
					continue
				}
				if tr.Plan == nil || !tr.Plan.Changed() {
					fmt.Fprintf(a.stdout, "  %s: no change\n", tr.Target)
					continue
				}
				changed++
				fmt.Fprintf(a.stdout, "  %s:\n", tr.Target)
				for _, line := range splitLines(tr.Plan.Diff()) {
					fmt.Fprintf(a.stdout, "    %s\n", line)
				}
			}
			for _, g := range st.Gates {
				fmt.Fprintf(a.stdout, "  then gate %s\n", g.Check.Name())
			}
		}
		fmt.Fprintf(a.stdout, "plan: %d of %d targets would change\n", changed, len(res.Targets))
		return nil
	}
}

func splitLines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }
