package ecs_test

import (
	"cmp"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/stevedore-dev/stevedore/internal/bubble"
	"github.com/stevedore-dev/stevedore/targets/ecs/ecstest"
)

// timeline is a scripted rollout: a service of desired tasks with this deployment
// configuration, judged with or without the service-deployment API.
type timeline struct {
	name, config string
	desired      int
	noAPI        bool          // judged by the deployments list, as before service deployments
	every        time.Duration // a task starts every so often; 0 means the fake's 10 s
}

var rolloutTimelines = []timeline{
	{"rolling-deployments-list", "", 4, true, 0},
	{"rolling", "", 4, false, 0},
	{"rolling-2s", "", 2, false, time.Second},
	{"rolling-37s-tasks", "", 4, false, 37 * time.Second},
	{"rolling-10m", "", 4, false, 150 * time.Second},
	{"blue-green-bake-10m", `{"strategy":"BLUE_GREEN","bakeTimeInMinutes":10}`, 4, false, 0},
	{"canary-10pct-5m", `{"strategy":"CANARY","canaryConfiguration":{"canaryPercent":10,"canaryBakeTimeInMinutes":5}}`, 4, false, 0},
	{"linear-25pct-1m", `{"strategy":"LINEAR","linearConfiguration":{"stepPercent":25,"stepBakeTimeInMinutes":1}}`, 4, false, 0},
}

// benchLag runs rollout on a fresh world of tl in each iteration and reports, on the fake
// clock, how long after the service deployment turned SUCCESSFUL the rollout returned, the
// status calls it made per minute (rollout says how many), and how long it took.
// A rollout that reports false gave up before the deployment ended (the aws CLI's waiter
// stops after 40 polls); its lag is not counted, and gave-up says how many did.
func benchLag(b *testing.B, tl timeline, rollout func(t *testing.T, e *env) (calls int, ok bool)) {
	var lags []time.Duration
	var perMinute, minutes float64
	gaveUp, runs := 0, 0
	for b.Loop() {
		bubble.Bench(b, func(t *testing.T) {
			e := newDeploymentsEnv(t, tl.desired, tl.config)
			e.srv.NoServiceDeployments = tl.noAPI
			// Each run's tasks start a random fraction of a second later than the timeline's
			// whole seconds, so that where the end falls between two polls is left to chance,
			// as it is against ECS.
			every := cmp.Or(tl.every, e.srv.StepInterval) + time.Duration(rand.Int64N(int64(time.Second)))
			e.srv.SetBehavior(newImage, ecstest.Behavior{StartEvery: every})
			start := time.Now()
			calls, ok := rollout(t, e)
			minutes = time.Since(start).Minutes()
			perMinute = float64(calls) / minutes
			runs++
			if !ok {
				gaveUp++
				return
			}
			e.srv.NoServiceDeployments = false // to read when the deployment finished
			lags = append(lags, time.Since(aws.ToTime(e.deployment(t).FinishedAt)))
		})
	}
	if len(lags) > 0 {
		sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
		b.ReportMetric(float64(lags[len(lags)/2].Milliseconds()), "lag-ms")
	}
	b.ReportMetric(perMinute, "calls/min")
	b.ReportMetric(minutes, "rollout-min")
	b.ReportMetric(float64(gaveUp)/float64(runs), "gave-up")
}

// BenchmarkWaitLag rolls a release out on each scripted timeline, every iteration a new
// deploy on a fresh fake, and reports (on the fake clock) how long after the service
// deployment turned SUCCESSFUL Apply returned, and how many DescribeServices and
// DescribeServiceDeployments calls the wait made per minute for the one service.
func BenchmarkWaitLag(b *testing.B) {
	for _, tl := range rolloutTimelines {
		b.Run(tl.name, func(b *testing.B) {
			benchLag(b, tl, func(t *testing.T, e *env) (int, bool) {
				if _, log, err := run(t, e, nil, nil); err != nil {
					t.Fatalf("Run: %v\n%s", err, log.text())
				}
				return len(e.callTimes("DescribeServices")) + len(e.callTimes("DescribeServiceDeployments")) - 1, true // less the plan's
			})
		})
	}
}

// BenchmarkWaitLagSDKWaiter runs the same timelines with what the official GitHub Action
// uses instead: UpdateService, then the SDK's ServicesStableWaiter (15 s to 600 s between
// DescribeServices, with random jitter; "one deployment and every task running"), for the
// same lag and calls per minute, side by side with BenchmarkWaitLag.
func BenchmarkWaitLagSDKWaiter(b *testing.B) {
	benchWaiter(b, func(t *testing.T, e *env, in *awsecs.DescribeServicesInput) bool {
		if err := awsecs.NewServicesStableWaiter(e.client).Wait(t.Context(), in, 2*time.Hour); err != nil {
			t.Fatal(err)
		}
		return true
	})
}

// BenchmarkWaitLagCLIWaiter is `aws ecs wait services-stable`: the waiter's acceptors (every
// service has one deployment and runningCount == desiredCount; MISSING, DRAINING or INACTIVE
// fail), DescribeServices every 15 s, and a failure after 40 polls (10 minutes). It is written
// out here because the SDK's waiter, given the CLI's fixed delay, polls without pause once the
// time left equals that delay, which a fake clock never moves past.
func BenchmarkWaitLagCLIWaiter(b *testing.B) {
	benchWaiter(b, func(t *testing.T, e *env, in *awsecs.DescribeServicesInput) bool {
		for range 40 {
			out, err := e.client.DescribeServices(t.Context(), in)
			if err != nil {
				t.Fatal(err)
			}
			stable := len(out.Failures) == 0
			for _, svc := range out.Services {
				if s := aws.ToString(svc.Status); s == "DRAINING" || s == "INACTIVE" {
					t.Fatalf("the service is %s", s)
				}
				stable = stable && len(svc.Deployments) == 1 && svc.RunningCount == svc.DesiredCount
			}
			if stable {
				return true
			}
			time.Sleep(15 * time.Second)
		}
		return false
	})
}

// benchWaiter runs each timeline with UpdateService and then wait, which reports false when
// it gave up.
func benchWaiter(b *testing.B, wait func(t *testing.T, e *env, in *awsecs.DescribeServicesInput) bool) {
	for _, tl := range rolloutTimelines {
		if tl.noAPI {
			continue
		}
		b.Run(tl.name, func(b *testing.B) {
			benchLag(b, tl, func(t *testing.T, e *env) (int, bool) {
				td, err := e.srv.RegisterTaskDefinition(`{"family":"web","containerDefinitions":[{"name":"app","image":"` + newImage + `","essential":true},{"name":"sidecar","image":"busybox:1"}]}`)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.client.UpdateService(t.Context(), &awsecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"), TaskDefinition: aws.String(td)}); err != nil {
					t.Fatal(err)
				}
				in := &awsecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}}
				ok := wait(t, e, in)
				calls := len(e.callTimes("DescribeServices"))
				if !ok {
					// It gave up: let the rollout finish, uncounted, so the bubble can end.
					if err := awsecs.NewServicesStableWaiter(e.client).Wait(t.Context(), in, 2*time.Hour); err != nil {
						t.Fatal(err)
					}
				}
				return calls, ok
			})
		})
	}
}
