// Command ecs-rollout is the classic CodeBuild ECS deploy step as a Go program: it reads the
// same environment as the shell script it replaces (describe-task-definition, jq,
// register-task-definition, update-service), but updates the container by name, keeps every
// field the register call accepts, waits until the service is stable, explains failures and
// rolls back. `ecs-rollout -h` lists the environment it reads.
//
// The image is ${AWS_ACCOUNT_ID}.dkr.ecr.${REGION}.amazonaws.com/${IMAGE_REPO_NAME}:TAG, the tag
// being -tag, IMAGE_TAG or CODEBUILD_RESOLVED_SOURCE_VERSION, and the account the caller's
// (STS GetCallerIdentity) when AWS_ACCOUNT_ID is not set. Like any SDK program it honours
// AWS_ENDPOINT_URL, profiles and the usual credentials.
//
// Progress goes to stderr; the new task definition ARN is the last line of stdout. It exits
// 0 when the service runs the release, 1 when it failed (after rolling back), 2 for a mistake
// in the command line or environment; SIGINT or SIGTERM cancels and rolls back (exit 130 or
// 143), and a second one exits at once.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/credentials"
	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
	"github.com/stevedore-dev/stevedore/internal/cli"
	"github.com/stevedore-dev/stevedore/targets/ecs"
)

