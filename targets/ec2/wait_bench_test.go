package ec2_test

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/bubble"
	"github.com/stevedore-dev/stevedore/targets/ec2"
	"github.com/stevedore-dev/stevedore/targets/ec2/ec2test"
)

// commandTimelines are how long the deploy command runs on every instance of a 4-instance
// fleet, all at once.
var commandTimelines = []struct {
	name string
	run  time.Duration
}{
	{"2s", 2 * time.Second},
	{"30s", 30 * time.Second},
	{"3m", 3 * time.Minute},
	{"10m", 10 * time.Minute},
}

// benchCommandLag runs a command of each timeline, every iteration on a fresh fake in a
// synctest bubble, and reports on the fake clock how long after the last invocation ended
// wait returned (the median), the status calls per minute (ListCommands,
// ListCommandInvocations, GetCommandInvocation) and how many runs gave up before the end.
func benchCommandLag(b *testing.B, wait func(t *testing.T, e *env, ids []string) (ok bool)) {
	for _, tl := range commandTimelines {
		b.Run(tl.name, func(b *testing.B) {
			var lags []time.Duration
			var perMinute float64
			gaveUp, runs := 0, 0
			for b.Loop() {
				bubble.Bench(b, func(t *testing.T) {
					e := newEnv()
					e.srv.DeliveryDelay = 0
					// A random fraction of a second more, so that where the end falls between
					// two polls is left to chance.
					run := tl.run + time.Duration(rand.Int64N(int64(time.Second)))
					e.srv.Script(func(ec2test.Invocation) ec2test.Outcome { return ec2test.Outcome{Duration: run} })
					ids := e.srv.Fleet(4, map[string]string{"app": "web"})
					start := time.Now()
					ok := wait(t, e, ids)
					took := time.Since(start)
					calls := e.srv.Calls("ListCommands") + e.srv.Calls("ListCommandInvocations") + e.srv.Calls("GetCommandInvocation")
					perMinute = float64(calls) / took.Minutes()
					runs++
					if !ok {
						gaveUp++
						return
					}
					lags = append(lags, took-run)
				})
			}
			if len(lags) > 0 {
				sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
				b.ReportMetric(float64(lags[len(lags)/2].Milliseconds()), "lag-ms")
			}
			b.ReportMetric(perMinute, "calls/min")
			b.ReportMetric(float64(gaveUp)/float64(runs), "gave-up")
		})
	}
}

// BenchmarkCommandLag is the EC2 target's own wait: one ListCommands a second for the whole
// command (and, for fleets of up to 50, one ListCommandInvocations page).
func BenchmarkCommandLag(b *testing.B) {
	benchCommandLag(b, func(t *testing.T, e *env, _ []string) bool {
		tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: script, Strategy: ec2.Count{N: 100, Percent: true}})
		if _, err := deploy.Run(t.Context(), deploy.Release{Version: "v2"}, []deploy.Target{tg}, nil); err != nil {
			t.Fatal(err)
		}
		return true
	})
}

// send sends the deploy script to the instances, as a pipeline's script would.
func send(t *testing.T, e *env, ids []string) string {
	out, err := e.ssm.SendCommand(t.Context(), &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: ids,
		Parameters: map[string][]string{"commands": script}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Command.CommandId)
}

// BenchmarkCommandLagCLIWaiter is a script's `aws ssm wait command-executed` for each
// instance in turn: GetCommandInvocation every 5 s, failing after 20 checks (100 s).
func BenchmarkCommandLagCLIWaiter(b *testing.B) {
	benchCommandLag(b, func(t *testing.T, e *env, ids []string) bool {
		id := send(t, e, ids)
		for _, inst := range ids {
			done := false
			for range 20 {
				out, err := e.ssm.GetCommandInvocation(t.Context(), &ssm.GetCommandInvocationInput{CommandId: aws.String(id), InstanceId: aws.String(inst)})
				if err == nil && out.Status == ssmtypes.CommandInvocationStatusSuccess {
					done = true
					break
				}
				time.Sleep(5 * time.Second)
			}
			if !done {
				// It gave up: let the command finish, uncounted, so the bubble can end.
				time.Sleep(20 * time.Minute)
				return false
			}
		}
		return true
	})
}

// BenchmarkCommandLagSDKWaiter is the SDK's CommandExecutedWaiter (5 s to 120 s between
// GetCommandInvocation calls, with random jitter) for each instance in turn.
func BenchmarkCommandLagSDKWaiter(b *testing.B) {
	benchCommandLag(b, func(t *testing.T, e *env, ids []string) bool {
		id := send(t, e, ids)
		w := ssm.NewCommandExecutedWaiter(e.ssm)
		for _, inst := range ids {
			if err := w.Wait(t.Context(), &ssm.GetCommandInvocationInput{CommandId: aws.String(id), InstanceId: aws.String(inst)}, 2*time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		return true
	})
}
