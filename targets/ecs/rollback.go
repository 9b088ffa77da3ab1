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

// Rollback returns the service to the revision, desired count and deploymentConfiguration
// the plan observed. While this deploy's service deployment is in flight it asks ECS to roll
// it back (StopServiceDeployment, stopType ROLLBACK) and waits for ROLLBACK_SUCCESSFUL; when
// ECS is already rolling it back by itself it waits for that instead of starting another
// deployment; after the deployment finished, or where ECS reports no service deployments, it
// updates the service to the observed revision and waits until it has settled there. With
// DeregisterOnRollback, the revision this deploy registered is deregistered once nothing
// uses it: no deployment of the service and no service revision of an in-flight deployment.
//
// It never rolls back over another writer: when the wait saw someone else's deployment
// replace this one, or the service now runs a revision that is neither this deploy's nor the
// one it replaced (and ECS did not put it there), Rollback changes nothing and returns
// ErrSuperseded.
func (p *Plan) Rollback(ctx context.Context, emit deploy.EventFunc) error {
	p.mu.Lock()
	updated, registered, superseded, dep, done := p.updated, p.registered, p.superseded, p.deployment, p.rolledBack
	p.mu.Unlock()
	if done {
		return nil
	}
	ctx = poll.Persistently(ctx) // keep trying until the deadline
	if err := p.rollback(ctx, updated, registered, superseded, dep, emit); err != nil {
		return err
	}
	p.mu.Lock()
	p.rolledBack = true
	p.mu.Unlock()
	return nil
}

func (p *Plan) rollback(ctx context.Context, updated bool, registered string, superseded bool, dep string, emit deploy.EventFunc) error {
	t := p.t
	if updated {
		if superseded {
			return deploy.Errorf(deploy.ErrSuperseded, t.Name(), "rollback", "another writer updated the service during this deploy; not rolling back over its change")
		}
		done, err := p.rollbackDeployment(ctx, dep, emit)
		if err != nil {
			return err
		}
		if !done {
			p.mu.Lock() // the wait, or rollbackDeployment, may have seen ECS roll back by itself
			ecsRolledBack := p.ecsRolledBack
			p.mu.Unlock()
			if err := p.rollbackByUpdate(ctx, registered, ecsRolledBack, emit); err != nil {
				return err
			}
		}
	}
	if registered == "" || !t.c.opts.DeregisterOnRollback {
		return nil
	}
	svc, err := t.describeService(ctx)
	if err != nil {
		return err
	}
	used, err := inUse(ctx, t.c.api, []types.Service{*svc}, func(err error) { t.c.fallBack(ctx, t.log(), err) })
	if err != nil {
		return err
	}
	if used[registered] {
		t.log().WarnContext(ctx, "not deregistering a revision a deployment still uses", "target", t.Name(), "arn", registered)
		return nil
	}
	if _, err := t.c.api.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(registered)}); err != nil {
		return awserr.Wrap(t.Name(), "deregister task definition "+shortTD(registered), err, "")
	}
	emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseRollback, Message: "deregistered " + shortTD(registered)})
	return nil
}

// rollbackDeployment rolls back through the service deployment dep and reports whether that
// did it: false when there is none, the API is not available, or dep has already finished.
func (p *Plan) rollbackDeployment(ctx context.Context, dep string, emit deploy.EventFunc) (bool, error) {
	t := p.t
	if dep == "" || t.c.noDeployments.Load() {
		return false, nil
	}
	d, err := t.describeDeployment(ctx, dep)
	if errors.Is(err, errNoDeploymentAPI) {
		t.c.fallBack(ctx, t.log(), err)
		return false, nil
	}
	if err != nil {
		return false, t.deploymentErr(dep, err)
	}
	svc, err := t.describeService(ctx)
	if err != nil {
		return false, err
	}
	if cur := aws.ToString(svc.CurrentServiceDeployment); cur != "" && cur != dep {
		return false, deploy.Errorf(deploy.ErrSuperseded, t.Name(), "rollback",
			"service deployment %s, which another writer started after this deploy's %s, is current; not rolling back over it", shortARN(cur), shortARN(dep))
	}
	switch d.Status {
	case types.ServiceDeploymentStatusPending, types.ServiceDeploymentStatusInProgress:
		emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseRollback,
			Message: "asking ECS to roll service deployment " + shortARN(dep) + " back (StopServiceDeployment ROLLBACK)"})
		if _, err := t.c.api.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(dep),
			StopType: types.StopServiceDeploymentStopTypeRollback}); err != nil {
			// It may have ended between the two calls: look again before giving up.
			if again, derr := t.describeDeployment(ctx, dep); derr == nil && again.Status != d.Status {
				return p.rollbackDeploymentAfter(ctx, dep, again.Status, emit)
			}
			return false, awserr.Wrap(t.Name(), "stop service deployment "+shortARN(dep), err, "the credentials need ecs:StopServiceDeployment")
		}
	case types.ServiceDeploymentStatusRollbackRequested, types.ServiceDeploymentStatusRollbackInProgress:
		emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseRollback,
			Message: "ECS is already rolling service deployment " + shortARN(dep) + " back; waiting for it"})
	default:
		return p.rollbackDeploymentAfter(ctx, dep, d.Status, emit)
	}
	return p.waitECSRollback(ctx, dep, emit)
}

