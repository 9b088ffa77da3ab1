package ecs

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
)

// Rollback returns the service to the revision and desired count the plan observed and waits
// until it has settled there. If ECS already rolled the service back, that costs one
// UpdateService call that starts no deployment. With DeregisterOnRollback, the revision this
// deploy registered is deregistered once no deployment of the service runs it.
func (p *Plan) Rollback(ctx context.Context, emit deploy.EventFunc) error {
	t := p.t
	p.mu.Lock()
	updated, registered := p.updated, p.registered
	p.mu.Unlock()
	if updated {
		old := p.Observed()
		var desired *int32
		if t.c.opts.DesiredCount != nil {
			desired = aws.Int32(p.observed.DesiredCount)
		}
		emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseRollback, Message: "returning the service to " + shortTD(old)})
		since, err := p.updateService(ctx, old, desired, false, deploy.PhaseRollback, emit)
		if err != nil {
			return err
		}
		if err := t.waitStable(ctx, old, since, deploy.PhaseRollback, emit); err != nil {
			return err
		}
	}
	if registered == "" || !t.c.opts.DeregisterOnRollback {
		return nil
	}
	svc, err := t.describeService(ctx)
	if err != nil {
		return err
	}
	for _, d := range svc.Deployments {
		if aws.ToString(d.TaskDefinition) == registered {
			t.log().WarnContext(ctx, "not deregistering a revision the service still runs", "target", t.Name(), "arn", registered)
			return nil
		}
	}
	if _, err := t.c.api.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(registered)}); err != nil {
		return awserr.Wrap(t.Name(), "deregister task definition "+shortTD(registered), err, "")
	}
	emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseRollback, Message: "deregistered " + shortTD(registered)})
	return nil
}
