package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	awseks "github.com/aws/aws-sdk-go-v2/service/eks"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/gate"
	"github.com/stevedore-dev/stevedore/deploy/store"
	"github.com/stevedore-dev/stevedore/targets/ec2"
	"github.com/stevedore-dev/stevedore/targets/ecs"
	"github.com/stevedore-dev/stevedore/targets/eks"
)

// built is a release file made into what deploy runs.
type built struct {
	release deploy.Release // the version; each target adds its own parts
	stages  []deploy.Stage
	targets []*entry       // every target, in file order
	store   deploy.Journal // nil without a store
	locker  deploy.Locker  // nil without a store that leases
	opts    deploy.Options
}

// entry is one target of the file with what was built for it.
type entry struct {
	stage  string
	path   string // stages[i].targets[j]
	spec   Target
	target deploy.Target
	ecs    *ecs.Target // the target of its kind, for the subcommands that are kind by kind
	eks    *eks.Target
	ec2    *ec2.Target
	api    *awsecs.Client
}

// clients makes the SDK clients a release needs, once each.
type clients struct {
	cfg aws.Config
	ecs *awsecs.Client
	ssm *ssm.Client
	ec2 *awsec2.Client
	elb *elb.Client
	asg *autoscaling.Client
	cw  *cloudwatch.Client
	// kube returns a client for an EKS target (tests reach a simulated cluster with it).
	kube func(ctx context.Context, t *EKSTarget) (*eks.Client, error)
}

func newClients(cfg aws.Config) *clients {
	c := &clients{cfg: cfg, ecs: awsecs.NewFromConfig(cfg), ssm: ssm.NewFromConfig(cfg), ec2: awsec2.NewFromConfig(cfg),
		elb: elb.NewFromConfig(cfg), asg: autoscaling.NewFromConfig(cfg), cw: cloudwatch.NewFromConfig(cfg)}
	c.kube = func(ctx context.Context, t *EKSTarget) (*eks.Client, error) {
		if t.Cluster != "" {
			return eks.ConnectEKS(ctx, awseks.NewFromConfig(cfg), t.Cluster, eks.NewEKSToken(cfg, t.Cluster))
		}
		kc, err := eks.LoadKubeconfig(t.Kubeconfig, &eks.KubeconfigOptions{Context: t.Context, AWS: &cfg})
		if err != nil {
			return nil, err
		}
		return eks.NewClient(kc)
	}
	return c
}

// build makes the file's stages, store and options. Targets are built but nothing is read
// from them yet.
func build(ctx context.Context, f *File, c *clients, poll time.Duration) (*built, error) {
	b := &built{release: deploy.Release{Version: f.Version}}
	for i, st := range f.Stages {
		stage := deploy.Stage{Name: st.Name}
		for j, spec := range st.Targets {
			e := &entry{stage: st.Name, path: fmt.Sprintf("stages[%d].targets[%d]", i, j), spec: spec}
			if err := c.target(ctx, e, f.Version, poll); err != nil {
				return nil, fmt.Errorf("%s: %w", e.path, err)
			}
			stage.Targets = append(stage.Targets, e.target)
			b.targets = append(b.targets, e)
		}
		for j, g := range st.Gates {
			gt, err := c.gate(g)
			if err != nil {
				return nil, fmt.Errorf("stages[%d].gates[%d]: %w", i, j, err)
			}
			stage.Gates = append(stage.Gates, gt)
		}
		b.stages = append(b.stages, stage)
	}
	b.opts = deploy.Options{Timeout: time.Duration(f.Timeout), RollbackTimeout: time.Duration(f.RollbackTimeout), Concurrency: f.Concurrency}
	switch s := f.Store; {
	case strings.HasPrefix(s, "s3://"):
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(s, "s3://"), "/")
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		st := store.NewS3(s3.NewFromConfig(c.cfg), bucket, prefix)
		b.store, b.locker = st, st
	case strings.HasPrefix(s, "dynamodb://"):
		st := store.NewDynamoDB(dynamodb.NewFromConfig(c.cfg), strings.TrimPrefix(s, "dynamodb://"), "")
		b.store, b.locker = st, st
	case strings.HasPrefix(s, "file://"):
		b.store = store.NewFile(strings.TrimPrefix(s, "file://"))
	}
	if b.store != nil {
		b.opts.Journal = b.store
	}
	if b.locker != nil {
		lock := &deploy.LockOptions{Locker: b.locker}
		if l := f.Lock; l != nil {
			lock.Wait = time.Duration(l.Wait)
			lock.Policy = map[string]deploy.LockPolicy{"": deploy.LockWait, "wait": deploy.LockWait, "fail": deploy.LockFail, "supersede": deploy.LockSupersede}[l.Policy]
		}
		b.opts.Lock = lock
	}
	return b, nil
}

