package ec2

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
	"github.com/stevedore-dev/stevedore/internal/poll"
)

// ELBAPI is the part of *elasticloadbalancingv2.Client the target calls.
type ELBAPI interface {
	DescribeTargetGroups(context.Context, *elb.DescribeTargetGroupsInput, ...func(*elb.Options)) (*elb.DescribeTargetGroupsOutput, error)
	DescribeTargetGroupAttributes(context.Context, *elb.DescribeTargetGroupAttributesInput, ...func(*elb.Options)) (*elb.DescribeTargetGroupAttributesOutput, error)
	DescribeTargetHealth(context.Context, *elb.DescribeTargetHealthInput, ...func(*elb.Options)) (*elb.DescribeTargetHealthOutput, error)
	RegisterTargets(context.Context, *elb.RegisterTargetsInput, ...func(*elb.Options)) (*elb.RegisterTargetsOutput, error)
	DeregisterTargets(context.Context, *elb.DeregisterTargetsInput, ...func(*elb.Options)) (*elb.DeregisterTargetsOutput, error)
}

// LoadBalancing takes each wave's instances out of their target groups while they are
// replaced and puts them back once their commands passed, waiting until they pass the
// groups' health checks: CodeDeploy's BlockTraffic and AllowTraffic. A rollback puts every
// instance it took out back, whatever happened.
type LoadBalancing struct {
	Client ELBAPI
	// TargetGroups are the target groups' ARNs or names. An instance is taken out of each
	// one it is registered in.
	TargetGroups []string
	// HealthyTimeout is how long instances put back may take to pass their health checks;
	// zero means 10 minutes. A target the group finds unhealthy fails the rollout at once.
	HealthyTimeout time.Duration
}

// tgroup is a target group as the plan found it.
type tgroup struct {
	ARN     string            `json:"arn"`
	Name    string            `json:"name"`
	Delay   time.Duration     `json:"delay"`   // deregistration delay
	Members map[string]string `json:"members"` // registered targets (every one, the fleet's or not) and their state
}

// healthy counts g's healthy targets.
func (g *tgroup) healthy() int {
	n := 0
	for _, st := range g.Members {
		if st == string(elbtypes.TargetHealthStateEnumHealthy) {
			n++
		}
	}
	return n
}

// lbErr wraps a load balancing error with what the credentials need.
func (t *Target) lbErr(op string, err error) error {
	return awserr.WrapHints(t.Name(), op, err, awserr.Hints{
		deploy.ErrNotFound:     "check the target group names or ARNs and the region",
		deploy.ErrAccessDenied: "the credentials need elasticloadbalancing:DescribeTargetGroups, DescribeTargetGroupAttributes, DescribeTargetHealth, RegisterTargets and DeregisterTargets",
	})
}

// targetGroups finds the target groups named in LoadBalancing, their deregistration delays
// and their targets' health.
func (t *Target) targetGroups(ctx context.Context) ([]*tgroup, error) {
	lb := t.opts.LoadBalancing
	var arns, names []string
	for _, g := range lb.TargetGroups {
		if strings.HasPrefix(g, "arn:") {
			arns = append(arns, g)
		} else {
			names = append(names, g)
		}
	}
	var found []elbtypes.TargetGroup
	for _, in := range []*elb.DescribeTargetGroupsInput{{TargetGroupArns: arns}, {Names: names}} {
		if len(in.TargetGroupArns)+len(in.Names) == 0 {
			continue
		}
		out, err := t.elb.DescribeTargetGroups(ctx, in)
		if err != nil {
			return nil, t.lbErr("describe target groups "+strings.Join(append(in.TargetGroupArns, in.Names...), ", "), err)
		}
		found = append(found, out.TargetGroups...)
	}
	var groups []*tgroup
	for _, tg := range found {
		if slices.ContainsFunc(groups, func(g *tgroup) bool { return g.ARN == aws.ToString(tg.TargetGroupArn) }) {
			continue // named twice, by name and by ARN
		}
		g := &tgroup{ARN: aws.ToString(tg.TargetGroupArn), Name: aws.ToString(tg.TargetGroupName), Delay: 300 * time.Second, Members: map[string]string{}}
		if tg.TargetType != "" && tg.TargetType != elbtypes.TargetTypeEnumInstance {
			return nil, deploy.Errorf(deploy.ErrInvalid, t.Name(), "plan", "target group %s registers targets by %s, not by instance ID", g.Name, tg.TargetType)
		}
		attrs, err := t.elb.DescribeTargetGroupAttributes(ctx, &elb.DescribeTargetGroupAttributesInput{TargetGroupArn: tg.TargetGroupArn})
		if err != nil {
			return nil, t.lbErr("describe target group "+g.Name, err)
		}
		for _, a := range attrs.Attributes {
			if aws.ToString(a.Key) == "deregistration_delay.timeout_seconds" {
				if s, err := strconv.Atoi(aws.ToString(a.Value)); err == nil {
					g.Delay = time.Duration(s) * time.Second
				}
			}
		}
		if g.Members, err = t.members(ctx, g); err != nil {
			return nil, err
		}
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b *tgroup) int { return strings.Compare(a.Name, b.Name) })
	return groups, nil
}

