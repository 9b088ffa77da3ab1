package ecs

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/document"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stevedore-dev/stevedore/deploy"
)

// snapshotVersion is the version of the snapshots plans write; Restore reads only it.
const snapshotVersion = 1

// snapshot is what a plan observed and has changed so far. It holds ARNs, counts and
// deployment settings, never the task definition (whose environment may hold values).
type snapshot struct {
	Version  int    `json:"version"`
	Cluster  string `json:"cluster"`
	Service  string `json:"service"`
	Observed struct {
		TaskDefinition           string         `json:"taskDefinition"`
		DesiredCount             int32          `json:"desiredCount"`
		CurrentServiceDeployment string         `json:"currentServiceDeployment,omitempty"`
		DeploymentConfiguration  map[string]any `json:"deploymentConfiguration,omitempty"`
	} `json:"observed"`
	TaskDefinitionChanged bool           `json:"taskDefinitionChanged"`
	DeployID              string         `json:"deployId"`
	DeploymentConfig      map[string]any `json:"deploymentConfiguration,omitempty"` // what Apply sets; absent when unchanged
	DesiredCount          *int32         `json:"desiredCount,omitempty"`            // what Apply sets; absent when left
	Registered            string         `json:"registered,omitempty"`
	Updated               bool           `json:"updated"`
	Deployment            string         `json:"serviceDeployment,omitempty"`
	Superseded            bool           `json:"superseded,omitempty"`
	ECSRolledBack         bool           `json:"ecsRolledBack,omitempty"`
	RolledBack            bool           `json:"rolledBack,omitempty"`
}

// Snapshot implements deploy.Snapshotter: the revision, desired count and deployment
// settings the plan observed, and what Apply has done so far (the revision it registered,
// whether it updated the service, the service deployment it started).
func (p *Plan) Snapshot() ([]byte, error) {
	s := snapshot{Version: snapshotVersion, Cluster: p.t.c.name, Service: p.t.service,
		TaskDefinitionChanged: p.tdChanged, DeployID: p.token, DesiredCount: p.desired}
	s.Observed.TaskDefinition = p.Observed()
	s.Observed.DesiredCount = p.observed.DesiredCount
	s.Observed.CurrentServiceDeployment = aws.ToString(p.observed.CurrentServiceDeployment)
	if c := p.observed.DeploymentConfiguration; c != nil {
		s.Observed.DeploymentConfiguration = configView(c)
	}
	if p.config != nil {
		s.DeploymentConfig = configView(p.config)
	}
	p.mu.Lock()
	s.Registered, s.Updated, s.Deployment, s.Superseded, s.ECSRolledBack, s.RolledBack = p.registered, p.updated, p.deployment, p.superseded, p.ecsRolledBack, p.rolledBack
	p.mu.Unlock()
	return json.Marshal(s)
}

// Restore implements deploy.Restorer: it makes, from a snapshot one of this target's plans
// wrote, a plan that rolls back as that one would. Its Apply resumes: it waits on the service
// deployment already started, or updates the service to the revision already registered; a
// plan snapshotted before it registered anything must be made again.
func (t *Target) Restore(ctx context.Context, snap []byte) (deploy.Plan, error) {
	var s snapshot
	if err := deploy.DecodeSnapshot(t.Name(), snap, snapshotVersion, &s); err != nil {
		return nil, err
	}
	if s.Cluster != t.c.name || s.Service != t.service {
		return nil, deploy.Errorf(deploy.ErrInvalid, t.Name(), "restore", "the snapshot is of ecs:%s/%s", s.Cluster, s.Service)
	}
	p := &Plan{t: t, tdChanged: s.TaskDefinitionChanged, token: s.DeployID, restored: true, desired: s.DesiredCount,
		registered: s.Registered, updated: s.Updated, deployment: s.Deployment, superseded: s.Superseded, ecsRolledBack: s.ECSRolledBack,
		rolledBack: s.RolledBack}
	p.observed = types.Service{TaskDefinition: aws.String(s.Observed.TaskDefinition), DesiredCount: s.Observed.DesiredCount}
	if d := s.Observed.CurrentServiceDeployment; d != "" {
		p.observed.CurrentServiceDeployment = aws.String(d)
	}
	var err error
	if s.Observed.DeploymentConfiguration != nil {
		if p.observed.DeploymentConfiguration, err = configFromView(s.Observed.DeploymentConfiguration); err != nil {
			return nil, deploy.Wrap(deploy.ErrInvalid, t.Name(), "restore", err, "the observed deploymentConfiguration")
		}
	}
	if s.DeploymentConfig != nil {
		if p.config, err = configFromView(s.DeploymentConfig); err != nil {
			return nil, deploy.Wrap(deploy.ErrInvalid, t.Name(), "restore", err, "the new deploymentConfiguration")
		}
	}
	return p, nil
}

// configFromView reads back what configView wrote.
func configFromView(v map[string]any) (*types.DeploymentConfiguration, error) {
	var hooks []map[string]any
	if hs, ok := v["lifecycleHooks"].([]any); ok {
		for _, h := range hs {
			m, _ := h.(map[string]any)
			hooks = append(hooks, m)
		}
		v = shallowWithout(v, "lifecycleHooks")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var c types.DeploymentConfiguration
	d := json.NewDecoder(strings.NewReader(string(b)))
	if err := d.Decode(&c); err != nil {
		return nil, err
	}
	if hooks != nil {
		c.LifecycleHooks = []types.DeploymentLifecycleHook{}
	}
	for _, m := range hooks {
		details := m["hookDetails"]
		b, err := json.Marshal(shallowWithout(m, "hookDetails"))
		if err != nil {
			return nil, err
		}
		var h types.DeploymentLifecycleHook
		if err := json.Unmarshal(b, &h); err != nil {
			return nil, err
		}
		if details != nil {
			h.HookDetails = document.NewLazyDocument(details)
		}
		c.LifecycleHooks = append(c.LifecycleHooks, h)
	}
	return &c, nil
}

func shallowWithout(m map[string]any, key string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

var (
	_ deploy.Snapshotter = (*Plan)(nil)
	_ deploy.Restorer    = (*Target)(nil)
)