// target builds e's target.
func (c *clients) target(ctx context.Context, e *entry, version string, poll time.Duration) error {
	switch s := e.spec; {
	case s.ECS != nil:
		opts := &ecs.Options{TaskDefinition: s.ECS.TaskDefinition, DeregisterOnRollback: s.ECS.DeregisterOnRollback,
			ForceNewDeployment: s.ECS.ForceNewDeployment, PollInterval: poll}
		if s.ECS.WaitUntil != "" {
			u, err := ecs.ParseUntil(s.ECS.WaitUntil)
			if err != nil {
				return err
			}
			opts.WaitUntil = u
		}
		e.api = c.ecs
		e.ecs = ecs.New(c.ecs, s.ECS.Cluster, s.ECS.Service, opts)
		e.target = withParts(e.ecs, s.ECS.Parts)
	case s.EKS != nil:
		kind, err := eks.ParseKind(cmpOr(s.EKS.Kind, "deployment"))
		if err != nil {
			return err
		}
		client, err := c.kube(ctx, s.EKS)
		if err != nil {
			return err
		}
		e.eks = eks.New(client, kind, s.EKS.Namespace, s.EKS.Name, &eks.Options{Cluster: s.EKS.Cluster, PollInterval: poll})
		e.target = withParts(e.eks, Parts{Images: s.EKS.Images})
	case s.EC2 != nil:
		opts, err := c.ec2Options(s.EC2, poll)
		if err != nil {
			return err
		}
		parts := Parts{Env: s.EC2.Env}
		if s.EC2.Image != "" {
			parts.Images = map[string]string{"": s.EC2.Image}
		}
		e.ec2 = ec2.New(c.ssm, c.ec2, ec2.Fleet{InstanceIDs: s.EC2.Instances, Tags: s.EC2.Tags}, opts)
		e.target = withParts(e.ec2, parts)
	}
	return nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (c *clients) ec2Options(s *EC2Target, poll time.Duration) (ec2.Options, error) {
	o := ec2.Options{Commands: s.Commands, RollbackCommands: s.RollbackCommands, VerifyCommands: s.VerifyCommands,
		ByZone: s.ByZone, RecordParameterPrefix: s.RecordParameter, SkipUnavailable: s.SkipUnavailable, PollInterval: poll}
	if s.Strategy != "" {
		st, err := ec2.ParseStrategy(s.Strategy)
		if err != nil {
			return o, fmt.Errorf("ec2.strategy: %w", err)
		}
		o.Strategy = st
	}
	if s.MinHealthy != "" {
		m, err := ec2.ParseCount(s.MinHealthy)
		if err != nil {
			return o, fmt.Errorf("ec2.minHealthy: %w", err)
		}
		o.MinHealthy = &m
	}
	if len(s.TargetGroups) > 0 {
		o.LoadBalancing = &ec2.LoadBalancing{Client: c.elb, TargetGroups: s.TargetGroups}
	}
	if s.AutoScaling == "suspend" || s.AutoScaling == "follow" {
		o.AutoScaling = &ec2.AutoScaling{Client: c.asg, FollowScaling: s.AutoScaling == "follow"}
	}
	if h := s.Hooks; h != nil {
		hook := func(x *Hook) ec2.Hook {
			if x == nil {
				return ec2.Hook{}
			}
			return ec2.Hook{Commands: x.Commands, Timeout: time.Duration(x.Timeout)}
		}
		o.Hooks = ec2.Hooks{ApplicationStop: hook(h.ApplicationStop), BeforeInstall: hook(h.BeforeInstall), AfterInstall: hook(h.AfterInstall),
			ApplicationStart: hook(h.ApplicationStart), ValidateService: hook(h.ValidateService), IgnoreApplicationStopFailures: h.IgnoreApplicationStopFailures}
	}
	return o, nil
}

// gate builds a stage gate.
func (c *clients) gate(g Gate) (deploy.Gate, error) {
	out := deploy.Gate{Interval: time.Duration(g.Interval), Count: g.Count, FailureLimit: g.FailureLimit,
		InconclusiveLimit: g.InconclusiveLimit, WaitOnInconclusive: g.WaitOnInconclusive}
	switch {
	case len(g.Alarms) > 0:
		out.Check = gate.Alarms(c.cw, g.Alarms, nil)
	case g.HTTP != nil:
		opts := &gate.HTTPOptions{}
		if g.HTTP.Status != 0 {
			opts.Status = []int{g.HTTP.Status}
		}
		if g.HTTP.Body != "" {
			re, err := regexp.Compile(g.HTTP.Body)
			if err != nil {
				return out, fmt.Errorf("http.body: %w", err)
			}
			opts.Body = re
		}
		out.Check = gate.HTTP(g.HTTP.URL, opts)
	case g.Metric != nil:
		m := g.Metric
		period := int32(time.Duration(m.Period) / time.Second)
		if period == 0 {
			period = 60
		}
		q := cwtypes.MetricDataQuery{Id: aws.String("m1"), ReturnData: aws.Bool(true)}
		if m.Expression != "" {
			q.Expression, q.Period = aws.String(m.Expression), aws.Int32(period)
		} else {
			stat := cmpOr(m.Stat, "Average")
			var dims []cwtypes.Dimension
			for k, v := range m.Dimensions {
				dims = append(dims, cwtypes.Dimension{Name: aws.String(k), Value: aws.String(v)})
			}
			q.MetricStat = &cwtypes.MetricStat{Metric: &cwtypes.Metric{Namespace: aws.String(m.Namespace), MetricName: aws.String(m.Name), Dimensions: dims},
				Period: aws.Int32(period), Stat: aws.String(stat)}
		}
		var th gate.Threshold
		if m.Above != nil {
			th = gate.Above(*m.Above)
		} else {
			th = gate.Below(*m.Below)
		}
		out.Check = gate.Metric(c.cw, m.Name+m.Expression, []cwtypes.MetricDataQuery{q}, th, &gate.MetricOptions{Window: time.Duration(m.Window)})
	}
	return out, nil
}

// withParts gives a target its own images, environment and secrets on top of the release's
// version: Plan plans the release with them.
func withParts(t deploy.Target, p Parts) deploy.Target {
	if len(p.Images) == 0 && len(p.Env) == 0 && len(p.Secrets) == 0 {
		return t
	}
	pt := &partsTarget{Target: t, parts: p}
	if r, ok := t.(deploy.Restorer); ok {
		return &restorablePartsTarget{pt, r}
	}
	return pt
}

type partsTarget struct {
	deploy.Target
	parts Parts
}

func (t *partsTarget) Plan(ctx context.Context, r deploy.Release) (deploy.Plan, error) {
	r.Images = t.parts.Images
	r.Env = nil
	for _, e := range t.parts.Env {
		r.Env = append(r.Env, deploy.EnvChange{Container: e.Container, Name: e.Name, Value: e.Value, Unset: e.Unset})
	}
	r.Secrets = nil
	for _, s := range t.parts.Secrets {
		r.Secrets = append(r.Secrets, deploy.SecretRef{Container: s.Container, Name: s.Name, ValueFrom: s.ValueFrom})
	}
	return t.Target.Plan(ctx, r)
}

// restorablePartsTarget keeps the target's Restore reachable.
type restorablePartsTarget struct {
	*partsTarget
	deploy.Restorer
}
