package ecs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/ecs"
	"github.com/stevedore-dev/stevedore/targets/ecs/ecstest"
)

const (
	repo     = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web"
	oldImage = repo + ":v1"
	newImage = repo + ":v2"
)

var release = deploy.Release{Version: "v2", Images: map[string]string{"": newImage}}

// env is one scripted ECS world: the fake, a real SDK client on it, and a clock log of calls.
type env struct {
	srv    *ecstest.Server
	client *awsecs.Client
	mu     sync.Mutex
	calls  []call
}

type call struct {
	op string
	at time.Time
}

func newEnv(t *testing.T, desired int, cb, rollback bool) *env {
	t.Helper()
	e := &env{srv: ecstest.New(nil)}
	// These tests judge rollouts by the service's deployments list, as in an ECS without the
	// service-deployment API (and moto); deployments_test.go covers the service deployments.
	e.srv.NoServiceDeployments = true
	e.srv.CreateCluster("prod")
	if _, err := e.srv.RegisterTaskDefinition(`{"family":"web","containerDefinitions":[{"name":"app","image":"` + oldImage + `","essential":true},{"name":"sidecar","image":"busybox:1"}],"tags":[{"key":"team","value":"payments"}]}`); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.CreateService(ecstest.ServiceSpec{Cluster: "prod", Name: "web", TaskDefinition: "web:1", DesiredCount: desired, CircuitBreaker: cb, Rollback: rollback}); err != nil {
		t.Fatal(err)
	}
	e.client = awsecs.New(awsecs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://ecs.fake"),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "fake-secret", ""),
		HTTPClient:   &http.Client{Transport: recorder{e, e.srv.HTTPClient().Transport}},
	})
	return e
}

type recorder struct {
	e    *env
	next http.RoundTripper
}

func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "AmazonEC2ContainerServiceV20141113.")
	r.e.mu.Lock()
	r.e.calls = append(r.e.calls, call{op, time.Now()})
	r.e.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (e *env) callTimes(op string) []time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ts []time.Time
	for _, c := range e.calls {
		if c.op == op {
			ts = append(ts, c.at)
		}
	}
	return ts
}

// serviceTD asks the fake, through the SDK, which revision the service runs.
func (e *env) serviceTD(t *testing.T) string {
	t.Helper()
	return e.serviceTDOf(t, "web")
}

// serviceTDOf returns the family:revision service runs (in cluster prod).
func (e *env) serviceTDOf(t *testing.T, service string) string {
	t.Helper()
	out, err := e.client.DescribeServices(context.Background(), &awsecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{service}})
	if err != nil {
		t.Fatal(err)
	}
	td := aws.ToString(out.Services[0].TaskDefinition)
	return td[strings.LastIndex(td, "/")+1:]
}

type eventLog struct {
	mu     sync.Mutex
	events []deploy.Event
}

func (l *eventLog) add(e deploy.Event) { l.mu.Lock(); l.events = append(l.events, e); l.mu.Unlock() }
func (l *eventLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, e := range l.events {
		b.WriteString(string(e.Phase) + " " + e.Message + "\n")
	}
	return b.String()
}

func run(t *testing.T, e *env, opts *ecs.Options, dopts *deploy.Options) (*deploy.Result, *eventLog, error) {
	t.Helper()
	return runCtx(t.Context(), e, opts, dopts)
}

func runCtx(ctx context.Context, e *env, opts *ecs.Options, dopts *deploy.Options) (*deploy.Result, *eventLog, error) {
	return runWithCtx(ctx, e, opts, dopts, nil)
}

// runWith is run with also calls onEvent for every event.
func runWith(t *testing.T, e *env, opts *ecs.Options, dopts *deploy.Options, onEvent func(deploy.Event)) (*deploy.Result, *eventLog, error) {
	t.Helper()
	return runWithCtx(t.Context(), e, opts, dopts, onEvent)
}

