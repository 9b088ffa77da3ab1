package ecs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/ecs"
	"github.com/stevedore-dev/stevedore/targets/ecs/ecstest"
)

// newDeploymentsEnv is newEnv with the service-deployment API on and the service's
// deploymentConfiguration merged with config (wire JSON; "" for none).
func newDeploymentsEnv(t *testing.T, desired int, config string) *env {
	t.Helper()
	e := newEnv(t, desired, true, true)
	e.srv.NoServiceDeployments = false
	if config != "" {
		if err := e.srv.ConfigureService("prod", "web", config); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

const (
	blueGreen = `{"strategy":"BLUE_GREEN","bakeTimeInMinutes":10,"alarms":{"alarmNames":["web-5xx","web-latency"],"enable":true,"rollback":true}}`
	canary    = `{"strategy":"CANARY","canaryConfiguration":{"canaryPercent":10,"canaryBakeTimeInMinutes":5},"bakeTimeInMinutes":2,"alarms":{"alarmNames":["web-5xx"],"enable":true,"rollback":true}}`
	linear    = `{"strategy":"LINEAR","linearConfiguration":{"stepPercent":25,"stepBakeTimeInMinutes":1}}`
)

// successfulAt is when the fake's service deployment turned SUCCESSFUL, read through the SDK.
func (e *env) deployment(t *testing.T) types.ServiceDeployment {
	t.Helper()
	ctx := context.Background()
	out, err := e.client.DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.client.DescribeServiceDeployments(ctx, &awsecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{aws.ToString(out.Services[0].CurrentServiceDeployment)}})
	if err != nil {
		t.Fatal(err)
	}
	return d.ServiceDeployments[0]
}

func TestBlueGreenWaitsThroughTheBake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newDeploymentsEnv(t, 2, blueGreen)
		start := time.Now()
		_, log, err := run(t, e, nil, nil)
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, log.text())
		}
		d := e.deployment(t)
		if d.Status != types.ServiceDeploymentStatusSuccessful {
			t.Fatalf("Apply returned with the deployment %s", d.Status)
		}
		if took := time.Since(start); took < 10*time.Minute {
			t.Errorf("Apply returned after %v, before the 10-minute bake ended", took)
		}
		// Within one poll (1 s, jittered by up to 5%) of the end: synctest's clock, not the wall's.
		if lag := time.Since(aws.ToTime(d.FinishedAt)); lag > 1050*time.Millisecond {
			t.Errorf("Apply returned %v after the deployment became SUCCESSFUL, want within one poll (1.05 s)", lag)
		}
		// In the bake, whose end is known, the wait looks every MaxPollInterval, and every
		// poll for the last few seconds: about 40 looks for 10 minutes, not 600.
		if n := len(e.callTimes("DescribeServiceDeployments")); n > 120 {
			t.Errorf("%d DescribeServiceDeployments calls for a 10-minute bake: the wait did not rest in it", n)
		}
		var stages []string
		var sawTraffic, sawBakeLeft bool
		for _, ev := range log.events {
			if ev.Stage != "" && (len(stages) == 0 || stages[len(stages)-1] != ev.Stage) {
				stages = append(stages, ev.Stage)
			}
			sawTraffic = sawTraffic || ev.Traffic != nil && *ev.Traffic == 100
			sawBakeLeft = sawBakeLeft || ev.Stage == "BAKE_TIME" && ev.Remaining > 5*time.Minute && ev.Remaining <= 10*time.Minute
		}
		if !strings.Contains(strings.Join(stages, " "), "SCALE_UP") || !strings.Contains(strings.Join(stages, " "), "BAKE_TIME") {
			t.Errorf("events carried stages %v, want SCALE_UP and BAKE_TIME among them", stages)
		}
		if !sawTraffic || !sawBakeLeft {
			t.Errorf("no event with 100%% traffic (%v) or with the bake's time left (%v):\n%s", sawTraffic, sawBakeLeft, log.text())
		}
		if !strings.Contains(log.text(), "of bake time left") {
			t.Errorf("progress messages do not say the bake's time left:\n%s", log.text())
		}
	})
}

