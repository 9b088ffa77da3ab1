package ekstest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/eks"
	"github.com/stevedore-dev/stevedore/targets/eks/ekstest"
)

// Test code built on the EKS target with no cluster: a simulated Deployment of two
// replicas; the second release's image cannot be pulled, and the workload goes back.
func Example() {
	sim := ekstest.New(nil)
	sim.StepInterval = 10 * time.Millisecond // a pod starts, or becomes ready, every 10 ms
	_ = sim.CreateDeployment(`{"metadata":{"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},
		"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"example.com/web:1.0"}]}}}}`)
	sim.SetBehavior("example.com/web:1.2", ekstest.Behavior{Reason: "ImagePullBackOff"})
	target := eks.New(sim.Client(), eks.Deployment, "default", "web", &eks.Options{PollInterval: 10 * time.Millisecond})
	for _, version := range []string{"1.1", "1.2"} {
		r := deploy.Release{Version: version, Images: map[string]string{"web": "example.com/web:" + version}}
		res, err := deploy.Run(context.Background(), r, []deploy.Target{target}, nil)
		fmt.Println(version, res.Outcome(), err != nil)
	}
	serving := map[string]int{} // pods ready, by image
	for _, image := range sim.Images("default", "web") {
		serving[image]++
	}
	fmt.Println(serving)
	// Output:
	// 1.1 deployed false
	// 1.2 rolled back true
	// map[example.com/web:1.1:2]
}