func runWithCtx(ctx context.Context, e *env, opts *ecs.Options, dopts *deploy.Options, onEvent func(deploy.Event)) (*deploy.Result, *eventLog, error) {
	log := &eventLog{}
	if dopts == nil {
		dopts = &deploy.Options{}
	}
	dopts.OnEvent = func(ev deploy.Event) {
		log.add(ev)
		if onEvent != nil {
			onEvent(ev)
		}
	}
	res, err := deploy.Run(ctx, release, []deploy.Target{ecs.New(e.client, "prod", "web", opts)}, dopts)
	return res, log, err
}

func TestRolloutSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2, true, true)
		start := time.Now()
		res, log, err := run(t, e, nil, nil)
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, log.text())
		}
		if got := e.serviceTD(t); got != "web:2" {
			t.Errorf("service runs %s, want web:2", got)
		}
		if n := e.srv.Calls("RegisterTaskDefinition"); n != 1 {
			t.Errorf("RegisterTaskDefinition called %d times, want 1", n)
		}
		desc := e.srv.Requests("DescribeTaskDefinition")[0]
		if gjson.GetBytes(desc, "include.0").Str != "TAGS" {
			t.Errorf("DescribeTaskDefinition without include=TAGS: %s", desc)
		}
		reg := e.srv.Requests("RegisterTaskDefinition")[0]
		if got := gjson.GetBytes(reg, `containerDefinitions.#(name=="app").image`).Str; got != newImage {
			t.Errorf("registered app image %q, want %q", got, newImage)
		}
		if got := gjson.GetBytes(reg, `containerDefinitions.#(name=="sidecar").image`).Str; got != "busybox:1" {
			t.Errorf("sidecar image changed to %q", got)
		}
		if got := gjson.GetBytes(reg, "tags.0.key").Str; got != "team" {
			t.Errorf("tags not carried: %s", reg)
		}
		upd := e.srv.Requests("UpdateService")[0]
		if gjson.GetBytes(upd, "desiredCount").Exists() || gjson.GetBytes(upd, "forceNewDeployment").Bool() {
			t.Errorf("UpdateService touched desired count or forced a deployment: %s", upd)
		}
		// The fake takes 3 steps of 10s; with polls at +0, 2, 5, 9.5, 16.25, 26.4, 41.5 s the
		// rollout is seen settled at the poll after 30s.
		if took := time.Since(start); took > 45*time.Second {
			t.Errorf("took %v to notice a 30s rollout", took)
		}
		text := log.text()
		for _, want := range []string{"registered web:2", "updated service to web:2", "web:2: 1/2 running", "event: (service web) has reached a steady state.", "web:2: 2/2 running, stable", "done rolled out"} {
			if !strings.Contains(text, want) {
				t.Errorf("events lack %q:\n%s", want, text)
			}
		}
		var sawCounts bool
		for _, ev := range log.events {
			sawCounts = sawCounts || (ev.Phase == deploy.PhaseWait && ev.Counts == deploy.Counts{Desired: 2, Updated: 1, Running: 2})
		}
		if !sawCounts {
			t.Errorf("no wait event with counts desired 2, updated 1, running 2: %+v", log.events)
		}
		p := res.Targets[0].Plan.(*ecs.Plan)
		if p.Registered() == "" || p.Observed() == "" || !strings.Contains(p.Diff(), `~ .containerDefinitions[0].image: "`+oldImage+`" -> "`+newImage+`"`) {
			t.Errorf("plan: registered %q observed %q diff:\n%s", p.Registered(), p.Observed(), p.Diff())
		}
	})
}

// The wait polls at once after UpdateService and then every second (DefaultPollInterval,
// give or take its 5% jitter) for as long as the rollout moves, so it sees the end within a
// second however long the rollout takes.
func TestRolloutPollingCadence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 3, true, true)
		e.srv.SetBehavior(newImage, ecstest.Behavior{StartEvery: 2 * time.Minute})
		if _, log, err := run(t, e, nil, nil); err != nil {
			t.Fatalf("Run: %v\n%s", err, log.text())
		}
		upd := e.callTimes("UpdateService")[0]
		polls := e.callTimes("DescribeServices")[1:] // the first is the plan's
		if polls[0] != upd {
			t.Errorf("first poll %v after UpdateService, want at once", polls[0].Sub(upd))
		}
		lo, hi := time.Duration(float64(ecs.DefaultPollInterval)*0.95), time.Duration(float64(ecs.DefaultPollInterval)*1.05)
		for i := 1; i < len(polls); i++ {
			if gap := polls[i].Sub(polls[i-1]); gap < lo || gap > hi {
				t.Fatalf("poll %d came %v after the one before, want %v to %v", i, gap, lo, hi)
			}
		}
		// The fake's last task starts 8 minutes after the update and the service is stable then.
		if seen := polls[len(polls)-1].Sub(upd); seen < 8*time.Minute || seen > 8*time.Minute+hi {
			t.Errorf("an 8-minute rollout was seen done %v after the update, want within %v of 8m", seen, hi)
		}
	})
}

