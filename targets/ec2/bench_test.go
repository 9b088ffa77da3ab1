package ec2_test

import (
	"context"
	"testing"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/ec2"
	"github.com/stevedore-dev/stevedore/targets/ec2/ec2test"
)

// benchFleet is a 1,000-instance fleet by tag whose commands finish at once, so a rollout's
// time is the library's (and the SDK's and the fake's) own work plus one short poll.
func benchFleet(b *testing.B) (*env, ec2.Fleet) {
	e := newEnv()
	e.srv.DeliveryDelay, e.srv.NotYetVisible = 0, 0
	e.srv.Script(func(ec2test.Invocation) ec2test.Outcome { return ec2test.Outcome{Duration: time.Nanosecond} })
	e.srv.Fleet(1000, map[string]string{"app": "web"})
	return e, ec2.Fleet{Tags: map[string]string{"app": "web"}}
}

func benchRollout(b *testing.B, opts ec2.Options) {
	e, fleet := benchFleet(b)
	opts.Commands, opts.PollInterval = script, time.Millisecond
	tg := e.target(fleet, opts)
	b.ReportAllocs()
	calls := 0
	for i := 0; b.Loop(); i++ {
		before := e.srv.TotalCalls()
		rel := deploy.Release{Version: "v" + string(rune('a'+i%26)) + "1", Images: map[string]string{"": "registry.example.com/app:v2"}}
		if _, err := deploy.Run(context.Background(), rel, []deploy.Target{tg}, nil); err != nil {
			b.Fatal(err)
		}
		calls = e.srv.TotalCalls() - before
	}
	b.ReportMetric(float64(calls), "calls/rollout")
}

// One command to all 1,000 by tag: SSM runs it a batch at a time.
func BenchmarkRollout1000ByTag(b *testing.B) {
	benchRollout(b, ec2.Options{Strategy: ec2.Count{N: 10, Percent: true}})
}

// Waves of 10% driven by the target, with a verify command after each.
func BenchmarkRollout1000ByTagVerifyWaves(b *testing.B) {
	benchRollout(b, ec2.Options{Strategy: ec2.Count{N: 10, Percent: true}, VerifyCommands: []string{"true"}})
}
