package eks

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/deploy"
)

// benchRollout rolls a two-replica Deployment back and forth on the real control plane and
// reports how long after the Deployment became available (as an independent watch saw it)
// the rollout returned, and the API requests each rollout made.
func benchRollout(b *testing.B, opts Options) {
	benchRolloutOf(b, opts, workload(Deployment, "web", registry+"web:v0", 2))
}

// benchRolloutOf is benchRollout for the Deployment body, and also reports the KiB of answers
// each rollout read.
func benchRolloutOf(b *testing.B, opts Options, body string) {
	k := newKubeB(b)
	k.create("/apis/apps/v1/namespaces/"+k.ns+"/deployments", body)
	tg := New(k.c, Deployment, k.ns, "web", &opts)
	ctx := context.Background()
	if err := tg.wait(ctx, nil, deploy.PhaseWait, pin{}); err != nil {
		b.Fatal(err)
	}
	var lag time.Duration
	var requests, received int64
	n := 0
	for i := 0; b.Loop(); i++ {
		image := fmt.Sprintf("%sweb:v%d", registry, i+1)
		available := make(chan time.Time, 1)
		wctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { watchAvailable(wctx, k.c, k.ns, image, available) })
		before, beforeBytes := k.c.Requests(), k.c.Received()
		if _, err := deploy.Run(ctx, deploy.Release{Images: map[string]string{"app": image}}, []deploy.Target{tg}, nil); err != nil {
			b.Fatal(err)
		}
		returned := time.Now()
		requests += k.c.Requests() - before
		received += k.c.Received() - beforeBytes
		select {
		case at := <-available:
			lag += returned.Sub(at)
			n++
		case <-time.After(5 * time.Second):
			b.Fatal("the independent watch never saw the deployment available")
		}
		cancel()
		wg.Wait()
	}
	b.ReportMetric(lag.Seconds()*1000/float64(max(n, 1)), "ms-after-available")
	b.ReportMetric(float64(requests)/float64(max(n, 1)), "requests/rollout")
	b.ReportMetric(float64(received)/1024/float64(max(n, 1)), "KiB/rollout")
}

// watchAvailable sends the time the deployment first runs image and is rolled out.
func watchAvailable(ctx context.Context, c *Client, ns, image string, at chan<- time.Time) {
	path := "/apis/apps/v1/namespaces/" + ns + "/deployments?watch=1&fieldSelector=metadata.name%3Dweb"
	_ = c.watch(ctx, path, func(_ string, obj gjson.Result) bool {
		if obj.Get("spec.template.spec.containers.0.image").String() != image {
			return true
		}
		if _, done, _ := Status(Deployment, obj); done {
			at <- time.Now()
			return false
		}
		return true
	})
}

func BenchmarkRolloutWatch(b *testing.B) { benchRollout(b, Options{PollInterval: time.Second}) }

func BenchmarkRolloutPoll(b *testing.B) {
	benchRollout(b, Options{PollInterval: time.Second, NoWatch: true})
}

// A 50-replica Deployment replaced a quarter at a time: what the fail-fast pod check costs
// when it is driven by watch events, and when it lists pods every second (polling).
func fifty() string {
	return strings.Replace(workload(Deployment, "web", registry+"web:v0", 50), `"maxSurge":1,"maxUnavailable":0`, `"maxSurge":"25%","maxUnavailable":"25%"`, 1)
}

func BenchmarkRollout50Watch(b *testing.B) {
	benchRolloutOf(b, Options{PollInterval: time.Second}, fifty())
}

func BenchmarkRollout50Poll(b *testing.B) {
	benchRolloutOf(b, Options{PollInterval: time.Second, NoWatch: true}, fifty())
}