// However many services of a cluster are waited on, the cluster makes at most one
// DescribeServices call a poll: the ten services seen longest ago.
func TestManyWaitsShareOneDescribeServicesAPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1, true, true)
		e.srv.SetBehavior(newImage, ecstest.Behavior{StartEvery: 30 * time.Second})
		cl := ecs.NewCluster(e.client, "prod", nil)
		var targets []deploy.Target
		for i := range 25 {
			name := fmt.Sprintf("svc%02d", i)
			if err := e.srv.CreateService(ecstest.ServiceSpec{Cluster: "prod", Name: name, TaskDefinition: "web:1", DesiredCount: 2}); err != nil {
				t.Fatal(err)
			}
			targets = append(targets, cl.Service(name))
		}
		if _, err := deploy.Run(t.Context(), release, targets, &deploy.Options{Concurrency: 25}); err != nil {
			t.Fatal(err)
		}
		times := e.callTimes("DescribeServices")[25:] // after the plans
		for i := 1; i < len(times); i++ {
			if gap := times[i].Sub(times[i-1]); gap < 950*time.Millisecond {
				t.Fatalf("two DescribeServices calls %v apart while waiting: more than one a second for the cluster", gap)
			}
		}
		for _, r := range e.srv.Requests("DescribeServices")[25:] {
			if n := len(gjson.GetBytes(r, "services").Array()); n > 10 {
				t.Fatalf("a DescribeServices call named %d services", n)
			}
		}
	})
}

// Clusters that share a Budget share its rate: two clusters waiting at once on a budget of
// one call a second poll every two seconds each.
func TestClustersSharingABudgetSlowDownTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2, true, true)
		e.srv.CreateCluster("staging")
		if err := e.srv.CreateService(ecstest.ServiceSpec{Cluster: "staging", Name: "web", TaskDefinition: "web:1", DesiredCount: 2}); err != nil {
			t.Fatal(err)
		}
		e.srv.SetBehavior(newImage, ecstest.Behavior{StartEvery: time.Minute})
		budget := ecs.NewBudget(1)
		opts := &ecs.Options{Budget: budget}
		targets := []deploy.Target{ecs.New(e.client, "prod", "web", opts), ecs.New(e.client, "staging", "web", opts)}
		if _, err := deploy.Run(t.Context(), release, targets, nil); err != nil {
			t.Fatal(err)
		}
		times := e.callTimes("DescribeServices")[2:] // after the plans
		span := times[len(times)-1].Sub(times[0])
		if rate := float64(len(times)-1) / span.Seconds(); rate > 1.05 {
			t.Errorf("%d DescribeServices calls in %v: %.2f a second, over the shared budget of 1", len(times), span, rate)
		}
		if span < 2*time.Minute {
			t.Errorf("the waits ended %v after they began, before the 2-minute rollouts did", span)
		}
	})
}

func TestCircuitBreakerFailedThenRolledBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2, true, false)
		e.srv.SetBehavior(newImage, ecstest.Behavior{Fail: true, StoppedReason: "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
			ContainerReason: "CannotPullContainerError: ref not found"})
		res, log, err := run(t, e, &ecs.Options{DeregisterOnRollback: true}, nil)
		for _, w := range []error{deploy.ErrFailed, deploy.ErrRolledBack} {
			if !errors.Is(err, w) {
				t.Errorf("errors.Is(err, %v) = false: %v", w, err)
			}
		}
		msg := err.Error()
		for _, want := range []string{"ecs:prod/web", "the deployment failed: ECS deployment circuit breaker", "CannotPullContainerError: ref not found", "deployment failed: tasks failed to start"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error lacks %q: %s", want, msg)
			}
		}
		if got := e.serviceTD(t); got != "web:1" {
			t.Errorf("after rollback the service runs %s, want web:1\n%s", got, log.text())
		}
		if !res.Targets[0].RolledBack {
			t.Error("not marked rolled back")
		}
		if n := e.srv.Calls("DeregisterTaskDefinition"); n != 1 {
			t.Errorf("DeregisterTaskDefinition called %d times, want 1 (the failed web:2)", n)
		}
		if got := gjson.GetBytes(e.srv.Requests("DeregisterTaskDefinition")[0], "taskDefinition").Str; !strings.HasSuffix(got, "web:2") {
			t.Errorf("deregistered %s, want web:2", got)
		}
	})
}

func TestECSRollsBackByItself(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 4, true, true)
		one := 1
		e.srv.SetBehavior(newImage, ecstest.Behavior{Fail: true, StoppedReason: "Essential container in task exited", ExitCode: &one})
		_, log, err := run(t, e, nil, nil)
		if !errors.Is(err, deploy.ErrFailed) || !errors.Is(err, deploy.ErrRolledBack) {
			t.Fatalf("err = %v, want ErrFailed and ErrRolledBack\n%s", err, log.text())
		}
		for _, want := range []string{"ECS rolled the service back to web:1 by itself", "container app: exit code 1", "Essential container in task exited"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q: %s", want, err)
			}
		}
		if got := e.serviceTD(t); got != "web:1" {
			t.Errorf("service runs %s, want web:1", got)
		}
	})
}

func TestTasksFailingWithoutCircuitBreakerTimeOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2, false, false)
		one := 1
		e.srv.SetBehavior(newImage, ecstest.Behavior{Fail: true, ExitCode: &one})
		start := time.Now()
		_, log, err := run(t, e, nil, &deploy.Options{Timeout: 5 * time.Minute})
		if !errors.Is(err, deploy.ErrTimeout) || !errors.Is(err, deploy.ErrRolledBack) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want ErrTimeout, ErrRolledBack, DeadlineExceeded\n%s", err, log.text())
		}
		if !strings.Contains(err.Error(), "still waiting: web:2: 0/2 running") || !strings.Contains(err.Error(), "failed tasks") {
			t.Errorf("timeout error does not say where it stood: %v", err)
		}
		if got := e.serviceTD(t); got != "web:1" {
			t.Errorf("service runs %s, want web:1", got)
		}
		if took := time.Since(start); took < 5*time.Minute {
			t.Errorf("gave up after %v", took)
		}
	})
}

func TestThrottlingBurstAndServerErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2, true, true)
		e.srv.Inject("RegisterTaskDefinition", ecstest.Fault{Code: "ThrottlingException", Message: "Rate exceeded", Times: 2})
		e.srv.Inject("UpdateService", ecstest.Fault{Code: "ServerException", Status: 500, Times: 2})
		// Five throttled DescribeServices: the SDK's three attempts absorb some, the wait loop
		// the rest.
		e.srv.Inject("DescribeServices", ecstest.Fault{Code: "ThrottlingException", Message: "Rate exceeded", Times: 1})
		e.srv.Inject("DescribeServices", ecstest.Fault{Code: "ServerException", Status: 503, Times: 1}) // during plan: retried by the SDK
		synctest.Wait()
		go func() {
			// Once the service is updated, a burst of throttling hits the wait.
			for e.srv.Calls("UpdateService") < 3 {
				time.Sleep(100 * time.Millisecond)
			}
			e.srv.Inject("DescribeServices", ecstest.Fault{Code: "ThrottlingException", Message: "Rate exceeded", Times: 5})
		}()
		_, log, err := run(t, e, nil, nil)
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, log.text())
		}
		if got := e.serviceTD(t); got != "web:2" {
			t.Errorf("service runs %s, want web:2 (one revision registered despite retries)", got)
		}
		if n := e.srv.Calls("RegisterTaskDefinition"); n != 3 {
			t.Errorf("RegisterTaskDefinition attempts = %d, want 3 (2 throttled + 1)", n)
		}
	})
}

