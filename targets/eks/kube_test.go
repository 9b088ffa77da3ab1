package eks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/kubetest"
)

// The tests below run against the real control plane kubetest gives (etcd, kube-apiserver,
// controllers, scheduler, and kwok nodes whose pods become ready unless their image is
// tagged :broken). Each test works in a namespace of its own.

const registry = "registry.example.com/"

type kube struct {
	t  testing.TB
	c  *Client
	ns string
}

func connect(t testing.TB, tokens TokenSource, wrap func(http.RoundTripper) http.RoundTripper) *Client {
	t.Helper()
	k := kubetest.Get(t)
	if tokens == nil {
		tokens = StaticToken(k.Token)
	}
	c, err := NewClient(ClientConfig{Endpoint: k.Endpoint, CAData: k.CA, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		c.http.Transport = wrap(c.http.Transport)
	}
	return c
}

var nsSeq atomic.Int64

func newKube(t *testing.T) *kube { return newKubeB(t) }

func newKubeB(t testing.TB) *kube {
	c := connect(t, nil, nil)
	ns := fmt.Sprintf("t%d-%d", time.Now().UnixNano()%1e8, nsSeq.Add(1))
	k := &kube{t: t, c: c, ns: ns}
	k.create("/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+ns+`"}}`)
	t.Cleanup(func() { _, _ = c.do(context.Background(), "DELETE", "/api/v1/namespaces/"+ns, "", nil) })
	return k
}

func (k *kube) create(path, body string) {
	k.t.Helper()
	if _, err := k.c.do(context.Background(), "POST", path, "application/json", []byte(body)); err != nil {
		k.t.Fatalf("create %s: %v", path, err)
	}
}

func workload(kind Kind, name, image string, replicas int) string {
	spec := fmt.Sprintf(`"selector":{"matchLabels":{"app":%q}},"template":{"metadata":{"labels":{"app":%q}},"spec":{"containers":[{"name":"app","image":%q}]}}`, name, name, image)
	switch kind {
	case Deployment:
		spec = fmt.Sprintf(`"replicas":%d,"strategy":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":0}},`, replicas) + spec
	case StatefulSet:
		spec = fmt.Sprintf(`"replicas":%d,"serviceName":%q,"podManagementPolicy":"Parallel",`, replicas, name) + spec
	}
	return fmt.Sprintf(`{"apiVersion":"apps/v1","kind":%q,"metadata":{"name":%q},"spec":{%s}}`, kind, name, spec)
}

