package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stevedore-dev/stevedore/internal/clitest"
	"github.com/stevedore-dev/stevedore/internal/mototest"
	"github.com/stevedore-dev/stevedore/targets/ecs/ecstest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	mototest.Stop()
	clitest.Cleanup()
	os.Exit(code)
}

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
	srv := ecstest.New(nil)
	srv.StepInterval = 20 * time.Millisecond
	srv.CreateCluster("prod")
	if _, err := srv.RegisterTaskDefinition(`{"family":"web","containerDefinitions":[{"name":"app","image":"123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v1"}]}`); err != nil {
		t.Fatal(err)
	}
	if err := srv.CreateService(ecstest.ServiceSpec{Cluster: "prod", Name: "web", TaskDefinition: "web", DesiredCount: 2, CircuitBreaker: true, Rollback: true}); err != nil {
		t.Fatal(err)
	}
	srv.SetBehavior("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:bad", ecstest.Behavior{Fail: true,
		StoppedReason: "CannotPullContainerError: pull image manifest has been retried 5 time(s): not found"})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	mototest.SetSDKEnv(t, hs.URL)

	code, stdout, stderr := runProgram(t, scriptEnv("prod", "web", "good"))
	if code != 0 || lastLine(stdout) != "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2" {
		t.Fatalf("good release: exit %d, stdout %q\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "SUCCESSFUL: 2/2 tasks of the new revision running") {
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
	want := "ecs-rollout: set IMAGE_REPO_NAME, CODEBUILD_RESOLVED_SOURCE_VERSION (or -tag, or IMAGE_TAG), ECS_CLUSTER, SERVICE_NAME (see -h)\n"
	if stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
}

// -h lists the environment the program reads, saying which variables are required.
func TestHelpListsTheEnvironment(t *testing.T) {
	code, _, stderr := runProgram(t, nil, "-h")
	if code != 0 {
		t.Errorf("-h: exit %d", code)
	}
	required, optional, _ := strings.Cut(stderr, "optional:")
	for _, v := range []string{"AWS_DEFAULT_REGION or AWS_REGION", "IMAGE_REPO_NAME", "TASK_FAMILY", "ECS_CLUSTER", "SERVICE_NAME", "CODEBUILD_RESOLVED_SOURCE_VERSION"} {
		if !strings.Contains(required, v) {
			t.Errorf("-h does not list %s as required:\n%s", v, stderr)
		}
	}
	for _, v := range []string{"AWS_ACCOUNT_ID", "IMAGE_TAG", "CONTAINER_NAME"} {
		if !strings.Contains(optional, v) {
			t.Errorf("-h does not list %s as optional:\n%s", v, stderr)
		}
	}
	for _, f := range []string{"-tag", "-imagedetail", "-imagedefinitions", "-rollback-timeout", "-wait"} {
		if !strings.Contains(stderr, f) {
			t.Errorf("-h does not list %s", f)
		}
	}
}

// What a CodeBuild job sets, and no more: no AWS_ACCOUNT_ID (the account comes from STS), a
// tag of the build's choosing, and CodePipeline's imageDetail.json.
func TestCodeBuildEnvironmentAgainstMoto(t *testing.T) {
	cfg := mototest.Config(t)
	mototest.SetSDKEnv(t, *cfg.BaseEndpoint)
	client := awsecs.NewFromConfig(cfg)
	cluster := mototestService(t, client, "cb", types.ContainerDefinition{Name: aws.String("app"), Image: aws.String("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:old"), Memory: aws.Int32(128)})
	env := scriptEnv(cluster, cluster, "0123456789abcdef0123456789abcdef01234567")
	delete(env, "AWS_ACCOUNT_ID")
	detail := filepath.Join(t.TempDir(), "imageDetail.json")
	image := func(rev int) string {
		td, err := client.DescribeTaskDefinition(t.Context(), &awsecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(fmt.Sprintf("%s:%d", cluster, rev))})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(td.TaskDefinition.ContainerDefinitions[0].Image)
	}
	const repo = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:"

	if code, _, stderr := runProgram(t, env, "-wait=false", "-imagedetail", detail); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if got := image(2); got != repo+"0123456789abcdef0123456789abcdef01234567" {
		t.Errorf("without AWS_ACCOUNT_ID the image is %s; want moto's account from STS", got)
	}
	if b, _ := os.ReadFile(detail); strings.TrimSpace(string(b)) != `{"ImageURI":"`+repo+`0123456789abcdef0123456789abcdef01234567"}` {
		t.Errorf("imageDetail.json = %s", b)
	}

	env["IMAGE_TAG"] = "build-42"
	if code, _, stderr := runProgram(t, env, "-wait=false"); code != 0 || image(3) != repo+"build-42" {
		t.Errorf("IMAGE_TAG: exit %d, image %s\n%s", code, image(3), stderr)
	}
	if code, _, stderr := runProgram(t, env, "-wait=false", "-tag", "0123456"); code != 0 || image(4) != repo+"0123456" {
		t.Errorf("-tag over IMAGE_TAG: exit %d, image %s\n%s", code, image(4), stderr)
	}
}

