package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/tidwall/gjson"
	"go.yaml.in/yaml/v3"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/store"
	"github.com/stevedore-dev/stevedore/internal/clitest"
	"github.com/stevedore-dev/stevedore/internal/mototest"
	"github.com/stevedore-dev/stevedore/targets/ec2"
	"github.com/stevedore-dev/stevedore/targets/ecs"
	"github.com/stevedore-dev/stevedore/targets/eks"
)

// The release files of examples/codebuild load, with what CodeBuild and the project set.
func TestCodeBuildReleaseFilesLoad(t *testing.T) {
	vars := env(map[string]string{"IMAGE_TAG": "0123abc", "AWS_ACCOUNT_ID": "123456789012", "AWS_REGION": "us-east-1", "ECS_CLUSTER": "prod",
		"SERVICE_NAME": "web", "IMAGE_REPO_NAME": "web", "RELEASE_BUCKET": "deploys"})
	files, _ := filepath.Glob("../codebuild/*.json")
	if len(files) < 2 {
		t.Fatalf("release files: %v", files)
	}
	for _, f := range files {
		if _, err := Load(f, vars); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// operations lists an interface's methods: the API operations the code can call with it.
func operations[T any]() []string {
	typ := reflect.TypeFor[T]()
	var out []string
	for i := range typ.NumMethod() {
		out = append(out, typ.Method(i).Name)
	}
	return out
}

// Each IAM policy of examples/codebuild allows exactly the calls the code makes for its part:
// every operation of the part's client interfaces, and nothing else but the extras named
// here with their reason.
func TestIAMPoliciesMatchTheCalls(t *testing.T) {
	with := func(prefix string, ops []string) []string {
		var out []string
		for _, op := range ops {
			if prefix == "s3:" && op == "ListObjectsV2" {
				op = "ListBucket" // the permission ListObjectsV2 needs
			}
			out = append(out, prefix+op)
		}
		return out
	}
	for _, c := range []struct {
		file string
		want []string
	}{
		{"ecs.json", slices.Concat(with("ecs:", operations[ecs.API]()), with("ecs:", operations[ecs.PruneAPI]()),
			[]string{"iam:PassRole"})}, // RegisterTaskDefinition and RunTask hand the task's roles to ECS
		{"ec2.json", slices.Concat(with("ssm:", operations[ec2.SSMAPI]()), with("ec2:", operations[ec2.EC2API]()),
			with("elasticloadbalancing:", operations[ec2.ELBAPI]()), with("autoscaling:", operations[ec2.AutoScalingAPI]()))},
		{"eks.json", with("eks:", operations[eks.DescribeClusterAPI]())},
		{"journal-s3.json", with("s3:", operations[store.S3API]())},
		{"journal-dynamodb.json", with("dynamodb:", operations[store.DynamoDBAPI]())},
		{"gates.json", slices.Concat(with("cloudwatch:", operations[cloudwatch.DescribeAlarmsAPIClient]()), with("cloudwatch:", operations[cloudwatch.GetMetricDataAPIClient]()))},
		{"verify.json", slices.Concat(with("ecr:", operations[ecs.ECRAPI]()), with("iam:", operations[ecs.IAMAPI]()), with("logs:", operations[ecs.LogsAPI]()),
			[]string{"secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue", "ssm:GetParameters"})}, // what the resolver reads
	} {
		data, err := os.ReadFile("../codebuild/iam/" + c.file)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, st := range gjson.GetBytes(data, "Statement").Array() {
			if st.Get("Effect").String() != "Allow" {
				t.Errorf("%s: a statement that is not Allow", c.file)
			}
			a := st.Get("Action")
			if a.IsArray() {
				for _, x := range a.Array() {
					got = append(got, x.String())
				}
			} else {
				got = append(got, a.String())
			}
		}
		slices.Sort(got)
		want := slices.Compact(slices.Sorted(slices.Values(c.want)))
		if !slices.Equal(slices.Compact(got), want) {
			t.Errorf("%s allows %v\nthe code calls %v", c.file, got, want)
		}
	}
}

// The buildspec's post_build commands, run in a shell with the environment CodeBuild sets
// and the release command on the PATH (as its install phase puts it), against moto: the
// service ends on the build's image, and CodePipeline's artifacts are written. (moto never
// progresses ECS deployments, so the release waits only until the deployment has started.)
func TestBuildspecDeploysAgainstMoto(t *testing.T) {
	endpoint := mototest.Endpoint(t)
	ctx := context.Background()
	cfg := mototest.Config(t)
	client := awsecs.NewFromConfig(cfg)
	name := "cb-" + strings.ToLower(rand.Text()[:8])
	if _, err := client.CreateCluster(ctx, &awsecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	var td awsecs.RegisterTaskDefinitionInput
	_ = json.Unmarshal([]byte(`{"family":"`+name+`","containerDefinitions":[{"name":"web","image":"123456789012.dkr.ecr.us-east-1.amazonaws.com/`+name+`:v1","memory":256,"essential":true}]}`), &td)
	if _, err := client.RegisterTaskDefinition(ctx, &td); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateService(ctx, &awsecs.CreateServiceInput{Cluster: aws.String(name), ServiceName: aws.String("web"), TaskDefinition: aws.String(name), DesiredCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}

	var spec struct {
		Phases map[string]struct {
			Commands []string `yaml:"commands"`
		} `yaml:"phases"`
		Env struct {
			Variables map[string]string `yaml:"variables"`
		} `yaml:"env"`
	}
	data, err := os.ReadFile("../codebuild/buildspec.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	post := spec.Phases["post_build"].Commands
	if len(post) == 0 || !slices.ContainsFunc(post, func(c string) bool { return strings.HasPrefix(c, "release deploy") }) {
		t.Fatalf("post_build: %q", post)
	}
	bin := clitest.Build(t, "examples/release")
	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, "deploy"), 0o755); err != nil {
		t.Fatal(err)
	}
	release, _ := os.ReadFile("../codebuild/release.json")
	if err := os.WriteFile(filepath.Join(work, "deploy", "release.json"), release, 0o644); err != nil {
		t.Fatal(err)
	}
	sha := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"
	env := []string{"PATH=" + filepath.Dir(bin) + ":" + os.Getenv("PATH"), "HOME=" + work,
		"AWS_ENDPOINT_URL=" + endpoint, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + filepath.Join(work, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(work, "credentials"),
		"CODEBUILD_BUILD_ID=" + name + ":0b1c", "CODEBUILD_BUILD_NUMBER=7", "CODEBUILD_RESOLVED_SOURCE_VERSION=" + sha, "CODEBUILD_BUILD_SUCCEEDING=1",
		"CODEBUILD_SOURCE_REPO_URL=https://github.com/example/shop", "CODEBUILD_WEBHOOK_EVENT=PUSH", "CODEBUILD_WEBHOOK_HEAD_REF=refs/heads/main",
		"CODEBUILD_SRC_DIR=" + work, "ECS_CLUSTER=" + name, "SERVICE_NAME=web", "IMAGE_REPO_NAME=" + name, "WAIT_UNTIL=started"}
	for k, v := range spec.Env.Variables {
		env = append(env, k+"="+v)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", strings.Join(post, "\n"))
	cmd.Dir, cmd.Env = work, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("post_build: %v\n%s", err, out)
	}
	svc, err := client.DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: aws.String(name), Services: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.DescribeTaskDefinition(ctx, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: svc.Services[0].TaskDefinition})
	if err != nil {
		t.Fatal(err)
	}
	want := "123456789012.dkr.ecr.us-east-1.amazonaws.com/" + name + ":" + sha
	if img := aws.ToString(got.TaskDefinition.ContainerDefinitions[0].Image); img != want {
		t.Errorf("the service runs %s, want %s\n%s", img, want, out)
	}
	defs, _ := os.ReadFile(filepath.Join(work, "imagedefinitions.json"))
	if gjson.GetBytes(defs, "0.imageUri").String() != want || gjson.GetBytes(defs, "0.name").String() != "web" {
		t.Errorf("imagedefinitions.json: %s", defs)
	}
	if rep, _ := os.ReadFile(filepath.Join(work, "release-report.json")); gjson.GetBytes(rep, "outcome").String() != "deployed" {
		t.Errorf("release-report.json: %s", rep)
	}
	if !strings.Contains(string(out), "CodeBuild build "+name+":0b1c (#7) of https://github.com/example/shop at main") {
		t.Errorf("output:\n%s", out)
	}
}

// A target leased by another release, with lock policy fail: nothing changes, the error
// names the holder, and the exit status is 4. (The lease lives in DynamoDB, on moto.)
func TestLockHeldExits4(t *testing.T) {
	e := newEstate(t)
	endpoint := mototest.Endpoint(t)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
	table := "locks-" + strings.ToLower(rand.Text()[:8])
	ddb := dynamodb.NewFromConfig(mototest.Config(t))
	if _, err := ddb.CreateTable(t.Context(), &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := store.NewDynamoDB(ddb, table, "").Lock(t.Context(), "ecs:demo/shop", deploy.Holder{ID: "r-other", Who: "ci@other-pipeline",
		Release: "version v9", Since: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CODEBUILD_RESOLVED_SOURCE_VERSION", "v2")
	file := writeFile(t, strings.Replace(threeKinds, `"version": "${IMAGE_TAG}",`, `"version": "${IMAGE_TAG}", "store": "dynamodb://`+table+`", "lock": {"policy": "fail"},`, 1))
	before := e.state(t)
	code, out, errOut := release(t, "deploy", "-f", file)
	if code != 4 || !strings.Contains(errOut, "ci@other-pipeline") || !strings.Contains(errOut, "version v9") {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
	if got := e.state(t); got != before {
		t.Errorf("a held release changed the estate: %s, was %s", got, before)
	}
}

// What ${IMAGE_TAG} is, one format per row.
func TestImageTag(t *testing.T) {
	b := buildInfo{SourceVersion: "0123456789abcdef0123456789abcdef01234567", Number: "42"}
	for _, c := range []struct{ format, want, err string }{
		{"full-sha", "0123456789abcdef0123456789abcdef01234567", ""},
		{"", "0123456789abcdef0123456789abcdef01234567", ""},
		{"short-sha", "0123456", ""},
		{"build-number", "42", ""},
		{"semver", "", `-image-tag "semver": use full-sha, short-sha or build-number`},
	} {
		got, err := b.imageTag(c.format)
		if got != c.want || (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: %q, %v; want %q, %q", c.format, got, err, c.want, c.err)
		}
	}
}
