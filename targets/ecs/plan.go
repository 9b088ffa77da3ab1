package ecs

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
	"github.com/stevedore-dev/stevedore/internal/jsondiff"
)

// Plan is the change one release makes to one ECS service. It remembers the revision and
// desired count it observed, which Rollback restores.
type Plan struct {
	t         *Target
	observed  types.Service
	rendered  []byte // what Apply registers
	tdChanged bool
	diff      string
	token     string                         // the deploy tag of the revision Apply registers
	config    *types.DeploymentConfiguration // the service's new deploymentConfiguration; nil when unchanged
	restored  bool                           // made by Restore: no rendered task definition
	desired   *int32                         // the desired count Apply sets; nil leaves it
	oldImages map[string]string              // the observed task definition's, by container

	mu            sync.Mutex
	registered    string // ARN Apply registered
	updated       bool   // UpdateService was called
	deployment    string // the service deployment UpdateService started
	last          Status // what Apply's wait saw last
	rolledBack    bool   // Rollback finished: a second one has nothing to do
	superseded    bool   // the wait saw another writer replace this deploy's deployment
	ecsRolledBack bool   // the wait saw ECS roll the service back by itself
}

// InFlight implements deploy.InFlighter: the rollout the service was in when the plan was
// made (another tool's, or a release that died), or "".
func (p *Plan) InFlight() string {
	svc := p.observed
	for _, d := range svc.Deployments {
		if aws.ToString(d.Status) == "PRIMARY" && d.RolloutState == types.DeploymentRolloutStateInProgress {
			what := fmt.Sprintf("deployment %s to %s IN_PROGRESS", aws.ToString(d.Id), shortTD(aws.ToString(d.TaskDefinition)))
			if d.CreatedAt != nil {
				what += " since " + d.CreatedAt.UTC().Format(time.RFC3339)
			}
			return what
		}
	}
	if len(svc.Deployments) > 1 {
		return fmt.Sprintf("%d deployments: the service is moving to %s", len(svc.Deployments), shortTD(aws.ToString(svc.TaskDefinition)))
	}
	return ""
}

var _ deploy.InFlighter = (*Plan)(nil)

// Plan reads the service and its task definition and renders the new one. It changes nothing.
func (t *Target) Plan(ctx context.Context, r deploy.Release) (deploy.Plan, error) {
	return t.plan(ctx, r)
}

func (t *Target) plan(ctx context.Context, r deploy.Release) (*Plan, error) {
	svc, err := t.describeService(ctx)
	if err != nil {
		return nil, err
	}
	if c := svc.DeploymentController; c != nil && c.Type != types.DeploymentControllerTypeEcs {
		return nil, deploy.Errorf(deploy.ErrInvalid, t.Name(), "plan",
			"the service uses the %s deployment controller; stevedore drives only the ECS rolling update controller", c.Type)
	}
	// Compare with what the service runs now, whatever the rendering starts from.
	current, err := t.describeTaskDefinition(ctx, aws.ToString(svc.TaskDefinition))
	if err != nil {
		return nil, err
	}
	source := t.c.opts.TaskDefinitionJSON
	switch {
	case source != nil:
	case t.c.opts.TaskDefinition != "":
		if source, err = t.describeTaskDefinition(ctx, t.c.opts.TaskDefinition); err != nil {
			return nil, err
		}
	default:
		source = current
	}
	rendered, err := render(source, r, t.log().With("target", t.Name()))
	if err != nil {
		if de, ok := err.(*deploy.Error); ok {
			de.Target = t.Name()
		}
		return nil, err
	}
	old, err := cleanDocument(current)
	if err != nil {
		return nil, err
	}
	if rendered, err = dropOwnTags(rendered); err != nil {
		return nil, err
	}
	if old, err = dropOwnTags(old); err != nil {
		return nil, err
	}
	p := &Plan{t: t, observed: *svc, rendered: rendered, token: newToken(), desired: t.c.opts.DesiredCount, oldImages: imagesOf(old)}
	if change := t.c.opts.DeploymentConfiguration; change != nil {
		merged := mergeConfig(svc.DeploymentConfiguration, change)
		if !cmp.Equal(configView(svc.DeploymentConfiguration), configView(merged)) {
			p.config = merged
		}
	}
	var before, after any
	if err := json.Unmarshal(old, &before); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(rendered, &after); err != nil {
		return nil, err
	}
	// Equal as values, not as bytes: a file's keys need not be in ECS's order.
	p.tdChanged = !cmp.Equal(before, after)
	p.diff = p.makeDiff(before, after)
	if v := t.c.opts.Verify; v != nil {
		if _, err := p.Verify(ctx, v); err != nil {
			return nil, err
		}
	}
	if len(svc.Deployments) > 1 {
		t.log().WarnContext(ctx, "the service is already mid-deployment; rollback will return it to the revision it names now",
			"target", t.Name(), "taskDefinition", shortTD(aws.ToString(svc.TaskDefinition)))
	}
	return p, nil
}