// An output file that cannot be written is found before anything changes.
func TestUnwritableOutputChangesNothing(t *testing.T) {
	cfg := mototest.Config(t)
	mototest.SetSDKEnv(t, *cfg.BaseEndpoint)
	client := awsecs.NewFromConfig(cfg)
	cluster := mototestService(t, client, "unwritable", types.ContainerDefinition{Name: aws.String("app"), Image: aws.String("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:old"), Memory: aws.Int32(128)})
	bad := filepath.Join(t.TempDir(), "no-such-dir", "imagedefinitions.json")
	code, stdout, stderr := runProgram(t, scriptEnv(cluster, cluster, "abc123"), "-wait=false", "-imagedefinitions", bad)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "cannot write "+bad) || !strings.Contains(stderr, "nothing was changed") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	list, err := client.ListTaskDefinitions(t.Context(), &awsecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(cluster)})
	if err != nil || len(list.TaskDefinitionArns) != 1 {
		t.Errorf("a revision was registered although the output file cannot be written: %v %v", list.TaskDefinitionArns, err)
	}
}

// No credentials at all: the error says so, not "check the cluster name".
func TestMissingCredentialsSaySo(t *testing.T) {
	mototest.SetSDKEnv(t, "http://127.0.0.1:1")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "")
	code, _, stderr := runProgram(t, scriptEnv("prod", "web", "abc123"), "-wait=false")
	if code != 1 || !strings.Contains(stderr, "no usable AWS credentials") || strings.Contains(stderr, "cluster name") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

