package ec2

import (
	"context"
	"crypto/rand"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/mototest"
)

// TestMotoLoadBalancingAndAutoScaling runs the target's Elastic Load Balancing and Auto
// Scaling calls the way it makes them, against moto: finding target groups by name and ARN
// with their deregistration delay and targets, taking an instance out and putting it back
// (moto drains at once and calls registered targets healthy), the instances' zones, their
// group, holding scaling and resuming it, the group's release record written and removed,
// and an instance that left the fleet. moto has no DescribeInstanceInformation, so the
// wait for instances that join runs against the in-process fake only.
func TestMotoLoadBalancingAndAutoScaling(t *testing.T) {
	ctx := context.Background()
	cfg := mototest.Config(t)
	ec2c, ssmc, elbc, asgc := ec2.NewFromConfig(cfg), ssm.NewFromConfig(cfg), elb.NewFromConfig(cfg), autoscaling.NewFromConfig(cfg)
	app := "lb-" + rand.Text()[:8]
	vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	var subnets []string
	for i, zone := range []string{"us-east-1a", "us-east-1b"} {
		sn, err := ec2c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String([]string{"10.0.1.0/24", "10.0.2.0/24"}[i]), AvailabilityZone: aws.String(zone)})
		if err != nil {
			t.Fatal(err)
		}
		subnets = append(subnets, aws.ToString(sn.Subnet.SubnetId))
	}
	tgOut, err := elbc.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{Name: aws.String(app), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80),
		VpcId: vpc.Vpc.VpcId, TargetType: elbtypes.TargetTypeEnumInstance})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)
	if _, err := ec2c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String(app),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-12345678")}}); err != nil {
		t.Fatal(err)
	}
	group := app + "-asg"
	if _, err := asgc.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String(group), MinSize: aws.Int32(0), MaxSize: aws.Int32(5),
		DesiredCapacity: aws.Int32(3), LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateName: aws.String(app)}, VPCZoneIdentifier: aws.String(subnets[0] + "," + subnets[1]),
		Tags: []astypes.Tag{{Key: aws.String("app"), Value: aws.String(app), PropagateAtLaunch: aws.Bool(true)}}}); err != nil {
		t.Fatal(err)
	}
	tg := New(ssmc, ec2c, Fleet{Tags: map[string]string{"app": app}}, Options{Commands: []string{"true"},
		LoadBalancing: &LoadBalancing{Client: elbc, TargetGroups: []string{app, arn}}, AutoScaling: &AutoScaling{Client: asgc}})
	found, err := tg.describe(ctx)
	if err != nil || len(found) != 3 {
		t.Fatalf("describe: %d instances, %v", len(found), err)
	}
	p := &Plan{t: tg, zoneOf: map[string]string{}, out: map[string][]string{}, suspended: map[string][]string{}, touched: map[string]bool{}}
	for id, in := range found {
		p.usable = append(p.usable, id)
		p.zoneOf[id] = aws.ToString(in.Placement.AvailabilityZone)
	}
	slices.Sort(p.usable)
	ids := p.usable
	if _, err := elbc.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: targetsOf(ids)}); err != nil {
		t.Fatal(err)
	}

	// Target groups: named twice (name and ARN), found once, with the delay and the targets.
	if p.groups, err = tg.targetGroups(ctx); err != nil {
		t.Fatal(err)
	}
	if len(p.groups) != 1 || p.groups[0].ARN != arn || p.groups[0].Delay.Seconds() != 300 || len(p.groups[0].Members) != 3 || p.groups[0].healthy() != 3 {
		t.Fatalf("target groups: %+v", p.groups)
	}
	if p.waves, err = planWaves(ids, p.zoneOf, true, 1, nil, p.groups); err != nil || len(p.waves) != 3 {
		t.Fatalf("waves: %+v, %v", p.waves, err)
	}
	// Out of service and back.
	if err := p.takeOut(ctx, deploy.PhaseApply, ids[:1], nil); err != nil {
		t.Fatal(err)
	}
	health := func(id string) string {
		out, err := elbc.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn), Targets: targetsOf([]string{id})})
		if err != nil {
			t.Fatal(err)
		}
		return string(out.TargetHealthDescriptions[0].TargetHealth.State)
	}
	if st := health(ids[0]); st != "unused" || len(p.out[ids[0]]) != 1 {
		t.Errorf("taken out: %s, out of %v", st, p.out[ids[0]])
	}
	if err := p.putBack(ctx, deploy.PhaseWait, ids[:1], nil); err != nil {
		t.Fatal(err)
	}
	if st := health(ids[0]); st != "healthy" || len(p.out) != 0 {
		t.Errorf("put back: %s, still out: %v", st, p.out)
	}

	// Auto Scaling: the group of each instance, scaling held and resumed.
	if p.asgOf, p.groupPrev, err = tg.scalingGroups(ctx, ids); err != nil {
		t.Fatal(err)
	}
	if len(p.asgOf) != 3 || p.asgOf[ids[0]] != group || len(p.groupPrev) != 0 {
		t.Fatalf("groups: %v, records %v", p.asgOf, p.groupPrev)
	}
	suspended := func() []string {
		out, err := asgc.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, sp := range out.AutoScalingGroups[0].SuspendedProcesses {
			names = append(names, aws.ToString(sp.ProcessName))
		}
		slices.Sort(names)
		return names
	}
	resume, err := p.holdScaling(ctx, deploy.PhaseApply, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := suspended(); !slices.Equal(got, []string{"AZRebalance", "Launch", "Terminate"}) {
		t.Errorf("held: %v", got)
	}
	resume()
	if got := suspended(); len(got) != 0 {
		t.Errorf("resumed: %v", got)
	}

	// The group's record, written and, by a rollback, removed (there was none before).
	if err := p.recordGroups(ctx, recorded{Version: "v2"}); err != nil {
		t.Fatal(err)
	}
	param := func() string {
		out, err := ssmc.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{tg.groupParam(group)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Parameters) == 0 {
			return ""
		}
		return aws.ToString(out.Parameters[0].Value)
	}
	if got := param(); got != `{"version":"v2"}` {
		t.Errorf("group record %q", got)
	}
	if _, prev, err := tg.scalingGroups(ctx, ids); err != nil || prev[group] == nil || prev[group].Version != "v2" {
		t.Errorf("the record read back: %v, %v", prev, err)
	}
	if err := p.restoreGroupRecords(ctx); err != nil {
		t.Fatal(err)
	}
	if got := param(); got != "" {
		t.Errorf("group record after the rollback: %q", got)
	}

	// An instance terminated mid-rollout is a leaver, not a failure.
	if _, err := ec2c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids[2:]}); err != nil {
		t.Fatal(err)
	}
	p.failed = []Result{{Instance: ids[1], Status: "Failed"}, {Instance: ids[2], Status: "Failed", Details: "Undeliverable"}}
	if err := p.leavers(ctx); err != nil {
		t.Fatal(err)
	}
	if len(p.failed) != 1 || p.failed[0].Instance != ids[1] || !slices.Equal(p.left, ids[2:]) {
		t.Errorf("failed %+v, left %v", p.failed, p.left)
	}
}
