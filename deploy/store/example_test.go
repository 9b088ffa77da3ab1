package store_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/deploytest"
	"github.com/stevedore-dev/stevedore/deploy/gate"
	"github.com/stevedore-dev/stevedore/deploy/store"
	"github.com/stevedore-dev/stevedore/targets/ecs"
)

// A release in stages against AWS: the workers, then (once their alarms stayed quiet for five
// minutes) the web and api services. Each service is leased in S3 for the release's length,
// and the release is journalled there, so that a crashed runner's release is found and
// rolled back by the next run; the report is printed at the end.
func Example() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	sha := os.Getenv("CODEBUILD_RESOLVED_SOURCE_VERSION")
	cluster := ecs.NewCluster(awsecs.NewFromConfig(cfg), "prod", nil)
	st := store.NewS3(s3.NewFromConfig(cfg), "acme-deploys", "stevedore/")
	targets := []deploy.Target{cluster.Service("workers"), cluster.Service("web"), cluster.Service("api")}

	// First, finish what a runner that died left behind.
	lock := &deploy.LockOptions{Locker: st, Policy: deploy.LockWait, Wait: 15 * time.Minute}
	if _, err := deploy.Recover(ctx, st, targets, &deploy.RecoverOptions{Lock: lock}); err != nil {
		log.Fatal(err)
	}

	alarms := gate.Alarms(cloudwatch.NewFromConfig(cfg), []string{"workers-errors", "queue-age"}, nil)
	rel := deploy.Release{Version: sha, Images: map[string]string{"app": "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:" + sha}}
	res, err := deploy.RunStages(ctx, rel, []deploy.Stage{
		{Name: "workers", Targets: targets[:1], Gates: []deploy.Gate{{Check: alarms, Interval: 30 * time.Second, Count: 11}}},
		{Name: "frontends", Targets: targets[1:]},
	}, &deploy.Options{Lock: lock, Journal: st, Timeout: 30 * time.Minute})
	if werr := res.Report(err).WriteTable(os.Stdout); werr != nil {
		log.Fatal(werr)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// The same shape in memory, with output: a release whose second stage fails is rolled back
// in full, and the journal holds nothing unfinished.
func ExampleNewMemory() {
	w := deploytest.NewMemory("v1", "workers", "web")
	w.StartTime = 10 * time.Millisecond // each service starts an image this fast
	st := store.NewMemory()
	rel := deploy.Release{Images: map[string]string{"": "v2"}}
	stages := []deploy.Stage{
		{Name: "workers", Targets: []deploy.Target{w.Target("workers")}},
		{Name: "web", Targets: []deploy.Target{crashing{w.Target("web")}}},
	}
	res, err := deploy.RunStages(context.Background(), rel, stages, &deploy.Options{
		Lock: &deploy.LockOptions{Locker: st}, Journal: st, ReleaseID: "r-1"})
	left, _ := st.Unfinished(context.Background())
	fmt.Println(res.Outcome(), "-", err != nil, "- workers run", w.Image("workers"), "- unfinished:", len(left))
	// Output: rolled back - true - workers run v1 - unfinished: 0
}

// crashing gives its target an image that starts and then crashes.
type crashing struct{ *deploytest.MemoryTarget }

func (c crashing) Plan(ctx context.Context, r deploy.Release) (deploy.Plan, error) {
	return c.MemoryTarget.Plan(ctx, deploy.Release{Images: map[string]string{"": "v2-crash"}})
}
