package ec2

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/deploy"
)

// SSMAPI is the part of *ssm.Client the target calls.
type SSMAPI interface {
	SendCommand(context.Context, *ssm.SendCommandInput, ...func(*ssm.Options)) (*ssm.SendCommandOutput, error)
	ListCommands(context.Context, *ssm.ListCommandsInput, ...func(*ssm.Options)) (*ssm.ListCommandsOutput, error)
	ListCommandInvocations(context.Context, *ssm.ListCommandInvocationsInput, ...func(*ssm.Options)) (*ssm.ListCommandInvocationsOutput, error)
	GetCommandInvocation(context.Context, *ssm.GetCommandInvocationInput, ...func(*ssm.Options)) (*ssm.GetCommandInvocationOutput, error)
	CancelCommand(context.Context, *ssm.CancelCommandInput, ...func(*ssm.Options)) (*ssm.CancelCommandOutput, error)
	DescribeInstanceInformation(context.Context, *ssm.DescribeInstanceInformationInput, ...func(*ssm.Options)) (*ssm.DescribeInstanceInformationOutput, error)
	GetParameters(context.Context, *ssm.GetParametersInput, ...func(*ssm.Options)) (*ssm.GetParametersOutput, error)
	PutParameter(context.Context, *ssm.PutParameterInput, ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
	DeleteParameter(context.Context, *ssm.DeleteParameterInput, ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error)
}

// EC2API is the part of *ec2.Client the target calls.
type EC2API interface {
	DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	CreateTags(context.Context, *ec2.CreateTagsInput, ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
}

// Fleet says which instances a release goes to: listed IDs, or every instance carrying all
// of Tags (which scales to thousands in one command).
type Fleet struct {
	InstanceIDs []string
	Tags        map[string]string
}

func (f Fleet) String() string {
	if len(f.Tags) > 0 {
		keys := make([]string, 0, len(f.Tags))
		for k := range f.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = "tag:" + k + "=" + f.Tags[k]
		}
		return strings.Join(parts, ",")
	}
	if len(f.InstanceIDs) <= 3 {
		return strings.Join(f.InstanceIDs, ",")
	}
	return strings.Join(f.InstanceIDs[:3], ",") + ",..."
}

// Options says what runs on the instances and how the rollout proceeds. Commands (or a
// Document) is required.
type Options struct {
	// Commands run with AWS-RunShellScript. The release reaches them as environment
	// variables: STEVEDORE_VERSION, STEVEDORE_IMAGE (STEVEDORE_IMAGE_<NAME> for named
	// images), the release's Env entries, and STEVEDORE_PREVIOUS_VERSION and
	// STEVEDORE_PREVIOUS_IMAGE where a previous rollout was recorded.
	Commands []string
	// RollbackCommands run on the instances a failed rollout touched, with the previous
	// release's values in the same variables; STEVEDORE_FAILED_VERSION, and
	// STEVEDORE_PREVIOUS_VERSION and STEVEDORE_PREVIOUS_IMAGE, hold the failed release.
	RollbackCommands []string
	// VerifyCommands, if set, run after each wave (a local health check, say); a non-zero
	// exit fails that instance, and the rollout goes on to the next wave only if it may.
	VerifyCommands []string
	// Hooks are CodeDeploy's lifecycle events around Commands, each its own command per
	// wave; setting any makes the target drive the rollout wave by wave.
	Hooks Hooks
	// WaveGates, if set, run after each wave, in order (a CloudWatch alarm's bake, say:
	// deploy/gate); a gate that fails stops the rollout, which then rolls back.
	// Like VerifyCommands, they make the target drive the rollout wave by wave.
	WaveGates []deploy.Gate
	// WorkingDirectory and ExecutionTimeout are AWS-RunShellScript's parameters.
	WorkingDirectory string
	ExecutionTimeout time.Duration
	// Document runs another SSM document with Parameters instead of AWS-RunShellScript;
	// the version and image go into the parameters VersionParameter and ImageParameter.
	Document                         string
	Parameters                       map[string][]string
	VersionParameter, ImageParameter string
	// DeliveryTimeout is how long SSM tries to reach an instance (TimeoutSeconds); zero
	// means SSM's default of an hour.
	DeliveryTimeout time.Duration

	// Strategy is how many instances run at once: OneAtATime (the default), HalfAtATime,
	// AllAtOnce or any Count.
	Strategy Count
	// MinHealthy is how many instances must succeed; more failures than the rest stop the
	// rollout and roll it back. Nil means every instance.
	MinHealthy *Count
	// SkipUnavailable leaves out stopped, offline and unmanaged instances instead of failing
	// before anything is sent.
	SkipUnavailable bool

	// LoadBalancing, when set, takes each wave out of its target groups while it is
	// replaced, puts it back healthy, and never takes so many out at once that a target
	// group would keep fewer healthy targets than MinHealthy of them.
	LoadBalancing *LoadBalancing
	// ByZone rolls out availability zone by zone, in zone order (CodeDeploy's zonal
	// configuration): a zone's waves finish, and ZoneGates pass, before the next zone
	// starts; MinHealthy also applies to each zone's instances.
	ByZone bool
	// ZoneGates run after each zone's last wave (a bake with an alarm check, say), after
	// the wave gates.
	ZoneGates []deploy.Gate
	// AutoScaling, when set, keeps Auto Scaling from changing the fleet during the rollout,
	// or follows the changes, and records the release per group for new instances to read.
	// Instances that leave the fleet mid-rollout are reported, not counted as failures.
	AutoScaling *AutoScaling

	// RecordTag is the instance tag that records what each instance runs after a successful
	// rollout ("<tag>" holds the version, "<tag>-image" the image); empty means
	// "stevedore:version". RecordParameterPrefix records in Parameter Store instead, one
	// parameter per instance under the prefix.
	RecordTag             string
	RecordParameterPrefix string

	// OutputS3Bucket and OutputS3KeyPrefix, or CloudWatchLogGroup, keep full command output
	// (SSM returns 24,000 characters of stdout and 8,000 of stderr).
	OutputS3Bucket, OutputS3KeyPrefix string
	CloudWatchLogGroup                string

	// PollInterval is the wait between a command's status polls (one ListCommands each);
	// throttling slows it down, up to 15 s. Zero means 1 s.
	PollInterval time.Duration
	// Logger receives debug lines; nil discards them.
	Logger *slog.Logger
}

// Target rolls releases out to an EC2 fleet through SSM Run Command.
type Target struct {
	ssm   SSMAPI
	ec2   EC2API
	elb   ELBAPI         // nil without LoadBalancing
	asg   AutoScalingAPI // nil without AutoScaling
	fleet Fleet
	opts  Options
	log   *slog.Logger
}

// New returns a target for fleet; opts says what to run.
func New(ssmClient SSMAPI, ec2Client EC2API, fleet Fleet, opts Options) *Target {
	t := &Target{ssm: countedSSM{ssmClient}, ec2: countedEC2{ec2Client}, fleet: fleet, opts: opts, log: deploy.LoggerOrDiscard(opts.Logger)}
	if lb := opts.LoadBalancing; lb != nil && lb.Client != nil {
		t.elb = countedELB{lb.Client}
	}
	if a := opts.AutoScaling; a != nil && a.Client != nil {
		t.asg = countedASG{a.Client}
	}
	if t.opts.Strategy == (Count{}) {
		t.opts.Strategy = OneAtATime
	}
	if t.opts.RecordTag == "" {
		t.opts.RecordTag = "stevedore:version"
	}
	if t.opts.PollInterval <= 0 {
		t.opts.PollInterval = time.Second
	}
	if t.opts.Document == "" {
		t.opts.Document = "AWS-RunShellScript"
	}
	return t
}

// Name is "ec2:" and the fleet: "ec2:tag:app=web" or "ec2:i-1,i-2".
func (t *Target) Name() string { return "ec2:" + t.fleet.String() }

var (
	_ deploy.Target   = (*Target)(nil)
	_ deploy.Honourer = (*Target)(nil)
)

// byWaves reports whether the target drives the rollout wave by wave, rather than with
// one command whose MaxConcurrency paces it.
func (t *Target) byWaves() bool {
	o := t.opts
	return len(o.VerifyCommands) > 0 || len(o.WaveGates) > 0 || o.Hooks.any() || o.LoadBalancing != nil || o.ByZone || o.AutoScaling != nil
}

// staged reports whether an instance's rollout takes more than its install command: one
// that finished its install is not yet done.
func (t *Target) staged() bool {
	return len(t.opts.VerifyCommands) > 0 || t.opts.Hooks.any() || t.opts.LoadBalancing != nil
}

// Honours says the EC2 target takes images, environment and a version, but no secrets by
// reference (resolve them with the credentials package instead).
func (t *Target) Honours() deploy.Parts { return deploy.Images | deploy.Env | deploy.Version }
