package ekstest_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/eks"
	"github.com/stevedore-dev/stevedore/targets/eks/ekstest"
)

const webPath = "/apis/apps/v1/namespaces/shop/deployments/web"

// call makes one request of the simulator and returns the status code and the answer.
func call(t *testing.T, sim *ekstest.Server, method, path, contentType, body string) (int, gjson.Result) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, req)
	return rec.Code, gjson.Parse(rec.Body.String())
}

// setImage writes the Deployment back with its container's image changed, as the EKS target does.
func setImage(t *testing.T, sim *ekstest.Server, image string) gjson.Result {
	t.Helper()
	body, _ := sjson.Set(string(sim.Deployment("shop", "web")), "spec.template.spec.containers.0.image", image)
	code, out := call(t, sim, "PUT", webPath, "application/json", body)
	if code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, out.Raw)
	}
	return out
}

// progress is a Deployment's status as "replicas/updated/ready".
func progress(obj gjson.Result) string {
	st := obj.Get("status")
	return fmt.Sprintf("%d/%d/%d", st.Get("replicas").Int(), st.Get("updatedReplicas").Int(), st.Get("readyReplicas").Int())
}

// sets lists the Deployment's ReplicaSets as "revision image replicas", by revision.
func sets(t *testing.T, sim *ekstest.Server) []string {
	t.Helper()
	_, list := call(t, sim, "GET", "/apis/apps/v1/namespaces/shop/replicasets?labelSelector=app%3Dweb", "", "")
	var out []string
	for _, rs := range list.Get("items").Array() {
		out = append(out, fmt.Sprintf("%s %s %d", rs.Get(`metadata.annotations.deployment\.kubernetes\.io/revision`), rs.Get("spec.template.spec.containers.0.image"), rs.Get("spec.replicas").Int()))
	}
	sort.Strings(out)
	return out
}

// A rolling update with one pod of surge and none unavailable, step by step: a new pod,
// then each second an old one goes as a new one is ready and another starts.
func TestRollingUpdateSteps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := newWorld(t)
		if got := progress(gjson.ParseBytes(sim.Deployment("shop", "web"))); got != "3/3/3" {
			t.Fatalf("created: %s, want 3/3/3", got)
		}
		out := setImage(t, sim, repo+"web:v2")
		if out.Get("metadata.generation").Int() != 2 {
			t.Errorf("generation after a template change = %d, want 2", out.Get("metadata.generation").Int())
		}
		var got []string
		for range 5 {
			d := gjson.ParseBytes(sim.Deployment("shop", "web"))
			msg, done, _ := eks.Status(eks.Deployment, d)
			got = append(got, progress(d)+" "+msg)
			if done {
				break
			}
			time.Sleep(time.Second)
		}
		want := []string{
			"4/1/3 1 out of 3 new replicas have been updated",
			"4/2/3 2 out of 3 new replicas have been updated",
			"4/3/3 1 old replicas are pending termination",
			`3/3/3 deployment "web" successfully rolled out`,
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if s := sets(t, sim); strings.Join(s, ",") != "1 "+repo+"web:v1 0,2 "+repo+"web:v2 3" {
			t.Errorf("replica sets: %v", s)
		}
	})
}

// kubectl rollout undo's patch goes back to the old ReplicaSet: it becomes the newest
// revision, its pods are the ones that serve, and no third ReplicaSet appears.
func TestUndoReusesTheOldReplicaSet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := newWorld(t)
		_, list := call(t, sim, "GET", "/apis/apps/v1/namespaces/shop/replicasets?labelSelector=app%3Dweb", "", "")
		first := list.Get("items.0")
		setImage(t, sim, repo+"web:v2")
		time.Sleep(10 * time.Second)
		tpl, _ := sjson.Delete(first.Get("spec.template").Raw, "metadata.labels.pod-template-hash")
		code, out := call(t, sim, "PATCH", webPath, "application/json-patch+json", `[{"op":"replace","path":"/spec/template","value":`+tpl+`}]`)
		if code != http.StatusOK {
			t.Fatalf("PATCH: %d %s", code, out.Raw)
		}
		time.Sleep(10 * time.Second)
		d := gjson.ParseBytes(sim.Deployment("shop", "web"))
		if rev := d.Get(`metadata.annotations.deployment\.kubernetes\.io/revision`).String(); rev != "3" {
			t.Errorf("revision after undo = %s, want 3", rev)
		}
		if s := sets(t, sim); strings.Join(s, ",") != "2 "+repo+"web:v2 0,3 "+repo+"web:v1 3" {
			t.Errorf("replica sets: %v", s)
		}
		for pod := range sim.Images("shop", "web") {
			if !strings.HasPrefix(pod, first.Get("metadata.name").String()+"-") {
				t.Errorf("pod %s is not of the first ReplicaSet %s", pod, first.Get("metadata.name"))
			}
		}
	})
}

