package ec2

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
	"github.com/stevedore-dev/stevedore/internal/poll"
)

// AutoScalingAPI is the part of *autoscaling.Client the target calls.
type AutoScalingAPI interface {
	DescribeAutoScalingInstances(context.Context, *autoscaling.DescribeAutoScalingInstancesInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingInstancesOutput, error)
	DescribeAutoScalingGroups(context.Context, *autoscaling.DescribeAutoScalingGroupsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	SuspendProcesses(context.Context, *autoscaling.SuspendProcessesInput, ...func(*autoscaling.Options)) (*autoscaling.SuspendProcessesOutput, error)
	ResumeProcesses(context.Context, *autoscaling.ResumeProcessesInput, ...func(*autoscaling.Options)) (*autoscaling.ResumeProcessesOutput, error)
}

// AutoScaling handles a fleet whose instances belong to Auto Scaling groups.
type AutoScaling struct {
	Client AutoScalingAPI
	// FollowScaling leaves scaling on and, before the rollout is called done, rolls the
	// release out to every instance that joined the fleet's groups meanwhile. By default
	// the groups' Launch, Terminate and AZRebalance processes are suspended for the rollout
	// (and for a rollback) and resumed after it, whatever happens; processes suspended
	// before are left as they were.
	FollowScaling bool
	// GroupParameterPrefix is where the release is recorded per group in Parameter Store,
	// for a new instance's user data or launch script to read: "<prefix>/<group>" holds
	// {"version":...,"image":...}. Empty means "/stevedore/asg".
	GroupParameterPrefix string
}

// held are the processes suspended for the rollout: those that stop the fleet changing
// under it (CodeDeploy suspends the same).
var held = []string{"Launch", "Terminate", "AZRebalance"}

func (t *Target) asgErr(op string, err error) error {
	return awserr.WrapHints(t.Name(), op, err, awserr.Hints{
		deploy.ErrAccessDenied: "the credentials need autoscaling:DescribeAutoScalingInstances, DescribeAutoScalingGroups, SuspendProcesses and ResumeProcesses",
	})
}

func (t *Target) groupParam(group string) string {
	prefix := t.opts.AutoScaling.GroupParameterPrefix
	if prefix == "" {
		prefix = "/stevedore/asg"
	}
	return strings.TrimRight(prefix, "/") + "/" + group
}

// scalingGroups finds the Auto Scaling group of each of ids (fifty a call) and what each
// group's record says it runs.
func (t *Target) scalingGroups(ctx context.Context, ids []string) (map[string]string, map[string]*recorded, error) {
	of := map[string]string{}
	for chunk := range slices.Chunk(ids, 50) {
		pg := autoscaling.NewDescribeAutoScalingInstancesPaginator(t.asg, &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: chunk})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return nil, nil, t.asgErr("describe the instances' Auto Scaling groups", err)
			}
			for _, in := range page.AutoScalingInstances {
				of[aws.ToString(in.InstanceId)] = aws.ToString(in.AutoScalingGroupName)
			}
		}
	}
	records := map[string]*recorded{}
	groups := slices.Sorted(maps.Keys(setOf(slices.Collect(maps.Values(of)))))
	for chunk := range slices.Chunk(groups, 10) {
		names := make([]string, len(chunk))
		for i, g := range chunk {
			names[i] = t.groupParam(g)
		}
		out, err := t.ssm.GetParameters(ctx, &ssm.GetParametersInput{Names: names})
		if err != nil {
			return nil, nil, awserr.WrapHints(t.Name(), "read the groups' recorded releases", err, awserr.Hints{deploy.ErrAccessDenied: "the credentials need ssm:GetParameters on " + t.groupParam("*")})
		}
		for _, p := range out.Parameters {
			var r recorded
			if json.Unmarshal([]byte(aws.ToString(p.Value)), &r) == nil && r.Version != "" {
				records[strings.TrimPrefix(aws.ToString(p.Name), t.groupParam(""))] = &r
			}
		}
	}
	return of, records, nil
}

func setOf(s []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range s {
		m[v] = true
	}
	return m
}

// groups returns the plan's Auto Scaling groups, sorted.
func (p *Plan) scalingGroupNames() []string {
	return slices.Sorted(maps.Keys(setOf(slices.Collect(maps.Values(p.asgOf)))))
}