// members reads g's registered targets and their state.
func (t *Target) members(ctx context.Context, g *tgroup) (map[string]string, error) {
	health, err := t.elb.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(g.ARN)})
	if err != nil {
		return nil, t.lbErr("describe the targets of "+g.Name, err)
	}
	members := map[string]string{}
	for _, d := range health.TargetHealthDescriptions {
		if d.Target == nil || d.TargetHealth == nil || d.TargetHealth.State == elbtypes.TargetHealthStateEnumDraining {
			continue // one on its way out is not a member
		}
		members[aws.ToString(d.Target.Id)] = string(d.TargetHealth.State)
	}
	return members, nil
}

// takeOut deregisters ids from every target group they are in and waits until they have
// drained. Each is on record as out of its groups before the call, so that a rollback, or a
// restored plan's, puts it back.
func (p *Plan) takeOut(ctx context.Context, ph deploy.Phase, ids []string, emit deploy.EventFunc) error {
	t := p.t
	type out struct {
		g   *tgroup
		ids []string
	}
	var outs []out
	var longest time.Duration
	for _, g := range p.groups {
		var in []string
		for _, id := range ids {
			if _, ok := g.Members[id]; ok && !slices.Contains(p.outOf(id), g.ARN) {
				in = append(in, id)
			}
		}
		if len(in) > 0 {
			outs = append(outs, out{g, in})
			longest = max(longest, g.Delay)
		}
	}
	if len(outs) == 0 {
		return nil
	}
	var names []string
	for _, o := range outs {
		names = append(names, o.g.Name)
		p.mu.Lock()
		for _, id := range o.ids {
			p.out[id] = append(p.out[id], o.g.ARN)
		}
		p.mu.Unlock()
	}
	emit.Emit(deploy.Event{Target: t.Name(), Phase: ph, Counts: deploy.Counts{Desired: len(ids)},
		Message: fmt.Sprintf("taking %d instances out of target groups %s (draining up to %v)", len(ids), strings.Join(names, ", "), longest)})
	for _, o := range outs {
		if _, err := t.elb.DeregisterTargets(ctx, &elb.DeregisterTargetsInput{TargetGroupArn: aws.String(o.g.ARN), Targets: targetsOf(o.ids)}); err != nil {
			return t.lbErr("deregister instances from "+o.g.Name, err)
		}
	}
	for _, o := range outs {
		if err := p.awaitTargets(ctx, o.g, o.ids, drained, 0, emit); err != nil {
			return err
		}
	}
	return nil
}

// putBack registers every instance of ids that takeOut took out into those groups again and
// waits until they pass the groups' health checks, or one fails them, or HealthyTimeout.
func (p *Plan) putBack(ctx context.Context, ph deploy.Phase, ids []string, emit deploy.EventFunc) error {
	t := p.t
	byGroup := map[string][]string{}
	for _, id := range ids {
		for _, arn := range p.outOf(id) {
			byGroup[arn] = append(byGroup[arn], id)
		}
	}
	if len(byGroup) == 0 {
		return nil
	}
	var names []string
	for _, g := range p.groups {
		if len(byGroup[g.ARN]) > 0 {
			names = append(names, g.Name)
		}
	}
	emit.Emit(deploy.Event{Target: t.Name(), Phase: ph, Counts: deploy.Counts{Desired: len(ids)},
		Message: fmt.Sprintf("putting instances back into target groups %s and waiting for their health checks", strings.Join(names, ", "))})
	for _, g := range p.groups {
		if in := byGroup[g.ARN]; len(in) > 0 {
			if _, err := t.elb.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(g.ARN), Targets: targetsOf(in)}); err != nil {
				return t.lbErr("register instances with "+g.Name, err)
			}
		}
	}
	timeout := t.opts.LoadBalancing.HealthyTimeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	for _, g := range p.groups {
		in := byGroup[g.ARN]
		if len(in) == 0 {
			continue
		}
		if err := p.awaitTargets(ctx, g, in, healthy, timeout, emit); err != nil {
			return err
		}
		p.mu.Lock()
		for _, id := range in {
			p.out[id] = slices.DeleteFunc(p.out[id], func(arn string) bool { return arn == g.ARN })
			if len(p.out[id]) == 0 {
				delete(p.out, id)
			}
		}
		p.mu.Unlock()
	}
	return nil
}

