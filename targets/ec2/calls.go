package ec2

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
	"github.com/stevedore-dev/stevedore/internal/poll"
)

// countedSSM, countedEC2, countedELB and countedASG are the clients as the target calls
// them: each call counted against the target whose work the context is (deploy.CountCall),
// and made, on a rollback's context, with a retryer that draws on no client-side retry quota
// and keeps trying until the context ends.
type (
	countedSSM struct{ api SSMAPI }
	countedEC2 struct{ api EC2API }
	countedELB struct{ api ELBAPI }
	countedASG struct{ api AutoScalingAPI }
)

// call makes one counted call; persistent puts the persistent retryer into the call's options.
func call[I, O, Opt any](ctx context.Context, f func(context.Context, I, ...func(*Opt)) (O, error), in I, opts []func(*Opt), persistent func(*Opt)) (O, error) {
	deploy.CountCall(ctx)
	if poll.IsPersistent(ctx) {
		opts = append(opts, persistent)
	}
	return f(ctx, in, opts...)
}

func ssmPersistent(o *ssm.Options)         { o.Retryer = awserr.PersistentRetryer() }
func ec2Persistent(o *ec2.Options)         { o.Retryer = awserr.PersistentRetryer() }
func elbPersistent(o *elb.Options)         { o.Retryer = awserr.PersistentRetryer() }
func asgPersistent(o *autoscaling.Options) { o.Retryer = awserr.PersistentRetryer() }

func (a countedSSM) SendCommand(ctx context.Context, in *ssm.SendCommandInput, o ...func(*ssm.Options)) (*ssm.SendCommandOutput, error) {
	return call(ctx, a.api.SendCommand, in, o, ssmPersistent)
}
func (a countedSSM) ListCommands(ctx context.Context, in *ssm.ListCommandsInput, o ...func(*ssm.Options)) (*ssm.ListCommandsOutput, error) {
	return call(ctx, a.api.ListCommands, in, o, ssmPersistent)
}
func (a countedSSM) ListCommandInvocations(ctx context.Context, in *ssm.ListCommandInvocationsInput, o ...func(*ssm.Options)) (*ssm.ListCommandInvocationsOutput, error) {
	return call(ctx, a.api.ListCommandInvocations, in, o, ssmPersistent)
}
func (a countedSSM) GetCommandInvocation(ctx context.Context, in *ssm.GetCommandInvocationInput, o ...func(*ssm.Options)) (*ssm.GetCommandInvocationOutput, error) {
	return call(ctx, a.api.GetCommandInvocation, in, o, ssmPersistent)
}
func (a countedSSM) CancelCommand(ctx context.Context, in *ssm.CancelCommandInput, o ...func(*ssm.Options)) (*ssm.CancelCommandOutput, error) {
	return call(ctx, a.api.CancelCommand, in, o, ssmPersistent)
}
func (a countedSSM) DescribeInstanceInformation(ctx context.Context, in *ssm.DescribeInstanceInformationInput, o ...func(*ssm.Options)) (*ssm.DescribeInstanceInformationOutput, error) {
	return call(ctx, a.api.DescribeInstanceInformation, in, o, ssmPersistent)
}
func (a countedSSM) GetParameters(ctx context.Context, in *ssm.GetParametersInput, o ...func(*ssm.Options)) (*ssm.GetParametersOutput, error) {
	return call(ctx, a.api.GetParameters, in, o, ssmPersistent)
}
func (a countedSSM) PutParameter(ctx context.Context, in *ssm.PutParameterInput, o ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	return call(ctx, a.api.PutParameter, in, o, ssmPersistent)
}
func (a countedSSM) DeleteParameter(ctx context.Context, in *ssm.DeleteParameterInput, o ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error) {
	return call(ctx, a.api.DeleteParameter, in, o, ssmPersistent)
}
func (a countedEC2) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, o ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	return call(ctx, a.api.DescribeInstances, in, o, ec2Persistent)
}
func (a countedEC2) CreateTags(ctx context.Context, in *ec2.CreateTagsInput, o ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	return call(ctx, a.api.CreateTags, in, o, ec2Persistent)
}
func (a countedELB) DescribeTargetGroups(ctx context.Context, in *elb.DescribeTargetGroupsInput, o ...func(*elb.Options)) (*elb.DescribeTargetGroupsOutput, error) {
	return call(ctx, a.api.DescribeTargetGroups, in, o, elbPersistent)
}
func (a countedELB) DescribeTargetGroupAttributes(ctx context.Context, in *elb.DescribeTargetGroupAttributesInput, o ...func(*elb.Options)) (*elb.DescribeTargetGroupAttributesOutput, error) {
	return call(ctx, a.api.DescribeTargetGroupAttributes, in, o, elbPersistent)
}
func (a countedELB) DescribeTargetHealth(ctx context.Context, in *elb.DescribeTargetHealthInput, o ...func(*elb.Options)) (*elb.DescribeTargetHealthOutput, error) {
	return call(ctx, a.api.DescribeTargetHealth, in, o, elbPersistent)
}
func (a countedELB) RegisterTargets(ctx context.Context, in *elb.RegisterTargetsInput, o ...func(*elb.Options)) (*elb.RegisterTargetsOutput, error) {
	return call(ctx, a.api.RegisterTargets, in, o, elbPersistent)
}
func (a countedELB) DeregisterTargets(ctx context.Context, in *elb.DeregisterTargetsInput, o ...func(*elb.Options)) (*elb.DeregisterTargetsOutput, error) {
	return call(ctx, a.api.DeregisterTargets, in, o, elbPersistent)
}
func (a countedASG) DescribeAutoScalingInstances(ctx context.Context, in *autoscaling.DescribeAutoScalingInstancesInput, o ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingInstancesOutput, error) {
	return call(ctx, a.api.DescribeAutoScalingInstances, in, o, asgPersistent)
}
func (a countedASG) DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, o ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	return call(ctx, a.api.DescribeAutoScalingGroups, in, o, asgPersistent)
}
func (a countedASG) SuspendProcesses(ctx context.Context, in *autoscaling.SuspendProcessesInput, o ...func(*autoscaling.Options)) (*autoscaling.SuspendProcessesOutput, error) {
	return call(ctx, a.api.SuspendProcesses, in, o, asgPersistent)
}
func (a countedASG) ResumeProcesses(ctx context.Context, in *autoscaling.ResumeProcessesInput, o ...func(*autoscaling.Options)) (*autoscaling.ResumeProcessesOutput, error) {
	return call(ctx, a.api.ResumeProcesses, in, o, asgPersistent)
}

var (
	_ SSMAPI         = countedSSM{}
	_ EC2API         = countedEC2{}
	_ ELBAPI         = countedELB{}
	_ AutoScalingAPI = countedASG{}
)
