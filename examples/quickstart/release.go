package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/gate"
	"github.com/stevedore-dev/stevedore/deploy/gate/gatetest"
	"github.com/stevedore-dev/stevedore/targets/ec2"
	"github.com/stevedore-dev/stevedore/targets/ec2/ec2test"
	"github.com/stevedore-dev/stevedore/targets/ecs"
	"github.com/stevedore-dev/stevedore/targets/eks"
	"github.com/stevedore-dev/stevedore/targets/eks/ekstest"
)

// estate is the rest of the simulated estate the staged releases go to: the shop on EKS
// (Deployment default/shop, 3 replicas), a fleet of 3 EC2 instances tagged app=shop that
// installs it with SSM Run Command, and CloudWatch, whose alarm shop-p99-latency gates the
// stages.
type estate struct {
	kube        *ekstest.Server
	fleet       *ec2test.Server
	instances   []string
	failInstall atomic.Bool // the next installs fail on the fleet's second instance
	cw          *gatetest.CloudWatch
	stages      []deploy.Stage
}

func newEstate(step time.Duration, ecsClient *awsecs.Client) (*estate, error) {
	e := &estate{kube: ekstest.New(nil), fleet: ec2test.New(nil)}
	e.kube.StepInterval = step / 2
	if err := e.kube.CreateDeployment(`{"metadata":{"name":"shop"},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"shop"}},` +
		`"template":{"metadata":{"labels":{"app":"shop"}},"spec":{"containers":[{"name":"shop","image":"` + repo + `:v1"}]}}}}`); err != nil {
		return nil, err
	}
	e.fleet.DeliveryDelay, e.fleet.NotYetVisible = step/5, step/5
	e.instances = e.fleet.Fleet(3, map[string]string{"app": "shop"})
	e.fleet.Script(func(inv ec2test.Invocation) ec2test.Outcome {
		install := strings.Contains(strings.Join(inv.Commands, "\n"), `"$STEVEDORE_VERSION"`)
		if install && inv.InstanceID == e.instances[1] && e.failInstall.Load() {
			return ec2test.Outcome{Status: "Failed", Exit: 1, Stderr: "install: shop.tar.gz: checksum mismatch\n", Duration: step}
		}
		return ec2test.Outcome{Duration: step}
	})
	e.cw = gatetest.NewCloudWatch(nil)
	e.cw.Alarm("shop-p99-latency", gatetest.AlarmState{At: time.Now().Add(-time.Hour), Value: cwtypes.StateValueOk, Reason: "Threshold Crossed: no datapoint above 250 ms"})

	ecsTarget := ecs.New(ecsClient, "demo", "shop", &ecs.Options{PollInterval: step / 5, DeregisterOnRollback: true,
		DeploymentConfiguration: &types.DeploymentConfiguration{Strategy: types.DeploymentStrategyRolling, BakeTimeInMinutes: aws.Int32(0)}})
	kubeTarget := eks.New(e.kube.Client(), eks.Deployment, "default", "shop", &eks.Options{PollInterval: step / 5})
	cfg := e.fleet.Config()
	fleetTarget := ec2.New(ssm.NewFromConfig(cfg), awsec2.NewFromConfig(cfg), ec2.Fleet{Tags: map[string]string{"app": "shop"}},
		ec2.Options{Commands: []string{`/opt/shop/install "$STEVEDORE_VERSION"`}, RollbackCommands: []string{`/opt/shop/install "$STEVEDORE_PREVIOUS_VERSION"`},
			PollInterval: step / 5})
	bake := deploy.Gate{Check: gate.Alarms(cloudwatch.NewFromConfig(e.cw.Config()), []string{"shop-p99-latency"}, nil),
		Interval: step, Count: 3}
	e.stages = []deploy.Stage{
		{Name: "ecs", Targets: []deploy.Target{ecsTarget}, Gates: []deploy.Gate{bake}},
		{Name: "eks", Targets: []deploy.Target{kubeTarget}},
		{Name: "ec2", Targets: []deploy.Target{fleetTarget}},
	}
	return e, nil
}

