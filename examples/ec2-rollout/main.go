// Command ec2-rollout rolls a release out to an EC2 fleet through SSM Run Command with the
// stevedore EC2 target, as safely as a CodeDeploy in-place deployment: strategies, a
// minimum of healthy instances, a verify step between waves, load balancers, zones,
// lifecycle hooks, Auto Scaling, alarm bakes, every invocation checked, and rollback of the
// instances it touched.
//
//	ec2-rollout (-instances i-1,i-2 | -tag Key=Value [-tag ...]) -commands FILE -version V
//	    [-image IMAGE] [-rollback-commands FILE] [-verify-commands FILE]
//	    [-strategy one-at-a-time|half-at-a-time|all-at-once|N|N%] [-min-healthy N|N%]
//	    [-target-group NAME|ARN ...] [-healthy-timeout 10m] [-by-zone] [-alarm NAME ... -bake 5m]
//	    [-application-stop FILE] [-before-install FILE] [-after-install FILE]
//	    [-application-start FILE] [-validate-service FILE] [-hook-timeout 0] [-ignore-application-stop-failures]
//	    [-auto-scaling off|suspend|follow]
//	    [-timeout 30m] [-rollback-timeout 10m] [-skip-unavailable] [-record-parameter-prefix /deploys/web]
//	    [-output-s3-bucket B] [-poll-interval 2s] [-dry-run]
//
// With -target-group each wave leaves the groups while it is replaced and comes back once
// healthy; -by-zone goes zone by zone; -alarm names CloudWatch alarms that must stay out of
// ALARM for -bake after each zone (or, without -by-zone, each wave). The hook files hold
// CodeDeploy's lifecycle events around -commands (its Install).
//
// Each line of a commands file is one shell command; the release reaches them as
// STEVEDORE_VERSION and STEVEDORE_IMAGE, what the instance ran before as
// STEVEDORE_PREVIOUS_VERSION and STEVEDORE_PREVIOUS_IMAGE (rollback commands get the previous
// release in the first two). Progress goes to stderr; the last line of stdout is "succeeded
// N/M instances"; a failure exits 1 with a one-line reason on stderr (2 for a mistake in the
// command line). SIGINT or SIGTERM cancels the command and rolls back the instances it reached
// (exit 130 or 143); a second one exits at once. AWS settings come from the usual places
// (environment, profile, AWS_ENDPOINT_URL).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/gate"
	"github.com/stevedore-dev/stevedore/internal/cli"
	"github.com/stevedore-dev/stevedore/targets/ec2"
)

func main() {
	in := cli.OnInterrupt("ec2-rollout", "cancelling and rolling back", os.Stderr)
	code := run(in.Context(), os.Args[1:], os.Stdout, os.Stderr)
	in.Stop()
	os.Exit(in.Code(code))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.Exit("ec2-rollout", rollout(ctx, args, stdout, stderr), stderr)
}

func readLines(path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		lines = append(lines, strings.TrimSuffix(l, "\r"))
	}
	return lines, nil
}