// A pod whose image is scripted to fail waits with its reason and is never ready; the
// rollout stalls, and its Deployment passes its progress deadline as the controller says.
func TestFailingImageStallsUntilTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := newWorld(t)
		setImage(t, sim, repo+"web:broken")
		time.Sleep(time.Minute)
		_, pods := call(t, sim, "GET", "/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb", "", "")
		var problems []string
		for _, p := range pods.Get("items").Array() {
			if pr := eks.PodProblem(p); pr != "" {
				problems = append(problems, pr)
			}
		}
		if len(pods.Get("items").Array()) != 4 || len(problems) != 1 || !strings.Contains(problems[0], "ImagePullBackOff: Back-off pulling image") {
			t.Errorf("pods: %d, problems %q", len(pods.Get("items").Array()), problems)
		}
		d := gjson.ParseBytes(sim.Deployment("shop", "web"))
		if _, done, err := eks.Status(eks.Deployment, d); done || err != nil || progress(d) != "4/1/3" {
			t.Errorf("after a minute: %s done=%v err=%v", progress(d), done, err)
		}
		time.Sleep(10 * time.Minute)
		if _, _, err := eks.Status(eks.Deployment, gjson.ParseBytes(sim.Deployment("shop", "web"))); err == nil || !strings.Contains(err.Error(), "exceeded its progress deadline") {
			t.Errorf("after the deadline: %v", err)
		}
	})
}

// Writes: a stale resourceVersion conflicts; a change outside the spec leaves the
// generation alone; a deleted pod is replaced; an invalid object is refused.
func TestWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := newWorld(t)
		stale := string(sim.Deployment("shop", "web"))
		body, _ := sjson.Set(stale, `metadata.annotations.note`, "hello")
		if code, out := call(t, sim, "PUT", webPath, "application/json", body); code != 200 || out.Get("metadata.generation").Int() != 1 {
			t.Errorf("annotation PUT: %d generation %d", code, out.Get("metadata.generation").Int())
		}
		if code, out := call(t, sim, "PUT", webPath, "application/json", body); code != http.StatusConflict || out.Get("reason").String() != "Conflict" {
			t.Errorf("stale PUT: %d %s", code, out.Raw)
		}
		bad, _ := sjson.Set(string(sim.Deployment("shop", "web")), "spec.template.metadata.labels.app", "other")
		if code, out := call(t, sim, "PUT", webPath, "application/json", bad); code != http.StatusUnprocessableEntity || !strings.Contains(out.Get("message").String(), "selector") {
			t.Errorf("mismatched labels: %d %s", code, out.Raw)
		}
		if code, out := call(t, sim, "PATCH", webPath, "application/merge-patch+json", `{}`); code != http.StatusUnsupportedMediaType {
			t.Errorf("merge patch: %d %s", code, out.Raw)
		}
		_, pods := call(t, sim, "GET", "/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb", "", "")
		victim := pods.Get("items.0.metadata.name").String()
		if code, _ := call(t, sim, "DELETE", "/api/v1/namespaces/shop/pods/"+victim, "", ""); code != 200 {
			t.Errorf("DELETE pod: %d", code)
		}
		if got := progress(gjson.ParseBytes(sim.Deployment("shop", "web"))); got != "2/2/2" {
			t.Errorf("after the delete: %s, want 2/2/2", got)
		}
		time.Sleep(2 * time.Second)
		if got := progress(gjson.ParseBytes(sim.Deployment("shop", "web"))); got != "3/3/3" {
			t.Errorf("two steps later: %s, want 3/3/3", got)
		}
		if put, del := sim.Calls("PUT", "deployments"), sim.Calls("DELETE", "pods"); put != 3 || del != 1 || sim.TotalCalls() != 6 {
			t.Errorf("calls: %d PUT deployments (want 3), %d DELETE pods (want 1), %d in all (want 6)", put, del, sim.TotalCalls())
		}
		for _, c := range []struct{ method, path string }{
			{"GET", "/apis/apps/v1/namespaces/shop/deployments/nope"},
			{"GET", "/apis/apps/v1/namespaces/shop/statefulsets/web"},
			{"DELETE", "/api/v1/namespaces/shop/pods/nope"},
		} {
			if code, out := call(t, sim, c.method, c.path, "", ""); code != http.StatusNotFound || out.Get("reason").String() != "NotFound" {
				t.Errorf("%s %s: %d %s", c.method, c.path, code, out.Raw)
			}
		}
	})
}

