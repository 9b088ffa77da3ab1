package ecs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/mototest"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// TestMotoConformance runs every ECS operation the target calls against the moto server:
// DescribeServices, DescribeTaskDefinition (TAGS), RegisterTaskDefinition, RunTask,
// DescribeTasks, UpdateService, ListTasks and DeregisterTaskDefinition. moto does not
// progress deployments, so the rollout runs with NoWait and the check is the service's
// taskDefinition; the rollback's wait settles at once on the deployment moto keeps.
func TestMotoConformance(t *testing.T) {
	client := ecs.NewFromConfig(mototest.Config(t), mototest.ECSNumbersAsStrings)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cluster := "conformance-" + time.Now().Format("150405.000")
	cluster = strings.ReplaceAll(cluster, ".", "")
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}))
	must(client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(cluster),
		Cpu:    aws.String("256"), Memory: aws.String("512"),
		ContainerDefinitions: []types.ContainerDefinition{
			{Name: aws.String("app"), Image: aws.String("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v1"), Essential: aws.Bool(true), Memory: aws.Int32(128), // moto sums container memory in RunTask
				Environment: []types.KeyValuePair{{Name: aws.String("EMPTY"), Value: aws.String("")}}},
			{Name: aws.String("sidecar"), Image: aws.String("busybox:1"), Memory: aws.Int32(64)},
		},
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("payments")}},
	}))
	must(client.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(cluster), ServiceName: aws.String("web"),
		TaskDefinition: aws.String(cluster + ":1"), DesiredCount: aws.Int32(2)}))

	tgt := New(client, cluster, "web", &Options{NoWait: true, DeregisterOnRollback: true, PollInterval: 100 * time.Millisecond,
		Migration:               &Migration{Container: "app", Command: []string{"./migrate"}, LaunchType: types.LaunchTypeFargate},
		DeploymentConfiguration: &types.DeploymentConfiguration{Strategy: types.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(5)}})
	rel := deploy.Release{Images: map[string]string{"": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v2"},
		Env: []deploy.EnvChange{{Container: "app", Name: "RELEASE", Value: "v2"}}}
	p, err := tgt.plan(ctx, rel)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Changed() {
		t.Fatal("plan found no change")
	}

	// moto never stops a task by itself: stop the migration task once it shows up.
	go func() {
		for ctx.Err() == nil {
			out, err := client.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(cluster), StartedBy: aws.String("stevedore")})
			if err == nil && len(out.TaskArns) > 0 {
				_, _ = client.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(out.TaskArns[0])})
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	if err := p.Apply(ctx, nil); err != nil {
		t.Fatalf("Apply against moto: %v", err)
	}
	newTD := p.Registered()
	if !strings.HasSuffix(newTD, cluster+":2") {
		t.Fatalf("registered %q, want revision 2", newTD)
	}
	svc, err := tgt.describeService(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(svc.TaskDefinition); !strings.HasSuffix(got, cluster+":2") {
		t.Errorf("service taskDefinition = %s, want revision 2", got)
	}
	if c := svc.DeploymentConfiguration; c == nil || c.Strategy != types.DeploymentStrategyBlueGreen || aws.ToInt32(c.BakeTimeInMinutes) != 5 {
		t.Errorf("deploymentConfiguration = %+v, want the strategy and bake time UpdateService sent", c)
	}
	td, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(newTD),
		Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	app := td.TaskDefinition.ContainerDefinitions[0]
	if aws.ToString(app.Image) != "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v2" {
		t.Errorf("registered image %s", aws.ToString(app.Image))
	}
	env := map[string]string{}
	for _, kv := range app.Environment {
		env[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
	}
	if v, ok := env["EMPTY"]; !ok || v != "" || env["RELEASE"] != "v2" {
		t.Errorf("environment = %v, want EMPTY kept empty and RELEASE=v2", env)
	}
	tags := map[string]string{}
	for _, tag := range td.Tags {
		tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	if len(tags) != 2 || tags["team"] != "payments" || tags[deployTag] != p.token {
		t.Errorf("tags = %v, want team carried over and %s=%s", tags, deployTag, p.token)
	}
	if aws.ToString(td.TaskDefinition.ContainerDefinitions[1].Image) != "busybox:1" {
		t.Error("the sidecar's image changed")
	}

	// What a register whose answer was lost looks for before trying again.
	if found, err := tgt.findRegistered(ctx, cluster, p.token); err != nil || found != newTD {
		t.Errorf("findRegistered = %q, %v; want %s", found, err, newTD)
	}
	if found, err := tgt.findRegistered(ctx, cluster, "another-deploy"); err != nil || found != "" {
		t.Errorf("findRegistered(another token) = %q, %v; want none", found, err)
	}

	if _, err := tgt.stoppedTasks(ctx, newTD, time.Time{}); err != nil {
		t.Errorf("ListTasks/DescribeTasks for diagnosis: %v", err)
	}

	if err := p.Rollback(ctx, nil); err != nil {
		t.Fatalf("Rollback against moto: %v", err)
	}
	svc, err = tgt.describeService(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(svc.TaskDefinition); !strings.HasSuffix(got, cluster+":1") {
		t.Errorf("after rollback the service runs %s, want revision 1", got)
	}
	if c := svc.DeploymentConfiguration; c != nil && c.Strategy == types.DeploymentStrategyBlueGreen {
		t.Errorf("after rollback the deploymentConfiguration is %+v, want the observed one back", c)
	}
	old, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(newTD)})
	if err != nil {
		t.Fatal(err)
	}
	if old.TaskDefinition.Status != types.TaskDefinitionStatusInactive {
		t.Errorf("the failed revision is %s, want INACTIVE after DeregisterOnRollback", old.TaskDefinition.Status)
	}
}
