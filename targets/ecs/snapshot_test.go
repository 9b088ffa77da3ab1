package ecs_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/clitest"
	"github.com/stevedore-dev/stevedore/targets/ecs"
	"github.com/stevedore-dev/stevedore/targets/ecs/ecstest"
)

// A snapshot taken right after UpdateService is restored in a fresh process (this test
// binary run again), which rolls the service back over HTTP.
func TestSnapshotRestoredInAnotherProcessRollsBack(t *testing.T) {
	srv := ecstest.New(nil)
	srv.StepInterval = 20 * time.Millisecond
	srv.CreateCluster("prod")
	if _, err := srv.RegisterTaskDefinition(`{"family":"web","containerDefinitions":[{"name":"app","image":"` + oldImage + `"}]}`); err != nil {
		t.Fatal(err)
	}
	if err := srv.CreateService(ecstest.ServiceSpec{Cluster: "prod", Name: "web", TaskDefinition: "web:1", DesiredCount: 2}); err != nil {
		t.Fatal(err)
	}
	srv.SetBehavior(newImage, ecstest.Behavior{StartEvery: time.Hour}) // never settles: the parent "crashes" mid-deploy
	hs := httptest.NewServer(srv)
	defer hs.Close()
	client := httpClient(hs.URL)
	p, err := ecs.New(client, "prod", "web", &ecs.Options{WaitUntil: ecs.Started}).Plan(t.Context(), release)
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
	if strings.Contains(string(snap), newImage) {
		t.Errorf("the snapshot holds the task definition: %s", snap)
	}
	file := filepath.Join(t.TempDir(), "snapshot.json")
	if err := os.WriteFile(file, snap, 0o600); err != nil {
		t.Fatal(err)
	}
	clitest.InAnotherProcess(t, "TestRestoreHelper", "restored and rolled back", "STEVEDORE_ECS_RESTORE="+file, "STEVEDORE_ECS_URL="+hs.URL)
	got, err := client.DescribeServices(t.Context(), &awsecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
	if err != nil || !strings.HasSuffix(aws.ToString(got.Services[0].TaskDefinition), "web:1") {
		t.Errorf("after the other process's rollback the service runs %v (%v), want web:1", aws.ToString(got.Services[0].TaskDefinition), err)
	}
	if n := srv.Calls("StopServiceDeployment"); n != 1 {
		t.Errorf("%d StopServiceDeployment calls; the restored plan rolls back the in-flight deployment as the original would", n)
	}
}

// TestRestoreHelper is the other process of the test above; it does nothing on its own.
func TestRestoreHelper(t *testing.T) {
	file := os.Getenv("STEVEDORE_ECS_RESTORE")
	if file == "" {
		t.Skip("run by TestSnapshotRestoredInAnotherProcessRollsBack")
	}
	snap, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := ecs.New(httpClient(os.Getenv("STEVEDORE_ECS_URL")), "prod", "web", &ecs.Options{PollInterval: 20 * time.Millisecond}).Restore(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Rollback(ctx, nil); err != nil {
		t.Fatal(err)
	}
	t.Log("restored and rolled back")
}

func httpClient(url string) *awsecs.Client {
	return awsecs.New(awsecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "fake-secret", "")})
}

// A restored plan's Apply resumes the wait on the deployment the original started: a CI job
// returns at BAKE_TIME, a later one restores the plan and waits to the end.
func TestRestoredPlanResumesTheWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newDeploymentsEnv(t, 2, `{"strategy":"BLUE_GREEN","bakeTimeInMinutes":30}`)
		p, err := ecs.New(e.client, "prod", "web", &ecs.Options{WaitUntil: ecs.UntilStage(types.ServiceDeploymentLifecycleStageBakeTime)}).Plan(t.Context(), release)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Apply(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		snap, _ := p.(deploy.Snapshotter).Snapshot()
		var s map[string]any
		if err := json.Unmarshal(snap, &s); err != nil || s["version"] != 1.0 || s["serviceDeployment"] == "" {
			t.Fatalf("snapshot %s: %v", snap, err)
		}
		restored, err := ecs.New(awsecs.NewFromConfig(e.srv.Config()), "prod", "web", nil).Restore(t.Context(), snap)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := restored.Apply(t.Context(), nil); err != nil {
			t.Fatalf("resumed Apply: %v", err)
		}
		if d := e.deployment(t); d.Status != types.ServiceDeploymentStatusSuccessful || time.Since(start) < 20*time.Minute {
			t.Errorf("resumed Apply returned after %v with the deployment %s", time.Since(start), d.Status)
		}
		if n := e.srv.Calls("RegisterTaskDefinition") + e.srv.Calls("UpdateService"); n != 2 {
			t.Errorf("%d register and update calls in all, want the original's 2: resuming changes nothing again", n)
		}
	})
}

// A plan that changed the desired count and the deployment configuration, restored by a
// target made without those options (another process that knows only the snapshot),
// restores the observed settings.
func TestRestoredPlanRestoresTheDeploymentConfiguration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newDeploymentsEnv(t, 2, "")
		opts := &ecs.Options{WaitUntil: ecs.Started, DesiredCount: aws.Int32(3), DeploymentConfiguration: &types.DeploymentConfiguration{
			Strategy: types.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(30)}}
		p, err := ecs.New(e.client, "prod", "web", opts).Plan(t.Context(), release)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Apply(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		snap, _ := p.(deploy.Snapshotter).Snapshot()
		restored, err := ecs.New(awsecs.NewFromConfig(e.srv.Config()), "prod", "web", nil).Restore(t.Context(), snap)
		if err != nil {
			t.Fatal(err)
		}
		if err := restored.Rollback(t.Context(), nil); err != nil {
			t.Fatalf("Rollback: %v", err)
		}
		out, _ := e.client.DescribeServices(t.Context(), &awsecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
		svc := out.Services[0]
		if c := svc.DeploymentConfiguration; c.Strategy != types.DeploymentStrategyRolling || e.serviceTD(t) != "web:1" || svc.DesiredCount != 2 {
			t.Errorf("after the restored plan's rollback: strategy %s on %s with %d tasks, want ROLLING on web:1 with 2", c.Strategy, e.serviceTD(t), svc.DesiredCount)
		}
	})
}
