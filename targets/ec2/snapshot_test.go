package ec2_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/clitest"
	"github.com/stevedore-dev/stevedore/targets/ec2"
	"github.com/stevedore-dev/stevedore/targets/ec2/ec2test"
)

var restoreOpts = ec2.Options{Commands: []string{`/opt/web/install "$STEVEDORE_VERSION"`}, RollbackCommands: []string{`/opt/web/install "$STEVEDORE_VERSION"`},
	PollInterval: 10 * time.Millisecond}

func targetAt(url string) *ec2.Target {
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: awscreds.NewStaticCredentialsProvider("testing", "testing", "")}
	return ec2.New(ssm.NewFromConfig(cfg), awsec2.NewFromConfig(cfg), ec2.Fleet{Tags: map[string]string{"app": "web"}}, restoreOpts)
}

// A snapshot of an applied plan is restored in a fresh process (this test binary run again),
// which rolls the fleet back over HTTP, records included.
func TestSnapshotRestoredInAnotherProcessRollsBack(t *testing.T) {
	srv := ec2test.New(nil)
	srv.DeliveryDelay, srv.NotYetVisible = time.Millisecond, 0
	srv.Script(func(ec2test.Invocation) ec2test.Outcome { return ec2test.Outcome{Duration: time.Millisecond} })
	ids := srv.Fleet(2, map[string]string{"app": "web", "stevedore:version": "v1"})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	p, err := targetAt(hs.URL).Plan(t.Context(), deploy.Release{Version: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	snap, err := p.(deploy.Snapshotter).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "snapshot.json")
	if err := os.WriteFile(file, snap, 0o600); err != nil {
		t.Fatal(err)
	}
	clitest.InAnotherProcess(t, "TestRestoreHelper", "restored and rolled back", "STEVEDORE_EC2_RESTORE="+file, "STEVEDORE_EC2_URL="+hs.URL)
	for _, id := range ids {
		if got := srv.Tags(id)["stevedore:version"]; got != "v1" {
			t.Errorf("%s is recorded to run %q after the other process's rollback, want v1", id, got)
		}
	}
}

// TestRestoreHelper is the other process of the test above; it does nothing on its own.
func TestRestoreHelper(t *testing.T) {
	file := os.Getenv("STEVEDORE_EC2_RESTORE")
	if file == "" {
		t.Skip("run by TestSnapshotRestoredInAnotherProcessRollsBack")
	}
	snap, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := targetAt(os.Getenv("STEVEDORE_EC2_URL")).Restore(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Rollback(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(ctx, nil); err == nil || !strings.Contains(err.Error(), "plan the release again") {
		t.Errorf("Apply of a restored plan: %v", err)
	}
	t.Log("restored and rolled back")
}

// crashOpts are the options of the crash tests: the crashing process's and the restoring
// one's, as the same deploy program would set them.
func crashOpts(waves bool) ec2.Options {
	o := restoreOpts
	if waves {
		o.VerifyCommands = []string{`curl -fsS localhost/health`}
		o.Strategy = ec2.HalfAtATime
	}
	return o
}

func crashTarget(url string, waves bool) *ec2.Target {
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: awscreds.NewStaticCredentialsProvider("testing", "testing", "")}
	o := crashOpts(waves)
	if os.Getenv("STEVEDORE_EC2_LB") != "" || waves && lbCrash {
		o.LoadBalancing = &ec2.LoadBalancing{Client: elb.NewFromConfig(cfg), TargetGroups: []string{"web"}}
		o.AutoScaling = &ec2.AutoScaling{Client: autoscaling.NewFromConfig(cfg)}
		o.VerifyCommands, o.Strategy = nil, ec2.OneAtATime
	}
	return ec2.New(ssm.NewFromConfig(cfg), awsec2.NewFromConfig(cfg), ec2.Fleet{Tags: map[string]string{"app": "web"}}, o)
}

// lbCrash makes crashTarget's wave-by-wave target one behind target group "web" whose
// instances are in Auto Scaling group web-asg (the crashing process learns it from
// STEVEDORE_EC2_LB).
var lbCrash bool

// crashWhile runs TestCrashHelper in another process, which plans v2, applies it, and on the
// first progress report of a kind command with invocations running writes its plan's
// snapshot and kills itself: a deploy program dying mid-rollout. It returns the snapshot.
func crashWhile(t *testing.T, url, kind string, waves bool) []byte {
	t.Helper()
	file := filepath.Join(t.TempDir(), "snapshot.json")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "STEVEDORE_EC2_CRASH="+file, "STEVEDORE_EC2_URL="+url, "STEVEDORE_EC2_CRASH_ON="+kind,
		"STEVEDORE_EC2_WAVES="+strconv.FormatBool(waves))
	if lbCrash {
		cmd.Env = append(cmd.Env, "STEVEDORE_EC2_LB=1")
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the other process did not crash mid-%s: %v\n%s", kind, err, out)
	}
	snap, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// TestCrashHelper is the crashing process of the tests below; it does nothing on its own.
func TestCrashHelper(t *testing.T) {
	file := os.Getenv("STEVEDORE_EC2_CRASH")
	if file == "" {
		t.Skip("run by crashWhile")
	}
	tg := crashTarget(os.Getenv("STEVEDORE_EC2_URL"), os.Getenv("STEVEDORE_EC2_WAVES") == "true")
	p, err := tg.Plan(t.Context(), deploy.Release{Version: "v2", Env: []deploy.EnvChange{{Name: "LOG_LEVEL", Value: "debug-7f3a"}}})
	if err != nil {
		t.Fatal(err)
	}
	kind := os.Getenv("STEVEDORE_EC2_CRASH_ON")
	die := func() {
		snap, err := p.(deploy.Snapshotter).Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, snap, 0o600); err != nil {
			t.Fatal(err)
		}
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	crash := func(e deploy.Event) {
		if kind == "drain" && strings.HasPrefix(e.Message, "taking ") {
			go func() { time.Sleep(50 * time.Millisecond); die() }() // once deregistered, while draining
			return
		}
		sending := kind == "send" && strings.HasPrefix(e.Message, "sending the deploy command")
		if !sending && (e.Phase != deploy.PhaseWait || !strings.HasPrefix(e.Message, kind+":") || e.Counts.Running == 0) {
			return
		}
		die()
	}
	if kind == "rollback" { // the deploy is given up on, then the rollback crashes
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		if err := p.Apply(ctx, nil); err == nil {
			t.Fatal("Apply succeeded before the timeout")
		}
		err = p.Rollback(t.Context(), crash)
	} else {
		err = p.Apply(t.Context(), crash)
	}
	t.Fatalf("returned %v without the crash", err)
}

// crashFleet is a fleet of n instances on v1 whose deploy and verify commands take d (and
// rollback commands a millisecond).
func crashFleet(t *testing.T, n int, d time.Duration) (*ec2test.Server, []string, string) {
	return crashFleetRollingBackIn(t, n, d, time.Millisecond)
}

func crashFleetRollingBackIn(t *testing.T, n int, d, back time.Duration) (*ec2test.Server, []string, string) {
	srv := ec2test.New(nil)
	srv.DeliveryDelay, srv.NotYetVisible = time.Millisecond, 0
	srv.Script(func(inv ec2test.Invocation) ec2test.Outcome {
		if strings.Contains(strings.Join(inv.Commands, "\n"), "export STEVEDORE_FAILED_VERSION=") {
			return ec2test.Outcome{Duration: back}
		}
		return ec2test.Outcome{Duration: d}
	})
	ids := srv.Fleet(n, map[string]string{"app": "web", "stevedore:version": "v1"})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return srv, ids, hs.URL
}

// A deploy program dies while its deploy command runs on an instance it took out of its
// target group, with the fleet's scaling suspended; another restores the plan and rolls
// back: the instance runs the rollback commands, goes back into the group and passes its
// health checks, and scaling is resumed.
func TestRestoredPlanPutsTheFleetBackInService(t *testing.T) {
	for _, kind := range []string{"deploy", "drain"} {
		t.Run(kind, func(t *testing.T) { restoreBackInService(t, kind) })
	}
}

func restoreBackInService(t *testing.T, kind string) {
	lbCrash = true
	defer func() { lbCrash = false }()
	srv, ids, url := crashFleet(t, 3, time.Minute)
	arn := srv.CreateTargetGroup(ec2test.TargetGroup{Name: "web", DeregistrationDelay: time.Second, HealthyAfter: 100 * time.Millisecond, Instances: ids})
	srv.CreateAutoScalingGroup(ec2test.AutoScalingGroup{Name: "web-asg", Instances: ids, TargetGroups: []string{arn}})
	snap := crashWhile(t, url, kind, true)
	if kind == "drain" {
		if st, _ := srv.TargetHealth(arn, ids[0]); st != "draining" || len(srv.Ran()) != 0 {
			t.Fatalf("the crashed process left %s %s, %d commands run; want it draining, nothing run", ids[0], st, len(srv.Ran()))
		}
		time.Sleep(time.Second) // drained
	}
	if st, _ := srv.TargetHealth(arn, ids[0]); st != "unused" || len(srv.Suspended("web-asg")) != 3 {
		t.Fatalf("the crashed process left %s %s and suspended %v; want it out of service, scaling held", ids[0], st, srv.Suspended("web-asg"))
	}
	p, err := crashTarget(url, true).Restore(t.Context(), snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Rollback(t.Context(), nil); err != nil {
		t.Fatalf("rollback: %v\nsnapshot: %s", err, snap)
	}
	for _, id := range ids {
		if st, why := srv.TargetHealth(arn, id); st != "healthy" {
			t.Errorf("%s after the rollback: %s %s", id, st, why)
		}
	}
	if got := srv.Suspended("web-asg"); len(got) > 0 {
		t.Errorf("still suspended after the rollback: %v", got)
	}
	if ran := srv.Ran(); kind == "deploy" && (len(ran) != 2 || !slices.Equal(ran[1].Instances, ids[:1])) || kind == "drain" && len(ran) != 0 {
		t.Errorf("commands: %+v; want the deploy, then the rollback on %s, if the deploy had begun", ran, ids[0])
	}
}

// A deploy program dies while its deploy command runs; another restores the plan, and its
// Apply waits on that command (sending nothing) and records the rollout.
func TestRestoredPlanWaitsOnTheCommandLeftRunning(t *testing.T) {
	srv, ids, url := crashFleet(t, 3, 500*time.Millisecond)
	snap := crashWhile(t, url, "deploy", false)
	if strings.Contains(string(snap), "debug-7f3a") {
		t.Errorf("the snapshot holds an environment value: %s", snap)
	}
	p, err := crashTarget(url, false).Restore(t.Context(), snap)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	if err := p.Apply(t.Context(), func(e deploy.Event) { msgs = append(msgs, e.Message) }); err != nil {
		t.Fatalf("resumed Apply: %v\nsnapshot: %s", err, snap)
	}
	if n := srv.Calls("SendCommand"); n != 1 {
		t.Errorf("%d commands sent in all, want the crashed process's one", n)
	}
	for _, id := range ids {
		if got := srv.Tags(id)["stevedore:version"]; got != "v2" {
			t.Errorf("%s is recorded to run %q after the resumed Apply, want v2", id, got)
		}
	}
	if len(msgs) == 0 || !strings.HasPrefix(msgs[0], "resuming version v2: waiting on 1 commands") || !strings.HasPrefix(msgs[len(msgs)-1], "version v2 runs on 3/3 instances") {
		t.Errorf("events: %q", msgs)
	}
}

// A deploy program dies while its deploy command runs; another restores the plan and rolls
// back: a command still running is cancelled, one that has ended is not, and the instances
// it reached run the rollback commands.
func TestRestoredPlanCancelsTheCommandLeftRunningAndRollsBack(t *testing.T) {
	for _, tc := range []struct {
		name     string
		takes    time.Duration
		cancels  bool
		reaching int // instances the deploy reached by the rollback
	}{
		{"running", time.Minute, true, 1},
		{"ended since", 100 * time.Millisecond, false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, ids, url := crashFleet(t, 3, tc.takes)
			snap := crashWhile(t, url, "deploy", false)
			p, err := crashTarget(url, false).Restore(t.Context(), snap)
			if err != nil {
				t.Fatal(err)
			}
			deployID := srv.Ran()[0].CommandID
			if !tc.cancels { // let the command end: all three run, the last one to its end
				for len(srv.Ran()[0].Instances) < 3 {
					time.Sleep(10 * time.Millisecond)
				}
				time.Sleep(2 * tc.takes)
			}
			ran := srv.Ran()
			if len(ran) != 1 || len(ran[0].Instances) != tc.reaching {
				t.Fatalf("before the rollback the fleet ran %+v, want one deploy command reaching %d instances", ran, tc.reaching)
			}
			reached := ran[0].Instances
			if err := p.Rollback(t.Context(), nil); err != nil {
				t.Fatal(err)
			}
			var cancelled []string
			for _, req := range srv.Requests("CancelCommand") {
				var in struct{ CommandId string }
				_ = json.Unmarshal(req, &in)
				cancelled = append(cancelled, in.CommandId)
			}
			if want := []string{deployID}; tc.cancels && !slices.Equal(cancelled, want) || !tc.cancels && len(cancelled) > 0 {
				t.Errorf("cancelled %q (of deploy command %s)", cancelled, deployID)
			}
			var back []string
			for _, r := range srv.Ran()[1:] {
				if v := exported(t, r.Commands); v["STEVEDORE_VERSION"] == "v1" && v["STEVEDORE_FAILED_VERSION"] == "v2" {
					back = append(back, r.Instances...)
				}
			}
			slices.Sort(back)
			if !slices.Equal(back, reached) {
				t.Errorf("rolled back to v1 on %q, want the instances the deploy reached, %q (of %q)", back, reached, ids)
			}
		})
	}
}

// A deploy program dies while rolling back; the restored plan's Apply refuses, and its
// Rollback waits on the rollback command left running (not cancelling it) and rolls back again.
func TestRestoredPlanFinishesTheRollbackLeftRunning(t *testing.T) {
	srv, ids, url := crashFleetRollingBackIn(t, 3, time.Minute, 300*time.Millisecond)
	snap := crashWhile(t, url, "rollback", false)
	p, err := crashTarget(url, false).Restore(t.Context(), snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(t.Context(), nil); !errors.Is(err, deploy.ErrInvalid) || !strings.Contains(err.Error(), "roll back again") {
		t.Errorf("Apply of a plan snapshotted mid-rollback: %v", err)
	}
	if err := p.Rollback(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	ran := srv.Ran()
	if len(ran) != 3 || srv.Calls("CancelCommand") != 1 {
		t.Fatalf("ran %+v with %d cancellations; want the deploy (cancelled), the rollback left running and one more", ran, srv.Calls("CancelCommand"))
	}
	for _, r := range ran[1:] {
		if v := exported(t, r.Commands); v["STEVEDORE_VERSION"] != "v1" || !slices.Equal(r.Instances, ids[:1]) {
			t.Errorf("command %s ran %v on %q, want the rollback to v1 on %s", r.CommandID, v, r.Instances, ids[0])
		}
	}
}

// A deploy program dies as it sends its deploy command (the command on record, not yet
// sent): the restored plan cannot know whether SSM took it, so its rollback runs on every
// instance the command was for.
func TestRestoredPlanRollsBackACommandBeingSent(t *testing.T) {
	srv, ids, url := crashFleet(t, 3, time.Minute)
	snap := crashWhile(t, url, "send", false)
	if !strings.Contains(string(snap), `"sending":["`+ids[0]) {
		t.Fatalf("the snapshot does not name the instances being sent to: %s", snap)
	}
	p, err := crashTarget(url, false).Restore(t.Context(), snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Rollback(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	ran := srv.Ran()
	if len(ran) != 1 || !slices.Equal(ran[0].Instances, ids) || exported(t, ran[0].Commands)["STEVEDORE_VERSION"] != "v1" {
		t.Errorf("ran %+v, want only the rollback to v1 on every instance", ran)
	}
}

// A deploy program with verify commands dies in the first wave; the restored plan's Apply
// waits on the command left running and then stops, sending nothing: instances deployed but
// not verified, and the second wave, are left to a fresh plan, and nothing is recorded.
func TestRestoredPlanLeavesWhatItCannotFinishToAFreshPlan(t *testing.T) {
	for _, tc := range []struct {
		crashOn   string
		succeeded int
	}{
		{"deploy", 0},
		{"verify", 2},
	} {
		t.Run(tc.crashOn, func(t *testing.T) {
			srv, ids, url := crashFleet(t, 4, 500*time.Millisecond)
			snap := crashWhile(t, url, tc.crashOn, true)
			p, err := crashTarget(url, true).Restore(t.Context(), snap)
			if err != nil {
				t.Fatal(err)
			}
			sent := srv.Calls("SendCommand")
			err = p.Apply(t.Context(), nil)
			left := strings.Join(ids[tc.succeeded:], ", ")
			if !errors.Is(err, deploy.ErrInvalid) || !strings.Contains(err.Error(), fmt.Sprintf("succeeded on %d instances", tc.succeeded)) ||
				!strings.Contains(err.Error(), "("+left+")") || !strings.Contains(err.Error(), "plan the release again") {
				t.Fatalf("resumed Apply: %v, want ErrInvalid naming %s", err, left)
			}
			if got := p.(*ec2.Plan).Succeeded(); !slices.Equal(got, ids[:tc.succeeded]) {
				t.Errorf("succeeded on %q, want %q", got, ids[:tc.succeeded])
			}
			if n := srv.Calls("SendCommand"); n != sent {
				t.Errorf("%d commands sent after the restore", n-sent)
			}
			for _, id := range ids {
				if got := srv.Tags(id)["stevedore:version"]; got != "v1" {
					t.Errorf("%s is recorded to run %q, want v1 until a fresh plan finishes the rollout", id, got)
				}
			}
		})
	}
}

// A plan whose Apply finished, restored, resumes to the same verdict and sends nothing.
func TestRestoredPlanOfAFinishedApplyResumesToItsVerdict(t *testing.T) {
	srv, _, url := crashFleet(t, 2, time.Millisecond)
	p, err := crashTarget(url, false).Plan(t.Context(), deploy.Release{Version: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	snap, _ := p.(deploy.Snapshotter).Snapshot()
	restored, err := crashTarget(url, false).Restore(t.Context(), snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := restored.Apply(t.Context(), nil); err != nil {
		t.Errorf("resumed Apply: %v", err)
	}
	if n := srv.Calls("SendCommand"); n != 1 {
		t.Errorf("%d commands sent in all, want the original's one", n)
	}
}
