package ec2_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/google/go-cmp/cmp"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/ec2"
	"github.com/stevedore-dev/stevedore/targets/ec2/ec2test"
)

type env struct {
	srv    *ec2test.Server
	ssm    *ssm.Client
	ec2    *awsec2.Client
	mu     sync.Mutex
	events []deploy.Event
	// atApply, when set, runs once as Apply begins (after the plan): faults meant for the
	// rollout are injected there.
	atApply func()
}

func newEnv() *env {
	srv := ec2test.New(nil)
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String("http://fleet.invalid"),
		Credentials: awscreds.NewStaticCredentialsProvider("testing", "testing", ""), HTTPClient: srv.HTTPClient()}
	return &env{srv: srv, ssm: ssm.NewFromConfig(cfg), ec2: awsec2.NewFromConfig(cfg)}
}

func (e *env) target(f ec2.Fleet, o ec2.Options) *ec2.Target { return ec2.New(e.ssm, e.ec2, f, o) }

func (e *env) run(t *testing.T, tg *ec2.Target, version string) (*deploy.Result, error) {
	t.Helper()
	return deploy.Run(context.Background(), deploy.Release{Version: version, Images: map[string]string{"": "registry.example.com/app:" + version}},
		[]deploy.Target{tg}, &deploy.Options{OnEvent: func(ev deploy.Event) {
			e.mu.Lock()
			e.events = append(e.events, ev)
			f := e.atApply
			if ev.Phase == deploy.PhaseApply {
				e.atApply = nil
			}
			e.mu.Unlock()
			if f != nil && ev.Phase == deploy.PhaseApply {
				f()
			}
		}})
}

func (e *env) messages() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var b strings.Builder
	for _, ev := range e.events {
		fmt.Fprintf(&b, "%s %s %+v\n", ev.Phase, ev.Message, ev.Counts)
	}
	return b.String()
}

var script = []string{"systemctl stop app", "install-release \"$STEVEDORE_VERSION\"", "systemctl start app"}
var rollbackScript = []string{"reinstall-release \"$STEVEDORE_VERSION\""}

// exported decodes the values a command's preamble exports.
func exported(t *testing.T, commands []string) map[string]string {
	t.Helper()
	re := regexp.MustCompile(`^export ([A-Z_]+)="\$\(printf '%s' '([A-Za-z0-9+/=]*)' \| base64 -d\)"$`)
	out := map[string]string{}
	for _, c := range commands {
		if m := re.FindStringSubmatch(c); m != nil {
			v, err := base64.StdEncoding.DecodeString(m[2])
			if err != nil {
				t.Fatal(err)
			}
			out[m[1]] = string(v)
		}
	}
	return out
}

func tagged(e *env, ids []string, version string) []string {
	var out []string
	for _, id := range ids {
		if e.srv.Tags(id)["stevedore:version"] == version {
			out = append(out, id)
		}
	}
	return out
}

func TestAllSucceedByTag(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		ids := e.srv.Fleet(10, map[string]string{"app": "web", "env": "prod"})
		e.srv.Fleet(3, map[string]string{"app": "web", "env": "staging"})
		tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web", "env": "prod"}}, ec2.Options{Commands: script, WorkingDirectory: "/srv/app", ExecutionTimeout: 10 * time.Minute})
		if _, err := e.run(t, tg, "v2"); err != nil {
			t.Fatalf("%v\n%s", err, e.messages())
		}
		runs := e.srv.Ran()
		if len(runs) != 1 || len(runs[0].Instances) != 10 {
			t.Fatalf("runs = %+v", runs)
		}
		var in ssm.SendCommandInput
		if err := json.Unmarshal(e.srv.Requests("SendCommand")[0], &in); err != nil {
			t.Fatal(err)
		}
		if *in.MaxConcurrency != "1" || *in.MaxErrors != "0" || in.Parameters["workingDirectory"][0] != "/srv/app" || in.Parameters["executionTimeout"][0] != "600" {
			t.Errorf("SendCommand: concurrency %s, errors %s, params %v", *in.MaxConcurrency, *in.MaxErrors, in.Parameters)
		}
		if d := cmp.Diff(map[string]string{"STEVEDORE_VERSION": "v2", "STEVEDORE_IMAGE": "registry.example.com/app:v2"}, exported(t, runs[0].Commands)); d != "" {
			t.Errorf("exported (-want +got)\n%s", d)
		}
		if !slices.Equal(runs[0].Commands[len(runs[0].Commands)-3:], script) {
			t.Errorf("the user's commands are not run as given: %q", runs[0].Commands)
		}
		for _, c := range runs[0].Commands {
			if strings.Contains(c, "v2") {
				t.Errorf("a release value was pasted into the shell text: %q", c)
			}
		}
		if got := tagged(e, ids, "v2"); len(got) != 10 {
			t.Errorf("%d instances recorded v2, want 10", len(got))
		}
		if tags := e.srv.Tags(ids[0]); tags["stevedore:version-image"] != "registry.example.com/app:v2" {
			t.Errorf("image not recorded: %v", tags)
		}
		msgs := e.messages()
		for _, want := range []string{"sending version v2 to 10 instances, 1 at a time, up to 0 failures allowed", "deploy: 10/10 succeeded", "done version v2 runs on 10/10 instances"} {
			if !strings.Contains(msgs, want) {
				t.Errorf("events lack %q:\n%s", want, msgs)
			}
		}
		if !strings.Contains(msgs, "1 running") {
			t.Errorf("no progress event showed an instance running:\n%s", msgs)
		}
	})
}

