package eks

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func TestStatusRules(t *testing.T) {
	tests := []struct {
		kind  Kind
		obj   string
		done  bool
		err   string
		msgIs string
	}{
		{Deployment, `{"metadata":{"name":"web","generation":3},"spec":{"replicas":3},"status":{"observedGeneration":2}}`, false, "", "observed"},
		{Deployment, `{"metadata":{"name":"web","generation":3},"spec":{"replicas":3},"status":{"observedGeneration":3,"conditions":[{"type":"Progressing","reason":"ProgressDeadlineExceeded"}]}}`, false, "progress deadline", ""},
		{Deployment, `{"metadata":{"name":"web","generation":3},"spec":{"replicas":3},"status":{"observedGeneration":3,"updatedReplicas":1,"replicas":4}}`, false, "", "1 out of 3 new replicas"},
		{Deployment, `{"metadata":{"name":"web","generation":3},"spec":{"replicas":3},"status":{"observedGeneration":3,"updatedReplicas":3,"replicas":4}}`, false, "", "1 old replicas are pending termination"},
		{Deployment, `{"metadata":{"name":"web","generation":3},"spec":{"replicas":3},"status":{"observedGeneration":3,"updatedReplicas":3,"replicas":3,"availableReplicas":2}}`, false, "", "2 of 3 updated replicas are available"},
		{Deployment, `{"metadata":{"name":"web","generation":3},"spec":{"replicas":3},"status":{"observedGeneration":3,"updatedReplicas":3,"replicas":3,"availableReplicas":3}}`, true, "", "successfully rolled out"},
		{Deployment, `{"metadata":{"name":"web","generation":1},"spec":{},"status":{"observedGeneration":1,"updatedReplicas":1,"replicas":1,"availableReplicas":1}}`, true, "", "successfully"},
		{StatefulSet, `{"metadata":{"name":"db","generation":2},"spec":{"replicas":2},"status":{"observedGeneration":0}}`, false, "", "observed"},
		// No generation observed yet, though the status otherwise looks rolled out (a
		// StatefulSet the controller has not seen at all).
		{StatefulSet, `{"metadata":{"name":"db"},"spec":{"replicas":2},"status":{"readyReplicas":2,"updateRevision":"db-a","currentRevision":"db-a"}}`, false, "", "observed"},
		{StatefulSet, `{"metadata":{"name":"db","generation":3},"spec":{"replicas":2},"status":{"observedGeneration":2,"readyReplicas":2,"updateRevision":"db-a","currentRevision":"db-a"}}`, false, "", "observed"},
		{StatefulSet, `{"metadata":{"name":"db","generation":2},"spec":{"replicas":2},"status":{"observedGeneration":2,"readyReplicas":1}}`, false, "", "1 of 2 pods are ready"},
		{StatefulSet, `{"metadata":{"name":"db","generation":2},"spec":{"replicas":2},"status":{"observedGeneration":2,"readyReplicas":2,"updateRevision":"db-b","currentRevision":"db-a","updatedReplicas":1}}`, false, "", "at revision db-b"},
		{StatefulSet, `{"metadata":{"name":"db","generation":2},"spec":{"replicas":2},"status":{"observedGeneration":2,"readyReplicas":2,"updateRevision":"db-b","currentRevision":"db-b"}}`, true, "", "rolled out"},
		{StatefulSet, `{"metadata":{"name":"db","generation":2},"spec":{"replicas":4,"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":2}}},"status":{"observedGeneration":2,"readyReplicas":4,"updatedReplicas":2}}`, true, "", "partitioned"},
		{StatefulSet, `{"metadata":{"name":"db","generation":2},"spec":{"updateStrategy":{"type":"OnDelete"}}}`, false, "OnDelete", ""},
		{DaemonSet, `{"metadata":{"name":"agent","generation":2},"status":{"observedGeneration":2,"desiredNumberScheduled":2,"updatedNumberScheduled":1}}`, false, "", "1 out of 2 new pods"},
		{DaemonSet, `{"metadata":{"name":"agent","generation":2},"status":{"observedGeneration":2,"desiredNumberScheduled":2,"updatedNumberScheduled":2,"numberAvailable":1}}`, false, "", "1 of 2 updated pods are available"},
		{DaemonSet, `{"metadata":{"name":"agent","generation":2},"status":{"observedGeneration":2,"desiredNumberScheduled":2,"updatedNumberScheduled":2,"numberAvailable":2}}`, true, "", "successfully"},
	}
	for i, tc := range tests {
		msg, done, err := Status(tc.kind, gjson.Parse(tc.obj))
		if done != tc.done || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) || !strings.Contains(msg, tc.msgIs) {
			t.Errorf("%d %s: %q, %v, %v", i, tc.kind, msg, done, err)
		}
	}
}