// Connections reset under the polls are transient like throttling: one poll whose three SDK
// attempts are all reset does not roll a healthy deploy back.
func TestConnectionResetsDuringWaitAreTransient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2, true, true)
		go func() {
			for e.srv.Calls("UpdateService") < 1 {
				time.Sleep(100 * time.Millisecond)
			}
			e.srv.Inject("DescribeServices", ecstest.Fault{Reset: true, Times: 7})
		}()
		_, log, err := run(t, e, nil, nil)
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, log.text())
		}
		if got := e.serviceTD(t); got != "web:2" {
			t.Errorf("service runs %s, want web:2", got)
		}
	})
}

func TestPersistentThrottlingGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2, true, true)
		res, _, err := run(t, e, &ecs.Options{NoWait: true}, &deploy.Options{DryRun: true})
		_ = res
		if err != nil {
			t.Fatal(err)
		}
		tgt := ecs.New(e.client, "prod", "web", nil)
		p, err := tgt.Plan(t.Context(), release)
		if err != nil {
			t.Fatal(err)
		}
		e.srv.Inject("DescribeServices", ecstest.Fault{Code: "ThrottlingException", Message: "Rate exceeded", Times: -1})
		err = p.Apply(t.Context(), nil)
		if !errors.Is(err, deploy.ErrThrottled) {
			t.Fatalf("err = %v, want ErrThrottled", err)
		}
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ThrottlingException" {
			t.Errorf("errors.As did not reach the SDK error: %v", err)
		}
	})
}

func TestCancelMidWaitRollsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 3, true, true)
		e.srv.SetBehavior(newImage, ecstest.Behavior{StartEvery: time.Minute})
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(90*time.Second, cancel)
		res, log, err := runCtx(ctx, e, nil, nil)
		if !errors.Is(err, deploy.ErrCanceled) || !errors.Is(err, deploy.ErrRolledBack) {
			t.Fatalf("err = %v, want ErrCanceled and ErrRolledBack\n%s", err, log.text())
		}
		if got := e.serviceTD(t); got != "web:1" {
			t.Errorf("service runs %s, want web:1", got)
		}
		upd := e.srv.Requests("UpdateService")
		if len(upd) != 2 || !strings.HasSuffix(gjson.GetBytes(upd[1], "taskDefinition").Str, "web:1") {
			t.Errorf("rollback UpdateService calls: %s", upd)
		}
		if !res.Targets[0].RolledBack || !strings.Contains(log.text(), "rollback web:1: 3/3 running, stable") {
			t.Errorf("rollback did not wait until stable:\n%s", log.text())
		}
	})
}

func TestPlanErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1, false, false)
		e.srv.CreateCluster("blue")
		_, _ = e.srv.RegisterTaskDefinition(`{"family":"cd","containerDefinitions":[{"name":"a","image":"x:1"}]}`)
		if err := e.srv.CreateService(ecstest.ServiceSpec{Cluster: "blue", Name: "cd", TaskDefinition: "cd", DesiredCount: 1, Controller: "CODE_DEPLOY"}); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			cluster, service string
			opts             *ecs.Options
			kind             error
			want             string
		}{
			{"prod", "nope", nil, deploy.ErrNotFound, `service "nope" is MISSING from cluster "prod"`},
			{"nope", "web", nil, deploy.ErrNotFound, "ClusterNotFoundException"},
			{"blue", "cd", nil, deploy.ErrInvalid, "CODE_DEPLOY deployment controller"},
			{"prod", "web", &ecs.Options{TaskDefinition: "web:9"}, deploy.ErrNotFound, "describe task definition web:9"},
			{"prod", "web", &ecs.Options{TaskDefinitionJSON: []byte(`{"family":"web","containerDefinitions":[{"name":"a","image":"x","cpu":null}]}`)}, deploy.ErrInvalid, "containerDefinitions[0].cpu is null"},
		}
		for _, tc := range tests {
			_, err := ecs.New(e.client, tc.cluster, tc.service, tc.opts).Plan(t.Context(), release)
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s/%s: err = %v, want %v containing %q", tc.cluster, tc.service, err, tc.kind, tc.want)
			}
		}
		if n := e.srv.Calls("RegisterTaskDefinition"); n != 0 {
			t.Errorf("planning registered %d task definitions", n)
		}
	})
}

