package ecs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/credentials"
	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/mototest"
)

// Verify against moto: DescribeImages, GetRole, DescribeLogGroups and the secrets resolver
// (GetSecretValue, GetParameters), each once passing and once naming the problem; every
// problem in one error, before anything changes.
func TestMotoVerify(t *testing.T) {
	cfg := mototest.Config(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	suffix := strings.ReplaceAll(time.Now().Format("150405.000"), ".", "")
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ecrc, iamc, logs := awsecr.NewFromConfig(cfg), iam.NewFromConfig(cfg), cloudwatchlogs.NewFromConfig(cfg)
	sm, ps := secretsmanager.NewFromConfig(cfg), ssm.NewFromConfig(cfg)
	repo := "verify-" + suffix
	must(ecrc.CreateRepository(ctx, &awsecr.CreateRepositoryInput{RepositoryName: aws.String(repo)}))
	must(ecrc.PutImage(ctx, &awsecr.PutImageInput{RepositoryName: aws.String(repo), ImageTag: aws.String("v2"),
		ImageManifest: aws.String(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[]}`)}))
	must(iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("task-" + suffix), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)}))
	must(logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/ecs/" + repo)}))
	sec, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db-" + suffix), SecretString: aws.String(`{"password":"hunter2-not-printed"}`)})
	if err != nil {
		t.Fatal(err)
	}
	must(ps.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/verify/" + suffix), Value: aws.String("p4ss-not-printed"), Type: "SecureString"}))
	img := "123456789012.dkr.ecr.us-east-1.amazonaws.com/" + repo
	role := "arn:aws:iam::123456789012:role/"

	plan := func(image, taskRole, group, secret string) *Plan {
		td := `{"family":"verify","taskRoleArn":"` + role + taskRole + `","containerDefinitions":[{"name":"app","image":"` + image + `",` +
			`"logConfiguration":{"logDriver":"awslogs","options":{"awslogs-group":"` + group + `"}},` +
			`"secrets":[{"name":"DB","valueFrom":"` + secret + `"},{"name":"P","valueFrom":"/verify/` + suffix + `"}]},` +
			`{"name":"proxy","image":"public.ecr.aws/nginx/nginx:1"}]}`
		return &Plan{t: New(nil, "c", "s", nil), rendered: []byte(td)}
	}
	v := &Verifier{ECR: ecrc, IAM: iamc, Logs: logs, Secrets: credentials.NewResolver(sm, ps, nil), Region: "us-east-1"}

	good := plan(img+":v2", "task-"+suffix, "/ecs/"+repo, aws.ToString(sec.ARN)+":password::")
	r, err := good.Verify(ctx, v)
	if err != nil {
		t.Fatalf("Verify of a good task definition: %v", err)
	}
	if len(r.Checked) != 5 || len(r.Skipped) != 1 || !strings.Contains(r.Skipped[0], "public.ecr.aws/nginx/nginx:1: not in ECR") {
		t.Errorf("report %+v, want image, role, log group and two secrets checked, the public image skipped", r)
	}

	bad := plan(img+":v9", "nope-"+suffix, "/ecs/missing-"+suffix, "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-"+suffix+"-AbCdEf")
	_, err = bad.Verify(ctx, v)
	if !errorsIs(err, deploy.ErrInvalid) {
		t.Fatalf("Verify of a bad task definition: %v, want ErrInvalid", err)
	}
	for _, want := range []string{"4 problems", "image " + img + ":v9", "taskRoleArn " + role + "nope-" + suffix, "log group /ecs/missing-" + suffix + " of container app does not exist", "secret arn:aws:secretsmanager"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "not-printed") {
		t.Errorf("a secret value in the error: %v", err)
	}
}

// Prune against moto: ListTaskDefinitions, ListServices, DescribeServices,
// DeregisterTaskDefinition and DeleteTaskDefinitions. moto reports no service deployments,
// so use is judged by the services' deployments lists.
func TestMotoPrune(t *testing.T) {
	client := ecs.NewFromConfig(mototest.Config(t), mototest.ECSNumbersAsStrings)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	family := "prune-" + strings.ReplaceAll(time.Now().Format("150405.000"), ".", "")
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(family)}))
	for range 6 {
		must(client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String(family),
			ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("busybox:1"), Memory: aws.Int32(64)}}}))
	}
	// Another family sharing the prefix must be left alone.
	must(client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String(family + "-worker"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("busybox:1"), Memory: aws.Int32(64)}}}))
	must(client.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(family), ServiceName: aws.String("web"),
		TaskDefinition: aws.String(family + ":2"), DesiredCount: aws.Int32(1)}))

	dry, err := Prune(ctx, client, family, family, PruneOptions{Keep: 2, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Prune(ctx, client, family, family, PruneOptions{Keep: 2, Delete: true})
	if err != nil {
		t.Fatal(err)
	}
	names := func(arns []string) string {
		var n []string
		for _, a := range arns {
			n = append(n, shortTD(a))
		}
		return strings.Join(n, " ")
	}
	f := family
	if got, want := names(res.Kept), f+":6 "+f+":5"; got != want {
		t.Errorf("kept %s, want %s", got, want)
	}
	if got, want := names(res.InUse), f+":2"; got != want {
		t.Errorf("in use %s, want %s", got, want)
	}
	if got, want := names(res.Deregistered), f+":4 "+f+":3 "+f+":1"; got != want || names(dry.Deregistered) != want {
		t.Errorf("deregistered %s (dry run %s), want %s", got, names(dry.Deregistered), want)
	}
	if len(res.Deleted) != 3 {
		t.Errorf("deleted %v, want the three deregistered", names(res.Deleted))
	}
	left, err := familyRevisions(ctx, client, family, types.TaskDefinitionStatusActive)
	if err != nil || names(left) != f+":6 "+f+":5 "+f+":2" {
		t.Errorf("ACTIVE after prune: %s, %v", names(left), err)
	}
	if other, _ := familyRevisions(ctx, client, family+"-worker", types.TaskDefinitionStatusActive); len(other) != 1 {
		t.Errorf("the other family was touched: %v", other)
	}
	if _, err := Prune(ctx, client, family, family, PruneOptions{Keep: 0}); !errorsIs(err, deploy.ErrInvalid) {
		t.Errorf("Keep 0: %v, want ErrInvalid", err)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