// deployWorkload creates a workload and waits until it is rolled out.
func (k *kube) deployWorkload(kind Kind, name, image string, replicas int) *Target {
	k.t.Helper()
	k.create("/apis/apps/v1/namespaces/"+k.ns+"/"+kind.resource(), workload(kind, name, image, replicas))
	tg := New(k.c, kind, k.ns, name, &Options{PollInterval: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := tg.wait(ctx, nil, deploy.PhaseWait, pin{}); err != nil {
		k.t.Fatalf("the new %s never rolled out: %v", kind, err)
	}
	return tg
}

func (k *kube) get(tg *Target) gjson.Result {
	k.t.Helper()
	raw, err := k.c.get(context.Background(), tg.path)
	if err != nil {
		k.t.Fatal(err)
	}
	return gjson.ParseBytes(raw)
}

type events struct {
	mu  sync.Mutex
	all []deploy.Event
}

func (e *events) add(ev deploy.Event) { e.mu.Lock(); e.all = append(e.all, ev); e.mu.Unlock() }
func (e *events) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var b strings.Builder
	for _, ev := range e.all {
		fmt.Fprintf(&b, "%s %s %+v\n", ev.Phase, ev.Message, ev.Counts)
	}
	return b.String()
}

func run(tg *Target, image string, ev *events) (*deploy.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return deploy.Run(ctx, deploy.Release{Version: "v2", Images: map[string]string{"app": image}}, []deploy.Target{tg},
		&deploy.Options{OnEvent: ev.add, RollbackTimeout: time.Minute})
}

func TestRolloutEachKind(t *testing.T) {
	for _, kind := range []Kind{Deployment, StatefulSet, DaemonSet} {
		t.Run(string(kind), func(t *testing.T) {
			k := newKube(t)
			tg := k.deployWorkload(kind, "web", registry+"web:v1", 2)
			var ev events
			res, err := run(tg, registry+"web:v2", &ev)
			if err != nil {
				t.Fatalf("%v\n%s", err, ev.String())
			}
			obj := k.get(tg)
			if img := obj.Get("spec.template.spec.containers.0.image").String(); img != registry+"web:v2" {
				t.Errorf("image after the rollout: %s", img)
			}
			if cause := obj.Get("metadata.annotations." + escape(ChangeCause)).String(); cause != "stevedore v2: set image app="+registry+"web:v2" {
				t.Errorf("change-cause = %q", cause)
			}
			if _, done, err := Status(kind, obj); !done || err != nil {
				t.Errorf("kubectl's rules say not done: %v", err)
			}
			if d := res.Targets[0].Plan.Diff(); !strings.Contains(d, "web:v1") || !strings.Contains(d, "web:v2") {
				t.Errorf("the plan's diff does not show the image change:\n%s", d)
			}
			if !strings.Contains(ev.String(), "wait") {
				t.Errorf("no progress events:\n%s", ev.String())
			}
		})
	}
}

func TestBadImageFailsFastAndUndoes(t *testing.T) {
	for _, kind := range []Kind{Deployment, StatefulSet, DaemonSet} {
		t.Run(string(kind), func(t *testing.T) {
			k := newKube(t)
			tg := k.deployWorkload(kind, "api", registry+"api:v1", 2)
			before := k.get(tg).Get("spec.template").Raw
			podsBefore, err := tg.newPodLabel(context.Background(), k.get(tg))
			if err != nil {
				t.Fatal(err)
			}
			var ev events
			start := time.Now()
			_, err = run(tg, registry+"api:broken", &ev)
			if !errors.Is(err, deploy.ErrFailed) || !errors.Is(err, deploy.ErrRolledBack) {
				t.Fatalf("err = %v\n%s", err, ev.String())
			}
			if !strings.Contains(err.Error(), "container app: ImagePullBackOff") || !strings.Contains(err.Error(), "pod api-") {
				t.Errorf("the error does not name the pod, container and reason: %v", err)
			}
			if took := time.Since(start); took > time.Minute {
				t.Errorf("failing took %v; fail-fast should not wait for the progress deadline", took)
			}
			after := k.get(tg)
			if !jsonEqual(before, after.Get("spec.template").Raw) {
				t.Errorf("the template after undo differs from the one before:\n%s\n%s", before, after.Get("spec.template").Raw)
			}
			if _, done, err := Status(kind, after); !done || err != nil {
				t.Errorf("not rolled out after the undo: %v", err)
			}
			// The old revision runs again: for a Deployment kubectl's undo scales the old
			// ReplicaSet back up, so its pod-template-hash is the current one.
			if podsAfter, err := tg.newPodLabel(context.Background(), after); err != nil || podsAfter != podsBefore {
				t.Errorf("pods before the rollout: %s; after the undo: %s (%v)", podsBefore, podsAfter, err)
			}
			if kind == Deployment {
				if rev := after.Get(`metadata.annotations.deployment\.kubernetes\.io/revision`).String(); rev != "3" {
					t.Errorf("revision after undo = %s, want 3 (the old ReplicaSet's, renumbered)", rev)
				}
			}
		})
	}
}

// rotatingTokens hands out the control plane's spare tokens (<token>r1 .. r9, which
// controlplane.sh accepts) one after another, each as if it expired after life.
type rotatingTokens struct {
	token string
	life  time.Duration
	n     atomic.Int64
}

func (c *rotatingTokens) Token(context.Context) (string, time.Time, error) {
	n := c.n.Add(1)
	return fmt.Sprintf("%sr%d", c.token, (n-1)%9+1), time.Now().Add(c.life), nil
}

func TestTokenRefresh(t *testing.T) {
	k := newKube(t)
	k.deployWorkload(Deployment, "web", registry+"web:v1", 6)
	// Each token is refreshed 20 ms after it is made: a rollout of six pods one at a time
	// outlives many of them.
	src := &rotatingTokens{token: kubetest.Get(t).Token, life: refreshBefore + 20*time.Millisecond}
	c := connect(t, src, nil)
	tg := New(c, Deployment, k.ns, "web", &Options{PollInterval: 50 * time.Millisecond, NoWatch: true})
	var ev events
	if _, err := run(tg, registry+"web:v2", &ev); err != nil {
		t.Fatalf("%v\n%s", err, ev.String())
	}
	if n := src.n.Load(); n < 3 {
		t.Errorf("%d tokens were made during a rollout that outlived several", n)
	}
	// A token the server does not know is refused: the rotation above was really used.
	if _, err := connect(t, StaticToken(kubetest.Get(t).Token+"r10"), nil).get(context.Background(), tg.path); !isStatus(err, 401) {
		t.Errorf("an unknown token: %v", err)
	}
}

func isStatus(err error, code int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == code
}

func TestConflictIsRetried(t *testing.T) {
	k := newKube(t)
	k.deployWorkload(Deployment, "web", registry+"web:v1", 1)
	other := k.c
	var puts atomic.Int64
	c := connect(t, nil, func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPut && puts.Add(1) == 1 {
				// Someone else changes the deployment between our read and our write.
				patch := `[{"op":"add","path":"/metadata/labels","value":{"team":"payments"}}]`
				if _, err := other.patch(r.Context(), "/apis/apps/v1/namespaces/"+k.ns+"/deployments/web", []byte(patch)); err != nil {
					return nil, err
				}
			}
			return rt.RoundTrip(r)
		})
	})
	tg := New(c, Deployment, k.ns, "web", &Options{PollInterval: 200 * time.Millisecond})
	var ev events
	if _, err := run(tg, registry+"web:v2", &ev); err != nil {
		t.Fatalf("%v\n%s", err, ev.String())
	}
	obj := k.get(tg)
	if puts.Load() != 2 || obj.Get("metadata.labels.team").String() != "payments" || obj.Get("spec.template.spec.containers.0.image").String() != registry+"web:v2" {
		t.Errorf("%d PUTs; labels %s; image %s", puts.Load(), obj.Get("metadata.labels").Raw, obj.Get("spec.template.spec.containers.0.image"))
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestNotFoundAndForbidden(t *testing.T) {
	k := newKube(t)
	_, err := New(k.c, Deployment, k.ns, "ghost", nil).Plan(context.Background(), deploy.Release{Images: map[string]string{"app": "x:1"}})
	if !errors.Is(err, deploy.ErrNotFound) || !strings.Contains(err.Error(), `no deployment "ghost" in namespace "`+k.ns+`"`) {
		t.Errorf("a missing deployment: %v", err)
	}
	k.create("/apis/apps/v1/namespaces/"+k.ns+"/statefulsets", strings.Replace(workload(StatefulSet, "db", registry+"db:v1", 1), `"replicas":1,`, `"replicas":1,"updateStrategy":{"type":"OnDelete"},`, 1))
	_, err = New(k.c, StatefulSet, k.ns, "db", nil).Plan(context.Background(), deploy.Release{Images: map[string]string{"app": "db:v2"}})
	if !errors.Is(err, deploy.ErrInvalid) || !strings.Contains(err.Error(), "OnDelete") {
		t.Errorf("an OnDelete statefulset: %v", err)
	}
	bad := connect(t, StaticToken("not-a-token"), nil)
	_, err = New(bad, Deployment, k.ns, "ghost", nil).Plan(context.Background(), deploy.Release{Images: map[string]string{"app": "x:1"}})
	if !errors.Is(err, deploy.ErrAccessDenied) {
		t.Errorf("a bad token: %v", err)
	}
}

// When watching is refused, the target polls instead and still finishes.
func TestWatchFallsBackToPolling(t *testing.T) {
	k := newKube(t)
	k.deployWorkload(Deployment, "web", registry+"web:v1", 2)
	var watches, gets atomic.Int64
	c := connect(t, nil, func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Query().Get("watch") == "1" {
				watches.Add(1)
				return &http.Response{StatusCode: http.StatusForbidden, Header: http.Header{}, Request: r,
					Body: io.NopCloser(strings.NewReader(`{"kind":"Status","reason":"Forbidden","message":"watch is not allowed"}`))}, nil
			}
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/deployments/web") {
				gets.Add(1)
			}
			return rt.RoundTrip(r)
		})
	})
	tg := New(c, Deployment, k.ns, "web", &Options{PollInterval: 100 * time.Millisecond})
	var ev events
	if _, err := run(tg, registry+"web:v2", &ev); err != nil {
		t.Fatalf("%v\n%s", err, ev.String())
	}
	if watches.Load() != 1 || gets.Load() < 3 {
		t.Errorf("%d watches, %d polls; want one refused watch, then polling", watches.Load(), gets.Load())
	}
}

// A namespace a test deletes takes its workloads and pods with it, so that one control plane
// serves a whole CI run (benchmarks of 50 replicas included) without its nodes filling up.
func TestDeletedNamespaceTakesItsPods(t *testing.T) {
	k := newKube(t)
	k.deployWorkload(Deployment, "web", registry+"web:v1", 3)
	ctx := context.Background()
	if _, err := k.c.do(ctx, "DELETE", "/api/v1/namespaces/"+k.ns, "", nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := k.c.get(ctx, "/api/v1/namespaces/"+k.ns)
		if isNotFound(err) {
			break
		}
		pods, _ := k.c.get(ctx, "/api/v1/namespaces/"+k.ns+"/pods")
		if time.Now().After(deadline) {
			t.Fatalf("the deleted namespace %s is still there a minute later (err %v); its pods: %d", k.ns, err, len(gjson.GetBytes(pods, "items").Array()))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
