package eks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/kubetest"
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
	benchRolloutWith(b, body, func(k *kube) func(image string) (requests, received int64) {
		tg := New(k.c, Deployment, k.ns, "web", &opts)
		if err := tg.wait(context.Background(), nil, deploy.PhaseWait, pin{}); err != nil {
			b.Fatal(err)
		}
		return func(image string) (int64, int64) {
			before, beforeBytes := k.c.Requests(), k.c.Received()
			if _, err := deploy.Run(context.Background(), deploy.Release{Images: map[string]string{"app": image}}, []deploy.Target{tg}, nil); err != nil {
				b.Fatal(err)
			}
			return k.c.Requests() - before, k.c.Received() - beforeBytes
		}
	})
}

// benchRolloutWith creates the Deployment body and, each iteration, rolls a new image out
// with the function setup returns, reporting how long after the Deployment became available
// (as an independent watch saw it) the rollout returned, and the requests and KiB it read.
func benchRolloutWith(b *testing.B, body string, setup func(k *kube) func(image string) (requests, received int64)) {
	k := newKubeB(b)
	k.create("/apis/apps/v1/namespaces/"+k.ns+"/deployments", body)
	rollout := setup(k)
	ctx := context.Background()
	var lag time.Duration
	var requests, received int64
	n := 0
	for i := 0; b.Loop(); i++ {
		image := fmt.Sprintf("%sweb:v%d", registry, i+1)
		available := make(chan time.Time, 1)
		wctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { watchAvailable(wctx, k.c, k.ns, image, available) })
		req, got := rollout(image)
		returned := time.Now()
		requests += req
		received += got
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

// benchKubectl rolls each image out the way a script does: `kubectl set image`, then
// `kubectl rollout status`, through a proxy that counts the requests and the bytes of the
// answers. kubectl's discovery cache is warmed first, as on a machine that has used it.
func benchKubectl(b *testing.B, body string) {
	kc := kubetest.Get(b)
	if kc.Kubectl == "" {
		b.Skip("no kubectl: the control plane was given by STEVEDORE_KUBE_* without STEVEDORE_KUBECTL")
	}
	benchRolloutWith(b, body, func(k *kube) func(string) (int64, int64) {
		target, err := url.Parse(kc.Endpoint)
		if err != nil {
			b.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(kc.CA)
		var requests, received atomic.Int64
		proxy := &httputil.ReverseProxy{
			Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
			Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
			FlushInterval: -1, // watches stream
		}
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			proxy.ServeHTTP(countingWriter{w, &received}, r)
		}))
		b.Cleanup(srv.Close)
		dir := b.TempDir()
		config := filepath.Join(dir, "kubeconfig")
		yaml := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: %s\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: %s\n"+
			"contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n    namespace: %s\ncurrent-context: x\n", srv.URL, kc.Token, k.ns)
		if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
			b.Fatal(err)
		}
		kubectl := func(args ...string) {
			cmd := exec.Command(kc.Kubectl, append([]string{"--kubeconfig", config, "--cache-dir", filepath.Join(dir, "cache")}, args...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		kubectl("rollout", "status", "deployment/web", "--timeout", "60s") // warms the discovery cache
		return func(image string) (int64, int64) {
			r0, b0 := requests.Load(), received.Load()
			kubectl("set", "image", "deployment/web", "app="+image)
			kubectl("rollout", "status", "deployment/web", "--timeout", "60s")
			return requests.Load() - r0, received.Load() - b0
		}
	})
}

// countingWriter adds the bytes written to n.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	return w.ResponseWriter.Write(p)
}

func (w countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
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

// kubectl set image and kubectl rollout status, side by side with BenchmarkRolloutWatch.
func BenchmarkRolloutKubectl(b *testing.B) {
	benchKubectl(b, workload(Deployment, "web", registry+"web:v0", 2))
}

// The same 50-replica rollout with kubectl, side by side with BenchmarkRollout50Watch.
func BenchmarkRollout50Kubectl(b *testing.B) { benchKubectl(b, fifty()) }

func BenchmarkRollout50Watch(b *testing.B) {
	benchRolloutOf(b, Options{PollInterval: time.Second}, fifty())
}

func BenchmarkRollout50Poll(b *testing.B) {
	benchRolloutOf(b, Options{PollInterval: time.Second, NoWatch: true}, fifty())
}