// holdScaling suspends Launch, Terminate and AZRebalance in the fleet's groups (those not
// suspended already), unless the rollout follows scaling, and returns what resumes them: on
// a context of its own, so that it runs whatever ended the caller's. A restored plan holds
// what its original suspended and resumes it.
func (p *Plan) holdScaling(ctx context.Context, ph deploy.Phase, emit deploy.EventFunc) (func(), error) {
	t := p.t
	if t.opts.AutoScaling == nil || t.opts.AutoScaling.FollowScaling || len(p.asgOf) == 0 && len(p.suspended) == 0 {
		return func() {}, nil
	}
	groups := p.scalingGroupNames()
	for g := range p.suspended {
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	out, err := t.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: groups})
	if err != nil {
		return nil, t.asgErr("describe Auto Scaling groups", err)
	}
	resume := func() {
		ctx, cancel := context.WithTimeout(poll.Persistently(context.WithoutCancel(ctx)), 2*time.Minute)
		defer cancel()
		p.mu.Lock()
		suspended := maps.Clone(p.suspended)
		p.mu.Unlock()
		for _, g := range slices.Sorted(maps.Keys(suspended)) {
			if _, err := t.asg.ResumeProcesses(ctx, &autoscaling.ResumeProcessesInput{AutoScalingGroupName: aws.String(g), ScalingProcesses: suspended[g]}); err != nil {
				emit.Emit(deploy.Event{Target: t.Name(), Phase: ph, Message: fmt.Sprintf("could not resume %s in Auto Scaling group %s: %v; resume them by hand", strings.Join(suspended[g], ", "), g, err)})
				continue
			}
			p.mu.Lock()
			delete(p.suspended, g)
			p.mu.Unlock()
			emit.Emit(deploy.Event{Target: t.Name(), Phase: ph, Message: fmt.Sprintf("resumed %s in Auto Scaling group %s", strings.Join(suspended[g], ", "), g)})
		}
	}
	for _, g := range out.AutoScalingGroups {
		name := aws.ToString(g.AutoScalingGroupName)
		p.mu.Lock()
		ours := slices.Clone(p.suspended[name])
		p.mu.Unlock()
		var already []string
		for _, sp := range g.SuspendedProcesses {
			already = append(already, aws.ToString(sp.ProcessName))
		}
		var suspend []string
		for _, proc := range held {
			if !slices.Contains(already, proc) {
				suspend = append(suspend, proc)
			}
		}
		if len(suspend) == 0 {
			continue // held already: by us (a restored plan), or by someone else, left as it is
		}
		p.mu.Lock()
		p.suspended[name] = slices.DeleteFunc(slices.Clone(held), func(proc string) bool { // on record before the call
			return !slices.Contains(ours, proc) && !slices.Contains(suspend, proc)
		})
		p.mu.Unlock()
		if _, err := t.asg.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String(name), ScalingProcesses: suspend}); err != nil {
			resume()
			return nil, t.asgErr("suspend scaling in group "+name, err)
		}
		emit.Emit(deploy.Event{Target: t.Name(), Phase: ph, Message: fmt.Sprintf("suspended %s in Auto Scaling group %s while the fleet changes", strings.Join(suspend, ", "), name)})
	}
	return resume, nil
}

// followScaling rolls the release out to the instances that joined the fleet's groups during
// the rollout, round after round until none is new, waiting for launching ones to come
// into service with an online agent.
func (p *Plan) followScaling(ctx context.Context, emit deploy.EventFunc) error {
	t := p.t
	if t.opts.AutoScaling == nil || !t.opts.AutoScaling.FollowScaling || len(p.asgOf) == 0 {
		return nil
	}
	for round := 0; ; round++ {
		joined, err := p.joined(ctx, emit)
		if err != nil || len(joined) == 0 {
			return err
		}
		emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseApply, Counts: deploy.Counts{Desired: len(joined)},
			Message: fmt.Sprintf("%d instances joined the fleet during the rollout: %s; rolling the release out to them", len(joined), strings.Join(first(joined, 10), ", "))})
		p.mu.Lock()
		p.usable = append(p.usable, joined...)
		p.limits.total += len(joined)
		p.mu.Unlock()
		for _, g := range p.groups { // Auto Scaling registered them with its target groups
			members, err := t.members(ctx, g)
			if err != nil {
				return err
			}
			p.mu.Lock()
			g.Members = members
			p.mu.Unlock()
		}
		waves, err := planWaves(joined, p.zoneOf, false, p.limits.batch, nil, nil)
		if err != nil {
			return err
		}
		for _, w := range waves {
			if err := p.deployWave(ctx, w.IDs, emit); err != nil {
				return err
			}
			if err := p.leavers(ctx); err != nil {
				return err
			}
			if p.failures() > p.limits.allowed {
				return nil
			}
		}
	}
}