// waitECSRollback waits for ECS to finish rolling dep back. ECS returns the service to the
// last deployment that completed, which need not be the revision the plan observed (that one
// may itself have been in progress): then it reports false, and the caller updates the
// service to the observed revision.
func (p *Plan) waitECSRollback(ctx context.Context, dep string, emit deploy.EventFunc) (bool, error) {
	t := p.t
	if _, err := t.waitStable(ctx, Want{TaskDefinition: p.Observed(), Previous: p.Observed(), Deployment: dep, RollingBack: true},
		deploy.PhaseRollback, emit); err != nil {
		return false, err
	}
	svc, err := t.describeService(ctx)
	if err != nil {
		return false, err
	}
	if aws.ToString(svc.TaskDefinition) != p.Observed() {
		p.mu.Lock()
		p.ecsRolledBack = true
		p.mu.Unlock()
		return false, nil
	}
	return true, p.restoreSettings(ctx, emit)
}

// rollbackDeploymentAfter handles a deployment found in a final state (or one on its way
// there): after ECS's own rollback only the plan's other settings are left to restore; any
// other end calls for an update to the observed revision.
func (p *Plan) rollbackDeploymentAfter(ctx context.Context, dep string, status types.ServiceDeploymentStatus, emit deploy.EventFunc) (bool, error) {
	switch status {
	case types.ServiceDeploymentStatusRollbackSuccessful, types.ServiceDeploymentStatusRollbackRequested,
		types.ServiceDeploymentStatusRollbackInProgress:
		return p.waitECSRollback(ctx, dep, emit)
	}
	return false, nil
}

// restoreSettings puts back the desired count and deploymentConfiguration the plan changed,
// after ECS returned the service to the observed revision by itself. Neither starts a
// deployment.
func (p *Plan) restoreSettings(ctx context.Context, emit deploy.EventFunc) error {
	t := p.t
	in := &ecs.UpdateServiceInput{Cluster: aws.String(t.c.name), Service: aws.String(t.service)}
	if p.desired != nil {
		in.DesiredCount = aws.Int32(p.observed.DesiredCount)
	}
	if p.config != nil {
		in.DeploymentConfiguration = restoreConfig(p.observed.DeploymentConfiguration, p.config)
	}
	if in.DesiredCount == nil && in.DeploymentConfiguration == nil {
		return nil
	}
	if _, err := t.c.api.UpdateService(ctx, in); err != nil {
		return awserr.Wrap(t.Name(), "restore the service's settings", err, "")
	}
	emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseRollback, Message: "restored the service's desired count and deployment configuration"})
	return nil
}

// rollbackByUpdate updates the service to the observed revision and settings and waits.
func (p *Plan) rollbackByUpdate(ctx context.Context, registered string, ecsRolledBack bool, emit deploy.EventFunc) error {
	t := p.t
	old := p.Observed()
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
	if p.desired != nil {
		desired = aws.Int32(p.observed.DesiredCount)
	}
	var config *types.DeploymentConfiguration
	if p.config != nil {
		config = restoreConfig(p.observed.DeploymentConfiguration, p.config)
	}
	emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseRollback, Message: "returning the service to " + shortTD(old)})
	w, err := p.updateService(ctx, old, desired, false, config, deploy.PhaseRollback, emit)
	if err != nil {
		return err
	}
	_, err = t.waitStable(ctx, w, deploy.PhaseRollback, emit)
	return err
}
