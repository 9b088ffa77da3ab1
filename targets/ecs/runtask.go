package ecs

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
	"github.com/stevedore-dev/stevedore/internal/poll"
)

// Migration is a one-off task run on the new revision before the service is updated, such
// as a database migration. Its container must exit 0 for the deploy to go on.
type Migration struct {
	// Container is the container whose command is overridden; empty means the only one.
	Container string
	// Command replaces the container's command.
	Command []string
	// LaunchType and NetworkConfiguration default to the service's own.
	LaunchType           types.LaunchType
	NetworkConfiguration *types.NetworkConfiguration
}

// runMigration runs m on td, waits for it to stop and checks the container's exit code.
func (p *Plan) runMigration(ctx context.Context, td string, m *Migration, emit deploy.EventFunc) error {
	t := p.t
	op := "run migration task on " + shortTD(td)
	container := m.Container
	if container == "" {
		names, err := containerNames(string(p.rendered))
		if err != nil {
			return err
		}
		if len(names) != 1 {
			return deploy.Errorf(deploy.ErrInvalid, t.Name(), op, "the task definition has %d containers (%s); set Migration.Container", len(names), quoteList(names))
		}
		container = names[0]
	}
	in := &ecs.RunTaskInput{Cluster: aws.String(t.c.name), TaskDefinition: aws.String(td), StartedBy: aws.String("stevedore"),
		LaunchType: m.LaunchType, NetworkConfiguration: m.NetworkConfiguration,
		Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String(container), Command: m.Command}}}}
	if in.LaunchType == "" && len(p.observed.CapacityProviderStrategy) == 0 {
		in.LaunchType = p.observed.LaunchType
	}
	if len(p.observed.CapacityProviderStrategy) > 0 && in.LaunchType == "" {
		in.CapacityProviderStrategy = p.observed.CapacityProviderStrategy
	}
	if in.NetworkConfiguration == nil {
		in.NetworkConfiguration = p.observed.NetworkConfiguration
	}
	out, err := t.c.api.RunTask(ctx, in)
	if err != nil {
		return awserr.Wrap(t.Name(), op, err, "")
	}
	if len(out.Failures) > 0 || len(out.Tasks) == 0 {
		reason := "no task started"
		if len(out.Failures) > 0 {
			reason = aws.ToString(out.Failures[0].Reason)
		}
		return deploy.Errorf(deploy.ErrFailed, t.Name(), op, "RunTask failed: %s", reason)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseApply, Message: "started migration task " + shortTD(arn)})
	task, err := t.waitTaskStopped(ctx, arn, op)
	if err != nil {
		return err
	}
	for _, c := range task.Containers {
		if aws.ToString(c.Name) != container {
			continue
		}
		if c.ExitCode == nil {
			return deploy.Errorf(deploy.ErrFailed, t.Name(), op, "container %s did not run: %s", container, describeStopped(*task))
		}
		if *c.ExitCode != 0 {
			return deploy.Errorf(deploy.ErrFailed, t.Name(), op, "container %s exited with code %d: %s", container, *c.ExitCode, describeStopped(*task))
		}
		emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseApply, Message: "migration task exited 0"})
		return nil
	}
	return deploy.Errorf(deploy.ErrFailed, t.Name(), op, "the stopped task has no container %s", container)
}

func (t *Target) waitTaskStopped(ctx context.Context, arn, op string) (*types.Task, error) {
	var task *types.Task
	look := func(ctx context.Context) (poll.Look, error) {
		out, err := t.c.api.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(t.c.name), Tasks: []string{arn}})
		switch {
		case err != nil:
			return poll.Look{}, err
		case len(out.Tasks) == 0:
			return poll.Look{}, deploy.Errorf(deploy.ErrNotFound, t.Name(), op, "task %s is MISSING", shortTD(arn))
		}
		task = &out.Tasks[0]
		return poll.Look{Done: aws.ToString(task.LastStatus) == "STOPPED"}, nil
	}
	policy := poll.Policy{Interval: t.c.opts.PollInterval, Max: MaxPollInterval, Transient: poll.TransientFor(ctx, maxTransient), Classify: awserr.Classify}
	err := poll.Until(ctx, policy, look, func(err error, attempt int) {
		t.log().WarnContext(ctx, "describe tasks failed; will poll again", "target", t.Name(), "err", err, "attempt", attempt)
	})
	var de *deploy.Error
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, t.ctxErr(ctx, op, "task "+shortTD(arn)+" had not stopped")
	case errors.As(err, &de):
		return nil, err
	case err != nil:
		return nil, awserr.Wrap(t.Name(), op, err, "")
	}
	return task, nil
}