func TestPodProblem(t *testing.T) {
	for _, tc := range []struct{ pod, want string }{
		{`{"metadata":{"name":"p"},"status":{"containerStatuses":[{"name":"app","state":{"running":{}}}]}}`, ""},
		{`{"metadata":{"name":"p"},"status":{"containerStatuses":[{"name":"app","state":{"waiting":{"reason":"ContainerCreating"}}}]}}`, ""},
		{`{"metadata":{"name":"p"},"status":{"containerStatuses":[{"name":"app","state":{"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image"}}}]}}`, "pod p container app: ImagePullBackOff: Back-off pulling image"},
		{`{"metadata":{"name":"p"},"status":{"initContainerStatuses":[{"name":"migrate","state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}`, "pod p container migrate: CrashLoopBackOff"},
		{`{"metadata":{"name":"p"},"status":{"containerStatuses":[{"name":"app","state":{"waiting":{"reason":"CreateContainerConfigError","message":"secret \"x\" not found"}}}]}}`, `pod p container app: CreateContainerConfigError: secret "x" not found`},
		{`{"metadata":{"name":"p"},"status":{"containerStatuses":[{"name":"app","state":{"waiting":{"reason":"ErrImagePull"}}}]}}`, "pod p container app: ErrImagePull"},
		{`{"metadata":{"name":"p"},"status":{"containerStatuses":[{"name":"app","state":{"waiting":{"reason":"InvalidImageName","message":"couldn't parse image name"}}}]}}`, "pod p container app: InvalidImageName: couldn't parse image name"},
		{`{"metadata":{"name":"p"},"status":{"containerStatuses":[{"name":"app","state":{"waiting":{"reason":"CreateContainerError"}}}]}}`, "pod p container app: CreateContainerError"},
		{`{"metadata":{"name":"p"},"status":{"containerStatuses":[{"name":"app","state":{"waiting":{"reason":"PodInitializing"}}}]}}`, ""},
	} {
		if got := PodProblem(gjson.Parse(tc.pod)); got != tc.want {
			t.Errorf("PodProblem = %q, want %q", got, tc.want)
		}
	}
}

func TestSetImages(t *testing.T) {
	tpl := `{"metadata":{"labels":{"app":"web"}},"spec":{"initContainers":[{"name":"migrate","image":"app:1"}],"containers":[{"name":"app","image":"app:1"},{"name":"sidecar","image":"proxy:1"}]}}`
	out, err := setImages(tpl, map[string]string{"app": "app:2", "migrate": "app:2"})
	if err != nil {
		t.Fatal(err)
	}
	if gjson.Get(out, "spec.containers.0.image").String() != "app:2" || gjson.Get(out, "spec.initContainers.0.image").String() != "app:2" || gjson.Get(out, "spec.containers.1.image").String() != "proxy:1" {
		t.Errorf("setImages = %s", out)
	}
	if _, err := setImages(tpl, map[string]string{"nope": "x:1"}); err == nil || !strings.Contains(err.Error(), "it has migrate, app, sidecar") {
		t.Errorf("unknown container: %v", err)
	}
	if _, err := setImages(tpl, map[string]string{"": "x:1"}); err == nil || !strings.Contains(err.Error(), "name one") {
		t.Errorf("no name with three containers: %v", err)
	}
	one := `{"spec":{"containers":[{"name":"only","image":"a:1"}]}}`
	if out, err := setImages(one, map[string]string{"": "a:2"}); err != nil || gjson.Get(out, "spec.containers.0.image").String() != "a:2" {
		t.Errorf("the only container: %s %v", out, err)
	}
}
