package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stevedore-dev/stevedore/internal/clitest"
	"github.com/stevedore-dev/stevedore/internal/mototest"
	"github.com/stevedore-dev/stevedore/targets/ec2/ec2test"
)

func TestMain(m *testing.M) {
	code := m.Run()
	clitest.Cleanup()
	os.Exit(code)
}

// The whole program against the in-process fleet over HTTP (moto lacks the SSM calls a
// rollout waits with). The fleet's clock is real, so steps are short.
func newFleet(t *testing.T) *ec2test.Server {
	srv := ec2test.New(nil)
	srv.DeliveryDelay, srv.NotYetVisible = 10*time.Millisecond, 20*time.Millisecond
	srv.Script(func(ec2test.Invocation) ec2test.Outcome {
		return ec2test.Outcome{Duration: 20 * time.Millisecond}
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	mototest.SetSDKEnv(t, hs.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	return srv
}

func file(t *testing.T, lines ...string) string {
	p := filepath.Join(t.TempDir(), "commands.sh")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func program(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, append([]string{"-poll-interval", "20ms"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestRollout(t *testing.T) {
	srv := newFleet(t)
	ids := srv.Fleet(6, map[string]string{"app": "web", "env": "prod"})
	code, out, errOut := program(t, "-tag", "app=web", "-tag", "env=prod", "-commands", file(t, "install $STEVEDORE_VERSION"),
		"-version", "v2", "-image", "registry.example.com/web:v2", "-strategy", "half-at-a-time", "-verify-commands", file(t, "check"))
	if code != 0 || lastLine(out) != "succeeded 6/6 instances" {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "deploy: 3/3 succeeded") || !strings.Contains(errOut, "wave 2 of 2: 3 instances") {
		t.Errorf("progress on stderr:\n%s", errOut)
	}
	if srv.Tags(ids[5])["stevedore:version"] != "v2" {
		t.Errorf("not recorded")
	}

	code, out, _ = program(t, "-instances", strings.Join(ids[:2], ","), "-commands", file(t, "install"), "-version", "v3", "-dry-run")
	want := ids[0] + "\tv2 -> v3\n" + ids[1] + "\tv2 -> v3\ndry run: 2 instances would be hit\n"
	if code != 0 || out != want {
		t.Errorf("dry run: exit %d\n%s\nwant\n%s", code, out, want)
	}
}

func TestFailureRollsBack(t *testing.T) {
	srv := newFleet(t)
	ids := srv.Fleet(4, map[string]string{"app": "api"})
	for _, id := range ids {
		srv.AddInstances(ec2test.Instance{ID: id, Tags: map[string]string{"app": "api", "stevedore:version": "v1"}})
	}
	srv.Script(func(inv ec2test.Invocation) ec2test.Outcome {
		if inv.InstanceID == ids[1] && strings.Contains(strings.Join(inv.Commands, "\n"), "install-new") {
			return ec2test.Outcome{Status: "Failed", Exit: 2, Duration: 20 * time.Millisecond, Stderr: "install-new: checksum mismatch\n"}
		}
		return ec2test.Outcome{Duration: 20 * time.Millisecond}
	})
	code, out, errOut := program(t, "-tag", "app=api", "-commands", file(t, "install-new"), "-rollback-commands", file(t, "reinstall-old"), "-version", "v2")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	if lastLine(out) != "succeeded 0/4 instances (1 had, and were rolled back)" {
		t.Errorf("stdout:\n%s", out)
	}
	reason := lastLine(errOut)
	if !strings.HasPrefix(reason, "ec2-rollout: ") || !strings.Contains(reason, ids[1]+" Failed: exit 2, stderr: install-new: checksum mismatch") || !strings.Contains(reason, "rolled back") {
		t.Errorf("reason: %s", reason)
	}
	runs := srv.Ran()
	if len(runs) != 2 || strings.Join(runs[1].Instances, ",") != strings.Join(ids[:2], ",") {
		t.Errorf("runs: %+v", runs)
	}
}

// A fleet of nine over three zones behind target group "web" and in Auto Scaling group
// web-asg, rolled out zone by zone with hooks: the dry run shows the waves; the rollout
// holds scaling, takes each instance out of the group, runs the hooks around the install,
// and leaves every instance healthy in the group on the release, scaling resumed.
func TestZoneByZoneBehindATargetGroup(t *testing.T) {
	srv := newFleet(t)
	ids := srv.Fleet(9, map[string]string{"app": "web", "stevedore:version": "v1"})
	arn := srv.CreateTargetGroup(ec2test.TargetGroup{Name: "web", DeregistrationDelay: 50 * time.Millisecond, HealthyAfter: 50 * time.Millisecond, Instances: ids})
	srv.CreateAutoScalingGroup(ec2test.AutoScalingGroup{Name: "web-asg", Instances: ids, TargetGroups: []string{arn}})
	args := []string{"-tag", "app=web", "-commands", file(t, "install $STEVEDORE_VERSION"), "-rollback-commands", file(t, "install $STEVEDORE_VERSION"),
		"-version", "v2", "-strategy", "2", "-min-healthy", "50%", "-target-group", "web", "-by-zone", "-auto-scaling", "suspend",
		"-application-stop", file(t, "systemctl stop web"), "-application-start", file(t, "systemctl start web"), "-validate-service", file(t, "curl -fsS localhost/health")}
	code, out, errOut := program(t, append(args, "-dry-run")...)
	// Two at a time, but MinHealthy keeps one of each zone's three in service.
	if code != 0 || !strings.Contains(out, "wave 1 in us-east-1a: "+ids[0]+" "+ids[3]+"\nwave 2 in us-east-1a: "+ids[6]+"\n") ||
		!strings.Contains(out, "wave 6 in us-east-1c: "+ids[8]+"\n") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = program(t, args...)
	if code != 0 || lastLine(out) != "succeeded 9/9 instances" {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"suspended Launch, Terminate, AZRebalance in Auto Scaling group web-asg", "wave 5 of 6: 2 instances in us-east-1c",
		"taking 2 instances out of target groups web", "deploy ApplicationStop command", "deploy ValidateService command", "resumed Launch, Terminate, AZRebalance"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	for _, id := range ids {
		if st, why := srv.TargetHealth(arn, id); st != "healthy" || srv.Tags(id)["stevedore:version"] != "v2" {
			t.Errorf("%s: %s %s, recorded %s", id, st, why, srv.Tags(id)["stevedore:version"])
		}
	}
	if got := srv.Suspended("web-asg"); len(got) > 0 {
		t.Errorf("still suspended: %v", got)
	}
}

func TestUsage(t *testing.T) {
	newFleet(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-commands", "x", "-version", "v"}, "give -instances or -tag"},
		{[]string{"-tag", "app", "-commands", "x", "-version", "v"}, "write Key=Value"},
		{[]string{"-tag", "a=b", "-version", "v"}, "-commands is required"},
		{[]string{"-tag", "a=b", "-commands", "x"}, "-version is required"},
		{[]string{"-tag", "a=b", "-commands", "x", "-version", "v", "-strategy", "most"}, "-strategy"},
		{[]string{"-tag", "a=b", "-commands", "x", "-version", "v", "-min-healthy", "150%"}, "-min-healthy"},
		{[]string{"-tag", "a=b", "-commands", "x", "-version", "v", "-auto-scaling", "sometimes"}, "-auto-scaling: use off, suspend or follow"},
		{[]string{"-tag", "a=b", "-commands", "x", "-version", "v", "-alarm", "web-5xx", "-bake", "0s"}, "-bake"},
	} {
		code, _, errOut := program(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, %q; want 2 mentioning %q", tc.args, code, errOut, tc.want)
		}
	}
	code, _, errOut := program(t, "-tag", "a=b", "-commands", file(t, "x"), "-version", "v")
	if code != 1 || !strings.HasPrefix(lastLine(errOut), "ec2-rollout: ") || !strings.Contains(lastLine(errOut), "no instance matches tag:a=b") {
		t.Errorf("no instance: exit %d, %q", code, errOut)
	}
}

// SIGTERM while the deploy command runs: the command is cancelled, the instances it reached
// are rolled back, and the program says so and exits 143.
func TestSIGTERMRollsBack(t *testing.T) {
	srv := ec2test.New(nil)
	srv.DeliveryDelay, srv.NotYetVisible = 10*time.Millisecond, 20*time.Millisecond
	srv.Script(func(inv ec2test.Invocation) ec2test.Outcome {
		if strings.Contains(strings.Join(inv.Commands, "\n"), "install-new") {
			return ec2test.Outcome{Duration: time.Hour}
		}
		return ec2test.Outcome{Duration: 20 * time.Millisecond}
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	ids := srv.Fleet(2, map[string]string{"app": "api"})
	for _, id := range ids {
		srv.AddInstances(ec2test.Instance{ID: id, Tags: map[string]string{"app": "api", "stevedore:version": "v1"}})
	}
	env := []string{"AWS_ENDPOINT_URL=" + hs.URL, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_REGION=us-east-1", "AWS_PROFILE=",
		"AWS_CONFIG_FILE=" + filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(t.TempDir(), "none")}
	p := clitest.Start(t, clitest.Build(t, "examples/ec2-rollout"), env, "-tag", "app=api", "-commands", file(t, "install-new"),
		"-rollback-commands", file(t, "reinstall-old"), "-version", "v2", "-strategy", "all-at-once", "-poll-interval", "20ms")
	p.WaitFor("running", time.Minute)
	p.Signal(syscall.SIGTERM)
	code, _ := p.Wait(time.Minute)
	if code != 143 || !strings.Contains(p.Stderr(), "ec2-rollout: terminated: cancelling and rolling back") {
		t.Errorf("exit %d, want 143 saying so\n%s", code, p.Stderr())
	}
	runs := srv.Ran()
	if len(runs) != 2 || !strings.Contains(strings.Join(runs[1].Commands, "\n"), "reinstall-old") || len(runs[1].Instances) != 2 {
		t.Errorf("the rollback did not run on the instances reached: %+v", runs)
	}
	if !strings.Contains(lastLine(p.Stderr()), "rolled back") {
		t.Errorf("the last line does not say it rolled back:\n%s", p.Stderr())
	}
}