func (p *Plan) outOf(id string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.out[id])
}

func targetsOf(ids []string) []elbtypes.TargetDescription {
	out := make([]elbtypes.TargetDescription, len(ids))
	for i, id := range ids {
		out[i] = elbtypes.TargetDescription{Id: aws.String(id)}
	}
	return out
}

// A targetRule judges one target's health: done, or failed with a reason.
type targetRule func(h elbtypes.TargetHealth) (done bool, failed string)

// drained: the target has left the group.
func drained(h elbtypes.TargetHealth) (bool, string) {
	return h.State != elbtypes.TargetHealthStateEnumDraining, ""
}

// healthy: the target passes the group's health checks; unhealthy fails at once (the
// group's unhealthy threshold is the grace).
func healthy(h elbtypes.TargetHealth) (bool, string) {
	switch h.State {
	case elbtypes.TargetHealthStateEnumHealthy:
		return true, ""
	case elbtypes.TargetHealthStateEnumUnhealthy, elbtypes.TargetHealthStateEnumUnavailable:
		why := string(h.State)
		if h.Reason != "" {
			why += " (" + string(h.Reason)
			if d := aws.ToString(h.Description); d != "" {
				why += ": " + d
			}
			why += ")"
		}
		return false, why
	}
	return false, ""
}

// awaitTargets polls ids' health in g until rule says each is done, one fails it, or
// timeout (zero: none) passes.
func (p *Plan) awaitTargets(ctx context.Context, g *tgroup, ids []string, rule targetRule, timeout time.Duration, emit deploy.EventFunc) error {
	t, parent := p.t, ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	states := map[string]string{}
	look := func(ctx context.Context) (poll.Look, error) {
		out, err := t.elb.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(g.ARN), Targets: targetsOf(ids)})
		if err != nil {
			return poll.Look{}, err
		}
		left := 0
		var failed []string
		for _, d := range out.TargetHealthDescriptions {
			if d.Target == nil || d.TargetHealth == nil {
				continue
			}
			id := aws.ToString(d.Target.Id)
			states[id] = string(d.TargetHealth.State)
			done, why := rule(*d.TargetHealth)
			switch {
			case why != "":
				failed = append(failed, fmt.Sprintf("%s is %s", id, why))
			case !done:
				left++
			}
		}
		if len(failed) > 0 {
			slices.Sort(failed)
			return poll.Look{}, deploy.Errorf(deploy.ErrFailed, t.Name(), "load balancing", "in target group %s: %s", g.Name, strings.Join(failed, "; "))
		}
		return poll.Look{Done: left == 0}, nil
	}
	policy := poll.Policy{Interval: t.opts.PollInterval, Growth: 1.5, Max: 5 * time.Second, Transient: poll.TransientFor(ctx, 8), Classify: awserr.Classify}
	err := poll.Until(ctx, policy, look, nil)
	if err == nil {
		return nil
	}
	var de *deploy.Error
	switch {
	case errors.As(err, &de):
		return err
	case parent.Err() != nil:
		return deploy.ContextError(parent.Err(), t.Name(), "load balancing", "waiting on target group "+g.Name)
	case ctx.Err() != nil: // the timeout
		counts := map[string]int{}
		for _, st := range states {
			counts[st]++
		}
		var parts []string
		for _, st := range slices.Sorted(maps.Keys(counts)) {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
		}
		return deploy.Errorf(deploy.ErrFailed, t.Name(), "load balancing", "in target group %s, instances did not pass the health checks within %v (%s)", g.Name, timeout, strings.Join(parts, ", "))
	}
	return t.lbErr("watch the targets of "+g.Name, err)
}
