package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/stevedore-dev/stevedore/deploy"
)

// statusCommand says what each target runs now, and any rollout in progress on it: it plans
// the release, which reads and changes nothing.
func statusCommand(fs *flag.FlagSet) func(context.Context, *app) error {
	return func(ctx context.Context, a *app) error {
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "STAGE\tTARGET\tRUNS\tIN PROGRESS")
		var firstErr error
		for _, e := range a.built.targets {
			runs, busy := "-", "-"
			p, err := e.target.Plan(ctx, a.built.release)
			switch {
			case err != nil:
				runs = "cannot tell: " + err.Error()
				if firstErr == nil {
					firstErr = err
				}
			default:
				if d, ok := p.(deploy.Describer); ok {
					before, _ := d.Describe()
					runs = before.String()
				}
				if f, ok := p.(deploy.InFlighter); ok && f.InFlight() != "" {
					busy = f.InFlight()
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.stage, e.target.Name(), runs, busy)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		return firstErr
	}
}
