package ecs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/ecs"
)

// Roll a new image out to one service, as a CodeBuild post-build step would.
func ExampleNew() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx) // region, credentials, AWS_ENDPOINT_URL
	if err != nil {
		panic(err)
	}
	target := ecs.New(awsecs.NewFromConfig(cfg), "prod", "web", nil)
	rel := deploy.Release{
		Version: os.Getenv("CODEBUILD_RESOLVED_SOURCE_VERSION"),
		Images:  map[string]string{"app": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:" + os.Getenv("CODEBUILD_RESOLVED_SOURCE_VERSION")},
	}
	_, err = deploy.Run(ctx, rel, []deploy.Target{target}, &deploy.Options{
		Timeout: 10 * time.Minute,
		OnEvent: func(e deploy.Event) { fmt.Fprintln(os.Stderr, e.Phase, e.Message) },
	})
	var apiErr smithy.APIError
	switch {
	case errors.Is(err, deploy.ErrRolledBack):
		fmt.Println("failed and rolled back:", err)
	case errors.As(err, &apiErr):
		fmt.Println("AWS said", apiErr.ErrorCode())
	case err != nil:
		fmt.Println(err)
	}
}

// Wait on many services of one cluster with one DescribeServices call per ten services.
func ExampleNewCluster() {
	cfg, _ := config.LoadDefaultConfig(context.Background())
	cluster := ecs.NewCluster(awsecs.NewFromConfig(cfg), "prod", nil)
	var targets []deploy.Target
	for _, svc := range []string{"api", "worker", "scheduler"} {
		targets = append(targets, cluster.Service(svc))
	}
	rel := deploy.Release{Images: map[string]string{"": "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:v42"}}
	_, err := deploy.Run(context.Background(), rel, targets, nil) // one fails: all roll back
	fmt.Println(err)
}

// Render a task definition file from a repository without calling AWS.
func ExampleRender() {
	file := []byte(`{
	  "taskDefinition": {
	    "family": "web", "revision": 7, "status": "ACTIVE", "registeredAt": "2026-11-20T10:15:00Z",
	    "containerDefinitions": [{"name": "app", "image": "nginx:1.26", "environment": [{"name": "MODE", "value": ""}]}]
	  },
	  "tags": [{"key": "team", "value": "web"}]
	}`)
	out, err := ecs.Render(file, deploy.Release{
		Images:  map[string]string{"": "nginx:1.27"},
		Secrets: []deploy.SecretRef{{Name: "DB_PASSWORD", ValueFrom: "arn:aws:ssm:us-east-1:123456789012:parameter/web/db"}},
	}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(out))
	// Output:
	// {"family":"web","containerDefinitions":[{"name":"app","image":"nginx:1.27","environment":[{"name":"MODE","value":""}],"secrets":[{"name":"DB_PASSWORD","valueFrom":"arn:aws:ssm:us-east-1:123456789012:parameter/web/db"}]}],"tags":[{"key":"team","value":"web"}]}
}

// ServiceStatus is the pure rule the wait loop applies to each observation.
func ExampleServiceStatus() {
	const want = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:8"
	since := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	svc := types.Service{Status: aws.String("ACTIVE"), DesiredCount: 2, RunningCount: 2, Deployments: []types.Deployment{
		{Status: aws.String("PRIMARY"), TaskDefinition: aws.String("arn:aws:ecs:us-east-1:123456789012:task-definition/web:7"),
			CreatedAt: aws.Time(since.Add(3 * time.Minute)), RunningCount: 2, DesiredCount: 2, RolloutState: types.DeploymentRolloutStateInProgress},
		{Status: aws.String("ACTIVE"), TaskDefinition: aws.String(want), CreatedAt: aws.Time(since), FailedTasks: 3,
			RolloutState: types.DeploymentRolloutStateFailed, RolloutStateReason: aws.String("ECS deployment circuit breaker: tasks failed to start.")},
	}}
	st := ecs.ServiceStatus(svc, ecs.Want{TaskDefinition: want, Since: since})
	fmt.Println(st.Failed, st.Message)
	// Output:
	// true ECS rolled the service back to web:7 by itself: ECS deployment circuit breaker: tasks failed to start.
}