// joined returns the in-service instances of the fleet's groups that the plan has not seen,
// once each has an online agent; it waits for launching ones, up to 10 minutes.
func (p *Plan) joined(ctx context.Context, emit deploy.EventFunc) ([]string, error) {
	t := p.t
	var ready []string
	look := func(ctx context.Context) (poll.Look, error) {
		out, err := t.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: p.scalingGroupNames()})
		if err != nil {
			return poll.Look{}, err
		}
		var fresh []string
		pending := 0
		for _, g := range out.AutoScalingGroups {
			for _, in := range g.Instances {
				id := aws.ToString(in.InstanceId)
				if slices.Contains(p.usable, id) || slices.ContainsFunc(p.instances, func(i Instance) bool { return i.ID == id }) {
					continue
				}
				switch {
				case strings.HasPrefix(string(in.LifecycleState), "Pending"):
					pending++
				case in.LifecycleState == "InService":
					fresh = append(fresh, id)
					p.mu.Lock()
					p.asgOf[id] = aws.ToString(g.AutoScalingGroupName)
					p.zoneOf[id] = aws.ToString(in.AvailabilityZone)
					p.mu.Unlock()
				}
			}
		}
		slices.Sort(fresh)
		ping, err := t.agents(ctx, fresh)
		if err != nil {
			return poll.Look{}, err
		}
		ready = ready[:0]
		for _, id := range fresh {
			if ping[id] == string(ssmtypes.PingStatusOnline) {
				ready = append(ready, id)
			} else {
				pending++
			}
		}
		return poll.Look{Done: pending == 0}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := poll.Until(ctx, poll.Policy{Interval: t.opts.PollInterval, Growth: 1.5, Max: 15 * time.Second, Transient: 8, Classify: awserr.Classify}, look, nil); err != nil && ctx.Err() == nil {
		return nil, t.asgErr("list the instances that joined the fleet", err)
	}
	return slices.Clone(ready), nil
}

// leavers moves out of the failures the instances that left the fleet during the rollout
// (terminated, or no longer in their Auto Scaling group): they are reported, not counted.
func (p *Plan) leavers(ctx context.Context) error {
	t := p.t
	if t.opts.AutoScaling == nil {
		return nil
	}
	p.mu.Lock()
	var ids []string
	for _, f := range p.failed {
		ids = append(ids, f.Instance)
	}
	p.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	gone := map[string]bool{}
	for _, id := range ids {
		gone[id] = true
	}
	for chunk := range slices.Chunk(ids, 200) { // a filter takes 200 values
		pg := ec2.NewDescribeInstancesPaginator(t.ec2, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("instance-id"), Values: chunk}}})
		for pg.HasMorePages() {
			out, err := pg.NextPage(ctx)
			if err != nil {
				return awserr.Wrap(t.Name(), "describe the instances that failed", err, "")
			}
			for _, r := range out.Reservations {
				for _, in := range r.Instances {
					switch in.State.Name {
					case ec2types.InstanceStateNameRunning, ec2types.InstanceStateNamePending:
						delete(gone, aws.ToString(in.InstanceId))
					}
				}
			}
		}
	}
	if len(gone) == 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failed = slices.DeleteFunc(p.failed, func(r Result) bool {
		if gone[r.Instance] {
			p.left = append(p.left, r.Instance)
			delete(p.out, r.Instance) // nothing to put back
		}
		return gone[r.Instance]
	})
	slices.Sort(p.left)
	return nil
}

// recordGroups writes r as each group's release, noting what it replaces so that a rollback
// can write that back.
func (p *Plan) recordGroups(ctx context.Context, r recorded) error {
	t := p.t
	if t.opts.AutoScaling == nil {
		return nil
	}
	value, _ := json.Marshal(r)
	for _, g := range p.scalingGroupNames() {
		p.mu.Lock()
		if !slices.Contains(p.groupsRecorded, g) {
			p.groupsRecorded = append(p.groupsRecorded, g)
		}
		p.mu.Unlock()
		if _, err := t.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(t.groupParam(g)), Value: aws.String(string(value)),
			Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}); err != nil {
			return awserr.WrapHints(t.Name(), "record the release of group "+g, err, awserr.Hints{deploy.ErrAccessDenied: "the credentials need ssm:PutParameter on " + t.groupParam("*")})
		}
	}
	return nil
}

// restoreGroupRecords writes back each group's record as the plan found it (or removes the
// one this rollout created).
func (p *Plan) restoreGroupRecords(ctx context.Context) error {
	t := p.t
	p.mu.Lock()
	groups := slices.Clone(p.groupsRecorded)
	p.mu.Unlock()
	for _, g := range groups {
		var err error
		if prev := p.groupPrev[g]; prev != nil {
			value, _ := json.Marshal(prev)
			_, err = t.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(t.groupParam(g)), Value: aws.String(string(value)),
				Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)})
		} else {
			_, err = t.ssm.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(t.groupParam(g))})
		}
		if err != nil && awserr.Kind(err) != deploy.ErrNotFound {
			return awserr.Wrap(t.Name(), "restore the release record of group "+g, err, "")
		}
		p.mu.Lock()
		p.groupsRecorded = slices.DeleteFunc(p.groupsRecorded, func(s string) bool { return s == g })
		p.mu.Unlock()
	}
	return nil
}
