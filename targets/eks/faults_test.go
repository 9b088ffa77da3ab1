package eks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/store"
)

// faultLog records the requests a faulty transport saw, in order.
type faultLog struct {
	mu  sync.Mutex
	all []string
	at  []time.Time
}

func (l *faultLog) add(s string) {
	l.mu.Lock()
	l.all, l.at = append(l.all, s), append(l.at, time.Now())
	l.mu.Unlock()
}

// after returns how long after the entry s the next request came.
func (l *faultLog) after(s string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, e := range l.all {
		if e == s && i+1 < len(l.all) {
			return l.at[i+1].Sub(l.at[i])
		}
	}
	return 0
}
func (l *faultLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.all...)
}

func answer(r *http.Request, code int, header http.Header, body string) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{StatusCode: code, Header: header, Request: r, Body: io.NopCloser(strings.NewReader(body))}
}

var errReset = &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}

// What is transient does not roll a rollout back: a 503 answering the write, a 429 with
// Retry-After and a reset connection on reads, an answer lost after the write landed. The
// write after a lost answer comes only after a fresh read, and writes nothing when the
// change is already there.
func TestTransientFailuresAreRetried(t *testing.T) {
	k := newKube(t)
	k.deployWorkload(Deployment, "web", registry+"web:v1", 2)
	var log faultLog
	var mu sync.Mutex
	puts, gets := 0, 0
	c := connect(t, nil, func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Query().Get("watch") != "" {
				return rt.RoundTrip(r)
			}
			mu.Lock()
			if r.Method == http.MethodPut {
				puts++
			} else if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/deployments/web") {
				gets++
			}
			p, g := puts, gets
			mu.Unlock()
			switch {
			case r.Method == http.MethodPut && p == 1:
				log.add("PUT 503")
				return answer(r, 503, nil, `{"kind":"Status","reason":"ServiceUnavailable","message":"etcd leader changed"}`), nil
			case r.Method == http.MethodPut && p == 2:
				// The write lands, and its answer is lost on the way back.
				resp, err := rt.RoundTrip(r)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				log.add("PUT landed, answer lost")
				return nil, io.ErrUnexpectedEOF
			case r.Method == http.MethodGet && g == 3:
				log.add("GET 429")
				return answer(r, 429, http.Header{"Retry-After": {"1"}}, `{"kind":"Status","reason":"TooManyRequests"}`), nil
			case r.Method == http.MethodGet && g == 4:
				log.add("GET reset")
				return nil, errReset
			}
			log.add(r.Method)
			return rt.RoundTrip(r)
		})
	})
	tg := New(c, Deployment, k.ns, "web", &Options{PollInterval: 100 * time.Millisecond})
	var ev events
	if _, err := run(tg, registry+"web:v2", &ev); err != nil {
		t.Fatalf("%v\n%s\n%q", err, ev.String(), log.list())
	}
	if img := k.get(tg).Get("spec.template.spec.containers.0.image").String(); img != registry+"web:v2" {
		t.Errorf("image %s", img)
	}
	got := log.list()
	lost := -1
	for i, s := range got {
		if s == "PUT landed, answer lost" {
			lost = i
		}
	}
	if lost < 0 || lost+1 >= len(got) || !strings.HasPrefix(got[lost+1], "GET") {
		t.Errorf("after the lost answer the workload was not read again first: %q", got)
	}
	if puts != 2 {
		t.Errorf("%d PUTs, want 2: the landed write was written again", puts)
	}
	if gap := log.after("GET 429"); gap < 900*time.Millisecond {
		t.Errorf("the next request came %v after the 429: its Retry-After of 1 s was not honoured", gap)
	}
}

