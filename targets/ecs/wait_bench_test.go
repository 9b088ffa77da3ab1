package ecs_test

import (
	"sort"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
)

// inBubble runs f in a testing/synctest bubble from a benchmark: synctest.Test takes a
// *testing.T, which testing.RunTests provides. Times measured inside are the fake clock's.
func inBubble(b *testing.B, f func(t *testing.T)) {
	b.Helper()
	ok := testing.RunTests(func(string, string) (bool, error) { return true, nil },
		[]testing.InternalTest{{Name: b.Name(), F: func(t *testing.T) { synctest.Test(t, f) }}})
	if !ok {
		b.Fatal("the rollout in the bubble failed")
	}
}

// timeline is a scripted rollout: a service of desired tasks with this deployment
// configuration, judged with or without the service-deployment API.
type timeline struct {
	name, config string
	desired      int
	noAPI        bool // judged by the deployments list, as before service deployments
}

var rolloutTimelines = []timeline{
	{"rolling-deployments-list", "", 4, true},
	{"rolling", "", 4, false},
	{"blue-green-bake-10m", `{"strategy":"BLUE_GREEN","bakeTimeInMinutes":10}`, 4, false},
	{"canary-10pct-5m", `{"strategy":"CANARY","canaryConfiguration":{"canaryPercent":10,"canaryBakeTimeInMinutes":5}}`, 4, false},
	{"linear-25pct-1m", `{"strategy":"LINEAR","linearConfiguration":{"stepPercent":25,"stepBakeTimeInMinutes":1}}`, 4, false},
}

// benchLag runs rollout on a fresh world of tl in each iteration and reports, on the fake
// clock, how long after the service deployment turned SUCCESSFUL the rollout returned, the
// status calls it made per minute (rollout says how many), and how long it took.
func benchLag(b *testing.B, tl timeline, rollout func(t *testing.T, e *env) (calls int)) {
	var lags []time.Duration
	var perMinute, minutes float64
	for b.Loop() {
		inBubble(b, func(t *testing.T) {
			e := newDeploymentsEnv(t, tl.desired, tl.config)
			e.srv.NoServiceDeployments = tl.noAPI
			start := time.Now()
			calls := rollout(t, e)
			minutes = time.Since(start).Minutes()
			perMinute = float64(calls) / minutes
			e.srv.NoServiceDeployments = false // to read when the deployment finished
			lags = append(lags, time.Since(aws.ToTime(e.deployment(t).FinishedAt)))
		})
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	b.ReportMetric(float64(lags[len(lags)/2].Milliseconds()), "lag-ms")
	b.ReportMetric(perMinute, "calls/min")
	b.ReportMetric(minutes, "rollout-min")
}

// BenchmarkWaitLag rolls a release out on each scripted timeline, every iteration a new
// deploy on a fresh fake, and reports (on the fake clock) how long after the service
// deployment turned SUCCESSFUL Apply returned, and how many DescribeServices and
// DescribeServiceDeployments calls the wait made per minute for the one service.
func BenchmarkWaitLag(b *testing.B) {
	for _, tl := range rolloutTimelines {
		b.Run(tl.name, func(b *testing.B) {
			benchLag(b, tl, func(t *testing.T, e *env) int {
				if _, log, err := run(t, e, nil, nil); err != nil {
					t.Fatalf("Run: %v\n%s", err, log.text())
				}
				return len(e.callTimes("DescribeServices")) + len(e.callTimes("DescribeServiceDeployments")) - 1 // the plan's
			})
		})
	}
}

// BenchmarkWaitLagSDKWaiter runs the same timelines with what the aws CLI and the official
// GitHub Action use instead: UpdateService, then the SDK's ServicesStableWaiter (15 s to
// 600 s between DescribeServices, "one deployment and every task running"), for the same
// lag and calls per minute, side by side with BenchmarkWaitLag.
func BenchmarkWaitLagSDKWaiter(b *testing.B) {
	for _, tl := range rolloutTimelines {
		if tl.noAPI {
			continue
		}
		b.Run(tl.name, func(b *testing.B) {
			benchLag(b, tl, func(t *testing.T, e *env) int {
				td, err := e.srv.RegisterTaskDefinition(`{"family":"web","containerDefinitions":[{"name":"app","image":"` + newImage + `","essential":true},{"name":"sidecar","image":"busybox:1"}]}`)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.client.UpdateService(t.Context(), &awsecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"), TaskDefinition: aws.String(td)}); err != nil {
					t.Fatal(err)
				}
				w := awsecs.NewServicesStableWaiter(e.client)
				if err := w.Wait(t.Context(), &awsecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}}, 2*time.Hour); err != nil {
					t.Fatal(err)
				}
				return len(e.callTimes("DescribeServices"))
			})
		})
	}
}
