package ec2

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
	"github.com/stevedore-dev/stevedore/internal/jsondiff"
)

// Instance is one instance the plan found, and why it is left out if it is.
type Instance struct {
	ID      string
	State   string // EC2 state: running, stopped, ...
	Ping    string // SSM agent: Online, ConnectionLost, Inactive; empty when not managed
	Problem string // why no command can reach it; empty when one can
	// PreviousVersion is what the instance was recorded to run; empty when unknown.
	PreviousVersion string
}

// Plan is the EC2 target's plan: the instances a release goes to and what they run now.
type Plan struct {
	t         *Target
	rel       release
	instances []Instance           // every instance found, in ID order
	usable    []string             // the ones commands go to
	previous  map[string]*recorded // by instance
	limits    limits

	restored bool   // made by Restore: its Apply resumes waiting, sending nothing
	busy     string // a command in progress on the fleet when the plan was made

	zoneOf    map[string]string    // each instance's availability zone
	asgOf     map[string]string    // each instance's Auto Scaling group, with AutoScaling
	groupPrev map[string]*recorded // each group's release record as found
	groups    []*tgroup            // the target groups of LoadBalancing, as found
	waves     []wave               // the waves a wave-by-wave rollout goes in

	mu             sync.Mutex
	touched        map[string]bool     // instances a deploy command may have changed
	inflight       map[string]sent     // commands sent and not yet seen to end, by ID
	sending        []string            // the instances of a deploy command being sent
	done           []string            // instances the release succeeded on so far, sorted
	failed         []Result            // instances the release failed on so far (deploy or verify)
	rolledBack     bool                // Rollback finished: a second one has nothing to do
	out            map[string][]string // instances taken out of target groups (ARNs) and not yet put back
	suspended      map[string][]string // Auto Scaling processes suspended for the rollout, by group
	groupsRecorded []string            // groups whose release record the rollout wrote
	left           []string            // instances that left the fleet during the rollout
}

// Describe implements deploy.Describer: the versions (and images) the instances were
// recorded to run, counted, and the release's.
func (p *Plan) Describe() (before, after deploy.State) {
	versions, images := map[string]int{}, map[string]int{}
	for _, id := range p.usable {
		v, img := "unknown", ""
		if prev := p.previous[id]; prev != nil {
			v, img = prev.Version, prev.Image
		}
		versions[v]++
		if img != "" {
			images[img]++
		}
	}
	before = deploy.State{Version: tally(versions)}
	if len(images) > 0 {
		before.Images = map[string]string{"": tally(images)}
	}
	after = deploy.State{Version: p.rel.version}
	if p.rel.image != "" {
		after.Images = map[string]string{"": p.rel.image}
	}
	return before, after
}

// tally says "v1" when every instance has v1, else "v1 on 3, v2 on 1".
func tally(counts map[string]int) string {
	if len(counts) == 1 {
		for k := range counts {
			return k
		}
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s on %d", k, counts[k]))
	}
	return strings.Join(parts, ", ")
}

var _ deploy.Describer = (*Plan)(nil)

// InFlight implements deploy.InFlighter: a command that was running on the fleet when the
// plan was made (another deploy's, or a release that died), or "".
func (p *Plan) InFlight() string { return p.busy }

var _ deploy.InFlighter = (*Plan)(nil)

// inFlight describes a command in progress on any of ids (the first of commandsOn), or "".
func (t *Target) inFlight(ctx context.Context, ids []string) (string, error) {
	cmds, err := t.commandsOn(ctx, ids)
	if err != nil || len(cmds) == 0 {
		return "", err
	}
	return cmds[0].what, nil
}

// running is a command in progress on the fleet, as commandsOn finds it.
type running struct {
	sent
	what string // for messages: its ID, document, comment, how many instances, since when
}

