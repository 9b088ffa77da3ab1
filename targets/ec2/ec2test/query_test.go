package ec2test_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/stevedore-dev/stevedore/targets/ec2/ec2test"
)

// health reads one target's state and reason through the real client.
func health(t *testing.T, c *elb.Client, arn, id string) string {
	t.Helper()
	out, err := c.DescribeTargetHealth(context.Background(), &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn),
		Targets: []elbtypes.TargetDescription{{Id: aws.String(id)}}})
	if err != nil {
		t.Fatal(err)
	}
	h := out.TargetHealthDescriptions[0].TargetHealth
	if h.Reason == "" {
		return string(h.State)
	}
	return string(h.State) + " " + string(h.Reason)
}

// A target's life in a target group, one step per row: healthy, draining for the
// deregistration delay, gone, registered again, initial until HealthyAfter, then as the
// health check says.
func TestTargetGroupLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := ec2test.New(nil)
		ids := sim.Fleet(2, map[string]string{"app": "web"})
		arn := sim.CreateTargetGroup(ec2test.TargetGroup{Name: "web", DeregistrationDelay: 20 * time.Second, HealthyAfter: 10 * time.Second, Instances: ids})
		c := elb.NewFromConfig(sim.Config())
		ctx := context.Background()
		steps := []struct {
			name string
			do   func()
			wait time.Duration
			want string
		}{
			{"registered from the start", nil, 0, "healthy"},
			{"deregistered: draining", func() {
				_, err := c.DeregisterTargets(ctx, &elb.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []elbtypes.TargetDescription{{Id: aws.String(ids[0])}}})
				if err != nil {
					t.Fatal(err)
				}
			}, 19 * time.Second, "draining Target.DeregistrationInProgress"},
			{"the delay passed: gone", nil, time.Second, "unused Target.NotRegistered"},
			{"registered again: initial", func() {
				_, err := c.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []elbtypes.TargetDescription{{Id: aws.String(ids[0])}}})
				if err != nil {
					t.Fatal(err)
				}
			}, 9 * time.Second, "initial Elb.InitialHealthChecking"},
			{"HealthyAfter passed: healthy", nil, time.Second, "healthy"},
			{"the health check fails: unhealthy", func() {
				sim.SetHealthCheck(func(id string) string {
					if id == ids[0] {
						return "Target.ResponseCodeMismatch"
					}
					return ""
				})
			}, 0, "unhealthy Target.ResponseCodeMismatch"},
			{"a stopped instance", func() { sim.SetState(ids[0], "stopped") }, 0, "unused Target.InvalidState"},
		}
		for _, st := range steps {
			if st.do != nil {
				st.do()
			}
			time.Sleep(st.wait)
			if got := health(t, c, arn, ids[0]); got != st.want {
				t.Errorf("%s: %s, want %s", st.name, got, st.want)
			}
		}
		if got := health(t, c, arn, ids[1]); got != "healthy" {
			t.Errorf("the other target: %s", got)
		}
		all, err := c.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
		if err != nil || len(all.TargetHealthDescriptions) != 2 {
			t.Errorf("every target: %v, %v", all, err)
		}
		attrs, err := c.DescribeTargetGroupAttributes(ctx, &elb.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(arn)})
		if err != nil || !slices.ContainsFunc(attrs.Attributes, func(a elbtypes.TargetGroupAttribute) bool {
			return aws.ToString(a.Key) == "deregistration_delay.timeout_seconds" && aws.ToString(a.Value) == "20"
		}) {
			t.Errorf("attributes: %v, %v", attrs, err)
		}
		tgs, err := c.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{Names: []string{"web"}})
		if err != nil || len(tgs.TargetGroups) != 1 || aws.ToString(tgs.TargetGroups[0].TargetGroupArn) != arn {
			t.Errorf("by name: %v, %v", tgs, err)
		}
		_, err = c.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{Names: []string{"nope"}})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "TargetGroupNotFound" {
			t.Errorf("a missing group: %v", err)
		}
		_, err = c.RegisterTargets(ctx, &elb.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []elbtypes.TargetDescription{{Id: aws.String(ids[0])}}})
		if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidTarget" {
			t.Errorf("registering a stopped instance: %v", err)
		}
	})
}