// fakeECS serves an in-process ECS over HTTP: service web in cluster prod on web:1, whose
// deployments progress every step.
func fakeECS(t *testing.T, step time.Duration) (*ecstest.Server, []string) {
	srv := ecstest.New(nil)
	srv.StepInterval = step
	srv.CreateCluster("prod")
	if _, err := srv.RegisterTaskDefinition(`{"family":"web","containerDefinitions":[{"name":"app","image":"123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v1"}]}`); err != nil {
		t.Fatal(err)
	}
	if err := srv.CreateService(ecstest.ServiceSpec{Cluster: "prod", Name: "web", TaskDefinition: "web", DesiredCount: 2, CircuitBreaker: true, Rollback: true}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	env := []string{"AWS_ENDPOINT_URL=" + hs.URL, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_PROFILE=", "CONTAINER_NAME=",
		"AWS_CONFIG_FILE=" + filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(t.TempDir(), "none")}
	for k, v := range scriptEnv("prod", "web", "v2") {
		env = append(env, k+"="+v)
	}
	return srv, env
}

// serviceTD asks the fake which revision the service runs.
func serviceTD(t *testing.T, srv *ecstest.Server) string {
	t.Helper()
	c := awsecs.New(awsecs.Options{Region: "us-east-1", HTTPClient: srv.HTTPClient(), BaseEndpoint: aws.String("http://ecs.fake"),
		Credentials: aws.AnonymousCredentials{}})
	out, err := c.DescribeServices(context.Background(), &awsecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	td := aws.ToString(out.Services[0].TaskDefinition)
	return td[strings.LastIndex(td, "/")+1:]
}

// SIGTERM in the middle of the wait (a CodeBuild job stopped, a runner shut down) cancels,
// rolls back, says so and exits 143.
func TestSIGTERMRollsBack(t *testing.T) {
	srv, env := fakeECS(t, 100*time.Millisecond)
	srv.SetBehavior("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v2", ecstest.Behavior{StartEvery: time.Hour})
	p := clitest.Start(t, clitest.Build(t, "examples/ecs-rollout"), env)
	p.WaitFor("updated service to web:2", time.Minute)
	p.Signal(syscall.SIGTERM)
	code, _ := p.Wait(time.Minute)
	if code != 143 {
		t.Errorf("exit %d, want 143\n%s", code, p.Stderr())
	}
	for _, want := range []string{"ecs-rollout: terminated: cancelling and rolling back; send it again to exit at once", "asking ECS to roll service deployment", "rolled back"} {
		if !strings.Contains(p.Stderr(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, p.Stderr())
		}
	}
	if got := serviceTD(t, srv); got != "web:1" {
		t.Errorf("the service runs %s after the interrupt, want web:1", got)
	}
}

// A rollback that does not finish: a second signal exits at once, and -rollback-timeout
// bounds it when nobody sends one.
func TestSecondSignalAndRollbackTimeout(t *testing.T) {
	_, env := fakeECS(t, time.Hour) // nothing ever progresses: the wait and the rollback hang
	bin := clitest.Build(t, "examples/ecs-rollout")

	p := clitest.Start(t, bin, env)
	p.WaitFor("updated service to web:2", time.Minute)
	p.Signal(syscall.SIGINT)
	p.WaitFor("asking ECS to roll service deployment", time.Minute)
	p.Signal(syscall.SIGINT)
	sent := time.Now()
	code, ended := p.Wait(time.Minute)
	if code != 130 || ended.Sub(sent) > 5*time.Second || !strings.Contains(p.Stderr(), "interrupt again: exiting at once") {
		t.Errorf("exit %d %v after the second signal, want 130 at once\n%s", code, ended.Sub(sent), p.Stderr())
	}

	_, env = fakeECS(t, time.Hour)
	p = clitest.Start(t, bin, env, "-rollback-timeout", "2s")
	p.WaitFor("updated service to web:2", time.Minute)
	p.Signal(syscall.SIGTERM)
	sent = time.Now()
	code, ended = p.Wait(time.Minute)
	if code != 143 || ended.Sub(sent) > 20*time.Second || !strings.Contains(p.Stderr(), "rollback failed") {
		t.Errorf("exit %d %v after the signal with -rollback-timeout 2s\n%s", code, ended.Sub(sent), p.Stderr())
	}
}

// -wait-until BAKE_TIME returns once the blue/green deployment bakes and says how to follow
// it; -wait-for then waits for it to succeed, and with -wait-until started only reports it;
// -keep prunes what no deployment uses.
func TestWaitUntilThenWaitForAndKeep(t *testing.T) {
	srv := ecstest.New(nil)
	srv.StepInterval, srv.Minute = 200*time.Millisecond, time.Second // the bake outlasts the first polls
	srv.CreateCluster("prod")
	if _, err := srv.RegisterTaskDefinition(`{"family":"web","containerDefinitions":[{"name":"app","image":"123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v1"}]}`); err != nil {
		t.Fatal(err)
	}
	if err := srv.CreateService(ecstest.ServiceSpec{Cluster: "prod", Name: "web", TaskDefinition: "web", DesiredCount: 2,
		DeploymentConfiguration: `{"strategy":"BLUE_GREEN","bakeTimeInMinutes":6}`}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	mototest.SetSDKEnv(t, hs.URL)

	code, stdout, stderr := runProgram(t, scriptEnv("prod", "web", "v2"), "-wait-until", "bake_time", "-keep", "1")
	if code != 0 || !strings.HasSuffix(lastLine(stdout), "web:2") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	_, rest, ok := strings.Cut(stderr, "follow it with:\n  ecs-rollout -wait-for ")
	arn, _, _ := strings.Cut(rest, "\n")
	if !ok || !strings.Contains(stderr, "IN_PROGRESS BAKE_TIME") || strings.Contains(stderr, "SUCCESSFUL") {
		t.Fatalf("did not stop at BAKE_TIME with a way to follow it:\n%s", stderr)
	}
	// web:1 still serves as the blue side of the deployment: in use, not deregistered.
	if !strings.Contains(stderr, "pruned: deregistered 0 revisions, kept 1, 1 older ones still in use") {
		t.Errorf("-keep 1 during the bake:\n%s", stderr)
	}

	code, stdout, stderr = runProgram(t, map[string]string{"AWS_REGION": "us-east-1"}, "-wait-for", arn, "-wait-until", "started")
	if code != 0 || !strings.Contains(stdout, "IN_PROGRESS BAKE_TIME") {
		t.Errorf("report: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runProgram(t, map[string]string{"AWS_REGION": "us-east-1"}, "-wait-for", arn)
	if code != 0 || !strings.Contains(stdout, "SUCCESSFUL") {
		t.Errorf("wait: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, _, stderr = runProgram(t, map[string]string{"AWS_REGION": "us-east-1"}, "-wait-for", "arn:aws:ecs:us-east-1:123456789012:service/prod/web")
	if code != 2 || !strings.Contains(stderr, "is not a service deployment ARN") {
		t.Errorf("a service ARN: exit %d\n%s", code, stderr)
	}

	// Baked and cleaned up: now web:1 is unused and goes.
	code, _, stderr = runProgram(t, scriptEnv("prod", "web", "v3"), "-keep", "1")
	if code != 0 || !strings.Contains(stderr, "pruned: deregistered 2 revisions, kept 1, 0 older ones still in use") {
		t.Errorf("-keep 1 after the bake: exit %d\n%s", code, stderr)
	}
}

// -verify checks the new task definition's image in ECR before anything changes.
func TestVerifyAgainstMoto(t *testing.T) {
	cfg := mototest.Config(t)
	mototest.SetSDKEnv(t, *cfg.BaseEndpoint)
	client := awsecs.NewFromConfig(cfg)
	cluster := mototestService(t, client, "verify", types.ContainerDefinition{Name: aws.String("app"), Image: aws.String("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:old"), Memory: aws.Int32(128)})
	env := scriptEnv(cluster, cluster, "v404")
	env["IMAGE_REPO_NAME"] = cluster
	if _, err := ecr.NewFromConfig(cfg).CreateRepository(t.Context(), &ecr.CreateRepositoryInput{RepositoryName: aws.String(cluster)}); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runProgram(t, env, "-verify", "-wait=false")
	if code != 1 || !strings.Contains(stderr, "verify: 1 problems, nothing changed: image 123456789012.dkr.ecr.us-east-1.amazonaws.com/"+cluster+":v404") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	svc, err := client.DescribeServices(t.Context(), &awsecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{"web"}})
	if err != nil || !strings.HasSuffix(aws.ToString(svc.Services[0].TaskDefinition), cluster+":1") {
		t.Errorf("the service changed: %v", err)
	}
	if strings.Contains(stderr, "registered") {
		t.Errorf("registered a revision before verifying:\n%s", stderr)
	}
}

// A run killed in the middle of its wait (SIGKILL: no chance to roll back) leaves its
// release in the journal; the next run finds it, rolls the service back, then deploys, and
// prints the report.
func TestKilledRunIsRecoveredByTheNext(t *testing.T) {
	srv, env := fakeECS(t, 100*time.Millisecond)
	srv.SetBehavior("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v2", ecstest.Behavior{StartEvery: time.Hour})
	dir := t.TempDir()
	p := clitest.Start(t, clitest.Build(t, "examples/ecs-rollout"), env, "-journal", dir)
	p.WaitFor("updated service to web:2", time.Minute)
	p.Signal(syscall.SIGKILL)
	if code, _ := p.Wait(time.Minute); code != -1 && code != 137 {
		t.Logf("the killed run exited %d", code)
	}
	if got := serviceTD(t, srv); got != "web:2" {
		t.Fatalf("the killed run left the service on %s, want web:2", got)
	}
	srv.SetBehavior("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v2", ecstest.Behavior{StartEvery: 100 * time.Millisecond})
	report := filepath.Join(t.TempDir(), "report.json")
	envMap := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		envMap[k] = v
	}
	for k, v := range envMap {
		t.Setenv(k, v) // the SDK reads AWS_ENDPOINT_URL from the environment
	}
	code, stdout, stderr := runProgram(t, envMap, "-journal", dir, "-stale-after", "1ns", "-report", report)
	if code != 0 {
		t.Fatalf("the next run: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "recovered release ") || !strings.Contains(stderr, ": rolled back") {
		t.Errorf("the next run does not say it recovered the killed one:\n%s", stderr)
	}
	if !strings.Contains(stderr, "ecs:prod/web  web:1") || lastLine(stdout) != "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3" {
		t.Errorf("stdout %q; the report table:\n%s", stdout, stderr)
	}
	if b, err := os.ReadFile(report); err != nil || !strings.Contains(string(b), `"outcome": "deployed"`) {
		t.Errorf("the JSON report: %v\n%s", err, b)
	}
}
