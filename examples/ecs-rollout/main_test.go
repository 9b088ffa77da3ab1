package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stevedore-dev/stevedore/internal/ecsfake"
	"github.com/stevedore-dev/stevedore/internal/mototest"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// scriptEnv is the environment the original script reads, for one cluster and service.
func scriptEnv(cluster, family, version string) map[string]string {
	return map[string]string{
		"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCOUNT_ID": "123456789012", "IMAGE_REPO_NAME": "web",
		"CODEBUILD_RESOLVED_SOURCE_VERSION": version, "TASK_FAMILY": family, "ECS_CLUSTER": cluster, "SERVICE_NAME": "web",
	}
}

func runProgram(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	code = run(ctx, args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

// mototestService creates, in moto, a cluster with a fresh name, a task definition family of
// the same name with these containers, and a service "web" running it; it returns the name.
func mototestService(tb testing.TB, client *awsecs.Client, prefix string, containers ...types.ContainerDefinition) string {
	tb.Helper()
	ctx := context.Background()
	name := prefix + "-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	if _, err := client.CreateCluster(ctx, &awsecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
		tb.Fatal(err)
	}
	if _, err := client.RegisterTaskDefinition(ctx, &awsecs.RegisterTaskDefinitionInput{Family: aws.String(name), ContainerDefinitions: containers}); err != nil {
		tb.Fatal(err)
	}
	if _, err := client.CreateService(ctx, &awsecs.CreateServiceInput{Cluster: aws.String(name), ServiceName: aws.String("web"),
		TaskDefinition: aws.String(name + ":1"), DesiredCount: aws.Int32(1)}); err != nil {
		tb.Fatal(err)
	}
	return name
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestAgainstMoto(t *testing.T) {
	cfg := mototest.Config(t)
	mototest.SetSDKEnv(t, *cfg.BaseEndpoint)
	client := awsecs.NewFromConfig(cfg)
	ctx := t.Context()
	cluster := mototestService(t, client, "rollout",
		types.ContainerDefinition{Name: aws.String("log_router"), Image: aws.String("public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"), Memory: aws.Int32(64)},
		types.ContainerDefinition{Name: aws.String("app"), Image: aws.String("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:old"), Memory: aws.Int32(128)})
	defs := filepath.Join(t.TempDir(), "imagedefinitions.json")

	code, stdout, stderr := runProgram(t, scriptEnv(cluster, cluster, "abc123"), "-dry-run")
	if code != 0 || !strings.Contains(stdout, "abc123") || !strings.Contains(stdout, "<new revision>") {
		t.Fatalf("dry run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	code, stdout, stderr = runProgram(t, scriptEnv(cluster, cluster, "abc123"), "-wait=false", "-imagedefinitions", defs)
	if code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr)
	}
	want := "arn:aws:ecs:us-east-1:123456789012:task-definition/" + cluster + ":2"
	if got := lastLine(stdout); got != want {
		t.Errorf("last stdout line %q, want %q", got, want)
	}
	if !strings.Contains(stderr, "registered "+cluster+":2") || !strings.Contains(stderr, "updated service") {
		t.Errorf("no progress on stderr:\n%s", stderr)
	}
	svc, err := client.DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(svc.Services[0].TaskDefinition); !strings.HasSuffix(got, cluster+":2") {
		t.Errorf("service runs %s, want revision 2", got)
	}
	td, err := client.DescribeTaskDefinition(ctx, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(want)})
	if err != nil {
		t.Fatal(err)
	}
	// The script would have set containerDefinitions[0], the log router.
	if got := aws.ToString(td.TaskDefinition.ContainerDefinitions[1].Image); got != "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:abc123" {
		t.Errorf("app image %s", got)
	}
	if got := aws.ToString(td.TaskDefinition.ContainerDefinitions[0].Image); !strings.Contains(got, "fluent-bit") {
		t.Errorf("log router image changed to %s", got)
	}
	b, err := os.ReadFile(defs)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != `[{"name":"app","imageUri":"123456789012.dkr.ecr.us-east-1.amazonaws.com/web:abc123"}]` {
		t.Errorf("imagedefinitions.json = %s", got)
	}
}

func TestWaitFailAndRollBackAgainstFake(t *testing.T) {
	srv := ecsfake.New(nil)
	srv.StepInterval = 20 * time.Millisecond
	srv.CreateCluster("prod")
	if _, err := srv.RegisterTaskDefinition(`{"family":"web","containerDefinitions":[{"name":"app","image":"123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v1"}]}`); err != nil {
		t.Fatal(err)
	}
	if err := srv.CreateService(ecsfake.ServiceSpec{Cluster: "prod", Name: "web", TaskDefinition: "web", DesiredCount: 2, CircuitBreaker: true, Rollback: true}); err != nil {
		t.Fatal(err)
	}
	srv.SetBehavior("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:bad", ecsfake.Behavior{Fail: true,
		StoppedReason: "CannotPullContainerError: pull image manifest has been retried 5 time(s): not found"})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	mototest.SetSDKEnv(t, hs.URL)

	code, stdout, stderr := runProgram(t, scriptEnv("prod", "web", "good"))
	if code != 0 || lastLine(stdout) != "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2" {
		t.Fatalf("good release: exit %d, stdout %q\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "web:2: 2/2 running, stable") {
		t.Errorf("no progress on stderr:\n%s", stderr)
	}

	code, stdout, stderr = runProgram(t, scriptEnv("prod", "web", "bad"))
	if code != 1 || stdout != "" {
		t.Fatalf("bad release: exit %d, stdout %q, want 1 and nothing", code, stdout)
	}
	reason := lastLine(stderr)
	for _, want := range []string{"ecs-rollout: rolled back: ecs:prod/web: wait for web:3", "CannotPullContainerError"} {
		if !strings.Contains(reason, want) {
			t.Errorf("reason lacks %q: %s", want, reason)
		}
	}
	if !strings.Contains(stderr, "rollback") {
		t.Errorf("no rollback progress:\n%s", stderr)
	}
}

func TestMissingEnvironment(t *testing.T) {
	code, stdout, stderr := runProgram(t, map[string]string{"AWS_REGION": "us-east-1", "TASK_FAMILY": "web"})
	if code != 2 || stdout != "" {
		t.Errorf("exit %d stdout %q, want 2 and nothing", code, stdout)
	}
	want := "ecs-rollout: set AWS_ACCOUNT_ID, IMAGE_REPO_NAME, CODEBUILD_RESOLVED_SOURCE_VERSION, ECS_CLUSTER, SERVICE_NAME\n"
	if stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
}