// The rule this issue is about: a blue/green deploy whose bake ends in an alarm rollback fails
// at that moment, and never succeeds before the bake ends.
func TestBlueGreenAlarmDuringBakeFailsThenAndWaitsForECSRollback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newDeploymentsEnv(t, 2, blueGreen)
		start := time.Now()
		alarmAt := start.Add(8 * time.Minute) // mid-bake: scale-up and shift take about a minute
		e.srv.FireAlarm("web-latency", alarmAt)
		res, log, err := run(t, e, nil, nil)
		if !errors.Is(err, deploy.ErrFailed) || !errors.Is(err, deploy.ErrRolledBack) {
			t.Fatalf("err = %v, want ErrFailed and rolled back\n%s", err, log.text())
		}
		for _, want := range []string{"alarms in ALARM: web-latency", "went into ALARM"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q: %v", want, err)
			}
		}
		failedAt := time.Time{}
		for _, ev := range log.events {
			if ev.Phase == deploy.PhaseFailed && failedAt.IsZero() {
				failedAt = ev.Time
			}
			if ev.Phase == deploy.PhaseDone {
				t.Errorf("a done event before the bake ended: %+v", ev)
			}
		}
		if failedAt.Before(alarmAt) || failedAt.After(alarmAt.Add(e.srv.StepInterval+ecs.MaxPollInterval)) {
			t.Errorf("failure reported at +%v, want soon after the alarm at +%v", failedAt.Sub(start), alarmAt.Sub(start))
		}
		if n := e.srv.Calls("UpdateService"); n != 1 {
			t.Errorf("%d UpdateService calls; ECS's own rollback must be waited for, not followed by another deployment", n)
		}
		if n := e.srv.Calls("StopServiceDeployment"); n != 0 {
			t.Errorf("%d StopServiceDeployment calls during ECS's own rollback", n)
		}
		if got := e.serviceTD(t); got != "web:1" || !res.Targets[0].RolledBack {
			t.Errorf("service runs %s (rolled back %v), want web:1", got, res.Targets[0].RolledBack)
		}
		if d := e.deployment(t); d.Status != types.ServiceDeploymentStatusRollbackSuccessful {
			t.Errorf("rollback returned with the deployment %s", d.Status)
		}
	})
}

func TestCanaryRolledBackByAlarm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newDeploymentsEnv(t, 4, canary)
		e.srv.FireAlarm("web-5xx", time.Now().Add(3*time.Minute)) // during the canary's 5-minute bake
		_, log, err := run(t, e, nil, nil)
		if !errors.Is(err, deploy.ErrRolledBack) || !strings.Contains(err.Error(), "web-5xx") {
			t.Fatalf("err = %v, want a rollback naming web-5xx\n%s", err, log.text())
		}
		var shares []float64
		for _, ev := range log.events {
			if ev.Traffic != nil && (len(shares) == 0 || shares[len(shares)-1] != *ev.Traffic) {
				shares = append(shares, *ev.Traffic)
			}
		}
		if len(shares) < 2 || shares[0] != 0 || shares[1] != 10 || shares[len(shares)-1] == 100 {
			t.Errorf("production traffic went %v, want 0 then the 10%% canary, never 100%%", shares)
		}
	})
}

func TestLinearShiftsStepByStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newDeploymentsEnv(t, 2, linear)
		_, log, err := run(t, e, nil, nil)
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, log.text())
		}
		var shares []float64
		for _, ev := range log.events {
			if ev.Traffic != nil && *ev.Traffic > 0 && (len(shares) == 0 || shares[len(shares)-1] != *ev.Traffic) {
				shares = append(shares, *ev.Traffic)
			}
		}
		if len(shares) != 4 || shares[0] != 25 || shares[3] != 100 {
			t.Errorf("production traffic went %v, want 25, 50, 75, 100", shares)
		}
	})
}

