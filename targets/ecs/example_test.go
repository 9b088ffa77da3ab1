package ecs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
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