// commandsOn finds the commands in progress on any of ids: one ListCommands page of the
// commands InProgress (50), their InstanceIds, and for a command sent by tags one page of
// its invocations.
func (t *Target) commandsOn(ctx context.Context, ids []string) ([]running, error) {
	out, err := t.ssm.ListCommands(ctx, &ssm.ListCommandsInput{MaxResults: aws.Int32(50),
		Filters: []ssmtypes.CommandFilter{{Key: ssmtypes.CommandFilterKeyStatus, Value: aws.String("InProgress")}}})
	if err != nil {
		return nil, awserr.WrapHints(t.Name(), "list commands in progress", err, awserr.Hints{deploy.ErrAccessDenied: "the credentials need ssm:ListCommands"})
	}
	var found []running
	for _, c := range out.Commands {
		if c.Status != ssmtypes.CommandStatusInProgress && c.Status != ssmtypes.CommandStatusPending {
			continue // an SSM that ignores the filter (moto does) lists the rest too
		}
		on := c.InstanceIds
		if len(on) == 0 && len(c.Targets) > 0 {
			invs, err := t.ssm.ListCommandInvocations(ctx, &ssm.ListCommandInvocationsInput{CommandId: c.CommandId, MaxResults: aws.Int32(50)})
			if err != nil {
				return nil, awserr.Wrap(t.Name(), "list invocations of command "+aws.ToString(c.CommandId), err, "")
			}
			for _, inv := range invs.CommandInvocations {
				on = append(on, aws.ToString(inv.InstanceId))
			}
		}
		var mine []string
		for _, id := range on {
			if slices.Contains(ids, id) {
				mine = append(mine, id)
			}
		}
		if len(mine) == 0 {
			continue
		}
		what := fmt.Sprintf("command %s (%s", aws.ToString(c.CommandId), aws.ToString(c.DocumentName))
		if s := aws.ToString(c.Comment); s != "" {
			what += ": " + s
		}
		what += fmt.Sprintf(") running on %d of the fleet's instances", len(mine))
		if c.RequestedDateTime != nil {
			what += " since " + c.RequestedDateTime.UTC().Format(time.RFC3339)
		}
		found = append(found, running{sent{ID: aws.ToString(c.CommandId), Kind: "running", Instances: on}, what})
	}
	return found, nil
}

// Wait waits for the SSM commands in progress on the fleet (another deploy's, or one a
// killed run left) to end, reporting their progress, and fails naming the instances they
// failed on. It sends nothing.
func (t *Target) Wait(ctx context.Context, emit deploy.EventFunc) error {
	found, err := t.describe(ctx)
	if err != nil {
		return err
	}
	ids := slices.Sorted(maps.Keys(found))
	cmds, err := t.commandsOn(ctx, ids)
	if err != nil {
		return err
	}
	if len(cmds) == 0 {
		emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseDone, Message: "no command in progress on the fleet"})
		return nil
	}
	p := &Plan{t: t, touched: map[string]bool{}, inflight: map[string]sent{}}
	var failures []Result
	for _, c := range cmds {
		emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseWait, Message: "waiting for " + c.what})
		s, err := p.await(ctx, c.sent, emit)
		if err != nil {
			return err
		}
		failures = append(failures, s.Failures()...)
	}
	if len(failures) > 0 {
		return deploy.Errorf(deploy.ErrFailed, t.Name(), "wait", "%d invocations failed: %s", len(failures), describeFailures(failures, 5))
	}
	emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseDone, Message: fmt.Sprintf("%d commands in progress on the fleet ended", len(cmds))})
	return nil
}

// Wave is a batch of instances a wave-by-wave rollout replaces together; Zone is theirs
// when it goes zone by zone.
type Wave struct {
	Zone      string
	Instances []string
}

// Waves returns the waves a wave-by-wave rollout goes in; nil when SSM paces the rollout
// as one command.
func (p *Plan) Waves() []Wave {
	if !p.t.byWaves() {
		return nil
	}
	var out []Wave
	for _, w := range p.waves {
		out = append(out, Wave{Zone: w.Zone, Instances: slices.Clone(w.IDs)})
	}
	return out
}

// Instances returns every instance the plan found, including the ones left out.
func (p *Plan) Instances() []Instance { return slices.Clone(p.instances) }

// Succeeded returns the instances Apply rolled the release out to, sorted.
func (p *Plan) Succeeded() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.done)
}

// Targets returns the IDs of the instances commands will be sent to.
func (p *Plan) Targets() []string { return slices.Clone(p.usable) }

// Changed implements deploy.Plan: true unless every instance is recorded to run the version.
func (p *Plan) Changed() bool {
	for _, id := range p.usable {
		if prev := p.previous[id]; prev == nil || prev.Version != p.rel.version || prev.Image != p.rel.image {
			return true
		}
	}
	return false
}

// Diff implements deploy.Plan: each instance's recorded version against the new one.
func (p *Plan) Diff() string {
	if !p.Changed() {
		return ""
	}
	before, after := map[string]string{}, map[string]string{}
	for _, id := range p.usable {
		before[id] = "(unknown)"
		if prev := p.previous[id]; prev != nil {
			before[id] = prev.Version
		}
		after[id] = p.rel.version
	}
	d := jsondiff.Diff(p.t.Name()+" recorded versions", before, after)
	for _, in := range p.instances {
		if in.Problem != "" {
			d += fmt.Sprintf("skipped %s: %s\n", in.ID, in.Problem)
		}
	}
	return d
}