func TestFailureOnTheThirdInstanceStopsAndRollsBackTheTouched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		ids := e.srv.Fleet(6, map[string]string{"app": "web"})
		for _, id := range ids {
			e.srv.AddInstances(ec2test.Instance{ID: id, Tags: map[string]string{"app": "web", "stevedore:version": "v1", "stevedore:version-image": "registry.example.com/app:v1"}})
		}
		e.srv.Script(func(inv ec2test.Invocation) ec2test.Outcome {
			if inv.InstanceID == ids[2] && slices.Contains(inv.Commands, script[1]) {
				return ec2test.Outcome{Status: "Failed", Exit: 3, Stderr: "unpacking...\ninstall-release: disk full\n"}
			}
			return ec2test.Outcome{}
		})
		tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: script, RollbackCommands: rollbackScript})
		_, err := e.run(t, tg, "v2")
		if !errors.Is(err, deploy.ErrFailed) || !errors.Is(err, deploy.ErrRolledBack) {
			t.Fatalf("err = %v\n%s", err, e.messages())
		}
		if !strings.Contains(err.Error(), "4 of 6 instances failed (at most 0 may)") {
			t.Errorf("the error does not count the failures: %v", err)
		}
		if !strings.Contains(err.Error(), ids[2]+" Failed: exit 3, stderr: unpacking... | install-release: disk full") {
			t.Errorf("the error does not name the instance and its stderr: %v", err)
		}
		if !strings.Contains(err.Error(), "Terminated (not run: too many instances had failed)") {
			t.Errorf("the error does not count the instances SSM never ran as failures: %v", err)
		}
		runs := e.srv.Ran()
		if len(runs) != 2 {
			t.Fatalf("%d commands ran, want deploy and rollback", len(runs))
		}
		if d := cmp.Diff(ids[:3], runs[0].Instances); d != "" {
			t.Errorf("the deploy reached (-want +got)\n%s", d)
		}
		if d := cmp.Diff(ids[:3], runs[1].Instances); d != "" {
			t.Errorf("the rollback reached (-want +got)\n%s", d)
		}
		want := map[string]string{"STEVEDORE_VERSION": "v1", "STEVEDORE_IMAGE": "registry.example.com/app:v1", "STEVEDORE_FAILED_VERSION": "v2",
			"STEVEDORE_PREVIOUS_VERSION": "v2", "STEVEDORE_PREVIOUS_IMAGE": "registry.example.com/app:v2"}
		if d := cmp.Diff(want, exported(t, runs[1].Commands)); d != "" {
			t.Errorf("rollback environment (-want +got)\n%s", d)
		}
		want = map[string]string{"STEVEDORE_VERSION": "v2", "STEVEDORE_IMAGE": "registry.example.com/app:v2",
			"STEVEDORE_PREVIOUS_VERSION": "v1", "STEVEDORE_PREVIOUS_IMAGE": "registry.example.com/app:v1"}
		if d := cmp.Diff(want, exported(t, runs[0].Commands)); d != "" {
			t.Errorf("deploy environment (-want +got)\n%s", d)
		}
		if got := tagged(e, ids, "v1"); len(got) != 6 {
			t.Errorf("records changed by a failed rollout: %d still say v1", len(got))
		}
	})
}

