package store_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/store"
	"github.com/stevedore-dev/stevedore/internal/mototest"
	"github.com/stevedore-dev/stevedore/targets/ecs"
)

// Two releases of one ECS service from two processes at once, both leasing it in S3,
// against moto: one applies, bakes and gives the lease up before the other applies; neither
// rolls back, and the service ends on the release that went second.
func TestTwoProcessesReleaseOneServiceInTurn(t *testing.T) {
	ctx := t.Context()
	endpoint := mototest.Endpoint(t)
	cfg := mototest.Config(t)
	name := "turns" + strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	client := awsecs.NewFromConfig(cfg, mototest.ECSNumbersAsStrings)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(client.CreateCluster(ctx, &awsecs.CreateClusterInput{ClusterName: aws.String(name)}))
	must(client.RegisterTaskDefinition(ctx, &awsecs.RegisterTaskDefinitionInput{Family: aws.String(name), ContainerDefinitions: []ecstypes.ContainerDefinition{
		{Name: aws.String("app"), Image: aws.String("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v1"), Essential: aws.Bool(true), Memory: aws.Int32(128)}}}))
	must(client.CreateService(ctx, &awsecs.CreateServiceInput{Cluster: aws.String(name), ServiceName: aws.String("web"),
		TaskDefinition: aws.String(name + ":1"), DesiredCount: aws.Int32(1)}))
	must(s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}))

	type window struct {
		who        string
		start, end time.Time
		out        string
		err        error
	}
	windows := make([]window, 2)
	var wg sync.WaitGroup
	for i, who := range []string{"v2", "v3"} {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestTwoProcessesHelper$", "-test.v")
			cmd.Env = append(os.Environ(), mototest.EnvEndpoint+"="+endpoint, "STEVEDORE_TURNS="+name, "STEVEDORE_TURNS_WHO="+who)
			out, err := cmd.CombinedOutput()
			w := window{who: who, out: string(out), err: err}
			for _, line := range strings.Split(string(out), "\n") {
				if f := strings.Fields(line); len(f) == 3 && f[0] == "WINDOW" {
					s, _ := strconv.ParseInt(f[1], 10, 64)
					e, _ := strconv.ParseInt(f[2], 10, 64)
					w.start, w.end = time.Unix(0, s), time.Unix(0, e)
				}
			}
			windows[i] = w
		})
	}
	wg.Wait()
	for _, w := range windows {
		if w.err != nil || w.start.IsZero() {
			t.Fatalf("release %s: %v\n%s", w.who, w.err, w.out)
		}
	}
	first, second := windows[0], windows[1]
	if second.start.Before(first.start) {
		first, second = second, first
	}
	if !first.end.Before(second.start) {
		t.Errorf("the releases' changes overlapped: %s from %s to %s, %s from %s", first.who, first.start.Format("15:04:05.000"), first.end.Format("15:04:05.000"),
			second.who, second.start.Format("15:04:05.000"))
	}
	out, err := client.DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: aws.String(name), Services: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	td, err := client.DescribeTaskDefinition(ctx, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: out.Services[0].TaskDefinition})
	if err != nil {
		t.Fatal(err)
	}
	if img := aws.ToString(td.TaskDefinition.ContainerDefinitions[0].Image); !strings.HasSuffix(img, ":"+second.who) || aws.ToInt32(&td.TaskDefinition.Revision) != 3 {
		t.Errorf("the service runs %s (revision %d), want the second release's %s at revision 3: one registration each, no rollback",
			img, td.TaskDefinition.Revision, second.who)
	}
}

// TestTwoProcessesHelper is one of the processes above; it does nothing on its own.
func TestTwoProcessesHelper(t *testing.T) {
	name, who := os.Getenv("STEVEDORE_TURNS"), os.Getenv("STEVEDORE_TURNS_WHO")
	if name == "" {
		t.Skip("run by TestTwoProcessesReleaseOneServiceInTurn")
	}
	cfg := mototest.Config(t)
	locks := store.NewS3(s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), name, "")
	target := ecs.New(awsecs.NewFromConfig(cfg, mototest.ECSNumbersAsStrings), name, "web", &ecs.Options{NoWait: true})
	bake := deploy.CheckFunc("bake", func(context.Context) (deploy.Measurement, error) {
		return deploy.Measurement{Verdict: deploy.Pass, Evidence: "quiet"}, nil
	})
	var mu sync.Mutex
	var start, end time.Time
	rel := deploy.Release{Images: map[string]string{"": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:" + who}}
	_, err := deploy.RunStages(t.Context(), rel, []deploy.Stage{{Name: "web", Targets: []deploy.Target{target},
		Gates: []deploy.Gate{{Check: bake, Count: 3, Interval: 500 * time.Millisecond}}}},
		&deploy.Options{ReleaseID: who, Lock: &deploy.LockOptions{Locker: locks, Policy: deploy.LockWait, TTL: 6 * time.Second, Who: who},
			OnEvent: func(e deploy.Event) {
				mu.Lock()
				defer mu.Unlock()
				if e.Phase == deploy.PhaseApply && start.IsZero() {
					start = time.Now()
				}
				if !start.IsZero() {
					end = time.Now()
				}
				if e.Phase == deploy.PhaseRollback {
					t.Errorf("%s rolled back: %s", who, e.Message)
				}
			}})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("WINDOW %d %d\n", start.UnixNano(), end.UnixNano())
}