// stagedReleases plays steps 5 and 6: v6 through all three stages, then v7, whose install
// fails on the fleet in the last stage, so every target of every stage goes back to v6.
func stagedReleases(ctx context.Context, out io.Writer, step time.Duration, ecsClient *awsecs.Client) ([]string, error) {
	e, err := newEstate(step, ecsClient)
	if err != nil {
		return nil, err
	}
	opts := &deploy.Options{Timeout: 2 * time.Minute, OnEvent: func(ev deploy.Event) {
		fmt.Fprintf(out, "  %s %-3s %-8s %-28s %s\n", ev.Time.Format("15:04:05.0"), ev.ReleaseStage, ev.Phase, ev.Target, ev.Message)
	}}

	fmt.Fprintln(out, "\n5. Releasing v6 in three stages: ecs demo/shop; then, once alarm shop-p99-latency stays OK for 3 checks, eks default/shop; then the ec2 fleet app=shop ...")
	v6 := deploy.Release{Version: "v6", Images: map[string]string{"shop": repo + ":v6"}}
	start := time.Now()
	res, err := deploy.RunStages(ctx, v6, e.stages, opts)
	if err != nil {
		return nil, fmt.Errorf("the staged release did not go out (%s): %w", res.Outcome(), err)
	}
	v6Took := time.Since(start).Round(100 * time.Millisecond)
	fmt.Fprintln(out)
	if err := res.Report(nil).WriteTable(out); err != nil {
		return nil, err
	}
	before, err := e.snapshot(ctx, ecsClient)
	if err != nil {
		return nil, err
	}

	fmt.Fprintln(out, "\n6. Releasing v7 the same way; its install fails on one instance of the fleet, in the last stage ...")
	e.failInstall.Store(true)
	v7 := deploy.Release{Version: "v7", Images: map[string]string{"shop": repo + ":v7"}}
	start = time.Now()
	res, v7Err := deploy.RunStages(ctx, v7, e.stages, opts)
	if v7Err == nil {
		return nil, errors.New("the release whose install fails succeeded")
	}
	if ctx.Err() != nil || res.Outcome() != deploy.OutcomeRolledBack {
		return nil, fmt.Errorf("the failing staged release ended %s: %w", res.Outcome(), v7Err)
	}
	v7Took := time.Since(start).Round(100 * time.Millisecond)
	fmt.Fprintln(out)
	if err := res.Report(v7Err).WriteTable(out); err != nil {
		return nil, err
	}
	after, err := e.snapshot(ctx, ecsClient)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(before, after) {
		return nil, fmt.Errorf("the estate did not go back to where it was:\nbefore v7: %s\nafter v7:  %s", strings.Join(before, "; "), strings.Join(after, "; "))
	}
	return []string{
		fmt.Sprintf("v6: ECS, then a 3-check alarm gate, then EKS, then EC2, in %v", v6Took),
		fmt.Sprintf("v7: failed in its last stage and every target went back, latest stage first, in %v:", v7Took),
		"    " + strings.Join(after, "\n      "),
		fmt.Sprintf("%d Kubernetes API requests, %d EC2 and SSM calls, %d CloudWatch calls", e.kube.TotalCalls(), e.fleet.TotalCalls(), e.cw.Calls("DescribeAlarms")),
	}, nil
}

// snapshot says what each part of the estate runs: the ECS service's task definition, the
// images the EKS pods that are ready run, the version each instance recorded.
func (e *estate) snapshot(ctx context.Context, ecsClient *awsecs.Client) ([]string, error) {
	svc, err := ecsClient.DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: aws.String("demo"), Services: []string{"shop"}})
	if err != nil || len(svc.Services) != 1 {
		return nil, fmt.Errorf("describe the ECS service: %v", err)
	}
	td := aws.ToString(svc.Services[0].TaskDefinition)
	pods := map[string]int{} // ready pods by image
	for _, image := range e.kube.Images("default", "shop") {
		pods[image[strings.LastIndexByte(image, '/')+1:]]++
	}
	var ready []string
	for _, image := range slices.Sorted(maps.Keys(pods)) {
		ready = append(ready, fmt.Sprintf("%d ready pods of %s", pods[image], image))
	}
	var versions []string
	for _, id := range e.instances {
		versions = append(versions, e.fleet.Tags(id)["stevedore:version"])
	}
	return []string{
		"ecs demo/shop runs " + td[strings.LastIndexByte(td, '/')+1:],
		"eks default/shop has " + strings.Join(ready, ", "),
		"ec2 app=shop instances run " + strings.Join(versions, ", "),
	}, nil
}