// A rollback keeps trying past the client's six attempts a request: its first read of the
// Deployment fails seven times over, and the Deployment still ends back on v1.
func TestRollbackOutlastsTheClientsRetries(t *testing.T) {
	k := newKube(t)
	k.deployWorkload(Deployment, "web", registry+"web:v1", 1)
	var mu sync.Mutex
	failing := 0
	c := connect(t, nil, func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			fail := failing > 0 && r.URL.Query().Get("watch") == ""
			if fail {
				failing--
			}
			mu.Unlock()
			if fail {
				return answer(r, 503, nil, `{"kind":"Status","reason":"ServiceUnavailable","message":"etcd leader changed"}`), nil
			}
			return rt.RoundTrip(r)
		})
	})
	tg := New(c, Deployment, k.ns, "web", &Options{PollInterval: 100 * time.Millisecond})
	ctx := t.Context()
	p, err := tg.Plan(ctx, deploy.Release{Images: map[string]string{"app": registry + "web:v2"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(ctx, nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	failing = maxAttempts + 1
	mu.Unlock()
	if err := p.Rollback(ctx, nil); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if img := k.get(tg).Get("spec.template.spec.containers.0.image").String(); img != registry+"web:v1" {
		t.Errorf("image %s after the rollback", img)
	}
}

// A server that keeps failing fails the rollout, classified.
func TestPersistentServerErrorsFail(t *testing.T) {
	k := newKube(t)
	k.deployWorkload(Deployment, "web", registry+"web:v1", 1)
	c := connect(t, nil, func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodGet {
				return answer(r, 503, nil, `{"kind":"Status","reason":"ServiceUnavailable"}`), nil
			}
			return rt.RoundTrip(r)
		})
	})
	_, err := New(c, Deployment, k.ns, "web", nil).Plan(context.Background(), deploy.Release{Images: map[string]string{"app": registry + "web:v2"}})
	if !errors.Is(err, deploy.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
}

// setImage is another writer: it sets the app container's image with a JSON Patch.
func setImage(ctx context.Context, c *Client, ns, image string) error {
	patch := fmt.Sprintf(`[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":%q}]`, image)
	_, err := c.patch(ctx, "/apis/apps/v1/namespaces/"+ns+"/deployments/web", []byte(patch))
	return err
}

// Two writers on one Deployment: the one overtaken fails saying so instead of reporting the
// other's rollout as its own, and does not roll back over it.
func TestAnotherWriterSupersedesTheWait(t *testing.T) {
	k := newKube(t)
	k.deployWorkload(Deployment, "web", registry+"web:v1", 2)
	other := k.c
	var once sync.Once
	c := connect(t, nil, func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(r)
			if r.Method == http.MethodPut && err == nil && resp.StatusCode == 200 {
				// Right after our write, another pipeline sets its own image.
				once.Do(func() {
					if err := setImage(r.Context(), other, k.ns, registry+"web:v3"); err != nil {
						t.Error(err)
					}
				})
			}
			return resp, err
		})
	})
	tg := New(c, Deployment, k.ns, "web", &Options{PollInterval: 100 * time.Millisecond})
	var ev events
	res, err := run(tg, registry+"web:broken", &ev)
	if !errors.Is(err, deploy.ErrSuperseded) || errors.Is(err, deploy.ErrRolledBack) {
		t.Fatalf("err = %v, want ErrSuperseded and no rollback\n%s", err, ev.String())
	}
	if !strings.Contains(err.Error(), "another writer changed the deployment's pod template") || !strings.Contains(err.Error(), "app="+registry+"web:v3") {
		t.Errorf("the error does not say what happened: %v", err)
	}
	if img := k.get(tg).Get("spec.template.spec.containers.0.image").String(); img != registry+"web:v3" {
		t.Errorf("the deployment runs %s, want the other writer's web:v3", img)
	}
	if got := res.Outcome(); got != deploy.OutcomePartial {
		t.Errorf("Outcome = %q", got)
	}
}

// The other writer comes after this deploy failed and before its rollback: the rollback
// finds a template that is neither this deploy's nor the one it replaced, and leaves it.
func TestRollbackDoesNotOverwriteANewerWriter(t *testing.T) {
	k := newKube(t)
	tg := k.deployWorkload(Deployment, "web", registry+"web:v1", 2)
	tg.opts.PollInterval = 100 * time.Millisecond
	var ev events
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	wrote := false
	res, err := deploy.Run(ctx, deploy.Release{Images: map[string]string{"app": registry + "web:broken"}}, []deploy.Target{tg}, &deploy.Options{
		RollbackTimeout: time.Minute,
		OnEvent: func(e deploy.Event) {
			ev.add(e)
			if e.Phase == deploy.PhaseFailed && !wrote {
				wrote = true
				if err := setImage(ctx, k.c, k.ns, registry+"web:v3"); err != nil {
					t.Error(err)
				}
			}
		}})
	if !errors.Is(err, deploy.ErrFailed) || !errors.Is(err, deploy.ErrSuperseded) || errors.Is(err, deploy.ErrRolledBack) {
		t.Fatalf("err = %v, want the failure, then ErrSuperseded instead of a rollback\n%s", err, ev.String())
	}
	if img := k.get(tg).Get("spec.template.spec.containers.0.image").String(); img != registry+"web:v3" {
		t.Errorf("the deployment runs %s, want the other writer's web:v3", img)
	}
	if got := res.Outcome(); got != deploy.OutcomePartial {
		t.Errorf("Outcome = %q", got)
	}
}

// A Deployment another writer is rolling out (here to an image that never pulls) reports it
// in the plan, by kubectl rollout status's rules; a release with LockFail refuses, naming it.
func TestPlanReportsARolloutInProgress(t *testing.T) {
	k := newKube(t)
	tg := k.deployWorkload(Deployment, "web", registry+"web:v1", 2)
	ctx := t.Context()
	if err := setImage(ctx, k.c, k.ns, registry+"web:broken"); err != nil {
		t.Fatal(err)
	}
	p, err := tg.Plan(ctx, deploy.Release{Images: map[string]string{"app": registry + "web:v2"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.(deploy.InFlighter).InFlight(); !strings.HasPrefix(got, "rollout in progress: ") {
		t.Errorf("InFlight() = %q", got)
	}
	_, err = deploy.Run(ctx, deploy.Release{Images: map[string]string{"app": registry + "web:v2"}}, []deploy.Target{tg},
		&deploy.Options{Lock: &deploy.LockOptions{Locker: store.NewMemory(), Policy: deploy.LockFail}})
	if !errors.Is(err, deploy.ErrLocked) || !strings.Contains(err.Error(), "is deploying already: rollout in progress") {
		t.Errorf("a release with LockFail: %v", err)
	}
	if img := k.get(tg).Get("spec.template.spec.containers.0.image").String(); img != registry+"web:broken" {
		t.Errorf("the release changed the workload: %s", img)
	}
}