func TestUndeliverableAndDeliveryTimeoutsAreFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		ids := e.srv.Fleet(5, map[string]string{"app": "web"})
		e.srv.Script(func(inv ec2test.Invocation) ec2test.Outcome {
			switch inv.InstanceID {
			case ids[1]:
				return ec2test.Outcome{Status: "Undeliverable"}
			case ids[3]:
				return ec2test.Outcome{Status: "DeliveryTimedOut"}
			}
			return ec2test.Outcome{}
		})
		tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: script, Strategy: ec2.AllAtOnce, DeliveryTimeout: 5 * time.Minute})
		_, err := e.run(t, tg, "v2")
		if err == nil {
			t.Fatalf("succeeded although two instances never ran the commands\n%s", e.messages())
		}
		for _, want := range []string{"2 of 5 instances failed", ids[1] + " Undeliverable", ids[3] + " DeliveryTimedOut"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the error lacks %q: %v", want, err)
			}
		}
		// SSM itself called the command a success: the trap.
		if got := lastCommandStatus(t, e); got != "Success" {
			t.Errorf("the fake's command status is %q; the test means to reproduce SSM's misleading Success", got)
		}
		if got := tagged(e, ids, "v2"); len(got) != 0 {
			t.Errorf("a failed rollout recorded v2 on %v", got)
		}
	})
}

func lastCommandStatus(t *testing.T, e *env) string {
	t.Helper()
	out, err := e.ssm.ListCommands(context.Background(), &ssm.ListCommandsInput{CommandId: aws.String(e.srv.Ran()[0].CommandID)})
	if err != nil {
		t.Fatal(err)
	}
	return string(out.Commands[0].Status)
}

func TestUnreachableInstancesFailBeforeSending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		ids := e.srv.Fleet(5, map[string]string{"app": "web"})
		e.srv.SetAgent(ids[0], ec2test.ConnectionLost)
		e.srv.SetState(ids[1], "stopped")
		e.srv.SetAgent(ids[2], ec2test.Unmanaged)
		tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: script})
		_, err := e.run(t, tg, "v2")
		if err == nil || e.srv.Calls("SendCommand") != 0 {
			t.Fatalf("err = %v, %d commands sent", err, e.srv.Calls("SendCommand"))
		}
		for _, want := range []string{"3 of 5 instances cannot be reached", ids[0] + ": its SSM agent is ConnectionLost", ids[1] + ": the instance is stopped", ids[2] + ": not managed by SSM", "SkipUnavailable"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the error lacks %q: %v", want, err)
			}
		}

		skip := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: script, SkipUnavailable: true})
		res, err := e.run(t, skip, "v2")
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(ids[3:], e.srv.Ran()[0].Instances); d != "" {
			t.Errorf("with SkipUnavailable the command reached (-want +got)\n%s", d)
		}
		if diff := res.Targets[0].Plan.Diff(); !strings.Contains(diff, "skipped "+ids[0]) {
			t.Errorf("the plan's diff does not show the skipped instances:\n%s", diff)
		}
	})
}

func TestThrottlingIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		e.srv.Fleet(4, map[string]string{"app": "web"})
		e.srv.Inject("DescribeInstances", ec2test.Fault{Code: "RequestLimitExceeded", Status: 503, Times: 2})
		e.srv.Inject("DescribeInstanceInformation", ec2test.Fault{Code: "ThrottlingException", Times: 2})
		e.atApply = func() {
			e.srv.Inject("ListCommands", ec2test.Fault{Code: "ThrottlingException", Times: 12})
			e.srv.Inject("ListCommandInvocations", ec2test.Fault{Code: "ThrottlingException", Times: 5})
		}
		tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: script, Strategy: ec2.HalfAtATime})
		if _, err := e.run(t, tg, "v2"); err != nil {
			t.Fatalf("%v\n%s", err, e.messages())
		}
		// Every injected fault was answered, and the calls went on past them.
		for op, faults := range map[string]int{"DescribeInstances": 2, "DescribeInstanceInformation": 2, "ListCommands": 12, "ListCommandInvocations": 5} {
			if n := e.srv.Calls(op); n <= faults {
				t.Errorf("%s: %d calls for %d injected faults", op, n, faults)
			}
		}
	})
}

// Connections reset under the status polls are transient: the SDK's three attempts of one
// ListCommands and one ListCommandInvocations all reset do not fail the rollout.
func TestConnectionResetsAreRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		e.srv.Fleet(4, map[string]string{"app": "web"})
		e.atApply = func() {
			e.srv.Inject("ListCommands", ec2test.Fault{Reset: true, Times: 6})
			e.srv.Inject("ListCommandInvocations", ec2test.Fault{Reset: true, Times: 3})
		}
		tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: script, Strategy: ec2.HalfAtATime})
		if _, err := e.run(t, tg, "v2"); err != nil {
			t.Fatalf("%v\n%s", err, e.messages())
		}
		for op, faults := range map[string]int{"ListCommands": 6, "ListCommandInvocations": 3} {
			if n := e.srv.Calls(op); n <= faults {
				t.Errorf("%s: %d calls for %d injected resets", op, n, faults)
			}
		}
	})
}

func TestCancellationCancelsTheCommandAndRollsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		ids := e.srv.Fleet(4, map[string]string{"app": "web"})
		for _, id := range ids {
			e.srv.AddInstances(ec2test.Instance{ID: id, Tags: map[string]string{"app": "web", "stevedore:version": "v1"}})
		}
		e.srv.Script(func(ec2test.Invocation) ec2test.Outcome { return ec2test.Outcome{Duration: time.Minute} })
		tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: script, RollbackCommands: rollbackScript})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(90*time.Second, cancel) // the second instance is running
		_, err := deploy.Run(ctx, deploy.Release{Version: "v2"}, []deploy.Target{tg}, nil)
		if !errors.Is(err, deploy.ErrCanceled) || !errors.Is(err, deploy.ErrRolledBack) {
			t.Fatalf("err = %v", err)
		}
		if e.srv.Calls("CancelCommand") != 1 {
			t.Errorf("CancelCommand calls = %d", e.srv.Calls("CancelCommand"))
		}
		runs := e.srv.Ran()
		if len(runs) != 2 {
			t.Fatalf("runs = %+v", runs)
		}
		if d := cmp.Diff(ids[:2], runs[1].Instances); d != "" {
			t.Errorf("rolled back (-want +got)\n%s", d)
		}
	})
}

// Cancelled before SSM lists the command's invocations, the target cannot tell which
// instances it reached, so it rolls back every instance the command was sent to: all of a
// single command's, only the first wave's when waves are driven.
func TestCancelledBeforeInvocationsAreListedRollsBackWhatTheCommandWentTo(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   ec2.Options
		rolled int
	}{
		{"one command", ec2.Options{Commands: script, RollbackCommands: rollbackScript, Strategy: ec2.HalfAtATime}, 4},
		{"waves", ec2.Options{Commands: script, RollbackCommands: rollbackScript, Strategy: ec2.HalfAtATime, VerifyCommands: []string{"true"}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv()
				e.srv.NotYetVisible = time.Minute
				ids := e.srv.Fleet(4, map[string]string{"app": "web", "stevedore:version": "v1"})
				e.srv.Script(func(ec2test.Invocation) ec2test.Outcome { return ec2test.Outcome{Duration: time.Second} })
				tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, tc.opts)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_, err := deploy.Run(ctx, deploy.Release{Version: "v2"}, []deploy.Target{tg}, nil)
				if !errors.Is(err, deploy.ErrRolledBack) {
					t.Fatalf("err = %v", err)
				}
				runs := e.srv.Ran()
				if len(runs) != 2 {
					t.Fatalf("runs = %+v, want the deploy and the rollback", runs)
				}
				if d := cmp.Diff(ids[:tc.rolled], runs[1].Instances); d != "" {
					t.Errorf("rolled back (-want +got)\n%s", d)
				}
			})
		})
	}
}

// A rollback keeps trying through connection resets past what the client's retryer allows
// (3 attempts a call): 15 resets of its SendCommand and 15 of its
// CreateTags, and the fleet still ends back on v1, recorded so.
func TestRollbackOutlastsTheClientsRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		ids := e.srv.Fleet(3, map[string]string{"app": "web", "stevedore:version": "v1"})
		e.srv.Script(func(inv ec2test.Invocation) ec2test.Outcome {
			if exported(t, inv.Commands)["STEVEDORE_FAILED_VERSION"] == "" && inv.InstanceID == ids[2] {
				return ec2test.Outcome{Status: "Failed", Exit: 1, Duration: time.Second}
			}
			return ec2test.Outcome{Duration: time.Second}
		})
		tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: script, RollbackCommands: rollbackScript, Strategy: ec2.AllAtOnce})
		_, err := deploy.Run(context.Background(), deploy.Release{Version: "v2"}, []deploy.Target{tg}, &deploy.Options{OnEvent: func(ev deploy.Event) {
			if ev.Phase == deploy.PhaseRollback && ev.Message == "rolling back" {
				e.srv.Inject("SendCommand", ec2test.Fault{Reset: true, Times: 15})
				e.srv.Inject("CreateTags", ec2test.Fault{Reset: true, Times: 15})
			}
		}})
		if !errors.Is(err, deploy.ErrRolledBack) {
			t.Fatalf("err = %v", err)
		}
		runs := e.srv.Ran()
		if len(runs) != 2 || !cmp.Equal(ids, runs[1].Instances) {
			t.Errorf("runs %+v; want the rollback on every instance", runs)
		}
		for _, id := range ids {
			if v := e.srv.Tags(id)["stevedore:version"]; v != "v1" {
				t.Errorf("%s recorded on %q", id, v)
			}
		}
	})
}

