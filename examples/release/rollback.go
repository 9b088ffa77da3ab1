package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/ecs"
)

// rollbackCommand puts the file's targets back to what ran before. With a store, from the
// journal: every target of the latest release that deployed, to what ran before it. Without
// one, from each target's own history: an ECS service to the newest revision of its family
// older than the one it runs, a Deployment to its previous revision (kubectl rollout undo);
// an EC2 fleet keeps no history of its own and needs the journal.
func rollbackCommand(fs *flag.FlagSet) func(context.Context, *app) error {
	search := fs.Int("search", 50, "with a store, how many of the latest finished releases to look through")
	return func(ctx context.Context, a *app) error {
		v := newView(a.stderr, a.plain, a.stageNames())
		defer v.done()
		if a.built.store == nil {
			return a.rollbackFromHistory(ctx, v)
		}
		h, ok := a.built.store.(deploy.History)
		if !ok {
			return errors.New("the store keeps no finished releases to roll back")
		}
		var targets []deploy.Target
		for _, e := range a.built.targets {
			targets = append(targets, e.target)
		}
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

// rollbackFromHistory rolls each target back by its own history, the latest stage first.
func (a *app) rollbackFromHistory(ctx context.Context, v view) error {
	for _, e := range a.built.targets {
		if e.ec2 != nil {
			return fmt.Errorf("%s: an EC2 fleet keeps no history of its own: roll it back from the journal (name a store in the release file, and deploy with it)", e.target.Name())
		}
	}
	for _, e := range slices.Backward(a.built.targets) {
		emit := func(ev deploy.Event) { ev.ReleaseStage = e.stage; v.event(ev) }
		switch {
		case e.eks != nil:
			if err := e.eks.Undo(ctx, emit); err != nil {
				return err
			}
		case e.ecs != nil:
			prev, err := previousRevision(ctx, e.api, e.spec.ECS.Cluster, e.spec.ECS.Service)
			if err != nil {
				return fmt.Errorf("%s: %w", e.target.Name(), err)
			}
			back := ecs.New(e.api, e.spec.ECS.Cluster, e.spec.ECS.Service, &ecs.Options{TaskDefinition: prev, PollInterval: a.poll})
			o := deploy.Options{OnEvent: emit, Timeout: a.built.opts.Timeout, RollbackTimeout: a.built.opts.RollbackTimeout}
			if _, err := deploy.Run(ctx, deploy.Release{Version: "rollback to " + revisionOf(prev)}, []deploy.Target{back}, &o); err != nil {
				return err
			}
		}
	}
	fmt.Fprintln(a.stderr, "rolled back each target to its previous revision")
	return nil
}

// previousRevision is the newest ACTIVE revision of the service's task definition family
// older than the one it runs.
func previousRevision(ctx context.Context, api *awsecs.Client, cluster, service string) (string, error) {
	out, err := api.DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{service}})
	if err != nil {
		return "", err
	}
	if len(out.Services) == 0 {
		return "", deploy.Errorf(deploy.ErrNotFound, "", "rollback", "no service %s in cluster %s", service, cluster)
	}
	family, rev, _ := strings.Cut(revisionOf(aws.ToString(out.Services[0].TaskDefinition)), ":")
	current, _ := strconv.Atoi(rev)
	pg := awsecs.NewListTaskDefinitionsPaginator(api, &awsecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(family), Sort: types.SortOrderDesc, Status: types.TaskDefinitionStatusActive})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return "", err
		}
		for _, arn := range page.TaskDefinitionArns {
			f, r, _ := strings.Cut(revisionOf(arn), ":")
			if n, _ := strconv.Atoi(r); f == family && n < current {
				return arn, nil
			}
		}
	}
	return "", deploy.Errorf(deploy.ErrNotFound, "", "rollback", "%s:%d is the oldest active revision of its family: there is nothing to go back to", family, current)
}