func TestNoChangeAndForce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1, true, true)
		same := deploy.Release{Images: map[string]string{"app": oldImage}}
		p, err := ecs.New(e.client, "prod", "web", nil).Plan(t.Context(), same)
		if err != nil {
			t.Fatal(err)
		}
		if p.Changed() || p.Diff() != "" {
			t.Errorf("unchanged release planned a change:\n%s", p.Diff())
		}
		// The same task definition as a file with its keys in another order: still no change.
		file := []byte(`{"tags":[{"value":"payments","key":"team"}],"containerDefinitions":[{"essential":true,"image":"` + oldImage + `","name":"app"},{"image":"busybox:1","name":"sidecar"}],"family":"web"}`)
		if p, err := ecs.New(e.client, "prod", "web", &ecs.Options{TaskDefinitionJSON: file}).Plan(t.Context(), same); err != nil || p.Changed() {
			t.Errorf("reordered file: err %v, changed %v", err, p != nil && p.Changed())
		}
		if err := p.Apply(t.Context(), nil); err != nil || e.srv.Calls("RegisterTaskDefinition") != 0 || e.srv.Calls("UpdateService") != 0 {
			t.Errorf("no-op apply: err %v, %d registers, %d updates", err, e.srv.Calls("RegisterTaskDefinition"), e.srv.Calls("UpdateService"))
		}
		p, err = ecs.New(e.client, "prod", "web", &ecs.Options{ForceNewDeployment: true, DesiredCount: aws.Int32(2)}).Plan(t.Context(), same)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Changed() || !strings.Contains(p.Diff(), "ForceNewDeployment") || !strings.Contains(p.Diff(), "DesiredCount") {
			t.Errorf("forced plan diff:\n%s", p.Diff())
		}
		if err := p.Apply(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		upd := e.srv.Requests("UpdateService")[0]
		if !gjson.GetBytes(upd, "forceNewDeployment").Bool() || gjson.GetBytes(upd, "desiredCount").Int() != 2 || !strings.HasSuffix(gjson.GetBytes(upd, "taskDefinition").Str, "web:1") {
			t.Errorf("UpdateService = %s", upd)
		}
		if e.srv.Calls("RegisterTaskDefinition") != 0 {
			t.Error("a forced deployment of an unchanged task definition registered a revision")
		}
	})
}

func TestMigration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1, true, true)
		m := &ecs.Migration{Container: "app", Command: []string{"./migrate", "up"}}
		if _, log, err := run(t, e, &ecs.Options{Migration: m}, nil); err != nil {
			t.Fatalf("Run: %v\n%s", err, log.text())
		}
		rt := e.srv.Requests("RunTask")
		if len(rt) != 1 || !strings.HasSuffix(gjson.GetBytes(rt[0], "taskDefinition").Str, "web:2") ||
			gjson.GetBytes(rt[0], "overrides.containerOverrides.0.command.1").Str != "up" ||
			gjson.GetBytes(rt[0], "launchType").Str != "FARGATE" || !gjson.GetBytes(rt[0], "networkConfiguration.awsvpcConfiguration.subnets").Exists() {
			t.Errorf("RunTask = %s", rt)
		}
		if e.srv.Calls("UpdateService") != 1 {
			t.Error("service not updated after a good migration")
		}

		bad := newEnv(t, 1, true, true)
		code := 3
		bad.srv.SetBehavior(newImage, ecstest.Behavior{Fail: true, ExitCode: &code, StoppedReason: "Essential container in task exited"})
		_, _, err := run(t, bad, &ecs.Options{Migration: m, DeregisterOnRollback: true}, nil)
		if !errors.Is(err, deploy.ErrFailed) || !strings.Contains(err.Error(), "container app exited with code 3") {
			t.Errorf("err = %v, want the migration's exit code", err)
		}
		if n := bad.srv.Calls("UpdateService"); n != 0 {
			t.Errorf("service updated %d times after a failed migration", n)
		}
		if n := bad.srv.Calls("DeregisterTaskDefinition"); n != 1 {
			t.Errorf("failed revision deregistered %d times, want 1", n)
		}
	})
}