// describeTaskDefinition returns the raw DescribeTaskDefinition answer (with tags) for ref.
func (t *Target) describeTaskDefinition(ctx context.Context, ref string) ([]byte, error) {
	var doc []byte
	_, err := t.c.api.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(ref), Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}},
		captureBody(&doc))
	if err != nil {
		kind := awserr.Kind(err)
		if kind == deploy.ErrInvalid { // ECS answers ClientException for an unknown task definition
			kind = deploy.ErrNotFound
		}
		return nil, deploy.Wrap(kind, t.Name(), "describe task definition "+ref, err,
			"check the family or revision (Options.TaskDefinition) and the region")
	}
	if len(doc) == 0 {
		return nil, deploy.Errorf(deploy.ErrInvalid, t.Name(), "describe task definition "+ref,
			"the API client returned no response body; the ECS target needs a client built on the SDK's HTTP stack")
	}
	return doc, nil
}

func (t *Target) describeService(ctx context.Context) (*types.Service, error) {
	out, err := t.c.api.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(t.c.name), Services: []string{t.service}})
	if err != nil {
		return nil, awserr.WrapHints(t.Name(), "describe service", err, awserr.Hints{
			deploy.ErrNotFound:     "check the cluster name and the region",
			deploy.ErrAccessDenied: "the credentials need ecs:DescribeServices on the service",
		})
	}
	if len(out.Services) == 0 {
		return nil, deploy.Errorf(deploy.ErrNotFound, t.Name(), "describe service",
			"service %q is MISSING from cluster %q; create it first or check the name", t.service, t.c.name)
	}
	svc := out.Services[0]
	if s := aws.ToString(svc.Status); s != "ACTIVE" {
		return nil, deploy.Errorf(deploy.ErrNotFound, t.Name(), "describe service", "the service is %s, not ACTIVE", s)
	}
	return &svc, nil
}

// Changed reports whether Apply would register a task definition or update the service.
func (p *Plan) Changed() bool {
	o := p.t.c.opts
	return p.tdChanged || p.config != nil || o.ForceNewDeployment || (p.desired != nil && *p.desired != p.observed.DesiredCount)
}

// Diff lists the changes to the task definition and the service settings by JSON path, the
// same bytes on every run (compared with go-cmp).
func (p *Plan) Diff() string { return p.diff }

// Describe implements deploy.Describer: the revision and images the service ran, and the
// revision Apply registered (or "new") with the images it renders.
func (p *Plan) Describe() (before, after deploy.State) {
	before = deploy.State{Revision: shortTD(p.Observed()), Images: p.oldImages}
	after = deploy.State{Revision: before.Revision, Images: imagesOf(p.rendered)}
	if p.tdChanged {
		after.Revision = "new revision"
		if r := p.Registered(); r != "" {
			after.Revision = shortTD(r)
		}
	}
	return before, after
}

// imagesOf is a task definition's images by container name.
func imagesOf(td []byte) map[string]string {
	out := map[string]string{}
	for _, c := range gjson.GetBytes(td, "containerDefinitions").Array() {
		out[c.Get("name").String()] = c.Get("image").String()
	}
	return out
}

var _ deploy.Describer = (*Plan)(nil)

// Rendered is the task definition Apply registers, in the wire format.
func (p *Plan) Rendered() []byte { return p.rendered }

// Observed is the ARN of the task definition the service ran when the plan was made.
func (p *Plan) Observed() string { return aws.ToString(p.observed.TaskDefinition) }

// Registered is the ARN Apply registered, or "" if it has not (or the task definition did not
// change).
func (p *Plan) Registered() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.registered
}

// Deployment is the ARN of the service deployment Apply started, or "" when it started none
// or ECS reports none. Follow and Report take it, in this process or a later one.
func (p *Plan) Deployment() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.deployment
}

// Status is what Apply's wait saw last: with WaitUntil a stage, where the deployment stood
// when Apply returned.
func (p *Plan) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

type serviceSettings struct {
	TaskDefinition     string
	DesiredCount       int32
	ForceNewDeployment bool
}

func (p *Plan) makeDiff(before, after any) string {
	if !p.Changed() {
		return ""
	}
	o := p.t.c.opts
	svcBefore := serviceSettings{TaskDefinition: shortTD(p.Observed()), DesiredCount: p.observed.DesiredCount}
	svcAfter := svcBefore
	if p.tdChanged {
		svcAfter.TaskDefinition = gjson.GetBytes(p.rendered, "family").Str + ":<new revision>"
	}
	if p.desired != nil {
		svcAfter.DesiredCount = *p.desired
	}
	svcAfter.ForceNewDeployment = o.ForceNewDeployment
	d := jsondiff.Diff(p.t.Name()+" task definition", before, after) + jsondiff.Diff(p.t.Name()+" service", svcBefore, svcAfter)
	if p.config != nil {
		d += jsondiff.Diff(p.t.Name()+" deployment configuration", configView(p.observed.DeploymentConfiguration), configView(p.config))
	}
	return d
}
