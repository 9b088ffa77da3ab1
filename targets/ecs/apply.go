package ecs

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
)

// Apply registers the new task definition (once, however often Apply is called), runs the
// migration task if one is set, updates the service and waits as Options.WaitUntil says: by
// default until the service deployment it started is SUCCESSFUL, or has failed.
func (p *Plan) Apply(ctx context.Context, emit deploy.EventFunc) error {
	t := p.t
	if p.restored {
		return p.resume(ctx, emit)
	}
	if !p.Changed() {
		emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseApply, Message: "no change: the service already runs " + shortTD(p.Observed())})
		return nil
	}
	want, err := p.register(ctx, emit)
	if err != nil {
		return err
	}
	if m := t.c.opts.Migration; m != nil {
		if err := p.runMigration(ctx, want, m, emit); err != nil {
			return err
		}
	}
	w, err := p.start(ctx, want, emit)
	if err != nil {
		return err
	}
	return p.wait(ctx, w, emit)
}

// start updates the service to td with the plan's settings and records the service
// deployment that started (not one that was already current).
func (p *Plan) start(ctx context.Context, td string, emit deploy.EventFunc) (Want, error) {
	t := p.t
	w, err := p.updateService(ctx, td, p.desired, t.c.opts.ForceNewDeployment, p.config, deploy.PhaseApply, emit)
	if err != nil {
		return w, err
	}
	if w.Deployment == "" {
		t.c.fallBack(ctx, t.log(), errors.New("UpdateService's answer names no currentServiceDeployment"))
	}
	if w.Deployment != "" && w.Deployment != aws.ToString(p.observed.CurrentServiceDeployment) {
		p.mu.Lock()
		p.deployment = w.Deployment
		p.mu.Unlock()
	}
	return w, nil
}

// wait waits for w as Options.WaitUntil says and records what it saw last.
func (p *Plan) wait(ctx context.Context, w Want, emit deploy.EventFunc) error {
	t := p.t
	if t.c.opts.WaitUntil == Started {
		return nil
	}
	w.Until = t.c.opts.WaitUntil
	st, err := t.waitStable(ctx, w, deploy.PhaseWait, emit)
	p.mu.Lock()
	p.last, p.superseded, p.ecsRolledBack = st, st.Superseded, st.RolledBack
	p.mu.Unlock()
	return err
}

// resume continues a restored plan's Apply: it waits on the change the snapshot recorded, or
// updates the service to the revision already registered and waits.
func (p *Plan) resume(ctx context.Context, emit deploy.EventFunc) error {
	p.mu.Lock()
	updated, registered, dep := p.updated, p.registered, p.deployment
	p.mu.Unlock()
	want := registered
	if want == "" {
		want = p.Observed()
	}
	switch {
	case updated:
		return p.wait(ctx, Want{TaskDefinition: want, Previous: p.Observed(), Deployment: dep}, emit)
	case registered != "" || !p.tdChanged:
		w, err := p.start(ctx, want, emit)
		if err != nil {
			return err
		}
		return p.wait(ctx, w, emit)
	}
	return deploy.Errorf(deploy.ErrInvalid, p.t.Name(), "resume", "the snapshot was taken before the task definition was registered; plan the release again")
}

// register registers the rendered task definition unless this plan already did, and returns
// the ARN the service should run.
func (p *Plan) register(ctx context.Context, emit deploy.EventFunc) (string, error) {
	t := p.t
	if !p.tdChanged {
		return p.Observed(), nil
	}
	if r := p.Registered(); r != "" {
		return r, nil
	}
	in, err := RegisterInput(p.rendered)
	if err != nil {
		return "", err
	}
	in.Tags = append(in.Tags, types.Tag{Key: aws.String(deployTag), Value: aws.String(p.token)})
	arn, err := t.registerOnce(ctx, in)
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	p.registered = arn
	p.mu.Unlock()
	t.log().InfoContext(ctx, "registered task definition", "target", t.Name(), "arn", arn)
	// Not under p.mu: a release's journal takes the plan's snapshot as the event passes.
	emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseApply, Message: "registered " + shortTD(arn)})
	return arn, nil
}

// updateService points the service at td and returns what a wait should judge: the deployment
// UpdateService started, its creation time, and the revision the service ran before.
func (p *Plan) updateService(ctx context.Context, td string, desired *int32, force bool, config *types.DeploymentConfiguration, phase deploy.Phase, emit deploy.EventFunc) (Want, error) {
	t := p.t
	in := &ecs.UpdateServiceInput{Cluster: aws.String(t.c.name), Service: aws.String(t.service),
		TaskDefinition: aws.String(td), DesiredCount: desired, ForceNewDeployment: force, DeploymentConfiguration: config}
	p.mu.Lock()
	p.updated = true // a failed call may still have reached the service: roll back regardless
	p.mu.Unlock()
	// Said before the call, with the plan already saying so: a release's journal writes the
	// plan's snapshot as the event passes, so the update is on record before it is made.
	emit.Emit(deploy.Event{Target: t.Name(), Phase: phase, Message: "updating service to " + shortTD(td)})
	w := Want{TaskDefinition: td, Previous: p.Observed()}
	out, err := t.c.api.UpdateService(ctx, in)
	if err != nil {
		return w, awserr.Wrap(t.Name(), "update service to "+shortTD(td), err, "")
	}
	w.Deployment = aws.ToString(out.Service.CurrentServiceDeployment)
	msg := "updated service to " + shortTD(td)
	if w.Deployment != "" {
		msg += " (service deployment " + shortARN(w.Deployment) + ")"
	}
	emit.Emit(deploy.Event{Target: t.Name(), Phase: phase, Message: msg})
	for _, d := range out.Service.Deployments {
		if aws.ToString(d.Status) == "PRIMARY" && aws.ToString(d.TaskDefinition) == td {
			w.DeploymentID, w.Since = aws.ToString(d.Id), aws.ToTime(d.CreatedAt)
		}
	}
	return w, nil
}
