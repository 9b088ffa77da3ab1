package ecs

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
)

// PruneAPI is the part of the ECS client Prune calls; *ecs.Client satisfies it.
type PruneAPI interface {
	ListTaskDefinitions(context.Context, *ecs.ListTaskDefinitionsInput, ...func(*ecs.Options)) (*ecs.ListTaskDefinitionsOutput, error)
	DeregisterTaskDefinition(context.Context, *ecs.DeregisterTaskDefinitionInput, ...func(*ecs.Options)) (*ecs.DeregisterTaskDefinitionOutput, error)
	DeleteTaskDefinitions(context.Context, *ecs.DeleteTaskDefinitionsInput, ...func(*ecs.Options)) (*ecs.DeleteTaskDefinitionsOutput, error)
	ListServices(context.Context, *ecs.ListServicesInput, ...func(*ecs.Options)) (*ecs.ListServicesOutput, error)
	DescribeServices(context.Context, *ecs.DescribeServicesInput, ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	deploymentReader
}

// deploymentReader reads service deployments and the revisions they name.
type deploymentReader interface {
	DescribeServiceDeployments(context.Context, *ecs.DescribeServiceDeploymentsInput, ...func(*ecs.Options)) (*ecs.DescribeServiceDeploymentsOutput, error)
	DescribeServiceRevisions(context.Context, *ecs.DescribeServiceRevisionsInput, ...func(*ecs.Options)) (*ecs.DescribeServiceRevisionsOutput, error)
}

// PruneOptions tune Prune.
type PruneOptions struct {
	// Keep is how many of the newest ACTIVE revisions stay registered; at least 1.
	Keep int
	// Delete also deletes the family's INACTIVE revisions (those deregistered now and
	// before) that nothing uses. Deletion cannot be undone.
	Delete bool
	// DryRun reports what would be done and changes nothing.
	DryRun bool
	// Logger receives debug records; nil discards them.
	Logger *slog.Logger
}

// PruneResult says what Prune did (or, on a dry run, would do), as task definition ARNs.
type PruneResult struct {
	Kept         []string // the newest Keep ACTIVE revisions
	InUse        []string // older revisions left because a service or service deployment uses them
	Deregistered []string
	Deleted      []string
}

// Prune keeps the newest opts.Keep ACTIVE revisions of family and deregisters the rest,
// never one that a service of cluster runs, lists in its deployments, or that an in-flight
// service deployment of it names (a blue/green deployment's blue side, a rollback's target).
// With opts.Delete it then deletes the family's INACTIVE revisions nothing uses.
func Prune(ctx context.Context, api PruneAPI, cluster, family string, opts PruneOptions) (*PruneResult, error) {
	name := "ecs:" + cluster + " family " + family
	if opts.Keep < 1 {
		return nil, deploy.Errorf(deploy.ErrInvalid, name, "prune", "keep %d revisions: at least the newest one must stay", opts.Keep)
	}
	log := deploy.LoggerOrDiscard(opts.Logger)
	services, err := clusterServices(ctx, api, cluster)
	if err != nil {
		return nil, awserr.Wrap(name, "list the cluster's services", err, "the credentials need ecs:ListServices and ecs:DescribeServices")
	}
	noAPI := false
	used, err := inUse(ctx, api, services, func(err error) {
		if !noAPI {
			noAPI = true
			log.DebugContext(ctx, "judging use by the services' deployments lists: the service-deployment API is not available", "err", err)
		}
	})
	if err != nil {
		return nil, err
	}
	active, err := familyRevisions(ctx, api, family, types.TaskDefinitionStatusActive)
	if err != nil {
		return nil, awserr.Wrap(name, "list task definitions", err, "")
	}
	res := &PruneResult{}
	for i, arn := range active { // newest first
		switch {
		case i < opts.Keep:
			res.Kept = append(res.Kept, arn)
		case used[arn]:
			res.InUse = append(res.InUse, arn)
		default:
			if !opts.DryRun {
				if _, err := api.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(arn)}); err != nil {
					return res, awserr.Wrap(name, "deregister "+shortTD(arn), err, "")
				}
			}
			res.Deregistered = append(res.Deregistered, arn)
		}
	}
	if !opts.Delete {
		return res, nil
	}
	inactive, err := familyRevisions(ctx, api, family, types.TaskDefinitionStatusInactive)
	if err != nil {
		return res, awserr.Wrap(name, "list task definitions", err, "")
	}
	if opts.DryRun {
		inactive = append(inactive, res.Deregistered...)
	}
	var doomed []string
	for _, arn := range inactive {
		if !used[arn] {
			doomed = append(doomed, arn)
		}
	}
	for len(doomed) > 0 {
		batch := doomed[:min(10, len(doomed))]
		doomed = doomed[len(batch):]
		if opts.DryRun {
			res.Deleted = append(res.Deleted, batch...)
			continue
		}
		out, err := api.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: batch})
		if err != nil {
			return res, awserr.Wrap(name, "delete task definitions", err, "")
		}
		for _, td := range out.TaskDefinitions {
			res.Deleted = append(res.Deleted, aws.ToString(td.TaskDefinitionArn))
		}
		if len(out.Failures) > 0 {
			var why []string
			for _, f := range out.Failures {
				why = append(why, shortTD(aws.ToString(f.Arn))+": "+aws.ToString(f.Reason))
			}
			return res, deploy.Errorf(deploy.ErrFailed, name, "delete task definitions", "%s", strings.Join(why, "; "))
		}
	}
	return res, nil
}