func TestVerifyWavesStopAtTheFirstBadWave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		ids := e.srv.Fleet(6, map[string]string{"app": "web"})
		for _, id := range ids {
			e.srv.AddInstances(ec2test.Instance{ID: id, Tags: map[string]string{"app": "web", "stevedore:version": "v1"}})
		}
		verify := []string{"curl -fsS localhost:8080/health"}
		e.srv.Script(func(inv ec2test.Invocation) ec2test.Outcome {
			if inv.InstanceID == ids[3] && slices.Contains(inv.Commands, verify[0]) {
				return ec2test.Outcome{Status: "Failed", Exit: 22, Stderr: "curl: (22) The requested URL returned error: 503\n"}
			}
			return ec2test.Outcome{}
		})
		tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: script, VerifyCommands: verify, RollbackCommands: rollbackScript, Strategy: ec2.Count{N: 2}})
		_, err := e.run(t, tg, "v2")
		if !errors.Is(err, deploy.ErrRolledBack) || !strings.Contains(err.Error(), ids[3]+" Failed: verify failed: exit 22, stderr: curl: (22)") {
			t.Fatalf("err = %v\n%s", err, e.messages())
		}
		var kinds []string
		for _, r := range e.srv.Ran() {
			kind := "deploy"
			switch {
			case slices.Contains(r.Commands, verify[0]):
				kind = "verify"
			case slices.Contains(r.Commands, rollbackScript[0]) && !slices.Contains(r.Commands, script[0]):
				kind = "rollback"
			}
			kinds = append(kinds, fmt.Sprintf("%s %v", kind, r.Instances))
		}
		want := []string{
			fmt.Sprintf("deploy %v", ids[0:2]), fmt.Sprintf("verify %v", ids[0:2]),
			fmt.Sprintf("deploy %v", ids[2:4]), fmt.Sprintf("verify %v", ids[2:4]),
			fmt.Sprintf("rollback %v", ids[0:4]),
		}
		if d := cmp.Diff(want, kinds); d != "" {
			t.Errorf("commands (-want +got)\n%s", d)
		}
	})
}

func TestMinHealthyAllowsSomeFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		ids := e.srv.Fleet(5, map[string]string{"app": "web"})
		e.srv.Script(func(inv ec2test.Invocation) ec2test.Outcome {
			if inv.InstanceID == ids[1] {
				return ec2test.Outcome{Status: "TimedOut"}
			}
			return ec2test.Outcome{}
		})
		tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: script, MinHealthy: &ec2.Count{N: 80, Percent: true}})
		if _, err := e.run(t, tg, "v2"); err != nil {
			t.Fatalf("one failure of five with 80%% healthy required: %v", err)
		}
		var in ssm.SendCommandInput
		json.Unmarshal(e.srv.Requests("SendCommand")[0], &in)
		if *in.MaxErrors != "1" {
			t.Errorf("MaxErrors = %s, want 1", *in.MaxErrors)
		}
		if d := cmp.Diff(append([]string{ids[0]}, ids[2:]...), tagged(e, ids, "v2")); d != "" {
			t.Errorf("recorded (-want +got)\n%s", d)
		}
		if !strings.Contains(e.messages(), ids[1]+" ExecutionTimedOut (ran past the execution timeout)") {
			t.Errorf("the done event does not name the failure:\n%s", e.messages())
		}
	})
}

func TestManyInstanceIDsGoFiftyToACommand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		ids := e.srv.Fleet(120, nil)
		tg := e.target(ec2.Fleet{InstanceIDs: ids}, ec2.Options{Commands: script, Strategy: ec2.AllAtOnce})
		if _, err := e.run(t, tg, "v2"); err != nil {
			t.Fatalf("%v\n%s", err, e.messages())
		}
		var sizes []int
		for _, r := range e.srv.Ran() {
			sizes = append(sizes, len(r.Instances))
		}
		slices.Sort(sizes)
		if d := cmp.Diff([]int{20, 50, 50}, sizes); d != "" {
			t.Errorf("command sizes (-want +got)\n%s", d)
		}
		if len(tagged(e, ids, "v2")) != 120 {
			t.Errorf("not all recorded")
		}
	})
}

func TestTruncatedStderrSaysWhereFullOutputIs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		ids := e.srv.Fleet(1, map[string]string{"app": "web"})
		e.srv.Script(func(ec2test.Invocation) ec2test.Outcome {
			return ec2test.Outcome{Status: "Failed", Exit: 1, Stderr: strings.Repeat("noise\n", 2000) + "the real error\n"}
		})
		for _, tc := range []struct {
			opts ec2.Options
			want string
		}{
			{ec2.Options{Commands: script}, "set OutputS3Bucket or CloudWatchLogGroup"},
			{ec2.Options{Commands: script, OutputS3Bucket: "logs", OutputS3KeyPrefix: "deploys/"}, "full output in s3://logs/deploys/"},
		} {
			_, err := e.run(t, e.target(ec2.Fleet{InstanceIDs: ids}, tc.opts), "v2")
			if err == nil || !strings.Contains(err.Error(), "stderr cut by SSM at 8,000 characters") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v; want the truncation noted with %q", err, tc.want)
			}
		}
		var in ssm.SendCommandInput
		json.Unmarshal(e.srv.Requests("SendCommand")[1], &in)
		if aws.ToString(in.OutputS3BucketName) != "logs" || aws.ToString(in.OutputS3KeyPrefix) != "deploys/" {
			t.Errorf("S3 output settings not passed through: %s", e.srv.Requests("SendCommand")[1])
		}
	})
}

func TestRecordInParameterStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		ids := e.srv.Fleet(3, map[string]string{"app": "web"})
		e.srv.PS.PutParameter("/deploys/web/"+ids[0], `{"version":"v1","image":"registry.example.com/app:v1"}`)
		tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: script, RecordParameterPrefix: "/deploys/web"})
		res, err := e.run(t, tg, "v2")
		if err != nil {
			t.Fatal(err)
		}
		if diff := res.Targets[0].Plan.Diff(); !strings.Contains(diff, `"v1"`) || !strings.Contains(diff, "(unknown)") {
			t.Errorf("the plan did not read the records:\n%s", diff)
		}
		out, err := e.ssm.GetParameters(context.Background(), &ssm.GetParametersInput{Names: []string{"/deploys/web/" + ids[0], "/deploys/web/" + ids[2]}})
		if err != nil || len(out.Parameters) != 2 {
			t.Fatalf("%v %+v", err, out)
		}
		for _, p := range out.Parameters {
			if aws.ToString(p.Value) != `{"version":"v2","image":"registry.example.com/app:v2"}` {
				t.Errorf("%s = %s", aws.ToString(p.Name), aws.ToString(p.Value))
			}
		}
		if len(tagged(e, ids, "v2")) != 0 {
			t.Errorf("tags written although Parameter Store was chosen")
		}
	})
}

// The preamble survives values written to break out of shell quoting: run it in sh.
func TestPreambleCarriesAnyValueSafely(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		e.srv.Fleet(1, map[string]string{"app": "web"})
		nasty := `'; touch /tmp/pwned; echo '$(id)` + "`id`\"\n\\"
		tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: []string{`printf '%s' "$NASTY"`}})
		_, err := deploy.Run(context.Background(), deploy.Release{Version: "v2", Env: []deploy.EnvChange{{Name: "NASTY", Value: nasty}}}, []deploy.Target{tg}, nil)
		if err != nil {
			t.Fatal(err)
		}
		commands := e.srv.Ran()[0].Commands
		out, err := exec.Command("sh", "-c", strings.Join(commands, "\n")).Output()
		if err != nil {
			t.Fatalf("sh: %v", err)
		}
		if string(out) != nasty {
			t.Errorf("the script saw %q, want %q", out, nasty)
		}
	})
}

// Instances that ran different releases each see their own in STEVEDORE_PREVIOUS_VERSION and
// STEVEDORE_PREVIOUS_IMAGE, chosen by the instance ID the SSM agent sets: run it in sh.
func TestDeployCommandsSayWhatEachInstanceRanBefore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		ids := e.srv.Fleet(3, map[string]string{"app": "web"})
		e.srv.AddInstances(ec2test.Instance{ID: ids[0], Tags: map[string]string{"app": "web", "stevedore:version": "v1", "stevedore:version-image": "registry.example.com/app:v1"}})
		e.srv.AddInstances(ec2test.Instance{ID: ids[1], Tags: map[string]string{"app": "web", "stevedore:version": "v0"}})
		tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: []string{`echo "${STEVEDORE_PREVIOUS_VERSION:-none} ${STEVEDORE_PREVIOUS_IMAGE:-none} $STEVEDORE_VERSION"`}, Strategy: ec2.AllAtOnce})
		if _, err := e.run(t, tg, "v2"); err != nil {
			t.Fatal(err)
		}
		commands := strings.Join(e.srv.Ran()[0].Commands, "\n")
		for id, want := range map[string]string{ids[0]: "v1 registry.example.com/app:v1 v2\n", ids[1]: "v0 none v2\n", ids[2]: "none none v2\n", "": "none none v2\n"} {
			cmd := exec.Command("sh", "-c", commands)
			cmd.Env = append(os.Environ(), "AWS_SSM_INSTANCE_ID="+id)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("sh: %v\n%s", err, commands)
			}
			if string(out) != want {
				t.Errorf("on %q the commands saw %q, want %q", id, out, want)
			}
		}
	})
}

