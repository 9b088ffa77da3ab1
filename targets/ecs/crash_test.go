package ecs_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/store"
	"github.com/stevedore-dev/stevedore/targets/ecs"
	"github.com/stevedore-dev/stevedore/targets/ecs/ecstest"
)

const apiBroken = repo + ":api-broken"

// crashStages is the release the crash tests run: web, then (after a gate) api; api's image
// is apiImage.
func crashStages(client *awsecs.Client, apiImage string) []deploy.Stage {
	opts := &ecs.Options{PollInterval: 20 * time.Millisecond}
	quiet := deploy.CheckFunc("quiet", func(context.Context) (deploy.Measurement, error) {
		return deploy.Measurement{Verdict: deploy.Pass, Evidence: "no alarms"}, nil
	})
	return []deploy.Stage{
		{Name: "web", Targets: []deploy.Target{ecs.New(client, "prod", "web", opts)}, Gates: []deploy.Gate{{Check: quiet, Count: 3, Interval: 200 * time.Millisecond}}},
		{Name: "api", Targets: []deploy.Target{imageFor{ecs.New(client, "prod", "api", opts), apiImage}}},
	}
}

// imageFor releases its own image to its target.
type imageFor struct {
	*ecs.Target
	image string
}

func (t imageFor) Plan(ctx context.Context, r deploy.Release) (deploy.Plan, error) {
	return t.Target.Plan(ctx, deploy.Release{Images: map[string]string{"": t.image}})
}

// A release of two ECS services, journalled to a directory, is killed (SIGKILL) at each
// boundary a crash can fall on: after registering, as the update is on record but not yet
// made, during the wait, between the stages, in the middle of a rollback. Another process
// then recovers it: with RecoverRollback every service is back on its first revision, with
// RecoverResume a release whose changes were all under way ends on it; Recover never
// registers a task definition, and leaves no release unfinished.
func TestCrashAndRecover(t *testing.T) {
	for _, tc := range []struct {
		crashOn string // the event message the release dies at (a prefix)
		api     string // api's image
		policy  deploy.RecoverPolicy
		web     string // where web ends
	}{
		{"registered web:2", newImage, deploy.RecoverRollback, "web:1"},
		{"updating service to web:2", newImage, deploy.RecoverRollback, "web:1"},
		{"updated service to web:2", newImage, deploy.RecoverRollback, "web:1"},
		{"gate quiet: pass", newImage, deploy.RecoverRollback, "web:1"},
		{"gate quiet: pass", newImage, deploy.RecoverResume, "web:2"},
		{"rolling back", apiBroken, deploy.RecoverRollback, "web:1"},
		{"rolling back", apiBroken, deploy.RecoverResume, "web:1"},
	} {
		t.Run(strings.ReplaceAll(tc.crashOn, " ", "-")+"/"+string(tc.policy), func(t *testing.T) {
			srv := ecstest.New(nil)
			srv.StepInterval = 50 * time.Millisecond
			srv.CreateCluster("prod")
			for _, svc := range []string{"web", "api"} {
				if _, err := srv.RegisterTaskDefinition(`{"family":"` + svc + `","containerDefinitions":[{"name":"app","image":"` + oldImage + `"}]}`); err != nil {
					t.Fatal(err)
				}
				if err := srv.CreateService(ecstest.ServiceSpec{Cluster: "prod", Name: svc, TaskDefinition: svc + ":1", DesiredCount: 1, CircuitBreaker: true}); err != nil {
					t.Fatal(err)
				}
			}
			srv.SetBehavior(newImage, ecstest.Behavior{StartEvery: 300 * time.Millisecond})
			srv.SetBehavior(apiBroken, ecstest.Behavior{Fail: true, StoppedReason: "Essential container in task exited"})
			hs := httptest.NewServer(srv)
			defer hs.Close()
			dir := t.TempDir()

			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashHelper$", "-test.v", "-test.timeout=50s")
			cmd.Env = append(os.Environ(), "STEVEDORE_CRASH_URL="+hs.URL, "STEVEDORE_CRASH_DIR="+dir, "STEVEDORE_CRASH_ON="+tc.crashOn, "STEVEDORE_CRASH_API="+tc.api)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the release did not die at %q: %v\n%s", tc.crashOn, err, out)
			}
			registered := srv.Calls("RegisterTaskDefinition")

			client := httpClient(hs.URL)
			j := store.NewFile(dir)
			var targets []deploy.Target
			for _, st := range crashStages(client, tc.api) {
				targets = append(targets, st.Targets...)
			}
			got, err := deploy.Recover(t.Context(), j, targets, &deploy.RecoverOptions{Policy: tc.policy, StaleAfter: time.Nanosecond})
			if err != nil || len(got) != 1 || got[0].Result == nil {
				t.Fatalf("Recover: %+v, %v", got, err)
			}
			for svc, want := range map[string]string{"web": tc.web, "api": "api:1"} {
				if td := tdOf(t, client, svc); td != want {
					t.Errorf("%s runs %s after Recover (%v), want %s", svc, td, got[0].Err, want)
				}
			}
			if n := srv.Calls("RegisterTaskDefinition"); n != registered {
				t.Errorf("Recover registered %d task definitions", n-registered)
			}
			if left, err := j.Unfinished(t.Context()); err != nil || len(left) != 0 {
				t.Errorf("unfinished after Recover: %d, %v", len(left), err)
			}
		})
	}
}

func tdOf(t *testing.T, client *awsecs.Client, svc string) string {
	t.Helper()
	out, err := client.DescribeServices(t.Context(), &awsecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{svc}})
	if err != nil {
		t.Fatal(err)
	}
	td := aws.ToString(out.Services[0].TaskDefinition)
	return td[strings.LastIndex(td, "/")+1:]
}

// TestCrashHelper is the release TestCrashAndRecover kills; it does nothing on its own.
func TestCrashHelper(t *testing.T) {
	url := os.Getenv("STEVEDORE_CRASH_URL")
	if url == "" {
		t.Skip("run by TestCrashAndRecover")
	}
	crashOn := os.Getenv("STEVEDORE_CRASH_ON")
	_, err := deploy.RunStages(t.Context(), release, crashStages(httpClient(url), os.Getenv("STEVEDORE_CRASH_API")),
		&deploy.Options{Journal: store.NewFile(os.Getenv("STEVEDORE_CRASH_DIR")), OnEvent: func(e deploy.Event) {
			if strings.HasPrefix(e.Message, crashOn) {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}})
	t.Fatal(fmt.Sprint("the release ended without dying: ", err))
}
