package ecstest_test

import (
	"context"
	"fmt"
	"time"

	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/ecs"
	"github.com/stevedore-dev/stevedore/targets/ecs/ecstest"
)

// Test your own deploy program offline: a simulated service, the real SDK client, a good
// release and one whose image cannot be pulled.
func Example() {
	sim := ecstest.New(nil)
	sim.StepInterval = 10 * time.Millisecond // a task starts every 10 ms
	sim.CreateCluster("prod")
	if _, err := sim.RegisterTaskDefinition(`{"family":"web","containerDefinitions":[{"name":"app","image":"123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v1"}]}`); err != nil {
		panic(err)
	}
	if err := sim.CreateService(ecstest.ServiceSpec{Cluster: "prod", Name: "web", TaskDefinition: "web:1", DesiredCount: 2,
		CircuitBreaker: true, Rollback: true}); err != nil {
		panic(err)
	}
	sim.SetBehavior("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:broken", ecstest.Behavior{Fail: true, StoppedReason: "CannotPullContainerError"})

	target := ecs.New(awsecs.NewFromConfig(sim.Config()), "prod", "web", &ecs.Options{PollInterval: 10 * time.Millisecond})
	for _, tag := range []string{"v2", "broken"} {
		rel := deploy.Release{Version: tag, Images: map[string]string{"app": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:" + tag}}
		res, _ := deploy.Run(context.Background(), rel, []deploy.Target{target}, nil)
		fmt.Println(tag, res.Outcome())
	}
	// Output:
	// v2 deployed
	// broken rolled back
}