func TestReleaseValidation(t *testing.T) {
	e := newEnv()
	e.srv.Fleet(1, map[string]string{"app": "web"})
	tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: script})
	for _, tc := range []struct {
		rel  deploy.Release
		want string
	}{
		{deploy.Release{}, "has no version"},
		{deploy.Release{Version: "v1; rm -rf /"}, `version "v1; rm -rf /"`},
		{deploy.Release{Version: "v1", Images: map[string]string{"": "UPPER/Case:tag"}}, "image"},
		{deploy.Release{Version: "v1", Env: []deploy.EnvChange{{Container: "web", Name: "A", Value: "b"}}}, "names a container"},
		{deploy.Release{Version: "v1", Env: []deploy.EnvChange{{Name: "STEVEDORE_VERSION", Value: "x"}}}, "reserved"},
		{deploy.Release{Version: "v1", Secrets: []deploy.SecretRef{{Name: "A", ValueFrom: "/x"}}}, "no secrets by reference"},
	} {
		_, err := tg.Plan(context.Background(), tc.rel)
		if !errors.Is(err, deploy.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v; want ErrInvalid mentioning %q", tc.rel, err, tc.want)
		}
	}
	if _, err := e.target(ec2.Fleet{}, ec2.Options{Commands: script}).Plan(context.Background(), deploy.Release{Version: "v1"}); !errors.Is(err, deploy.ErrInvalid) {
		t.Errorf("an empty fleet: %v", err)
	}
	if _, err := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{}).Plan(context.Background(), deploy.Release{Version: "v1"}); !errors.Is(err, deploy.ErrInvalid) {
		t.Errorf("no commands: %v", err)
	}
	if _, err := e.target(ec2.Fleet{Tags: map[string]string{"app": "api"}}, ec2.Options{Commands: script}).Plan(context.Background(), deploy.Release{Version: "v1"}); !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("no instance matches: %v", err)
	}
}

// deploy.Run rejects secrets by reference for the EC2 target before any AWS call: the
// target says what it honours.
func TestRunRejectsSecretsBeforeAnyCall(t *testing.T) {
	e := newEnv()
	e.srv.Fleet(1, map[string]string{"app": "web"})
	tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: script})
	rel := deploy.Release{Version: "v1", Secrets: []deploy.SecretRef{{Name: "A", ValueFrom: "/x"}}}
	_, err := deploy.Run(context.Background(), rel, []deploy.Target{tg}, nil)
	if !errors.Is(err, deploy.ErrInvalid) || !strings.Contains(err.Error(), "the release sets secrets, which this target does not honour") {
		t.Errorf("err = %v", err)
	}
	if n := e.srv.TotalCalls(); n != 0 {
		t.Errorf("%d AWS calls before the release was rejected", n)
	}
}

// Right after SendCommand the invocations are not listed yet; a finished command with an
// empty listing must be waited on, not read as "nothing failed".
// GetCommandInvocation can lag ListCommandInvocations: the failure is still explained.
func TestFailureExplainedWhenItsInvocationIsNotYetVisible(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		e.srv.DeliveryDelay, e.srv.NotYetVisible = 0, 0
		ids := e.srv.Fleet(3, map[string]string{"app": "web"})
		e.srv.Script(func(inv ec2test.Invocation) ec2test.Outcome {
			if inv.InstanceID == ids[1] {
				return ec2test.Outcome{Status: "Failed", Duration: time.Millisecond, Exit: 4, Stderr: "late\n"}
			}
			return ec2test.Outcome{Duration: time.Millisecond}
		})
		e.srv.Inject("GetCommandInvocation", ec2test.Fault{Code: "InvocationDoesNotExist", Status: 400, Times: 2})
		tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: script, Strategy: ec2.AllAtOnce})
		_, err := e.run(t, tg, "v2")
		if err == nil || !strings.Contains(err.Error(), ids[1]+" Failed: exit 4, stderr: late") {
			t.Fatalf("err = %v\n%s", err, e.messages())
		}
	})
}

func TestInvocationsNotYetListed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		e.srv.DeliveryDelay, e.srv.NotYetVisible = 0, 20*time.Second
		ids := e.srv.Fleet(3, map[string]string{"app": "web"})
		e.srv.Script(func(inv ec2test.Invocation) ec2test.Outcome {
			if inv.InstanceID == ids[2] {
				return ec2test.Outcome{Status: "Failed", Duration: time.Millisecond, Exit: 1, Stderr: "boom\n"}
			}
			return ec2test.Outcome{Duration: time.Millisecond}
		})
		tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: script, Strategy: ec2.AllAtOnce, PollInterval: time.Second})
		start := time.Now()
		_, err := e.run(t, tg, "v2")
		if err == nil || !strings.Contains(err.Error(), ids[2]+" Failed: exit 1, stderr: boom") {
			t.Fatalf("err = %v\n%s", err, e.messages())
		}
		if waited := time.Since(start); waited < 20*time.Second {
			t.Errorf("decided after %v, before the invocations were listed", waited)
		}
		if n := e.srv.Calls("ListCommandInvocations"); n < 5 {
			t.Errorf("ListCommandInvocations called %d times; the empty listings were not retried", n)
		}
	})
}