func TestCircuitBreakerThresholdNamedInTheError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newDeploymentsEnv(t, 10, `{"deploymentCircuitBreaker":{"enable":true,"rollback":false,"thresholdConfiguration":{"type":"COUNT","value":2}}}`)
		e.srv.SetBehavior(newImage, ecstest.Behavior{Fail: true, StoppedReason: "Essential container in task exited", ExitCode: aws.Int(3)})
		_, log, err := run(t, e, nil, nil)
		if !errors.Is(err, deploy.ErrFailed) {
			t.Fatalf("err = %v\n%s", err, log.text())
		}
		for _, want := range []string{"was STOPPED", "circuit breaker: 2 failed tasks of a threshold of 2", "exit code 3"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q: %v", want, err)
			}
		}
		// No rollback configured: the deploy's own rollback updates the service back.
		if got := e.serviceTD(t); got != "web:1" {
			t.Errorf("service runs %s, want web:1", got)
		}
		if n := e.srv.Calls("StopServiceDeployment"); n != 0 {
			t.Errorf("StopServiceDeployment on a STOPPED deployment")
		}
	})
}

func TestLambdaHookFailureNamesTheHook(t *testing.T) {
	const hook = "arn:aws:lambda:us-east-1:123456789012:function:smoke-test"
	synctest.Test(t, func(t *testing.T) {
		e := newDeploymentsEnv(t, 2, `{"strategy":"BLUE_GREEN","lifecycleHooks":[{"hookTargetArn":"`+hook+`","targetType":"AWS_LAMBDA","lifecycleStages":["POST_TEST_TRAFFIC_SHIFT"],"hookDetails":{"path":"/health"}}]}`)
		e.srv.SetHook(hook, ecstest.HookScript{Status: "FAILED", After: time.Minute})
		_, log, err := run(t, e, nil, nil)
		if !errors.Is(err, deploy.ErrRolledBack) || !strings.Contains(err.Error(), "smoke-test") {
			t.Fatalf("err = %v, want a rollback naming the hook\n%s", err, log.text())
		}
		text := log.text()
		for _, want := range []string{"AWS_LAMBDA hook " + hook + " in POST_TEST_TRAFFIC_SHIFT is IN_PROGRESS", `details {"path":"/health"}`, "is FAILED"} {
			if !strings.Contains(text, want) {
				t.Errorf("events lack %q:\n%s", want, text)
			}
		}
	})
}

func TestPauseHookGate(t *testing.T) {
	const hook = "arn:aws:ecs:us-east-1:123456789012:pause/approve"
	config := `{"strategy":"BLUE_GREEN","lifecycleHooks":[{"hookTargetArn":"` + hook + `","targetType":"PAUSE","lifecycleStages":["POST_SCALE_UP"],"timeoutConfiguration":{"timeoutInMinutes":30,"action":"ROLLBACK"}}]}`
	for _, tc := range []struct {
		name    string
		approve bool
	}{{"approved continues", true}, {"refused rolls back", false}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newDeploymentsEnv(t, 2, config)
				var asked atomic.Int32
				gate := func(ctx context.Context, h ecs.Hook) (bool, error) {
					asked.Add(1)
					if h.Target != hook || h.Stage != "POST_SCALE_UP" || h.Expires.IsZero() {
						t.Errorf("gate asked about %+v", h)
					}
					return tc.approve, nil
				}
				_, log, err := run(t, e, &ecs.Options{Hooks: gate}, nil)
				if asked.Load() != 1 {
					t.Errorf("gate asked %d times, want once", asked.Load())
				}
				cont := e.srv.Requests("ContinueServiceDeployment")
				want := map[bool]string{true: "CONTINUE", false: "ROLLBACK"}[tc.approve]
				if len(cont) != 1 || gjson.GetBytes(cont[0], "action").Str != want {
					t.Errorf("ContinueServiceDeployment calls %s, want one with %s", cont, want)
				}
				if tc.approve && err != nil || !tc.approve && !errors.Is(err, deploy.ErrRolledBack) {
					t.Errorf("err = %v\n%s", err, log.text())
				}
			})
		})
	}
}

