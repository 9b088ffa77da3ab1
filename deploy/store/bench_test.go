package store_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/deploytest"
	"github.com/stevedore-dev/stevedore/deploy/store"
	"github.com/stevedore-dev/stevedore/internal/mototest"
)

// counting counts the requests a client sends.
type counting struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// BenchmarkReleaseWithLockAndJournal runs a release of three in-memory services in two
// stages (each service takes 1 ms to start), a new image each iteration, with no lock or
// journal, and with both in memory, in a local directory, and in S3 and DynamoDB (moto on
// loopback): what they add per release, in time and in store calls.
func BenchmarkReleaseWithLockAndJournal(b *testing.B) {
	cfg := mototest.Config(b)
	name := fmt.Sprintf("bench%d", time.Now().UnixNano()%1e9)
	cnt := &counting{next: http.DefaultTransport}
	cfg.HTTPClient = &http.Client{Transport: cnt}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	ddb := dynamodb.NewFromConfig(cfg)
	if _, err := s3c.CreateBucket(b.Context(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		b.Fatal(err)
	}
	createTable(b, ddb, name)
	for _, bc := range []struct {
		name  string
		store func() any
	}{
		{"none", func() any { return nil }},
		{"memory", func() any { return store.NewMemory() }},
		{"file-journal", func() any { return store.NewFile(b.TempDir()) }},
		{"s3", func() any { return store.NewS3(s3c, name, "bench/") }},
		{"dynamodb", func() any { return store.NewDynamoDB(ddb, name, "id") }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := deploytest.NewMemory("v0", "workers", "web", "api")
			w.StartTime = time.Millisecond
			st := bc.store()
			opts := &deploy.Options{}
			if l, ok := st.(deploy.Locker); ok {
				opts.Lock = &deploy.LockOptions{Locker: l}
			}
			if j, ok := st.(deploy.Journal); ok {
				opts.Journal = j
			}
			stages := []deploy.Stage{
				{Name: "workers", Targets: []deploy.Target{w.Target("workers")}},
				{Name: "frontends", Targets: []deploy.Target{w.Target("web"), w.Target("api")}},
			}
			before := cnt.n.Load()
			i := 0
			for b.Loop() {
				i++
				rel := deploy.Release{Images: map[string]string{"": fmt.Sprintf("v%d", i)}}
				if _, err := deploy.RunStages(b.Context(), rel, stages, opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cnt.n.Load()-before)/float64(b.N), "store-calls/op")
		})
	}
}

func createTable(b *testing.B, ddb *dynamodb.Client, name string) {
	b.Helper()
	if err := createTableErr(b, ddb, name); err != nil {
		b.Fatal(err)
	}
}
