// Command quickstart shows stevedore with no AWS account: it starts a simulated ECS service
// in-process (an HTTP server that speaks the ECS API, reached by the real AWS SDK client),
// rolls a release out to it with live progress, then rolls out a broken release that fails,
// is diagnosed and is rolled back; then a blue/green rollout that waits through its bake
// time, and a canary that an alarm rolls back. Then one release in three stages across that
// ECS service, an EKS Deployment and an EC2 fleet (each simulated), with an alarm gate between
// stages, and a release whose last stage fails, after which all three are back where they
// were. It exits 0 when all six went as expected. SIGINT or SIGTERM cancels the rollout under
// way, rolls it back and exits 130 or 143; a second one exits at once.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/cli"
	"github.com/stevedore-dev/stevedore/targets/ecs"
	"github.com/stevedore-dev/stevedore/targets/ecs/ecstest"
)

const repo = "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop"

func main() {
	in := cli.OnInterrupt("quickstart", "cancelling and rolling back", os.Stderr)
	code := cli.Exit("quickstart", run(in.Context(), os.Stdout, 500*time.Millisecond), os.Stderr)
	in.Stop()
	os.Exit(in.Code(code))
}

// run plays both rollouts; step is how often the simulated service starts or stops a task.
func run(ctx context.Context, out io.Writer, step time.Duration) error {
	// A simulated ECS: service "shop" in cluster "demo", 3 tasks of shop:1, with the
	// deployment circuit breaker and its automatic rollback on.
	sim := ecstest.New(nil)
	sim.StepInterval = step
	sim.Minute = 6 * step // bake times are in minutes: the simulation runs one in 3 s
	sim.CreateCluster("demo")
	if _, err := sim.RegisterTaskDefinition(`{"family":"shop","containerDefinitions":[` +
		`{"name":"shop","image":"` + repo + `:v1","essential":true,"environment":[{"name":"LOG_LEVEL","value":"info"}]},` +
		`{"name":"log_router","image":"public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"}]}`); err != nil {
		return err
	}
	if err := sim.CreateService(ecstest.ServiceSpec{Cluster: "demo", Name: "shop", TaskDefinition: "shop:1",
		DesiredCount: 3, CircuitBreaker: true, Rollback: true}); err != nil {
		return err
	}
	sim.SetBehavior(repo+":v3", ecstest.Behavior{Fail: true,
		StoppedReason:   "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
		ContainerReason: "CannotPullContainerError: " + repo + ":v3: not found"})
	server := httptest.NewServer(sim)
	defer server.Close()

	// The real SDK client, pointed at the simulation with throwaway credentials.
	client := awsecs.New(awsecs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(server.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDQUICKSTART", "not-a-secret", ""),
	})
	target := ecs.New(client, "demo", "shop", &ecs.Options{PollInterval: step / 5, DeregisterOnRollback: true})
	var onEvent func(deploy.Event) // what a step watches for, besides printing
	opts := &deploy.Options{Timeout: 2 * time.Minute, OnEvent: func(e deploy.Event) {
		fmt.Fprintf(out, "  %s %-8s %s\n", e.Time.Format("15:04:05.0"), e.Phase, e.Message)
		if onEvent != nil {
			onEvent(e)
		}
	}}

	fmt.Fprintln(out, "1. Rolling out shop:v2 (image by repository, one env change) to ecs demo/shop ...")
	good := deploy.Release{Version: "v2", Images: map[string]string{"": repo + ":v2"},
		Env: []deploy.EnvChange{{Container: "shop", Name: "RELEASE", Value: "v2"}}}
	start := time.Now()
	res, err := deploy.Run(ctx, good, []deploy.Target{target}, opts)
	if err != nil {
		return fmt.Errorf("the good release did not go out (%s): %w", res.Outcome(), err)
	}
	first := res.Targets[0].Plan.(*ecs.Plan)
	goodTook := time.Since(start).Round(100 * time.Millisecond)

	fmt.Fprintln(out, "\n2. Rolling out shop:v3, whose image does not exist ...")
	bad := deploy.Release{Version: "v3", Images: map[string]string{"shop": repo + ":v3"}}
	start = time.Now()
	res, err = deploy.Run(ctx, bad, []deploy.Target{target}, opts)
	if err == nil {
		return errors.New("the broken release succeeded")
	}
	if ctx.Err() != nil || res.Outcome() != deploy.OutcomeRolledBack {
		return fmt.Errorf("the broken release ended %s: %w", res.Outcome(), err)
	}
	badTook, badErr := time.Since(start).Round(100*time.Millisecond), err

	fmt.Fprintln(out, "\n3. Rolling out shop:v4 blue/green: all new tasks, traffic shifted at once, a 1-minute bake with alarm shop-5xx watched ...")
	bg := ecs.New(client, "demo", "shop", &ecs.Options{PollInterval: step / 5, DeregisterOnRollback: true,
		DeploymentConfiguration: &types.DeploymentConfiguration{Strategy: types.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(1),
			Alarms: &types.DeploymentAlarms{AlarmNames: []string{"shop-5xx"}, Enable: true, Rollback: true}}})
	v4 := deploy.Release{Version: "v4", Images: map[string]string{"shop": repo + ":v4"}}
	start = time.Now()
	if res, err = deploy.Run(ctx, v4, []deploy.Target{bg}, opts); err != nil {
		return fmt.Errorf("the blue/green release did not go out (%s): %w", res.Outcome(), err)
	}
	bgTook := time.Since(start).Round(100 * time.Millisecond)

	fmt.Fprintln(out, "\n4. Rolling out shop:v5 as a canary: 10% of traffic for 1 minute; alarm shop-5xx fires during it ...")
	canary := ecs.New(client, "demo", "shop", &ecs.Options{PollInterval: step / 5, DeregisterOnRollback: true,
		DeploymentConfiguration: &types.DeploymentConfiguration{Strategy: types.DeploymentStrategyCanary,
			CanaryConfiguration: &types.CanaryConfiguration{CanaryPercent: aws.Float64(10), CanaryBakeTimeInMinutes: aws.Int32(1)}}})
	onEvent = func(e deploy.Event) {
		if e.Traffic != nil && *e.Traffic == 10 {
			sim.FireAlarm("shop-5xx", time.Now()) // the canary's errors show up
		}
	}
	v5 := deploy.Release{Version: "v5", Images: map[string]string{"shop": repo + ":v5"}}
	start = time.Now()
	res, err2 := deploy.Run(ctx, v5, []deploy.Target{canary}, opts)
	onEvent = nil
	if err2 == nil || ctx.Err() != nil || res.Outcome() != deploy.OutcomeRolledBack {
		return fmt.Errorf("the canary ended %s: %v", res.Outcome(), err2)
	}
	canaryTook := time.Since(start).Round(100 * time.Millisecond)
	sim.FireAlarm("shop-5xx", time.Time{}) // v5's errors went with it

	staged, err := stagedReleases(ctx, out, step, client)
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "\nSummary\n")
	fmt.Fprintf(out, "  v2: registered %s and rolled it out in %v\n", path.Base(first.Registered()), goodTook)
	fmt.Fprintf(out, "  v3: failed and was rolled back in %v; the error said:\n      %v\n", badTook, badErr)
	fmt.Fprintf(out, "  v4: blue/green, out after its bake in %v\n", bgTook)
	fmt.Fprintf(out, "  v5: canary rolled back by ECS when shop-5xx fired, in %v; the error said:\n      %v\n", canaryTook, err2)
	for _, line := range staged {
		fmt.Fprintf(out, "  %s\n", line)
	}
	fmt.Fprintf(out, "  %d ECS API calls in all; no AWS account or cluster used.\n", sim.TotalCalls())
	return nil
}