func TestWaitingOnManyServicesBatchesDescribeServices(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1, true, true)
		cl := ecs.NewCluster(e.client, "prod", nil)
		var targets []deploy.Target
		for i := range 12 {
			name := "svc" + string(rune('a'+i))
			if err := e.srv.CreateService(ecstest.ServiceSpec{Cluster: "prod", Name: name, TaskDefinition: "web:1", DesiredCount: 2}); err != nil {
				t.Fatal(err)
			}
			targets = append(targets, cl.Service(name))
		}
		_, err := deploy.Run(t.Context(), release, targets, &deploy.Options{Concurrency: 12})
		if err != nil {
			t.Fatal(err)
		}
		var batched, maxBatch int
		for _, r := range e.srv.Requests("DescribeServices")[12:] { // after the 12 plans
			n := len(gjson.GetBytes(r, "services").Array())
			maxBatch = max(maxBatch, n)
			if n > 1 {
				batched++
			}
		}
		if maxBatch != 10 || batched == 0 {
			t.Errorf("largest DescribeServices batch %d (batched calls %d), want 10", maxBatch, batched)
		}
		polls := len(e.srv.Requests("DescribeServices")) - 12
		if polls >= 12*5 {
			t.Errorf("%d DescribeServices calls while waiting on 12 services: not batched", polls)
		}
	})
}

func TestDryRunDiff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1, true, true)
		res, _, err := run(t, e, nil, &deploy.Options{DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		want := `ecs:prod/web task definition (- before, + after, ~ changed):
~ .containerDefinitions[0].image: "` + oldImage + `" -> "` + newImage + `"
ecs:prod/web service (- before, + after, ~ changed):
~ .TaskDefinition: "web:1" -> "web:<new revision>"
`
		if d := res.Targets[0].Plan.Diff(); d != want {
			t.Errorf("diff:\n%s\nwant:\n%s", d, want)
		}
		if e.srv.Calls("RegisterTaskDefinition")+e.srv.Calls("UpdateService") != 0 {
			t.Error("dry run changed something")
		}
		var rendered map[string]any
		if err := json.Unmarshal(res.Targets[0].Plan.(*ecs.Plan).Rendered(), &rendered); err != nil {
			t.Error(err)
		}
	})
}

func TestPlanComparesWithWhatTheServiceRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1, true, true)
		// The family's latest revision already has the new image, but the service runs web:1.
		if _, err := e.srv.RegisterTaskDefinition(`{"family":"web","containerDefinitions":[{"name":"app","image":"` + newImage + `","essential":true},{"name":"sidecar","image":"busybox:1"}],"tags":[{"key":"team","value":"payments"}]}`); err != nil {
			t.Fatal(err)
		}
		_, log, err := run(t, e, &ecs.Options{TaskDefinition: "web"}, nil)
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, log.text())
		}
		if got := e.serviceTD(t); got == "web:1" {
			t.Errorf("the service was left on web:1")
		}

		// A file in the repo is the source: the diff is against what runs.
		f := newEnv(t, 1, true, true)
		file := []byte(`{"family":"web","containerDefinitions":[{"name":"app","image":"` + oldImage + `","memory":256},{"name":"sidecar","image":"busybox:1"}]}`)
		res, log, err := run(t, f, &ecs.Options{TaskDefinitionJSON: file}, nil)
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, log.text())
		}
		if d := res.Targets[0].Plan.Diff(); !strings.Contains(d, `"memory":256`) || !strings.Contains(d, `- .tags: [{"key":"team","value":"payments"}]`) {
			t.Errorf("diff against the running revision misses the file's memory and dropped tags:\n%s", d)
		}
		reg := f.srv.Requests("RegisterTaskDefinition")[0]
		if gjson.GetBytes(reg, `containerDefinitions.0.memory`).Int() != 256 || gjson.GetBytes(reg, `containerDefinitions.0.image`).Str != newImage {
			t.Errorf("registered %s", reg)
		}
	})
}

