package ec2_test

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/deploytest"
	"github.com/stevedore-dev/stevedore/targets/ec2"
	"github.com/stevedore-dev/stevedore/targets/ec2/ec2test"
)

// versionLine finds the version a deploy or rollback command installs in its preamble.
var versionLine = regexp.MustCompile(`export STEVEDORE_VERSION="\$\(printf '%s' '([A-Za-z0-9+/=]*)' \| base64 -d\)"`)

func versionOf(inv ec2test.Invocation) string {
	for _, c := range inv.Commands {
		if m := versionLine.FindStringSubmatch(c); m != nil {
			v, _ := base64.StdEncoding.DecodeString(m[1])
			return string(v)
		}
	}
	return ""
}

func TestConformance(t *testing.T) {
	var e *env
	opts := ec2.Options{Commands: []string{`/opt/web/install "$STEVEDORE_VERSION"`}, RollbackCommands: []string{`/opt/web/install "$STEVEDORE_VERSION"`}}
	deploytest.Run(t, deploytest.Harness{
		New: func(t *testing.T) *deploytest.World {
			e = newEnv()
			e.srv.Fleet(3, map[string]string{"app": "web", "stevedore:version": "v1"})
			e.srv.Script(func(inv ec2test.Invocation) ec2test.Outcome {
				switch versionOf(inv) {
				case "crash":
					return ec2test.Outcome{Status: "Failed", Exit: 1, Stderr: "install: crashed\n", Duration: time.Second}
				case "slow":
					return ec2test.Outcome{Duration: time.Hour}
				}
				return ec2test.Outcome{Duration: 5 * time.Second}
			})
			fleet := ec2.Fleet{Tags: map[string]string{"app": "web"}}
			version := func(v string) deploy.Release { return deploy.Release{Version: v} }
			return &deploytest.World{
				Target: e.target(fleet, opts),
				State: func(ctx context.Context) (any, error) { // what each instance is recorded to run
					out, err := e.ec2.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{})
					if err != nil {
						return nil, err
					}
					state := map[string]string{}
					for _, r := range out.Reservations {
						for _, in := range r.Instances {
							state[aws.ToString(in.InstanceId)] = tagValue(in.Tags, "stevedore:version")
						}
					}
					return state, nil
				},
				Release:     version("v2"),
				Failing:     version("crash"),
				Slow:        version("slow"),
				Missing:     e.target(ec2.Fleet{Tags: map[string]string{"app": "no-such-app"}}, opts),
				Unsupported: &deploy.Release{Version: "v2", Secrets: []deploy.SecretRef{{Name: "DB", ValueFrom: "/db"}}},
			}
		},
		Bubble: synctest.Test,
		Restore: func(t *testing.T, w *deploytest.World) deploy.Target {
			cfg := e.srv.Config()
			return ec2.New(ssm.NewFromConfig(cfg), awsec2.NewFromConfig(cfg), ec2.Fleet{Tags: map[string]string{"app": "web"}}, opts)
		},
	})
}

func tagValue(tags []ec2types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// Cancelled while SSM does not list the command's invocations yet (they show up seconds
// after SendCommand), the deploy must still roll back every instance it sent to: the
// command may already have reached them.
func TestCancelBeforeInvocationsAreListedRollsBackAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		e.srv.DeliveryDelay, e.srv.NotYetVisible = time.Second, 20*time.Second
		ids := e.srv.Fleet(2, map[string]string{"app": "web", "stevedore:version": "v1"})
		opts := ec2.Options{Commands: []string{`/opt/web/install "$STEVEDORE_VERSION"`}, RollbackCommands: []string{`/opt/web/install "$STEVEDORE_VERSION"`}}
		tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, opts)
		ctx, cancel := context.WithCancel(t.Context())
		res, err := deploy.Run(ctx, deploy.Release{Version: "v2"}, []deploy.Target{tg}, &deploy.Options{OnEvent: func(ev deploy.Event) {
			if ev.Phase == deploy.PhaseWait {
				cancel()
			}
		}})
		if !errors.Is(err, deploy.ErrCanceled) || !res.Targets[0].RolledBack {
			t.Fatalf("err = %v, rolled back %v", err, res.Targets[0].RolledBack)
		}
		runs := e.srv.Ran()
		if len(runs) != 2 || len(runs[1].Instances) != len(ids) {
			t.Errorf("the rollback ran as %+v; want it on all %d instances", runs, len(ids))
		}
	})
}