// A watch sends the current object, then each change as it happens; one resumed from a
// resourceVersion gets what came after it; one from a version no longer kept gets 410.
func TestWatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := newWorld(t)
		watch := func(rv string, n int) []gjson.Result {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://sim/apis/apps/v1/namespaces/shop/deployments?watch=1&fieldSelector=metadata.name%3Dweb&resourceVersion="+rv, nil)
			resp, err := sim.HTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got []gjson.Result
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(nil, 1<<20)
			for len(got) < n && sc.Scan() {
				got = append(got, gjson.Parse(sc.Text()))
			}
			return got
		}
		note, _ := sjson.Set(string(sim.Deployment("shop", "web")), "metadata.annotations.note", "a second version")
		call(t, sim, "PUT", webPath, "application/json", note)
		first := watch("", 1)
		if len(first) != 1 || first[0].Get("type").String() != "ADDED" || first[0].Get("object.metadata.annotations.note").String() != "a second version" {
			t.Fatalf("first event: %v", first)
		}
		rv := first[0].Get("object.metadata.resourceVersion").String()
		done := make(chan []gjson.Result)
		go func() { done <- watch(rv, 5) }()
		time.Sleep(time.Millisecond)
		setImage(t, sim, repo+"web:v2")
		events := <-done
		var got []string
		last := rv
		for _, e := range events {
			v := e.Get("object.metadata.resourceVersion").String()
			if len(v) < len(last) || (len(v) == len(last) && v <= last) {
				t.Errorf("resourceVersion %s after %s", v, last)
			}
			last = v
			got = append(got, e.Get("type").String()+" "+progress(e.Get("object")))
		}
		want := "MODIFIED 3/0/3,MODIFIED 4/1/3,MODIFIED 4/2/3,MODIFIED 4/3/3,MODIFIED 3/3/3"
		if strings.Join(got[:5], ",") != want {
			t.Errorf("events: %v, want %s", got, want)
		}
		if resumed := watch(events[2].Get("object.metadata.resourceVersion").String(), 1); len(resumed) != 1 || resumed[0].Raw != events[3].Raw {
			t.Errorf("resumed watch started with %v, want %s", resumed, events[3].Raw)
		}
		for i := range 101 {
			body, _ := sjson.Set(string(sim.Deployment("shop", "web")), "metadata.annotations.n", fmt.Sprint(i))
			if code, out := call(t, sim, "PUT", webPath, "application/json", body); code != 200 {
				t.Fatalf("PUT %d: %d %s", i, code, out.Raw)
			}
		}
		if expired := watch(rv, 1); len(expired) != 1 || expired[0].Get("type").String() != "ERROR" || expired[0].Get("object.code").Int() != http.StatusGone {
			t.Errorf("a watch from a version no longer kept: %v", expired)
		}
	})
}

// The EKS target's Wait follows a rollout another writer started: to its end, or to a stuck
// pod.
func TestTargetWaitFollowsAnotherWriter(t *testing.T) {
	for _, image := range []string{"v2", "broken"} {
		t.Run(image, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sim := newWorld(t)
				setImage(t, sim, repo+"web:"+image)
				err := eks.New(sim.Client(), eks.Deployment, "shop", "web", &eks.Options{PollInterval: 200 * time.Millisecond}).Wait(t.Context(), nil)
				switch {
				case image == "v2" && (err != nil || progress(gjson.ParseBytes(sim.Deployment("shop", "web"))) != "3/3/3"):
					t.Errorf("err %v, %s", err, progress(gjson.ParseBytes(sim.Deployment("shop", "web"))))
				case image == "broken" && (err == nil || !strings.Contains(err.Error(), "ImagePullBackOff")):
					t.Errorf("err %v", err)
				}
			})
		})
	}
}

// The EKS target's Undo goes back to the previous revision, as kubectl rollout undo does,
// reusing its ReplicaSet; with no earlier revision it says so.
func TestTargetUndo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := newWorld(t)
		tg := eks.New(sim.Client(), eks.Deployment, "shop", "web", &eks.Options{PollInterval: 200 * time.Millisecond})
		if err := tg.Undo(t.Context(), nil); !errors.Is(err, deploy.ErrNotFound) {
			t.Errorf("undo of a first revision: %v", err)
		}
		if _, err := deploy.Run(t.Context(), deploy.Release{Version: "v2", Images: map[string]string{"app": repo + "web:v2"}}, []deploy.Target{tg}, nil); err != nil {
			t.Fatal(err)
		}
		if err := tg.Undo(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		d := gjson.ParseBytes(sim.Deployment("shop", "web"))
		if img := d.Get("spec.template.spec.containers.0.image").String(); img != repo+"web:v1" || progress(d) != "3/3/3" {
			t.Errorf("after undo: %s, %s", img, progress(d))
		}
		if s := sets(t, sim); strings.Join(s, ",") != "2 "+repo+"web:v2 0,3 "+repo+"web:v1 3" {
			t.Errorf("replica sets: %v", s)
		}
	})
}