// A release gate answers a PAUSE hook through HookGate: a pass continues the deployment
// after the gate's measurements, a failure rolls it back.
func TestPauseHookAnsweredByAReleaseGate(t *testing.T) {
	const hook = "arn:aws:ecs:us-east-1:123456789012:pause/approve"
	config := `{"strategy":"BLUE_GREEN","lifecycleHooks":[{"hookTargetArn":"` + hook + `","targetType":"PAUSE","lifecycleStages":["POST_SCALE_UP"],"timeoutConfiguration":{"timeoutInMinutes":30,"action":"ROLLBACK"}}]}`
	for _, verdict := range []deploy.Verdict{deploy.Pass, deploy.Fail} {
		t.Run(string(verdict), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newDeploymentsEnv(t, 2, config)
				measured := 0
				check := deploy.CheckFunc("canary-errors", func(context.Context) (deploy.Measurement, error) {
					measured++
					return deploy.Measurement{Verdict: verdict, Evidence: "0.2% errors"}, nil
				})
				_, log, err := run(t, e, &ecs.Options{Hooks: ecs.HookGate(deploy.Gate{Check: check, Count: 3, Interval: time.Minute}, nil)}, nil)
				cont := e.srv.Requests("ContinueServiceDeployment")
				want := map[deploy.Verdict]string{deploy.Pass: "CONTINUE", deploy.Fail: "ROLLBACK"}[verdict]
				if len(cont) != 1 || gjson.GetBytes(cont[0], "action").Str != want {
					t.Errorf("ContinueServiceDeployment calls %s, want one with %s", cont, want)
				}
				if wantN := map[deploy.Verdict]int{deploy.Pass: 3, deploy.Fail: 1}[verdict]; measured != wantN {
					t.Errorf("measured %d times, want %d", measured, wantN)
				}
				if verdict == deploy.Pass && err != nil || verdict == deploy.Fail && !errors.Is(err, deploy.ErrRolledBack) {
					t.Errorf("err = %v\n%s", err, log.text())
				}
			})
		})
	}
}

func TestPauseHookWithoutGateIsReportedAndWaitedOn(t *testing.T) {
	const hook = "arn:aws:ecs:us-east-1:123456789012:pause/approve"
	synctest.Test(t, func(t *testing.T) {
		e := newDeploymentsEnv(t, 2, `{"strategy":"BLUE_GREEN","lifecycleHooks":[{"hookTargetArn":"`+hook+`","targetType":"PAUSE","lifecycleStages":["POST_SCALE_UP"],"timeoutConfiguration":{"timeoutInMinutes":30,"action":"ROLLBACK"}}]}`)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
		defer cancel()
		_, log, err := runCtx(ctx, e, nil, nil)
		if !errors.Is(err, deploy.ErrTimeout) || !errors.Is(err, deploy.ErrRolledBack) {
			t.Fatalf("err = %v, want a timeout while the hook waits, rolled back\n%s", err, log.text())
		}
		if !strings.Contains(log.text(), "PAUSE hook "+hook+" in POST_SCALE_UP is AWAITING_ACTION (it expires at") {
			t.Errorf("the hook and its expiry were not reported:\n%s", log.text())
		}
		stop := e.srv.Requests("StopServiceDeployment")
		if len(stop) != 1 || gjson.GetBytes(stop[0], "stopType").Str != "ROLLBACK" {
			t.Errorf("rollback of an in-flight deployment: StopServiceDeployment calls %s, want one ROLLBACK", stop)
		}
		if n := e.srv.Calls("UpdateService"); n != 1 {
			t.Errorf("%d UpdateService calls; the in-flight deployment is rolled back by StopServiceDeployment", n)
		}
		if d := e.deployment(t); d.Status != types.ServiceDeploymentStatusRollbackSuccessful {
			t.Errorf("rollback returned with the deployment %s", d.Status)
		}
	})
}

func TestEarlySuccessWithDeferredCleanUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newDeploymentsEnv(t, 4, `{"earlySuccessCriteria":{"enable":true,"healthyPercent":50,"sourceServiceRevisionCleanup":"DEFERRED"}}`)
		_, log, err := run(t, e, nil, nil)
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, log.text())
		}
		out, _ := e.client.DescribeServices(t.Context(), &awsecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
		if n := len(out.Services[0].Deployments); n < 2 {
			t.Errorf("Apply returned after the clean-up (%d deployment left); early success must not wait for it", n)
		}
	})
}

func TestSupersededByAnotherWritersDeployment(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newDeploymentsEnv(t, 2, blueGreen)
		e.meanwhile(func() { e.otherWriter(t) })
		_, log, err := run(t, e, nil, nil)
		if !errors.Is(err, deploy.ErrSuperseded) || !strings.Contains(err.Error(), "another writer started service deployment") {
			t.Fatalf("err = %v, want ErrSuperseded\n%s", err, log.text())
		}
		if n := e.srv.Calls("StopServiceDeployment"); n != 0 {
			t.Errorf("stopped the other writer's deployment")
		}
		if got := e.serviceTD(t); got == "web:1" {
			t.Errorf("rolled back over the other writer")
		}
	})
}

func TestWaitUntilStageThenFollowByARN(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newDeploymentsEnv(t, 2, `{"strategy":"BLUE_GREEN","bakeTimeInMinutes":1380}`) // a 23-hour bake
		start := time.Now()
		res, log, err := run(t, e, &ecs.Options{WaitUntil: ecs.UntilStage(types.ServiceDeploymentLifecycleStageBakeTime)}, nil)
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, log.text())
		}
		d := e.deployment(t)
		if d.LifecycleStage != types.ServiceDeploymentLifecycleStageBakeTime || time.Since(start) > 10*time.Minute {
			t.Fatalf("returned after %v at %s %s, want at BAKE_TIME", time.Since(start), d.Status, d.LifecycleStage)
		}
		if res.Targets[0].RolledBack {
			t.Fatal("rolled back")
		}
		arn := aws.ToString(d.ServiceDeploymentArn)
		st, err := ecs.Report(t.Context(), e.client, arn)
		if err != nil || st.Stage != "BAKE_TIME" || st.Done || st.Remaining != 0 {
			t.Errorf("Report = %+v, %v", st, err)
		}
		st, err = ecs.Follow(t.Context(), e.client, arn, nil, nil)
		if err != nil || !st.Done {
			t.Fatalf("Follow = %+v, %v", st, err)
		}
		if took := time.Since(start); took < 23*time.Hour {
			t.Errorf("Follow returned after %v, before the bake ended", took)
		}
	})
}

func TestFallbackWhenTheDeploymentAPIIsMissing(t *testing.T) {
	for _, code := range []string{"UnknownOperationException", "AccessDeniedException", "no currentServiceDeployment"} {
		t.Run(code, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newDeploymentsEnv(t, 2, "")
				calls := 1
				if code == "no currentServiceDeployment" {
					e.srv.NoServiceDeployments, calls = true, 0 // as moto
				} else {
					e.srv.Inject("DescribeServiceDeployments", ecstest.Fault{Code: code, Times: -1})
				}
				var debug strings.Builder
				_, log, err := run(t, e, &ecs.Options{Logger: newDebugLogger(&debug)}, nil)
				if err != nil {
					t.Fatalf("Run: %v\n%s", err, log.text())
				}
				if !strings.Contains(log.text(), "web:2: 2/2 running, stable") {
					t.Errorf("not judged by the deployments list:\n%s", log.text())
				}
				if n := strings.Count(debug.String(), "following rollouts by"); n != 1 {
					t.Errorf("%d debug records of the fallback, want 1:\n%s", n, debug.String())
				}
				if n := e.srv.Calls("DescribeServiceDeployments"); n != calls {
					t.Errorf("%d DescribeServiceDeployments calls, want %d (then never again)", n, calls)
				}
			})
		})
	}
}