func TestOtherDocumentGetsTheReleaseAsParameters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		e.srv.Fleet(2, map[string]string{"app": "web"})
		tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Document: "Acme-DeployApp",
			Parameters: map[string][]string{"service": {"web"}}, VersionParameter: "version", ImageParameter: "image"})
		if _, err := e.run(t, tg, "v2"); err != nil {
			t.Fatal(err)
		}
		var in ssm.SendCommandInput
		json.Unmarshal(e.srv.Requests("SendCommand")[0], &in)
		want := map[string][]string{"service": {"web"}, "version": {"v2"}, "image": {"registry.example.com/app:v2"}}
		if aws.ToString(in.DocumentName) != "Acme-DeployApp" || !cmp.Equal(want, in.Parameters) {
			t.Errorf("SendCommand %s %v", aws.ToString(in.DocumentName), in.Parameters)
		}
	})
}

func TestTimeoutCancelsAndRollsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv()
		ids := e.srv.Fleet(3, map[string]string{"app": "web", "stevedore:version": "v1"})
		e.srv.Script(func(inv ec2test.Invocation) ec2test.Outcome {
			if slices.Contains(inv.Commands, script[0]) {
				return ec2test.Outcome{Duration: time.Hour} // hangs
			}
			return ec2test.Outcome{}
		})
		tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: script, RollbackCommands: rollbackScript})
		start := time.Now()
		_, err := deploy.Run(context.Background(), deploy.Release{Version: "v2"}, []deploy.Target{tg}, &deploy.Options{Timeout: 10 * time.Minute})
		if !errors.Is(err, deploy.ErrTimeout) || !errors.Is(err, deploy.ErrRolledBack) {
			t.Fatalf("err = %v", err)
		}
		if took := time.Since(start); took > 15*time.Minute {
			t.Errorf("took %v", took)
		}
		if e.srv.Calls("CancelCommand") != 1 {
			t.Errorf("the hanging command was not cancelled")
		}
		runs := e.srv.Ran()
		if len(runs) != 2 || !cmp.Equal(ids[:1], runs[1].Instances) {
			t.Errorf("runs %+v; want the rollback on the one instance that started", runs)
		}
	})
}

// Wave gates run after each wave: passing, every wave is deployed and the gate ran after
// each; failing after the first wave, the second is never sent and the first rolls back, the
// error carrying the gate's evidence.
func TestWaveGates(t *testing.T) {
	for _, verdict := range []deploy.Verdict{deploy.Pass, deploy.Fail} {
		t.Run(string(verdict), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv()
				ids := e.srv.Fleet(6, map[string]string{"app": "web", "stevedore:version": "v1"})
				runs := 0
				alarms := deploy.CheckFunc("alarms", func(context.Context) (deploy.Measurement, error) {
					runs++
					return deploy.Measurement{Verdict: verdict, Evidence: "web-5xx in ALARM"}, nil
				})
				tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: script, RollbackCommands: rollbackScript,
					Strategy: ec2.Count{N: 2}, WaveGates: []deploy.Gate{{Check: alarms, Count: 2, Interval: 30 * time.Second}}})
				_, err := e.run(t, tg, "v2")
				deployed := 0
				for _, r := range e.srv.Ran() {
					if exported(t, r.Commands)["STEVEDORE_FAILED_VERSION"] == "" {
						deployed += len(r.Instances)
					}
				}
				switch verdict {
				case deploy.Pass:
					if err != nil || deployed != 6 || runs != 6 {
						t.Errorf("err %v; %d instances deployed, gate measured %d times; want 6 and 6 (3 gates of 2)", err, deployed, runs)
					}
				case deploy.Fail:
					if !errors.Is(err, deploy.ErrGateFailed) || !errors.Is(err, deploy.ErrRolledBack) || !strings.Contains(err.Error(), "web-5xx in ALARM") ||
						!strings.Contains(err.Error(), "stopped after wave 1 of 3") || deployed != 2 {
						t.Errorf("err %v; %d deployed, want 2", err, deployed)
					}
					for _, id := range ids[:2] {
						if v := e.srv.Tags(id)["stevedore:version"]; v != "v1" {
							t.Errorf("%s recorded on %s", id, v)
						}
					}
				}
			})
		})
	}
}
