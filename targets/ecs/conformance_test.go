package ecs_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/deploytest"
	"github.com/stevedore-dev/stevedore/targets/ecs"
	"github.com/stevedore-dev/stevedore/targets/ecs/ecstest"
)

// serviceState is what the conformance suite compares: the revision, desired count and
// deployment strategy of service web.
type serviceState struct {
	TaskDefinition string
	Desired        int32
	Strategy       string
}

func conformance(t *testing.T, withDeploymentAPI bool) {
	var e *env // the world of the check under way; the suite runs one at a time
	deploytest.Run(t, deploytest.Harness{
		New: func(t *testing.T) *deploytest.World {
			e = newDeploymentsEnv(t, 2, "")
			e.srv.NoServiceDeployments = !withDeploymentAPI
			e.srv.SetBehavior(repo+":crash", ecstest.Behavior{Fail: true, StoppedReason: "Essential container in task exited", ExitCode: aws.Int(1)})
			e.srv.SetBehavior(repo+":slow", ecstest.Behavior{StartEvery: time.Hour})
			image := func(tag string) deploy.Release {
				return deploy.Release{Version: tag, Images: map[string]string{"app": repo + ":" + tag}}
			}
			return &deploytest.World{
				Target: ecs.New(e.client, "prod", "web", nil),
				State: func(ctx context.Context) (any, error) {
					out, err := e.client.DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
					if err != nil {
						return nil, err
					}
					s := out.Services[0]
					return serviceState{aws.ToString(s.TaskDefinition), s.DesiredCount, string(s.DeploymentConfiguration.Strategy)}, nil
				},
				Release: image("v2"),
				Failing: image("crash"),
				Slow:    image("slow"),
				Missing: ecs.New(e.client, "prod", "no-such-service", nil),
			}
		},
		Bubble: synctest.Test,
		// Another process: a new SDK client and a new target over the same simulator.
		Restore: func(t *testing.T, w *deploytest.World) deploy.Target {
			return ecs.New(awsecs.NewFromConfig(e.srv.Config()), "prod", "web", nil)
		},
	})
}

func TestConformance(t *testing.T)                        { conformance(t, true) }
func TestConformanceWithoutTheDeploymentAPI(t *testing.T) { conformance(t, false) }