// Plan implements deploy.Target: it finds the instances (DescribeInstances), checks their
// SSM agents (DescribeInstanceInformation) and reads what they were recorded to run. It
// fails, before anything is sent, naming instances that are stopped, offline or not managed
// by SSM, unless Options.SkipUnavailable leaves them out.
func (t *Target) Plan(ctx context.Context, r deploy.Release) (deploy.Plan, error) {
	rel, err := releaseOf(t.Name(), r)
	if err != nil {
		return nil, err
	}
	if err := t.checkOptions(); err != nil {
		return nil, err
	}
	found, err := t.describe(ctx)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, deploy.Errorf(deploy.ErrNotFound, t.Name(), "plan", "no instance matches %s (terminated ones do not count)", t.fleet)
	}
	ids := make([]string, 0, len(found))
	for id := range found {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	ping, err := t.agents(ctx, ids)
	if err != nil {
		return nil, err
	}
	p := &Plan{t: t, rel: rel, previous: map[string]*recorded{}, touched: map[string]bool{}, inflight: map[string]sent{},
		zoneOf: map[string]string{}, out: map[string][]string{}, asgOf: map[string]string{}, suspended: map[string][]string{}}
	var problems []string
	for _, id := range ids {
		inst := found[id]
		in := Instance{ID: id, State: string(inst.State.Name), Ping: ping[id]}
		if inst.Placement != nil {
			p.zoneOf[id] = aws.ToString(inst.Placement.AvailabilityZone)
		}
		switch {
		case inst.State.Name != ec2types.InstanceStateNameRunning:
			in.Problem = "the instance is " + in.State
		case in.Ping == "":
			in.Problem = "not managed by SSM (no agent registered: check the agent and the instance profile's AmazonSSMManagedInstanceCore policy)"
		case in.Ping != string(ssmtypes.PingStatusOnline):
			in.Problem = "its SSM agent is " + in.Ping
		}
		if in.Problem != "" {
			problems = append(problems, id+": "+in.Problem)
		} else {
			p.usable = append(p.usable, id)
		}
		if t.opts.RecordParameterPrefix == "" {
			for _, tag := range inst.Tags {
				switch aws.ToString(tag.Key) {
				case t.opts.RecordTag:
					p.previous[id] = &recorded{Version: aws.ToString(tag.Value), Image: p.previous[id].image()}
				case t.opts.RecordTag + "-image":
					if p.previous[id] == nil {
						p.previous[id] = &recorded{}
					}
					p.previous[id].Image = aws.ToString(tag.Value)
				}
			}
			if prev := p.previous[id]; prev != nil && prev.Version == "" {
				delete(p.previous, id)
			}
		}
		p.instances = append(p.instances, in)
	}
	if len(problems) > 0 && !t.opts.SkipUnavailable {
		return nil, deploy.Errorf(deploy.ErrFailed, t.Name(), "plan", "%d of %d instances cannot be reached, so nothing was sent: %s; start them or fix their agents, or set SkipUnavailable",
			len(problems), len(ids), strings.Join(problems, "; "))
	}
	if len(p.usable) == 0 {
		return nil, deploy.Errorf(deploy.ErrFailed, t.Name(), "plan", "none of the %d instances can be reached: %s", len(ids), strings.Join(problems, "; "))
	}
	if t.opts.RecordParameterPrefix != "" {
		if err := t.readRecords(ctx, p.usable, p.previous); err != nil {
			return nil, err
		}
	}
	for i := range p.instances {
		if prev := p.previous[p.instances[i].ID]; prev != nil {
			p.instances[i].PreviousVersion = prev.Version
		}
	}
	if p.busy, err = t.inFlight(ctx, p.usable); err != nil {
		return nil, err
	}
	p.limits = rolloutLimits(len(p.usable), t.opts.Strategy, t.opts.MinHealthy)
	if t.opts.LoadBalancing != nil {
		if p.groups, err = t.targetGroups(ctx); err != nil {
			return nil, err
		}
	}
	if t.opts.AutoScaling != nil {
		if p.asgOf, p.groupPrev, err = t.scalingGroups(ctx, p.usable); err != nil {
			return nil, err
		}
	}
	if p.waves, err = planWaves(p.usable, p.zoneOf, t.opts.ByZone, p.limits.batch, t.opts.MinHealthy, p.groups); err != nil {
		return nil, deploy.Errorf(deploy.ErrInvalid, t.Name(), "plan", "%v", err)
	}
	t.log.DebugContext(ctx, "planned", "target", t.Name(), "instances", len(ids), "usable", len(p.usable), "batch", p.limits.batch, "allowed_failures", p.limits.allowed)
	return p, nil
}

func (r *recorded) image() string {
	if r == nil {
		return ""
	}
	return r.Image
}