// familyRevisions lists a family's revisions in a status, newest first.
func familyRevisions(ctx context.Context, api PruneAPI, family string, status types.TaskDefinitionStatus) ([]string, error) {
	var arns []string
	p := ecs.NewListTaskDefinitionsPaginator(api, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(family), Status: status, Sort: types.SortOrderDesc})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, arn := range out.TaskDefinitionArns {
			if familyOf(arn) == family {
				arns = append(arns, arn)
			}
		}
	}
	// Newest first by revision number, whatever order the answer came in (moto ignores sort).
	slices.SortFunc(arns, func(a, b string) int { return revisionOf(b) - revisionOf(a) })
	return arns, nil
}

// familyOf and revisionOf split a task definition ARN's family:revision.
func familyOf(arn string) string {
	n := shortTD(arn)
	return n[:max(strings.LastIndexByte(n, ':'), 0)]
}

func revisionOf(arn string) int {
	n, _ := strconv.Atoi(arn[strings.LastIndexByte(arn, ':')+1:])
	return n
}

// clusterServices describes every service of cluster.
func clusterServices(ctx context.Context, api PruneAPI, cluster string) ([]types.Service, error) {
	var arns []string
	p := ecs.NewListServicesPaginator(api, &ecs.ListServicesInput{Cluster: aws.String(cluster)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		arns = append(arns, out.ServiceArns...)
	}
	var services []types.Service
	for len(arns) > 0 {
		batch := arns[:min(10, len(arns))]
		arns = arns[len(batch):]
		out, err := api.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: batch})
		if err != nil {
			return nil, err
		}
		services = append(services, out.Services...)
	}
	return services, nil
}

// inUse returns the task definitions services use: the revision each names, every revision
// in its deployments list, and the revisions of its current service deployment while that is
// in flight. Where the service-deployment API is not available it calls noAPI and judges by
// the deployments lists alone.
func inUse(ctx context.Context, api deploymentReader, services []types.Service, noAPI func(error)) (map[string]bool, error) {
	used := map[string]bool{}
	var revisions []string
	apiGone := false
	for _, svc := range services {
		used[aws.ToString(svc.TaskDefinition)] = true
		for _, d := range svc.Deployments {
			used[aws.ToString(d.TaskDefinition)] = true
		}
		cur := aws.ToString(svc.CurrentServiceDeployment)
		if cur == "" || apiGone {
			continue
		}
		out, err := api.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{cur}})
		if err != nil {
			if unavailable(err) {
				apiGone = true
				noAPI(err)
				continue
			}
			return nil, awserr.Wrap("ecs:"+shortARN(aws.ToString(svc.ClusterArn))+"/"+aws.ToString(svc.ServiceName), "describe service deployment "+shortARN(cur), err, "")
		}
		for _, d := range out.ServiceDeployments {
			switch d.Status {
			case types.ServiceDeploymentStatusSuccessful, types.ServiceDeploymentStatusStopped,
				types.ServiceDeploymentStatusRollbackSuccessful, types.ServiceDeploymentStatusRollbackFailed:
				continue
			}
			if r := d.TargetServiceRevision; r != nil {
				revisions = append(revisions, aws.ToString(r.Arn))
			}
			for _, r := range d.SourceServiceRevisions {
				revisions = append(revisions, aws.ToString(r.Arn))
			}
			if rb := d.Rollback; rb != nil && rb.ServiceRevisionArn != nil {
				revisions = append(revisions, aws.ToString(rb.ServiceRevisionArn))
			}
		}
	}
	for len(revisions) > 0 {
		batch := revisions[:min(20, len(revisions))]
		revisions = revisions[len(batch):]
		out, err := api.DescribeServiceRevisions(ctx, &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: batch})
		if err != nil {
			return nil, awserr.Wrap("ecs", "describe service revisions", err, "the credentials need ecs:DescribeServiceRevisions")
		}
		for _, r := range out.ServiceRevisions {
			used[aws.ToString(r.TaskDefinition)] = true
		}
	}
	return used, nil
}

// unavailable reports whether err says the service-deployment API cannot be called here.
func unavailable(err error) bool {
	if errors.Is(err, errNoDeploymentAPI) || awserr.Kind(err) == deploy.ErrAccessDenied {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && strings.Contains(ae.ErrorCode(), "UnknownOperation")
}
