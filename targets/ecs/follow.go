package ecs

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
)

// ParseDeploymentARN returns the cluster and service of a service deployment ARN
// (arn:aws:ecs:<region>:<account>:service-deployment/<cluster>/<service>/<id>).
func ParseDeploymentARN(arn string) (cluster, service string, err error) {
	_, rest, ok := strings.Cut(arn, ":service-deployment/")
	parts := strings.Split(rest, "/")
	if !ok || !strings.HasPrefix(arn, "arn:") || len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", deploy.Errorf(deploy.ErrInvalid, "ecs", "parse service deployment ARN",
			"%q is not a service deployment ARN (arn:aws:ecs:<region>:<account>:service-deployment/<cluster>/<service>/<id>)", arn)
	}
	return parts[0], parts[1], nil
}

// Follow waits for the service deployment arn as Apply's wait does, until opts.WaitUntil
// (Started only reads it once), and returns the last status: a later call, even from
// another process, picks up a rollout that an earlier one left at BAKE_TIME. opts may be nil.
func Follow(ctx context.Context, api API, arn string, opts *Options, emit deploy.EventFunc) (Status, error) {
	cluster, service, err := ParseDeploymentARN(arn)
	if err != nil {
		return Status{}, err
	}
	t := New(api, cluster, service, opts)
	svc, d, err := t.read(ctx, arn)
	if err != nil {
		return Status{}, err
	}
	if t.c.opts.WaitUntil == Started {
		return DeploymentStatus(*d, aws.ToString(svc.CurrentServiceDeployment), -1), nil
	}
	w := Want{TaskDefinition: aws.ToString(svc.TaskDefinition), Deployment: arn, Until: t.c.opts.WaitUntil, Since: aws.ToTime(d.CreatedAt)}
	return t.waitStable(ctx, w, deploy.PhaseWait, emit)
}

// Report reads the service deployment arn once and judges it (DeploymentStatus).
func Report(ctx context.Context, api API, arn string) (Status, error) {
	return Follow(ctx, api, arn, &Options{WaitUntil: Started}, nil)
}

// read reads the service and its service deployment arn.
func (t *Target) read(ctx context.Context, arn string) (*types.Service, *types.ServiceDeployment, error) {
	svc, err := t.describeService(ctx)
	if err != nil {
		return nil, nil, err
	}
	d, err := t.describeDeployment(ctx, arn)
	if err != nil {
		return nil, nil, t.deploymentErr(arn, err)
	}
	return svc, d, nil
}

// deploymentErr wraps an error of describeDeployment once.
func (t *Target) deploymentErr(arn string, err error) error {
	var de *deploy.Error
	if errors.As(err, &de) {
		return err
	}
	return awserr.Wrap(t.Name(), "describe service deployment "+shortARN(arn), err, "")
}
