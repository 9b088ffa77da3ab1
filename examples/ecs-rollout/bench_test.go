package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stevedore-dev/stevedore/internal/mototest"
)

// BenchmarkScriptJob times the job the original CodeBuild step does (describe, patch,
// register, update-service, no waiting) against one moto server: once as the compiled
// ecs-rollout program with -wait=false, once as the original script
// (testdata/original-ecs-script.sh: aws CLI + jq). Each iteration is one whole process run
// deploying a tag no earlier iteration deployed, so each registers a revision and updates
// the service (checked at the end). BENCHMARKS.md records the figures.
func BenchmarkScriptJob(b *testing.B) {
	cfg := mototest.Config(b)
	cluster := mototestService(b, awsecs.NewFromConfig(cfg), "bench", types.ContainerDefinition{Name: aws.String("app"),
		Image: aws.String("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:old"), Memory: aws.Int32(128)})
	dir := b.TempDir()
	bin := filepath.Join(dir, "ecs-rollout")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	env := append(os.Environ(), "AWS_ENDPOINT_URL="+*cfg.BaseEndpoint, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
		"AWS_CONFIG_FILE="+filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_PAGER=", "CONTAINER_NAME=") // pin what the program reads: the machine may set CONTAINER_NAME
	for k, v := range scriptEnv(cluster, cluster, "unused") {
		if k != "CODEBUILD_RESOLVED_SOURCE_VERSION" {
			env = append(env, k+"="+v)
		}
	}
	client := awsecs.NewFromConfig(cfg)
	deploys := 0
	runCmd := func(b *testing.B, name string, args ...string) {
		deploys++
		cmd := exec.Command(name, args...)
		cmd.Env = append(env, fmt.Sprintf("CODEBUILD_RESOLVED_SOURCE_VERSION=%040x", deploys)) // a new tag each time
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", name, err, out)
		}
	}
	// checkDeployed fails the benchmark unless every run registered a revision and the service
	// runs the last: a run that changed nothing would time nothing.
	checkDeployed := func(b *testing.B) {
		svc, err := client.DescribeServices(context.Background(), &awsecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{"web"}})
		if err != nil {
			b.Fatal(err)
		}
		if want := fmt.Sprintf("%s:%d", cluster, deploys+1); !strings.HasSuffix(aws.ToString(svc.Services[0].TaskDefinition), want) {
			b.Fatalf("after %d deploys the service runs %s, want %s", deploys, aws.ToString(svc.Services[0].TaskDefinition), want)
		}
	}
	b.Run("program", func(b *testing.B) {
		for b.Loop() {
			runCmd(b, bin, "-wait=false")
		}
		checkDeployed(b)
	})
	b.Run("script", func(b *testing.B) {
		for _, tool := range []string{"aws", "jq", "bash"} {
			if _, err := exec.LookPath(tool); err != nil {
				b.Skipf("the original script needs %s on PATH", tool)
			}
		}
		for b.Loop() {
			runCmd(b, "bash", filepath.Join("testdata", "original-ecs-script.sh"))
		}
		checkDeployed(b)
	})
}
