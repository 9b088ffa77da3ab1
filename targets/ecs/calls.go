package ecs

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
	"github.com/stevedore-dev/stevedore/internal/poll"
)

// counted is the API as the target calls it: each call counted against the target whose
// work the context is (deploy.CountCall), and made, on a rollback's context, with a retryer
// that draws on no client-side retry quota and keeps trying until the context ends.
type counted struct{ api API }

// call makes one call of f through counted's rules.
func call[I, O any](ctx context.Context, f func(context.Context, I, ...func(*ecs.Options)) (O, error), in I, opts []func(*ecs.Options)) (O, error) {
	deploy.CountCall(ctx)
	if poll.IsPersistent(ctx) {
		opts = append(opts, func(o *ecs.Options) { o.Retryer = awserr.PersistentRetryer() })
	}
	return f(ctx, in, opts...)
}

func (a counted) DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, o ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	return call(ctx, a.api.DescribeServices, in, o)
}
func (a counted) DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, o ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	return call(ctx, a.api.DescribeTaskDefinition, in, o)
}
func (a counted) RegisterTaskDefinition(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, o ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error) {
	return call(ctx, a.api.RegisterTaskDefinition, in, o)
}
func (a counted) DeregisterTaskDefinition(ctx context.Context, in *ecs.DeregisterTaskDefinitionInput, o ...func(*ecs.Options)) (*ecs.DeregisterTaskDefinitionOutput, error) {
	return call(ctx, a.api.DeregisterTaskDefinition, in, o)
}
func (a counted) UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, o ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error) {
	return call(ctx, a.api.UpdateService, in, o)
}
func (a counted) ListTasks(ctx context.Context, in *ecs.ListTasksInput, o ...func(*ecs.Options)) (*ecs.ListTasksOutput, error) {
	return call(ctx, a.api.ListTasks, in, o)
}
func (a counted) DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, o ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error) {
	return call(ctx, a.api.DescribeTasks, in, o)
}
func (a counted) RunTask(ctx context.Context, in *ecs.RunTaskInput, o ...func(*ecs.Options)) (*ecs.RunTaskOutput, error) {
	return call(ctx, a.api.RunTask, in, o)
}
func (a counted) ListTaskDefinitions(ctx context.Context, in *ecs.ListTaskDefinitionsInput, o ...func(*ecs.Options)) (*ecs.ListTaskDefinitionsOutput, error) {
	return call(ctx, a.api.ListTaskDefinitions, in, o)
}
func (a counted) DescribeServiceDeployments(ctx context.Context, in *ecs.DescribeServiceDeploymentsInput, o ...func(*ecs.Options)) (*ecs.DescribeServiceDeploymentsOutput, error) {
	return call(ctx, a.api.DescribeServiceDeployments, in, o)
}
func (a counted) DescribeServiceRevisions(ctx context.Context, in *ecs.DescribeServiceRevisionsInput, o ...func(*ecs.Options)) (*ecs.DescribeServiceRevisionsOutput, error) {
	return call(ctx, a.api.DescribeServiceRevisions, in, o)
}
func (a counted) ContinueServiceDeployment(ctx context.Context, in *ecs.ContinueServiceDeploymentInput, o ...func(*ecs.Options)) (*ecs.ContinueServiceDeploymentOutput, error) {
	return call(ctx, a.api.ContinueServiceDeployment, in, o)
}
func (a counted) StopServiceDeployment(ctx context.Context, in *ecs.StopServiceDeploymentInput, o ...func(*ecs.Options)) (*ecs.StopServiceDeploymentOutput, error) {
	return call(ctx, a.api.StopServiceDeployment, in, o)
}

var _ API = counted{}
