package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/stevedore-dev/stevedore/targets/ecs"
	"github.com/stevedore-dev/stevedore/targets/eks"
)

// renderCommand prints what each ECS target would register (its task definition) and each
// EKS target would write (its pod template), as indented JSON; EC2 targets run commands and
// have nothing to render.
func renderCommand(fs *flag.FlagSet) func(context.Context, *app) error {
	return func(ctx context.Context, a *app) error {
		for _, e := range a.built.targets {
			p, err := e.target.Plan(ctx, a.built.release)
			if err != nil {
				return err
			}
			var doc []byte
			switch p := p.(type) {
			case *ecs.Plan:
				doc = p.Rendered()
			case *eks.Plan:
				doc = p.Template()
			default:
				fmt.Fprintf(a.stdout, "# %s: runs commands; nothing to render\n", e.target.Name())
				continue
			}
			var out bytes.Buffer
			if err := json.Indent(&out, doc, "", "  "); err != nil {
				return fmt.Errorf("%s: %w", e.target.Name(), err)
			}
			fmt.Fprintf(a.stdout, "# %s\n%s\n", e.target.Name(), out.String())
		}
		return nil
	}
}