func TestRegisterExactlyOnceWhenTheAnswerIsLost(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fault     ecstest.Fault
		registers int
	}{
		{"answer lost after registering", ecstest.Fault{Lost: true, Times: 1}, 1},
		{"connection reset before registering", ecstest.Fault{Reset: true, Times: 1}, 2},
		{"throttled", ecstest.Fault{Code: "ThrottlingException", Times: 1}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newDeploymentsEnv(t, 1, "")
				e.srv.Inject("RegisterTaskDefinition", tc.fault)
				_, log, err := run(t, e, nil, nil)
				if err != nil {
					t.Fatalf("Run: %v\n%s", err, log.text())
				}
				if n := e.srv.Calls("RegisterTaskDefinition"); n != tc.registers {
					t.Errorf("%d register calls, want %d", n, tc.registers)
				}
				if n := e.srv.Calls("ListTaskDefinitions"); n != 1 {
					t.Errorf("%d ListTaskDefinitions calls, want one look before the retry", n)
				}
				out, _ := e.client.ListTaskDefinitions(t.Context(), &awsecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("web")})
				if len(out.TaskDefinitionArns) != 2 || e.serviceTD(t) != "web:2" {
					t.Errorf("revisions %v, service on %s; want web:1 and web:2 only, the service on web:2", out.TaskDefinitionArns, e.serviceTD(t))
				}
			})
		})
	}
}

// A register that keeps failing transiently is tried four times, each retry after a look for
// the revision the last may have made, then fails naming the family; a register that fails
// for good is not retried; a look that fails ends it too. Nothing is deployed.
func TestRegisterGivesUp(t *testing.T) {
	for _, tc := range []struct {
		name             string
		register, lookup ecstest.Fault
		registers, looks int
		want             error
	}{
		{"unavailable every time", ecstest.Fault{Code: "ServerException", Status: 500, Times: -1}, ecstest.Fault{}, 4, 3, deploy.ErrUnavailable},
		{"refused", ecstest.Fault{Code: "ClientException", Times: -1}, ecstest.Fault{}, 1, 0, deploy.ErrInvalid},
		{"the look for the revision fails (after the SDK's 3 attempts)", ecstest.Fault{Reset: true, Times: -1}, ecstest.Fault{Code: "ServerException", Status: 500, Times: -1}, 1, 3, deploy.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newDeploymentsEnv(t, 1, "")
				e.srv.Inject("RegisterTaskDefinition", tc.register)
				if tc.lookup.Code != "" {
					e.srv.Inject("ListTaskDefinitions", tc.lookup)
				}
				start := time.Now()
				_, log, err := run(t, e, nil, nil)
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), "web") {
					t.Fatalf("Run: %v, want %v naming the family\n%s", err, tc.want, log.text())
				}
				if n := e.srv.Calls("RegisterTaskDefinition"); n != tc.registers {
					t.Errorf("%d register calls, want %d", n, tc.registers)
				}
				if n := e.srv.Calls("ListTaskDefinitions"); n != tc.looks {
					t.Errorf("%d ListTaskDefinitions calls, want %d", n, tc.looks)
				}
				if tc.registers == 4 && time.Since(start) < 7*time.Second {
					t.Errorf("gave up after %v, want retries 1, 2 and 4 s apart", time.Since(start))
				}
				if e.srv.Calls("UpdateService") != 0 {
					t.Errorf("the service was updated")
				}
			})
		})
	}
}

