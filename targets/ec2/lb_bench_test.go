package ec2_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/bubble"
	"github.com/stevedore-dev/stevedore/targets/ec2"
	"github.com/stevedore-dev/stevedore/targets/ec2/ec2test"
)

// BenchmarkFleetRollout rolls a release out to a fresh fleet of 100 or 1,000 instances over
// three zones each iteration, in a synctest bubble: each command takes 5 s on an instance,
// target groups drain for 30 s and pass health checks 10 s after registration. It reports
// the rollout's length on the fake clock and its API calls: one command by tag (SSM runs 10%
// at a time), waves of 10% driven by the target, and those waves behind two target groups,
// zone by zone, keeping 50% of each group and zone in service.
func BenchmarkFleetRollout(b *testing.B) {
	for _, n := range []int{100, 1000} {
		for _, mode := range []string{"one-command", "waves", "target-groups-and-zones"} {
			b.Run(fmt.Sprintf("%d/%s", n, mode), func(b *testing.B) {
				var took time.Duration
				calls := map[string]int{}
				for i := 0; b.Loop(); i++ {
					bubble.Bench(b, func(t *testing.T) {
						e := newEnv()
						e.srv.DeliveryDelay, e.srv.NotYetVisible = 100*time.Millisecond, 0
						e.srv.Script(func(ec2test.Invocation) ec2test.Outcome { return ec2test.Outcome{Duration: 5 * time.Second} })
						ids := e.srv.Fleet(n, map[string]string{"app": "web"})
						opts := ec2.Options{Commands: script, Strategy: ec2.Count{N: 10, Percent: true}}
						switch mode {
						case "waves":
							opts.VerifyCommands = []string{"true"}
						case "target-groups-and-zones":
							var arns []string
							for _, name := range []string{"web", "api"} {
								arns = append(arns, e.srv.CreateTargetGroup(ec2test.TargetGroup{Name: name, DeregistrationDelay: 30 * time.Second, HealthyAfter: 10 * time.Second, Instances: ids}))
							}
							cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String("http://fleet.invalid"),
								Credentials: awscreds.NewStaticCredentialsProvider("testing", "testing", ""), HTTPClient: e.srv.HTTPClient()}
							opts.LoadBalancing = &ec2.LoadBalancing{Client: elb.NewFromConfig(cfg), TargetGroups: arns}
							opts.ByZone, opts.MinHealthy = true, &ec2.Count{N: 50, Percent: true}
							opts.VerifyCommands = []string{"true"}
						}
						rel := deploy.Release{Version: fmt.Sprintf("v%d", i+2)}
						start := time.Now()
						if _, err := deploy.Run(context.Background(), rel, []deploy.Target{e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, opts)}, nil); err != nil {
							t.Fatal(err)
						}
						took = time.Since(start)
						clear(calls)
						for _, c := range e.srv.History() {
							calls[c.Op]++
						}
					})
				}
				total := 0
				for _, n := range calls {
					total += n
				}
				b.ReportMetric(took.Seconds(), "rollout-s")
				b.ReportMetric(float64(total), "calls")
				for _, op := range []string{"SendCommand", "ListCommands", "ListCommandInvocations", "DescribeTargetHealth", "DeregisterTargets", "RegisterTargets"} {
					if calls[op] > 0 {
						b.ReportMetric(float64(calls[op]), op)
					}
				}
			})
		}
	}
}