func (t *Target) checkOptions() error {
	o := t.opts
	bad := func(format string, args ...any) error {
		return deploy.Errorf(deploy.ErrInvalid, t.Name(), "plan", format, args...)
	}
	switch {
	case len(t.fleet.InstanceIDs) == 0 && len(t.fleet.Tags) == 0:
		return bad("the fleet names no instances and no tags")
	case o.Document == "AWS-RunShellScript" && len(o.Commands) == 0:
		return bad("Options.Commands is empty: nothing to run")
	case o.Document != "AWS-RunShellScript" && len(o.Commands) > 0:
		return bad("Options.Commands runs with AWS-RunShellScript; with Document %q use Parameters", o.Document)
	case slices.ContainsFunc(o.WaveGates, func(g deploy.Gate) bool { return g.Check == nil }):
		return bad("a gate of Options.WaveGates has no Check")
	case slices.ContainsFunc(o.ZoneGates, func(g deploy.Gate) bool { return g.Check == nil }):
		return bad("a gate of Options.ZoneGates has no Check")
	case len(o.ZoneGates) > 0 && !o.ByZone:
		return bad("Options.ZoneGates run between zones: set ByZone too")
	case o.LoadBalancing != nil && o.LoadBalancing.Client == nil:
		return bad("Options.LoadBalancing has no Client (an *elasticloadbalancingv2.Client)")
	case o.LoadBalancing != nil && len(o.LoadBalancing.TargetGroups) == 0:
		return bad("Options.LoadBalancing names no target groups")
	case o.AutoScaling != nil && o.AutoScaling.Client == nil:
		return bad("Options.AutoScaling has no Client (an *autoscaling.Client)")
	case o.ExecutionTimeout < 0 || o.ExecutionTimeout > 48*time.Hour:
		return bad("ExecutionTimeout %v is outside SSM's 1 s to 48 h", o.ExecutionTimeout)
	case o.MinHealthy != nil && o.MinHealthy.Percent && o.MinHealthy.N > 100:
		return bad("MinHealthy %s is more than the fleet", o.MinHealthy)
	}
	for k, v := range t.fleet.Tags {
		if k == "" || v == "" {
			return bad("tag filter %q=%q: give a key and a value", k, v)
		}
	}
	return nil
}

// describe finds the fleet's instances that are not terminated.
func (t *Target) describe(ctx context.Context) (map[string]ec2types.Instance, error) {
	in := &ec2.DescribeInstancesInput{}
	keys := make([]string, 0, len(t.fleet.Tags))
	for k := range t.fleet.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		in.Filters = append(in.Filters, ec2types.Filter{Name: aws.String("tag:" + k), Values: []string{t.fleet.Tags[k]}})
	}
	found := map[string]ec2types.Instance{}
	collect := func(in *ec2.DescribeInstancesInput) error {
		pg := ec2.NewDescribeInstancesPaginator(t.ec2, in)
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return awserr.WrapHints(t.Name(), "describe instances", err, awserr.Hints{
					deploy.ErrNotFound:     "check the instance IDs and the region",
					deploy.ErrInvalid:      "check the instance IDs",
					deploy.ErrAccessDenied: "the credentials need ec2:DescribeInstances",
				})
			}
			for _, res := range page.Reservations {
				for _, inst := range res.Instances {
					if inst.State != nil && inst.State.Name != ec2types.InstanceStateNameTerminated {
						found[aws.ToString(inst.InstanceId)] = inst
					}
				}
			}
		}
		return nil
	}
	if len(t.fleet.InstanceIDs) == 0 {
		in.MaxResults = aws.Int32(1000)
		return found, collect(in)
	}
	for chunk := range slices.Chunk(t.fleet.InstanceIDs, 1000) {
		c := *in
		c.InstanceIds = chunk
		if err := collect(&c); err != nil {
			return nil, err
		}
	}
	return found, nil
}

// agents returns the SSM agents' PingStatus by instance, fifty instances a call.
func (t *Target) agents(ctx context.Context, ids []string) (map[string]string, error) {
	ping := map[string]string{}
	for chunk := range slices.Chunk(ids, 50) {
		pg := ssm.NewDescribeInstanceInformationPaginator(t.ssm, &ssm.DescribeInstanceInformationInput{
			Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: chunk}},
		})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return nil, awserr.WrapHints(t.Name(), "describe SSM agents", err, awserr.Hints{deploy.ErrAccessDenied: "the credentials need ssm:DescribeInstanceInformation"})
			}
			for _, info := range page.InstanceInformationList {
				ping[aws.ToString(info.InstanceId)] = string(info.PingStatus)
			}
		}
	}
	return ping, nil
}