func TestDeploymentConfigurationOption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newDeploymentsEnv(t, 2, "")
		opts := &ecs.Options{DeploymentConfiguration: &types.DeploymentConfiguration{
			Strategy: types.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(5),
			Alarms: &types.DeploymentAlarms{AlarmNames: []string{"web-5xx"}, Enable: true, Rollback: true},
		}}
		e.srv.FireAlarm("web-5xx", time.Now().Add(4*time.Minute))
		res, log, err := run(t, e, opts, nil)
		if !errors.Is(err, deploy.ErrRolledBack) {
			t.Fatalf("err = %v\n%s", err, log.text())
		}
		diff := res.Targets[0].Plan.Diff()
		for _, want := range []string{"deployment configuration", `~ .strategy: "ROLLING" -> "BLUE_GREEN"`, "+ .bakeTimeInMinutes: 5", "+ .alarms"} {
			if !strings.Contains(diff, want) {
				t.Errorf("diff lacks %q:\n%s", want, diff)
			}
		}
		upd := e.srv.Requests("UpdateService")
		if got := gjson.GetBytes(upd[0], "deploymentConfiguration.strategy").Str; got != "BLUE_GREEN" ||
			!gjson.GetBytes(upd[0], "deploymentConfiguration.deploymentCircuitBreaker.enable").Bool() {
			t.Errorf("UpdateService did not merge the option into the service's settings: %s", upd[0])
		}
		last := upd[len(upd)-1]
		if len(upd) != 2 || gjson.GetBytes(last, "deploymentConfiguration.strategy").Str != "ROLLING" || gjson.GetBytes(last, "taskDefinition").Exists() {
			t.Errorf("rollback did not restore the observed settings alone: %s", upd)
		}
	})
}

func newDebugLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// inFlightUses wraps the client: once armed, the service's current deployment reads as in
// flight with a target service revision on td, which only DescribeServiceRevisions tells.
type inFlightUses struct {
	*awsecs.Client
	armed atomic.Bool
	td    string
}

func (c *inFlightUses) DescribeServiceDeployments(ctx context.Context, in *awsecs.DescribeServiceDeploymentsInput, opts ...func(*awsecs.Options)) (*awsecs.DescribeServiceDeploymentsOutput, error) {
	out, err := c.Client.DescribeServiceDeployments(ctx, in, opts...)
	if err == nil && c.armed.Load() {
		for i := range out.ServiceDeployments {
			out.ServiceDeployments[i].Status = types.ServiceDeploymentStatusInProgress
			out.ServiceDeployments[i].TargetServiceRevision = &types.ServiceRevisionSummary{Arn: aws.String("arn:aws:ecs:us-east-1:123456789012:service-revision/prod/web/999")}
		}
	}
	return out, err
}

func (c *inFlightUses) DescribeServiceRevisions(ctx context.Context, in *awsecs.DescribeServiceRevisionsInput, opts ...func(*awsecs.Options)) (*awsecs.DescribeServiceRevisionsOutput, error) {
	out := &awsecs.DescribeServiceRevisionsOutput{}
	for _, arn := range in.ServiceRevisionArns {
		if strings.HasSuffix(arn, "/999") {
			out.ServiceRevisions = append(out.ServiceRevisions, types.ServiceRevision{ServiceRevisionArn: aws.String(arn), TaskDefinition: aws.String(c.td)})
		}
	}
	return out, nil
}

func TestRollbackDeregistersOnlyWhatNoDeploymentUses(t *testing.T) {
	for _, inFlight := range []bool{false, true} {
		t.Run(map[bool]string{false: "unused: deregistered", true: "named by an in-flight service deployment: kept"}[inFlight], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newDeploymentsEnv(t, 2, blueGreen)
				e.srv.FireAlarm("web-5xx", time.Now().Add(5*time.Minute))
				api := &inFlightUses{Client: e.client, td: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2"}
				target := ecs.New(api, "prod", "web", &ecs.Options{DeregisterOnRollback: true})
				_, err := deploy.Run(t.Context(), release, []deploy.Target{target}, &deploy.Options{OnEvent: func(ev deploy.Event) {
					if inFlight && ev.Phase == deploy.PhaseRollback && strings.HasPrefix(ev.Message, "ECS rolled service deployment") {
						api.armed.Store(true) // ECS's rollback is over; the deregister check comes next
					}
				}})
				if !errors.Is(err, deploy.ErrRolledBack) {
					t.Fatalf("err = %v, want ErrRolledBack", err)
				}
				want := map[bool]int{false: 1, true: 0}[inFlight]
				if n := e.srv.Calls("DeregisterTaskDefinition"); n != want {
					t.Errorf("%d DeregisterTaskDefinition calls, want %d", n, want)
				}
			})
		})
	}
}
