// Command ecs-rollout is the classic CodeBuild ECS deploy step as a Go program: it reads the
// same environment as the shell script it replaces (describe-task-definition, jq,
// register-task-definition, update-service), but updates the container by name, keeps every
// field the register call accepts, waits until the service is stable, explains failures and
// rolls back.
//
// Environment: AWS_DEFAULT_REGION (or AWS_REGION), AWS_ACCOUNT_ID, IMAGE_REPO_NAME,
// CODEBUILD_RESOLVED_SOURCE_VERSION, TASK_FAMILY, ECS_CLUSTER, SERVICE_NAME, and optionally
// CONTAINER_NAME. The image is
// ${AWS_ACCOUNT_ID}.dkr.ecr.${REGION}.amazonaws.com/${IMAGE_REPO_NAME}:${CODEBUILD_RESOLVED_SOURCE_VERSION}.
// Like any SDK program it honours AWS_ENDPOINT_URL, profiles and the usual credentials.
//
// Progress goes to stderr; the new task definition ARN is the last line of stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/ecs"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the program; it returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecs-rollout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wait := fs.Bool("wait", true, "wait until the service is stable, and roll back if it fails")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up (and roll back) after this long")
	dryRun := fs.Bool("dry-run", false, "print the planned change and change nothing")
	imageDefs := fs.String("imagedefinitions", "", "write CodePipeline's imagedefinitions.json to this path")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "ecs-rollout: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		return code
	}

	env, err := readEnv(getenv)
	if err != nil {
		return fail(2, err)
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(env.region))
	if err != nil {
		return fail(1, fmt.Errorf("loading AWS configuration: %w", err))
	}
	target := ecs.New(awsecs.NewFromConfig(cfg), env.cluster, env.service, &ecs.Options{
		TaskDefinition: env.family,
		NoWait:         !*wait,
	})
	rel := deploy.Release{Version: env.version, Images: map[string]string{env.container: env.image}}
	res, err := deploy.Run(ctx, rel, []deploy.Target{target}, &deploy.Options{
		Timeout: *timeout,
		DryRun:  *dryRun,
		OnEvent: func(e deploy.Event) {
			fmt.Fprintf(stderr, "%s %-8s %s\n", e.Time.Format("15:04:05"), e.Phase, e.Message)
		},
	})
	if err != nil {
		return fail(1, err)
	}
	plan := res.Targets[0].Plan.(*ecs.Plan)
	if *dryRun {
		if !plan.Changed() {
			fmt.Fprintln(stdout, "no change")
			return 0
		}
		fmt.Fprint(stdout, plan.Diff())
		return 0
	}
	if *imageDefs != "" {
		if err := writeImageDefinitions(*imageDefs, plan.Rendered(), env.image); err != nil {
			return fail(1, err)
		}
	}
	arn := plan.Registered()
	if arn == "" {
		arn = plan.Observed()
	}
	fmt.Fprintln(stdout, arn)
	return 0
}

type environment struct {
	region, account, repo, version, family, cluster, service, container, image string
}

func readEnv(getenv func(string) string) (environment, error) {
	e := environment{
		region: getenv("AWS_DEFAULT_REGION"), account: getenv("AWS_ACCOUNT_ID"), repo: getenv("IMAGE_REPO_NAME"),
		version: getenv("CODEBUILD_RESOLVED_SOURCE_VERSION"), family: getenv("TASK_FAMILY"),
		cluster: getenv("ECS_CLUSTER"), service: getenv("SERVICE_NAME"), container: getenv("CONTAINER_NAME"),
	}
	if e.region == "" {
		e.region = getenv("AWS_REGION")
	}
	var missing []string
	for _, v := range []struct{ name, val string }{
		{"AWS_DEFAULT_REGION or AWS_REGION", e.region}, {"AWS_ACCOUNT_ID", e.account}, {"IMAGE_REPO_NAME", e.repo},
		{"CODEBUILD_RESOLVED_SOURCE_VERSION", e.version}, {"TASK_FAMILY", e.family}, {"ECS_CLUSTER", e.cluster}, {"SERVICE_NAME", e.service},
	} {
		if v.val == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		return e, errors.New("set " + strings.Join(missing, ", "))
	}
	e.image = fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s:%s", e.account, e.region, e.repo, e.version)
	return e, nil
}

// writeImageDefinitions writes [{"name":..., "imageUri":...}] for the container now running
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
	b, err := json.Marshal(defs)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing image definitions: %w", err)
	}
	return nil
}
