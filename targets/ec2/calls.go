package ec2

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
	"github.com/stevedore-dev/stevedore/internal/poll"
)

// countedSSM and countedEC2 are the clients as the target calls them: each call counted
// against the target whose work the context is (deploy.CountCall), and made, on a rollback's
// context, with a retryer that draws on no client-side retry quota and keeps trying until
// the context ends.
type (
	countedSSM struct{ api SSMAPI }
	countedEC2 struct{ api EC2API }
)

func ssmCall[I, O any](ctx context.Context, f func(context.Context, I, ...func(*ssm.Options)) (O, error), in I, opts []func(*ssm.Options)) (O, error) {
	deploy.CountCall(ctx)
	if poll.IsPersistent(ctx) {
		opts = append(opts, func(o *ssm.Options) { o.Retryer = awserr.PersistentRetryer() })
	}
	return f(ctx, in, opts...)
}

func ec2Call[I, O any](ctx context.Context, f func(context.Context, I, ...func(*ec2.Options)) (O, error), in I, opts []func(*ec2.Options)) (O, error) {
	deploy.CountCall(ctx)
	if poll.IsPersistent(ctx) {
		opts = append(opts, func(o *ec2.Options) { o.Retryer = awserr.PersistentRetryer() })
	}
	return f(ctx, in, opts...)
}

func (a countedSSM) SendCommand(ctx context.Context, in *ssm.SendCommandInput, o ...func(*ssm.Options)) (*ssm.SendCommandOutput, error) {
	return ssmCall(ctx, a.api.SendCommand, in, o)
}
func (a countedSSM) ListCommands(ctx context.Context, in *ssm.ListCommandsInput, o ...func(*ssm.Options)) (*ssm.ListCommandsOutput, error) {
	return ssmCall(ctx, a.api.ListCommands, in, o)
}
func (a countedSSM) ListCommandInvocations(ctx context.Context, in *ssm.ListCommandInvocationsInput, o ...func(*ssm.Options)) (*ssm.ListCommandInvocationsOutput, error) {
	return ssmCall(ctx, a.api.ListCommandInvocations, in, o)
}
func (a countedSSM) GetCommandInvocation(ctx context.Context, in *ssm.GetCommandInvocationInput, o ...func(*ssm.Options)) (*ssm.GetCommandInvocationOutput, error) {
	return ssmCall(ctx, a.api.GetCommandInvocation, in, o)
}
func (a countedSSM) CancelCommand(ctx context.Context, in *ssm.CancelCommandInput, o ...func(*ssm.Options)) (*ssm.CancelCommandOutput, error) {
	return ssmCall(ctx, a.api.CancelCommand, in, o)
}
func (a countedSSM) DescribeInstanceInformation(ctx context.Context, in *ssm.DescribeInstanceInformationInput, o ...func(*ssm.Options)) (*ssm.DescribeInstanceInformationOutput, error) {
	return ssmCall(ctx, a.api.DescribeInstanceInformation, in, o)
}
func (a countedSSM) GetParameters(ctx context.Context, in *ssm.GetParametersInput, o ...func(*ssm.Options)) (*ssm.GetParametersOutput, error) {
	return ssmCall(ctx, a.api.GetParameters, in, o)
}
func (a countedSSM) PutParameter(ctx context.Context, in *ssm.PutParameterInput, o ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	return ssmCall(ctx, a.api.PutParameter, in, o)
}
func (a countedEC2) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, o ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	return ec2Call(ctx, a.api.DescribeInstances, in, o)
}
func (a countedEC2) CreateTags(ctx context.Context, in *ec2.CreateTagsInput, o ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	return ec2Call(ctx, a.api.CreateTags, in, o)
}

var (
	_ SSMAPI = countedSSM{}
	_ EC2API = countedEC2{}
)