func TestServiceGoneMidWait(t *testing.T) {
	for _, tc := range []struct {
		status string
		kind   error
		want   string
	}{
		{"DRAINING", deploy.ErrFailed, "the service is DRAINING"},
		{"INACTIVE", deploy.ErrFailed, "the service is INACTIVE"},
		{"", deploy.ErrNotFound, "the service is MISSING"},
	} {
		t.Run("status="+tc.status, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, 2, true, true)
				e.srv.SetBehavior(newImage, ecstest.Behavior{StartEvery: time.Minute})
				time.AfterFunc(30*time.Second, func() { e.srv.SetServiceStatus("prod", "web", tc.status) })
				start := time.Now()
				p, err := ecs.New(e.client, "prod", "web", nil).Plan(t.Context(), release)
				if err != nil {
					t.Fatal(err)
				}
				err = p.Apply(t.Context(), nil)
				if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want %v naming %q", err, tc.kind, tc.want)
				}
				if took := time.Since(start); took > 30*time.Second+ecs.MaxPollInterval {
					t.Errorf("noticed after %v, want within one poll interval", took)
				}
			})
		})
	}
}

// stillRunning wraps the client: once armed, DescribeServices reports an extra deployment
// on revision td, as if something had moved the service back onto it.
type stillRunning struct {
	*awsecs.Client
	mu    sync.Mutex
	armed bool
	td    string
}

func (s *stillRunning) DescribeServices(ctx context.Context, in *awsecs.DescribeServicesInput, opts ...func(*awsecs.Options)) (*awsecs.DescribeServicesOutput, error) {
	out, err := s.Client.DescribeServices(ctx, in, opts...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && s.armed && len(out.Services) > 0 {
		out.Services[0].Deployments = append(out.Services[0].Deployments, types.Deployment{Status: aws.String("ACTIVE"), TaskDefinition: aws.String(s.td)})
	}
	return out, err
}

func TestRollbackNeverDeregistersARevisionInUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2, true, false)
		e.srv.SetBehavior(newImage, ecstest.Behavior{Fail: true, StoppedReason: "Essential container in task exited"})
		api := &stillRunning{Client: e.client, td: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2"}
		target := ecs.New(api, "prod", "web", &ecs.Options{DeregisterOnRollback: true})
		_, err := deploy.Run(t.Context(), release, []deploy.Target{target}, &deploy.Options{OnEvent: func(ev deploy.Event) {
			if ev.Phase == deploy.PhaseRollback && strings.HasSuffix(ev.Message, "stable") {
				api.mu.Lock()
				api.armed = true // the rollback has settled; its last look at the service comes next
				api.mu.Unlock()
			}
		}})
		if !errors.Is(err, deploy.ErrRolledBack) {
			t.Fatalf("err = %v, want ErrRolledBack", err)
		}
		if n := e.srv.Calls("DeregisterTaskDefinition"); n != 0 {
			t.Errorf("deregistered a revision a deployment still runs (%d calls)", n)
		}
	})
}

// noDeployments hides the deployments from UpdateService's answer, so the wait does not know
// when its deployment started.
type noDeployments struct{ *awsecs.Client }

func (n noDeployments) UpdateService(ctx context.Context, in *awsecs.UpdateServiceInput, opts ...func(*awsecs.Options)) (*awsecs.UpdateServiceOutput, error) {
	out, err := n.Client.UpdateService(ctx, in, opts...)
	if err == nil {
		out.Service.Deployments = nil
	}
	return out, err
}

func TestWaitWithoutStartTimeStreamsNoHistory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2, true, true) // the service's history holds one "steady state" event
		log := &eventLog{}
		_, err := deploy.Run(t.Context(), release, []deploy.Target{ecs.New(noDeployments{e.client}, "prod", "web", nil)},
			&deploy.Options{OnEvent: log.add})
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, log.text())
		}
		if n := strings.Count(log.text(), "has reached a steady state"); n != 1 {
			t.Errorf("%d steady-state events, want only the new one:\n%s", n, log.text())
		}
		if !strings.Contains(log.text(), "has started 1 tasks") {
			t.Errorf("this rollout's events were not streamed:\n%s", log.text())
		}
	})
}