func rollout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ec2-rollout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tags := cli.NewPairs("Key=Value")
	rf := cli.AddReleaseFlags(fs)
	instances := fs.String("instances", "", "comma-separated instance IDs")
	fs.Var(tags, "tag", "Key=Value a target instance must carry (repeatable; all must match)")
	commandsFile := fs.String("commands", "", "file of shell commands that install the release, one per line")
	rollbackFile := fs.String("rollback-commands", "", "file of shell commands that reinstall the previous release")
	verifyFile := fs.String("verify-commands", "", "file of shell commands that check an instance after each wave")
	version := fs.String("version", "", "the release version (STEVEDORE_VERSION)")
	image := fs.String("image", "", "the release image (STEVEDORE_IMAGE)")
	strategy := fs.String("strategy", "one-at-a-time", "one-at-a-time, half-at-a-time, all-at-once, N or N%")
	minHealthy := fs.String("min-healthy", "", "instances that must succeed, N or N% (default: all)")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up, cancel and roll back after this long")
	rollbackTimeout := fs.Duration("rollback-timeout", deploy.DefaultRollbackTimeout, "bound the rollback after a failure or an interrupt")
	skip := fs.Bool("skip-unavailable", false, "leave out stopped, offline and unmanaged instances instead of failing")
	recordPrefix := fs.String("record-parameter-prefix", "", "record versions in Parameter Store under this prefix instead of instance tags")
	s3Bucket := fs.String("output-s3-bucket", "", "keep full command output in this S3 bucket")
	dryRun := fs.Bool("dry-run", false, "list the instances that would be hit, and send nothing")
	poll := fs.Duration("poll-interval", 2*time.Second, "first wait between status polls (it grows to 15s)")
	var targetGroups, alarms cli.List
	fs.Var(&targetGroups, "target-group", "a target group (name or ARN) each wave leaves while it is replaced (repeatable)")
	healthyTimeout := fs.Duration("healthy-timeout", 10*time.Minute, "how long instances put back may take to pass their health checks")
	byZone := fs.Bool("by-zone", false, "roll out availability zone by zone")
	fs.Var(&alarms, "alarm", "a CloudWatch alarm that must stay out of ALARM for -bake after each zone, or each wave (repeatable)")
	bake := fs.Duration("bake", 5*time.Minute, "how long -alarm is watched")
	hookFiles := map[string]*string{}
	for _, h := range []string{"application-stop", "before-install", "after-install", "application-start", "validate-service"} {
		hookFiles[h] = fs.String(h, "", "file of shell commands for the "+h+" lifecycle hook")
	}
	hookTimeout := fs.Duration("hook-timeout", 0, "each hook's execution timeout (default: SSM's)")
	ignoreStop := fs.Bool("ignore-application-stop-failures", false, "go on with an instance whose application-stop hook failed")
	scaling := fs.String("auto-scaling", "off", "off, suspend (hold Launch, Terminate and AZRebalance for the rollout) or follow (deploy to instances that join)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := rf.Check(); err != nil {
		return err
	}
	fleet := ec2.Fleet{Tags: tags.Values}
	if *instances != "" {
		fleet.InstanceIDs = strings.Split(*instances, ",")
	}
	switch {
	case len(fleet.InstanceIDs) == 0 && len(tags.Values) == 0:
		return cli.UsageError("give -instances or -tag")
	case *commandsFile == "":
		return cli.UsageError("-commands is required")
	case *version == "":
		return cli.UsageError("-version is required")
	case *scaling != "off" && *scaling != "suspend" && *scaling != "follow":
		return cli.UsageError("-auto-scaling: use off, suspend or follow")
	case len(alarms) > 0 && *bake <= 0:
		return cli.UsageError("-bake: give how long the alarms are watched")
	}
	opts := ec2.Options{SkipUnavailable: *skip, RecordParameterPrefix: *recordPrefix, OutputS3Bucket: *s3Bucket, PollInterval: *poll}
	var err error
	if opts.Strategy, err = ec2.ParseStrategy(*strategy); err != nil {
		return cli.UsageError("-strategy: " + err.Error())
	}
	if *minHealthy != "" {
		c, err := ec2.ParseCount(*minHealthy)
		if err != nil {
			return cli.UsageError("-min-healthy: " + err.Error())
		}
		opts.MinHealthy = &c
	}
	for _, f := range []struct {
		path string
		dst  *[]string
	}{{*commandsFile, &opts.Commands}, {*rollbackFile, &opts.RollbackCommands}, {*verifyFile, &opts.VerifyCommands}} {
		if *f.dst, err = readLines(f.path); err != nil {
			return err
		}
	}
	hooks := []struct {
		flag string
		dst  *ec2.Hook
	}{{"application-stop", &opts.Hooks.ApplicationStop}, {"before-install", &opts.Hooks.BeforeInstall}, {"after-install", &opts.Hooks.AfterInstall},
		{"application-start", &opts.Hooks.ApplicationStart}, {"validate-service", &opts.Hooks.ValidateService}}
	for _, h := range hooks {
		if h.dst.Commands, err = readLines(*hookFiles[h.flag]); err != nil {
			return err
		}
		h.dst.Timeout = *hookTimeout
	}
	opts.Hooks.IgnoreApplicationStopFailures = *ignoreStop
	opts.ByZone = *byZone
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("loading the AWS configuration: %w", err)
	}
	if len(targetGroups) > 0 {
		opts.LoadBalancing = &ec2.LoadBalancing{Client: elb.NewFromConfig(cfg), TargetGroups: targetGroups, HealthyTimeout: *healthyTimeout}
	}
	if *scaling != "off" {
		opts.AutoScaling = &ec2.AutoScaling{Client: autoscaling.NewFromConfig(cfg), FollowScaling: *scaling == "follow"}
	}
	if len(alarms) > 0 {
		every := min(30*time.Second, *bake)
		g := deploy.Gate{Check: gate.Alarms(cloudwatch.NewFromConfig(cfg), alarms, nil), Interval: every, Count: int(*bake/every) + 1}
		if *byZone {
			opts.ZoneGates = []deploy.Gate{g}
		} else {
			opts.WaveGates = []deploy.Gate{g}
		}
	}
	target := ec2.New(ssm.NewFromConfig(cfg), awsec2.NewFromConfig(cfg), fleet, opts)
	rel := deploy.Release{Version: *version}
	if *image != "" {
		rel.Images = map[string]string{"": *image}
	}
	dopts := &deploy.Options{
		DryRun: *dryRun, Timeout: *timeout, RollbackTimeout: *rollbackTimeout,
		OnEvent: func(e deploy.Event) {
			fmt.Fprintf(stderr, "%s %-8s %s\n", e.Time.Format("15:04:05"), e.Phase, e.Message)
		},
	}
	if !*dryRun {
		if err := rf.Prepare(ctx, &cfg, []deploy.Target{target}, dopts, stderr); err != nil {
			return err
		}
	}
	res, err := deploy.Run(ctx, rel, []deploy.Target{target}, dopts)
	if !*dryRun {
		if ferr := rf.Finish(res, err, stderr); ferr != nil && err == nil {
			return ferr
		}
	}
	var plan *ec2.Plan
	if res != nil && len(res.Targets) > 0 {
		plan, _ = res.Targets[0].Plan.(*ec2.Plan)
	}
	if *dryRun && plan != nil {
		for _, in := range plan.Instances() {
			switch {
			case in.Problem != "":
				fmt.Fprintf(stdout, "%s\tskipped: %s\n", in.ID, in.Problem)
			case in.PreviousVersion != "":
				fmt.Fprintf(stdout, "%s\t%s -> %s\n", in.ID, in.PreviousVersion, *version)
			default:
				fmt.Fprintf(stdout, "%s\t(unknown) -> %s\n", in.ID, *version)
			}
		}
		for i, w := range plan.Waves() {
			zone := ""
			if w.Zone != "" {
				zone = " in " + w.Zone
			}
			fmt.Fprintf(stdout, "wave %d%s: %s\n", i+1, zone, strings.Join(w.Instances, " "))
		}
		fmt.Fprintf(stdout, "dry run: %d instances would be hit\n", len(plan.Targets()))
		return err
	}
	if plan != nil {
		n := len(plan.Succeeded())
		if res.Outcome() == deploy.OutcomeRolledBack && n > 0 {
			fmt.Fprintf(stdout, "succeeded 0/%d instances (%d had, and were rolled back)\n", len(plan.Targets()), n)
		} else {
			fmt.Fprintf(stdout, "succeeded %d/%d instances\n", n, len(plan.Targets()))
		}
	}
	return err
}
