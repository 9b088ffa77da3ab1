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
//
// It never rolls back over another writer: when the wait saw someone else's deployment
// replace this one, or the service now runs a revision that is neither this deploy's nor the
// one it replaced (and ECS did not put it there), Rollback changes nothing and returns
// ErrSuperseded.
func (p *Plan) Rollback(ctx context.Context, emit deploy.EventFunc) error {
	t := p.t
	p.mu.Lock()
	updated, registered, superseded, ecsRolledBack := p.updated, p.registered, p.superseded, p.ecsRolledBack
	p.mu.Unlock()
	if updated {
		old := p.Observed()
		if superseded {
			return deploy.Errorf(deploy.ErrSuperseded, t.Name(), "rollback", "another writer updated the service during this deploy; not rolling back over its change")
		}
		svc, err := t.describeService(ctx)
		if err != nil {
			return err
		}
		ours := registered
		if ours == "" {
			ours = old
		}
		if now := aws.ToString(svc.TaskDefinition); now != ours && now != old && !ecsRolledBack {
			return deploy.Errorf(deploy.ErrSuperseded, t.Name(), "rollback",
				"the service runs %s, which another writer set after this deploy set %s; not rolling back over it", shortTD(now), shortTD(ours))
		}
		var desired *int32
		if t.c.opts.DesiredCount != nil {
			desired = aws.Int32(p.observed.DesiredCount)
		}
		emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseRollback, Message: "returning the service to " + shortTD(old)})
		w, err := p.updateService(ctx, old, desired, false, deploy.PhaseRollback, emit)
		if err != nil {
			return err
		}
		if _, err := t.waitStable(ctx, w, deploy.PhaseRollback, emit); err != nil {
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
