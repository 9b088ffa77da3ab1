package ec2test_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/ec2"
	"github.com/stevedore-dev/stevedore/targets/ec2/ec2test"
)

// Test a fleet rollout offline: three simulated instances with SSM agents; the second
// release fails to install on one of them, and the instances it touched go back to the first.
func Example() {
	sim := ec2test.New(nil)
	sim.DeliveryDelay, sim.NotYetVisible = time.Millisecond, 0
	ids := sim.Fleet(3, map[string]string{"app": "web"})
	var broken atomic.Bool // the second release's install fails on the second instance
	sim.Script(func(inv ec2test.Invocation) ec2test.Outcome {
		if inv.InstanceID == ids[1] && strings.Contains(strings.Join(inv.Commands, "\n"), `"$STEVEDORE_VERSION"`) && broken.Load() {
			return ec2test.Outcome{Status: "Failed", Exit: 1, Stderr: "install: disk full\n", Duration: time.Millisecond}
		}
		return ec2test.Outcome{Duration: time.Millisecond}
	})
	cfg := sim.Config()
	target := ec2.New(ssm.NewFromConfig(cfg), awsec2.NewFromConfig(cfg), ec2.Fleet{Tags: map[string]string{"app": "web"}},
		ec2.Options{Commands: []string{`/opt/web/install "$STEVEDORE_VERSION"`}, RollbackCommands: []string{`/opt/web/install "$STEVEDORE_PREVIOUS_VERSION"`},
			PollInterval: time.Millisecond})
	for _, version := range []string{"1.4.1", "1.4.2"} {
		broken.Store(version == "1.4.2")
		res, err := deploy.Run(context.Background(), deploy.Release{Version: version}, []deploy.Target{target}, nil)
		fmt.Println(version, res.Outcome(), err != nil)
	}
	// Output:
	// 1.4.1 deployed false
	// 1.4.2 rolled back true
}
