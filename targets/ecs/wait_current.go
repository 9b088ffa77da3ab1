package ecs

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stevedore-dev/stevedore/deploy"
)

// Wait waits for the rollout the service is in (its current service deployment, whoever
// started it) as Apply's wait does, until Options.WaitUntil, and returns its status; a
// service with no service deployment (none ever, or an ECS without that API) is judged
// from its deployments list.
func (t *Target) Wait(ctx context.Context, emit deploy.EventFunc) (Status, error) {
	svc, err := t.describeService(ctx)
	if err != nil {
		return Status{}, err
	}
	if arn := aws.ToString(svc.CurrentServiceDeployment); arn != "" {
		return Follow(ctx, t.c.api, arn, &t.c.opts, emit)
	}
	w := Want{TaskDefinition: aws.ToString(svc.TaskDefinition), Until: t.c.opts.WaitUntil}
	return t.waitStable(ctx, w, deploy.PhaseWait, emit)
}
