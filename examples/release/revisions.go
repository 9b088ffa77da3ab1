package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/stevedore-dev/stevedore/internal/cli"
	"github.com/stevedore-dev/stevedore/targets/ecs"
)

// revisionsCommand lists each ECS target's task definition family, newest first: the
// newest, the older ones a service or deployment still uses, and the rest (what prune
// would deregister).
func revisionsCommand(fs *flag.FlagSet) func(context.Context, *app) error {
	return func(ctx context.Context, a *app) error {
		return a.eachFamily(ctx, func(e *entry, family string) error {
			res, err := ecs.Prune(ctx, e.api, e.spec.ECS.Cluster, family, ecs.PruneOptions{Keep: 1, DryRun: true})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s (family %s):\n", e.target.Name(), family)
			for _, arn := range res.Kept {
				fmt.Fprintf(a.stdout, "  %s\tnewest\n", revisionOf(arn))
			}
			for _, arn := range res.InUse {
				fmt.Fprintf(a.stdout, "  %s\tin use\n", revisionOf(arn))
			}
			for _, arn := range res.Deregistered {
				fmt.Fprintf(a.stdout, "  %s\tunused\n", revisionOf(arn))
			}
			return nil
		})
	}
}

// pruneCommand deregisters each ECS target's task definition revisions beyond the newest
// -keep that nothing uses.
func pruneCommand(fs *flag.FlagSet) func(context.Context, *app) error {
	keep := fs.Int("keep", 10, "how many of the newest revisions stay registered (at least 1)")
	del := fs.Bool("delete", false, "also delete the family's inactive revisions nothing uses (cannot be undone)")
	dry := fs.Bool("dry-run", false, "say what would be done, and do nothing")
	return func(ctx context.Context, a *app) error {
		if *keep < 1 {
			return cli.UsageError("-keep: keep at least 1 revision")
		}
		return a.eachFamily(ctx, func(e *entry, family string) error {
			res, err := ecs.Prune(ctx, e.api, e.spec.ECS.Cluster, family, ecs.PruneOptions{Keep: *keep, Delete: *del, DryRun: *dry})
			if err != nil {
				return err
			}
			verb := "deregistered"
			if *dry {
				verb = "would deregister"
			}
			fmt.Fprintf(a.stdout, "%s (family %s): kept %d, %d older in use, %s %d", e.target.Name(), family, len(res.Kept), len(res.InUse), verb, len(res.Deregistered))
			if len(res.Deleted) > 0 {
				fmt.Fprintf(a.stdout, ", deleted %d", len(res.Deleted))
			}
			fmt.Fprintln(a.stdout)
			return nil
		})
	}
}

// eachFamily runs f on each ECS target with the family of the task definition its service
// runs, once per family.
func (a *app) eachFamily(ctx context.Context, f func(e *entry, family string) error) error {
	seen := map[string]bool{}
	n := 0
	for _, e := range a.built.targets {
		if e.ecs == nil {
			continue
		}
		n++
		p, err := e.ecs.Plan(ctx, a.built.release)
		if err != nil {
			return err
		}
		family, _, _ := strings.Cut(revisionOf(p.(*ecs.Plan).Observed()), ":")
		if seen[e.spec.ECS.Cluster+"/"+family] {
			continue
		}
		seen[e.spec.ECS.Cluster+"/"+family] = true
		if err := f(e, family); err != nil {
			return err
		}
	}
	if n == 0 {
		return errors.New("the release file has no ECS target")
	}
	return nil
}

// revisionOf is family:revision of a task definition ARN.
func revisionOf(arn string) string { return arn[strings.LastIndexByte(arn, '/')+1:] }