func main() {
	in := cli.OnInterrupt("ecs-rollout", "cancelling and rolling back", os.Stderr)
	code := run(in.Context(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	in.Stop()
	os.Exit(in.Code(code))
}

const environmentHelp = `Environment (what the CodeBuild script reads):
  required:
    AWS_DEFAULT_REGION or AWS_REGION   the region
    IMAGE_REPO_NAME                    the ECR repository
    TASK_FAMILY                        the task definition family to start from
    ECS_CLUSTER, SERVICE_NAME          the service to update
    CODEBUILD_RESOLVED_SOURCE_VERSION  the release version, and the image tag unless -tag
                                       or IMAGE_TAG gives one (required without them)
  optional:
    AWS_ACCOUNT_ID   the registry's account (default: the caller's, from STS; CodeBuild
                     does not set it)
    IMAGE_TAG        the image tag, as -tag (many builds tag by short SHA or build number)
    CONTAINER_NAME   the container to update (default: the one running the repository,
                     else the only one)
  and what any AWS SDK program reads: AWS_PROFILE, AWS_ENDPOINT_URL, credentials, ...`

// run is the program; it returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return cli.Exit("ecs-rollout", rollout(ctx, args, getenv, stdout, stderr), stderr)
}

func rollout(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ecs-rollout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wait := fs.Bool("wait", true, "wait until the service is stable, and roll back if it fails (moto never\nprogresses deployments: use -wait=false against it)")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up (and roll back) after this long")
	rollbackTimeout := fs.Duration("rollback-timeout", deploy.DefaultRollbackTimeout, "bound the rollback after a failure or an interrupt")
	dryRun := fs.Bool("dry-run", false, "print the planned change and change nothing")
	tag := fs.String("tag", "", "the image tag (default: IMAGE_TAG, else CODEBUILD_RESOLVED_SOURCE_VERSION)")
	imageDefs := fs.String("imagedefinitions", "", "write CodePipeline's imagedefinitions.json (ECS deploy action) to this path")
	imageDetail := fs.String("imagedetail", "", "write CodePipeline's imageDetail.json (ECS blue/green action) to this path")
	waitUntil := fs.String("wait-until", "deployed", "when the wait ends: deployed (the service deployment is SUCCESSFUL), started,\nor a lifecycle stage such as BAKE_TIME (then follow it later with -wait-for)")
	waitFor := fs.String("wait-for", "", "deploy nothing: wait for (or, with -wait-until started, report on) the service\ndeployment with this ARN; only the region needs to be set")
	keep := fs.Int("keep", 0, "after a successful deploy, keep the newest `N` revisions of the family and deregister\nthe rest that no service or in-flight deployment uses (0 keeps all)")
	rf := cli.AddReleaseFlags(fs)
	verify := fs.Bool("verify", false, "before changing anything, check that the images (ECR), roles, log groups and\nsecrets the new task definition names exist and can be read")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ecs-rollout [flags]\n\n%s\n\nFlags:\n", environmentHelp)
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := rf.Check(); err != nil {
		return err
	}
	until, err := ecs.ParseUntil(*waitUntil)
	if err != nil {
		return cli.UsageError("-wait-until: " + err.Error())
	}
	if *keep < 0 {
		return cli.UsageError("-keep must be 0 (keep all) or more")
	}
	logEvent := func(e deploy.Event) {
		fmt.Fprintf(stderr, "%s %-8s %s\n", e.Time.Format("15:04:05"), e.Phase, e.Message)
	}
	if *waitFor != "" {
		return follow(ctx, *waitFor, until, *timeout, getenv, stdout, logEvent)
	}
	env, err := readEnv(getenv, *tag)
	if err != nil {
		return err
	}
	// Every output file is checked before anything changes: a deploy must not succeed and
	// then fail on a path it cannot write.
	for _, p := range []string{*imageDefs, *imageDetail} {
		if err := cli.CheckWritable(p); err != nil {
			return fmt.Errorf("%v; nothing was changed", err)
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(env.region))
	if err != nil {
		return fmt.Errorf("loading the AWS configuration: %w", err)
	}
	if env.account == "" {
		out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return awserr.WrapHints("", "find the account (AWS_ACCOUNT_ID is not set)", err, awserr.Hints{nil: "set AWS_ACCOUNT_ID"})
		}
		env.account = aws.ToString(out.Account)
	}
	image := fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s:%s", env.account, env.region, env.repo, env.tag)
	if !*wait {
		until = ecs.Started
	}
	opts := &ecs.Options{TaskDefinition: env.family, WaitUntil: until}
	if *verify {
		opts.Verify = &ecs.Verifier{ECR: ecr.NewFromConfig(cfg), IAM: iam.NewFromConfig(cfg), Logs: cloudwatchlogs.NewFromConfig(cfg),
			Secrets: credentials.NewResolver(secretsmanager.NewFromConfig(cfg), ssm.NewFromConfig(cfg), nil), Region: env.region}
	}
	client := awsecs.NewFromConfig(cfg)
	target := ecs.New(client, env.cluster, env.service, opts)
	rel := deploy.Release{Version: env.version, Images: map[string]string{env.container: image}}
	dopts := &deploy.Options{
		Timeout:         *timeout,
		RollbackTimeout: *rollbackTimeout,
		DryRun:          *dryRun,
		OnEvent:         logEvent,
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
	if err != nil {
		return err
	}
	plan := res.Targets[0].Plan.(*ecs.Plan)
	if *dryRun {
		if !plan.Changed() {
			fmt.Fprintln(stdout, "no change")
			return nil
		}
		fmt.Fprint(stdout, plan.Diff())
		return nil
	}
	if *imageDefs != "" {
		if err := writeImageDefinitions(*imageDefs, plan.Rendered(), image); err != nil {
			return err
		}
	}
	if *imageDetail != "" {
		if err := writeJSON(*imageDetail, map[string]string{"ImageURI": image}); err != nil {
			return err
		}
	}
	if d := plan.Deployment(); d != "" && !plan.Status().Done {
		fmt.Fprintf(stderr, "service deployment %s is still under way; follow it with:\n  ecs-rollout -wait-for %s\n", d, d)
	}
	if *keep > 0 {
		pr, err := ecs.Prune(ctx, client, env.cluster, familyOf(plan), ecs.PruneOptions{Keep: *keep})
		if err != nil {
			return fmt.Errorf("the deploy succeeded, but pruning old revisions failed: %w", err)
		}
		fmt.Fprintf(stderr, "pruned: deregistered %d revisions, kept %d, %d older ones still in use\n", len(pr.Deregistered), len(pr.Kept), len(pr.InUse))
	}
	arn := plan.Registered()
	if arn == "" {
		arn = plan.Observed()
	}
	fmt.Fprintln(stdout, arn)
	return nil
}

// familyOf is the family of the revision the plan leaves the service on.
func familyOf(p *ecs.Plan) string {
	return gjson.GetBytes(p.Rendered(), "family").Str
}

// follow waits for a service deployment another run started, and prints its final status.
func follow(ctx context.Context, arn string, until ecs.Until, timeout time.Duration, getenv func(string) string, stdout io.Writer, emit deploy.EventFunc) error {
	if _, _, err := ecs.ParseDeploymentARN(arn); err != nil {
		return cli.UsageError("-wait-for: " + err.Error())
	}
	region := getenv("AWS_DEFAULT_REGION")
	if region == "" {
		region = getenv("AWS_REGION")
	}
	if region == "" {
		return cli.UsageError("set AWS_DEFAULT_REGION or AWS_REGION")
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return fmt.Errorf("loading the AWS configuration: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := ecs.Follow(ctx, awsecs.NewFromConfig(cfg), arn, &ecs.Options{WaitUntil: until}, emit)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, st.Message)
	return nil
}

type environment struct {
	region, account, repo, version, tag, family, cluster, service, container string
}

func readEnv(getenv func(string) string, tag string) (environment, error) {
	e := environment{
		region: getenv("AWS_DEFAULT_REGION"), account: getenv("AWS_ACCOUNT_ID"), repo: getenv("IMAGE_REPO_NAME"),
		version: getenv("CODEBUILD_RESOLVED_SOURCE_VERSION"), family: getenv("TASK_FAMILY"),
		cluster: getenv("ECS_CLUSTER"), service: getenv("SERVICE_NAME"), container: getenv("CONTAINER_NAME"), tag: tag,
	}
	if e.region == "" {
		e.region = getenv("AWS_REGION")
	}
	if e.tag == "" {
		e.tag = getenv("IMAGE_TAG")
	}
	if e.tag == "" {
		e.tag = e.version
	}
	if e.version == "" {
		e.version = e.tag
	}
	var missing []string
	for _, v := range []struct{ name, val string }{
		{"AWS_DEFAULT_REGION or AWS_REGION", e.region}, {"IMAGE_REPO_NAME", e.repo},
		{"CODEBUILD_RESOLVED_SOURCE_VERSION (or -tag, or IMAGE_TAG)", e.tag}, {"TASK_FAMILY", e.family}, {"ECS_CLUSTER", e.cluster}, {"SERVICE_NAME", e.service},
	} {
		if v.val == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		return e, cli.UsageError("set " + strings.Join(missing, ", "))
	}
	return e, nil
}

// writeImageDefinitions writes [{"name":..., "imageUri":...}] for the containers now running
// image, the file CodePipeline's ECS deploy action reads.
func writeImageDefinitions(path string, rendered []byte, image string) error {
	type def struct {
		Name     string `json:"name"`
		ImageURI string `json:"imageUri"`
	}
	var defs []def
	for _, c := range gjson.GetBytes(rendered, "containerDefinitions").Array() {
		if c.Get("image").Str == image {
			defs = append(defs, def{c.Get("name").Str, image})
		}
	}
	return writeJSON(path, defs)
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