// Auto Scaling: suspended processes stop launches and terminations; a launch joins the
// group, its target groups and the zone with fewest instances; a termination leaves them.
func TestAutoScalingGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := ec2test.New(nil)
		ids := sim.Fleet(2, map[string]string{"app": "web"}) // zones a and b
		arn := sim.CreateTargetGroup(ec2test.TargetGroup{Name: "web", HealthyAfter: 10 * time.Second, Instances: ids})
		sim.CreateAutoScalingGroup(ec2test.AutoScalingGroup{Name: "web-asg", Instances: ids, TargetGroups: []string{arn}, Tags: map[string]string{"app": "web"}})
		c := autoscaling.NewFromConfig(sim.Config())
		ctx := context.Background()
		if _, err := c.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String("web-asg"),
			ScalingProcesses: []string{"Launch", "Terminate", "AZRebalance"}}); err != nil {
			t.Fatal(err)
		}
		if got := sim.Suspended("web-asg"); !slices.Equal(got, []string{"Launch", "Terminate", "AZRebalance"}) {
			t.Errorf("suspended: %v", got)
		}
		if _, err := sim.Launch("web-asg"); !errors.Is(err, ec2test.ErrSuspended) {
			t.Errorf("launch while suspended: %v", err)
		}
		if err := sim.Terminate(ids[0]); !errors.Is(err, ec2test.ErrSuspended) {
			t.Errorf("terminate while suspended: %v", err)
		}
		groups, err := c.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"web-asg"}})
		if err != nil || len(groups.AutoScalingGroups) != 1 || len(groups.AutoScalingGroups[0].SuspendedProcesses) != 3 || len(groups.AutoScalingGroups[0].Instances) != 2 {
			t.Fatalf("describe: %+v, %v", groups, err)
		}
		if _, err := c.ResumeProcesses(ctx, &autoscaling.ResumeProcessesInput{AutoScalingGroupName: aws.String("web-asg"),
			ScalingProcesses: []string{"Launch", "Terminate", "AZRebalance"}}); err != nil {
			t.Fatal(err)
		}
		id, err := sim.Launch("web-asg")
		if err != nil {
			t.Fatal(err)
		}
		out, err := awsec2.NewFromConfig(sim.Config()).DescribeInstances(ctx, &awsec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil || aws.ToString(out.Reservations[0].Instances[0].Placement.AvailabilityZone) != "us-east-1c" {
			t.Errorf("the new instance's zone: %v, %v", out, err)
		}
		if tags := sim.Tags(id); tags["app"] != "web" || tags["aws:autoscaling:groupName"] != "web-asg" {
			t.Errorf("the new instance's tags: %v", tags)
		}
		e := elb.NewFromConfig(sim.Config())
		if got := health(t, e, arn, id); got != "initial Elb.InitialHealthChecking" {
			t.Errorf("the new instance in the target group: %s", got)
		}
		inst, err := c.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: []string{id, ids[0]}})
		if err != nil || len(inst.AutoScalingInstances) != 2 || aws.ToString(inst.AutoScalingInstances[1].AutoScalingGroupName) != "web-asg" {
			t.Errorf("describe instances: %+v, %v", inst, err)
		}
		if err := sim.Terminate(ids[0]); err != nil {
			t.Fatal(err)
		}
		if got := health(t, e, arn, ids[0]); got != "draining Target.DeregistrationInProgress" {
			t.Errorf("the terminated instance in the target group: %s", got)
		}
		var ae smithy.APIError
		_, err = c.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String("nope")})
		if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" {
			t.Errorf("a missing group: %v", err)
		}
	})
}
