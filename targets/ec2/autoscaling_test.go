package ec2_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/ec2"
	"github.com/stevedore-dev/stevedore/targets/ec2/ec2test"
)

// scaled puts the world's instances into Auto Scaling group web-asg, registering new ones
// with its target groups.
func (w *fleetWorld) scaled(t *testing.T, follow bool) *ec2.AutoScaling {
	w.srv.CreateAutoScalingGroup(ec2test.AutoScalingGroup{Name: "web-asg", Instances: w.ids, TargetGroups: w.groups, Tags: map[string]string{"app": "web"}})
	return &ec2.AutoScaling{Client: autoscaling.NewFromConfig(w.srv.Config()), FollowScaling: follow}
}

func (w *fleetWorld) groupRecord(t *testing.T) string {
	t.Helper()
	out, err := w.ssm.GetParameters(context.Background(), &ssm.GetParametersInput{Names: []string{"/stevedore/asg/web-asg"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Parameters) == 0 {
		return ""
	}
	return aws.ToString(out.Parameters[0].Value)
}

func (w *fleetWorld) scalingTarget(a *ec2.AutoScaling) *ec2.Target {
	return w.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: []string{`install-release "$STEVEDORE_VERSION"`},
		RollbackCommands: []string{`install-release "$STEVEDORE_VERSION"`}, LoadBalancing: w.lb(), AutoScaling: a})
}

// By default Launch, Terminate and AZRebalance are suspended for the rollout (a process the
// user had suspended stays so) and resumed after it, whether it succeeded, failed and was
// rolled back, was cancelled (with or without a rollback after), or succeeded and was
// rolled back when a later stage's gate failed; the release is recorded for the group, and
// the record goes back with a rollback.
func TestScalingIsHeldForTheRollout(t *testing.T) {
	for _, end := range []string{"success", "failure", "cancel", "cancel without rollback", "later stage failed"} {
		t.Run(end, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newFleetWorld(t, 3, "web", "api")
				a := w.scaled(t, false)
				if _, err := a.Client.SuspendProcesses(context.Background(), &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String("web-asg"),
					ScalingProcesses: []string{"AZRebalance"}}); err != nil {
					t.Fatal(err)
				}
				if end == "failure" {
					w.bad[w.ids[2]] = "install"
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				var during []string
				var launched error
				var gates []deploy.Gate
				if end == "later stage failed" {
					gates = []deploy.Gate{{Check: deploy.CheckFunc("smoke", func(context.Context) (deploy.Measurement, error) {
						return deploy.Measurement{Verdict: deploy.Fail, Evidence: "smoke test failed"}, nil
					})}}
				}
				stages := []deploy.Stage{{Name: "fleet", Targets: []deploy.Target{w.scalingTarget(a)}, Gates: gates}}
				_, err := deploy.RunStages(ctx, deploy.Release{Version: "v2"}, stages, &deploy.Options{DisableRollback: end == "cancel without rollback", OnEvent: func(ev deploy.Event) {
					w.env.mu.Lock()
					w.env.events = append(w.env.events, ev)
					w.env.mu.Unlock()
					if strings.HasPrefix(ev.Message, "deploy command") && during == nil {
						during = w.srv.Suspended("web-asg")
						_, launched = w.srv.Launch("web-asg")
						if strings.HasPrefix(end, "cancel") {
							cancel()
						}
					}
				}})
				switch end {
				case "success":
					if err != nil {
						t.Fatalf("%v\n%s", err, w.messages())
					}
					if got := w.groupRecord(t); got != `{"version":"v2"}` {
						t.Errorf("group record %q", got)
					}
				case "failure":
					if !errors.Is(err, deploy.ErrFailed) {
						t.Fatalf("err = %v", err)
					}
				case "cancel", "cancel without rollback":
					if !errors.Is(err, deploy.ErrCanceled) {
						t.Fatalf("err = %v", err)
					}
				case "later stage failed":
					if !errors.Is(err, deploy.ErrGateFailed) {
						t.Fatalf("err = %v", err)
					}
				}
				if !slices.Equal(during, []string{"Launch", "Terminate", "AZRebalance"}) || !errors.Is(launched, ec2test.ErrSuspended) {
					t.Errorf("during the rollout: suspended %v, a launch said %v", during, launched)
				}
				if got := w.srv.Suspended("web-asg"); !slices.Equal(got, []string{"AZRebalance"}) {
					t.Errorf("after it: suspended %v, want only the user's AZRebalance\n%s", got, w.messages())
				}
				if end != "success" && w.groupRecord(t) != "" {
					t.Errorf("group record %q after a %s", w.groupRecord(t), end)
				}
			})
		})
	}
}

// With FollowScaling, an instance launched mid-rollout gets the release (into service,
// healthy) before the rollout is called done; one terminated mid-rollout is reported, not
// counted as a failure.
func TestFollowScaling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFleetWorld(t, 3, "web", "api")
		a := w.scaled(t, true)
		var joined string
		w.atApply = func() {
			var err error
			if joined, err = w.srv.Launch("web-asg"); err != nil {
				t.Error(err)
			}
			if err := w.srv.Terminate(w.ids[2]); err != nil {
				t.Error(err)
			}
		}
		w.mu.Lock()
		w.running[""] = "" // the launched instance runs nothing until installed
		w.mu.Unlock()
		if _, err := w.run(t, w.scalingTarget(a), "v2"); err != nil {
			t.Fatalf("%v\n%s", err, w.messages())
		}
		msgs := w.messages()
		if !strings.Contains(msgs, "1 instances joined the fleet during the rollout: "+joined) ||
			!strings.Contains(msgs, "version v2 runs on 3/3 instances; 1 left the fleet during the rollout: "+w.ids[2]) {
			t.Errorf("events:\n%s", msgs)
		}
		if !slices.ContainsFunc(w.deregistered(t), func(ids []string) bool { return slices.Contains(ids, joined) }) {
			t.Errorf("the instance that joined was never taken out of service for its install: %v", w.deregistered(t))
		}
		time.Sleep(time.Minute)
		w.settled(t, []string{w.ids[0], w.ids[1], joined}, "v2")
		if got := w.srv.Suspended("web-asg"); len(got) > 0 {
			t.Errorf("suspended %v while following scaling", got)
		}
	})
}
