package ec2_test

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
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
	conformance(t, false)
}

// The contract holds for a fleet behind two target groups, rolled out zone by zone with
// hooks, its Auto Scaling group held: after a rollback every instance is back in service,
// healthy, and scaling as it was.
func TestConformanceBehindALoadBalancer(t *testing.T) {
	conformance(t, true)
}

func conformance(t *testing.T, lb bool) {
	var e *env
	var arns []string
	options := func() ec2.Options {
		opts := ec2.Options{Commands: []string{`/opt/web/install "$STEVEDORE_VERSION"`}, RollbackCommands: []string{`/opt/web/install "$STEVEDORE_VERSION"`}}
		if lb {
			cfg := e.srv.Config()
			opts.LoadBalancing = &ec2.LoadBalancing{Client: elb.NewFromConfig(cfg), TargetGroups: arns}
			opts.AutoScaling = &ec2.AutoScaling{Client: autoscaling.NewFromConfig(cfg)}
			opts.ByZone = true
			opts.Hooks = ec2.Hooks{ApplicationStop: ec2.Hook{Commands: []string{"systemctl stop web"}}, ValidateService: ec2.Hook{Commands: []string{"curl -fsS localhost/health"}}}
		}
		return opts
	}
	deploytest.Run(t, deploytest.Harness{
		New: func(t *testing.T) *deploytest.World {
			e = newEnv()
			ids := e.srv.Fleet(3, map[string]string{"app": "web", "stevedore:version": "v1"})
			arns = nil
			if lb {
				for _, name := range []string{"web", "api"} {
					arns = append(arns, e.srv.CreateTargetGroup(ec2test.TargetGroup{Name: name, DeregistrationDelay: 30 * time.Second, HealthyAfter: 10 * time.Second, Instances: ids}))
				}
				e.srv.CreateAutoScalingGroup(ec2test.AutoScalingGroup{Name: "web-asg", Instances: ids, TargetGroups: arns})
			}
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
				Target: e.target(fleet, options()),
				State: func(ctx context.Context) (any, error) { // what each instance is recorded to run, and its service
					out, err := e.ec2.DescribeInstances(ctx, &awsec2.DescribeInstancesInput{})
					if err != nil {
						return nil, err
					}
					state := map[string]string{}
					for _, r := range out.Reservations {
						for _, in := range r.Instances {
							id := aws.ToString(in.InstanceId)
							state[id] = tagValue(in.Tags, "stevedore:version")
							for _, arn := range arns {
								h, _ := e.srv.TargetHealth(arn, id)
								state[id] += " " + h
							}
						}
					}
					if lb {
						state["suspended"] = strings.Join(e.srv.Suspended("web-asg"), ",")
					}
					return state, nil
				},
				Release:     version("v2"),
				Failing:     version("crash"),
				Slow:        version("slow"),
				Missing:     e.target(ec2.Fleet{Tags: map[string]string{"app": "no-such-app"}}, options()),
				Unsupported: &deploy.Release{Version: "v2", Secrets: []deploy.SecretRef{{Name: "DB", ValueFrom: "/db"}}},
			}
		},
		Bubble: synctest.Test,
		Restore: func(t *testing.T, w *deploytest.World) deploy.Target {
			cfg := e.srv.Config()
			return ec2.New(ssm.NewFromConfig(cfg), awsec2.NewFromConfig(cfg), ec2.Fleet{Tags: map[string]string{"app": "web"}}, options())
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