// A newer deployment of another revision that is not ECS's own rollback is someone else's:
// the wait judges the deployment it started, and stops following this one.
func ExampleServiceStatus_superseded() {
	since := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	want := ecs.Want{TaskDefinition: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:8", DeploymentID: "ecs-svc/111", Since: since,
		Previous: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7"}
	svc := types.Service{Status: aws.String("ACTIVE"), DesiredCount: 2, RunningCount: 2, Deployments: []types.Deployment{
		{Id: aws.String("ecs-svc/222"), Status: aws.String("PRIMARY"), TaskDefinition: aws.String("arn:aws:ecs:us-east-1:123456789012:task-definition/web:9"),
			CreatedAt: aws.Time(since.Add(time.Minute)), DesiredCount: 2, RolloutState: types.DeploymentRolloutStateInProgress},
		{Id: aws.String("ecs-svc/111"), Status: aws.String("ACTIVE"), TaskDefinition: aws.String(want.TaskDefinition), CreatedAt: aws.Time(since),
			RunningCount: 2, DesiredCount: 2, RolloutState: types.DeploymentRolloutStateInProgress},
	}}
	st := ecs.ServiceStatus(svc, want)
	fmt.Println(st.Superseded, st.Message)
	// Output:
	// true another writer updated the service to web:9 (deployment ecs-svc/222) after this deploy started; this deploy stops following it and leaves it as that writer set it
}

// A blue/green rollout with a 30-minute bake watched by two alarms, whose PAUSE hook before
// production traffic asks a smoke test; the CI job returns once the bake starts and a later
// job follows the deployment to its end.
func ExampleOptions_blueGreen() {
	ctx := context.Background()
	cfg, _ := config.LoadDefaultConfig(ctx)
	client := awsecs.NewFromConfig(cfg)
	target := ecs.New(client, "prod", "web", &ecs.Options{
		DeploymentConfiguration: &types.DeploymentConfiguration{
			Strategy:          types.DeploymentStrategyBlueGreen,
			BakeTimeInMinutes: aws.Int32(30),
			Alarms:            &types.DeploymentAlarms{AlarmNames: []string{"web-5xx", "web-p99"}, Enable: true, Rollback: true},
		},
		Hooks: func(ctx context.Context, h ecs.Hook) (bool, error) {
			return smokeTest(ctx, "https://test.web.example.com/health") // true: CONTINUE, false: ROLLBACK
		},
		WaitUntil: ecs.UntilStage(types.ServiceDeploymentLifecycleStageBakeTime),
	})
	res, err := deploy.Run(ctx, deploy.Release{Images: map[string]string{"": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v42"}},
		[]deploy.Target{target}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	arn := res.Targets[0].Plan.(*ecs.Plan).Deployment()
	// ... later, perhaps in another job:
	st, err := ecs.Follow(ctx, client, arn, nil, func(e deploy.Event) { fmt.Println(e.Stage, e.Message) })
	fmt.Println(st.Done, err)
}

func smokeTest(context.Context, string) (bool, error) { return true, nil }

// Judge one observation of a service deployment: still baking is not success.
func ExampleDeploymentStatus() {
	d := types.ServiceDeployment{
		ServiceDeploymentArn:    aws.String("arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/web/r4nd0m"),
		Status:                  types.ServiceDeploymentStatusInProgress,
		LifecycleStage:          types.ServiceDeploymentLifecycleStageBakeTime,
		TargetServiceRevision:   &types.ServiceRevisionSummary{RequestedTaskCount: 4, RunningTaskCount: 4, RequestedProductionTrafficWeight: aws.Float64(100)},
		DeploymentConfiguration: &types.DeploymentConfiguration{BakeTimeInMinutes: aws.Int32(30)},
	}
	st := ecs.DeploymentStatus(d, aws.ToString(d.ServiceDeploymentArn), 10*time.Minute)
	fmt.Println(st.Done, st.Message)

	d.Status = types.ServiceDeploymentStatusRollbackInProgress
	d.Alarms = &types.ServiceDeploymentAlarms{Status: types.ServiceDeploymentRollbackMonitorsStatusTriggered, TriggeredAlarmNames: []string{"web-5xx"}}
	st = ecs.DeploymentStatus(d, aws.ToString(d.ServiceDeploymentArn), 0)
	fmt.Println(st.Failed, st.RolledBack, st.Message)
	// Output:
	// false IN_PROGRESS BAKE_TIME: 4/4 new tasks running, 0 pending, 100% of production traffic, 20m0s of bake time left
	// true true ECS is rolling service deployment r4nd0m back; alarms in ALARM: web-5xx
}

// Read "-wait-until" style values.
func ExampleParseUntil() {
	for _, s := range []string{"deployed", "started", "bake-time"} {
		u, err := ecs.ParseUntil(s)
		fmt.Printf("%q %v\n", u, err)
	}
	// Output:
	// "" <nil>
	// "STARTED" <nil>
	// "BAKE_TIME" <nil>
}

// Report where a deployment another run started stands, by its ARN.
func ExampleReport() {
	cfg, _ := config.LoadDefaultConfig(context.Background())
	arn := "arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/web/r4nd0m"
	st, err := ecs.Report(context.Background(), awsecs.NewFromConfig(cfg), arn)
	fmt.Println(st.State, st.Stage, st.Message, err)
}

func ExampleParseDeploymentARN() {
	fmt.Println(ecs.ParseDeploymentARN("arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/web/r4nd0m"))
	// Output: prod web <nil>
}

// Keep the newest five revisions of a family; a revision a service or an in-flight service
// deployment uses stays whatever its age.
func ExamplePrune() {
	cfg, _ := config.LoadDefaultConfig(context.Background())
	res, err := ecs.Prune(context.Background(), awsecs.NewFromConfig(cfg), "prod", "web", ecs.PruneOptions{Keep: 5})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(res.Deregistered), "deregistered,", len(res.InUse), "older ones in use")
}

// Check the images, roles, log groups and secrets of the new task definition before the
// deploy changes anything.
func ExamplePlan_Verify() {
	ctx := context.Background()
	cfg, _ := config.LoadDefaultConfig(ctx)
	target := ecs.New(awsecs.NewFromConfig(cfg), "prod", "web", nil)
	p, err := target.Plan(ctx, deploy.Release{Images: map[string]string{"": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v42"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	report, err := p.(*ecs.Plan).Verify(ctx, &ecs.Verifier{ECR: ecr.NewFromConfig(cfg), IAM: iam.NewFromConfig(cfg),
		Logs: cloudwatchlogs.NewFromConfig(cfg), Region: cfg.Region})
	fmt.Println(len(report.Checked), "checked;", err) // err names every problem at once
}
