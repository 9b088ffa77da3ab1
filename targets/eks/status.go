package eks

import (
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
)

// Kind is a workload kind the target rolls out.
type Kind string

const (
	Deployment  Kind = "Deployment"
	StatefulSet Kind = "StatefulSet"
	DaemonSet   Kind = "DaemonSet"
)

// ParseKind reads deployment, statefulset or daemonset (any case).
func ParseKind(s string) (Kind, error) {
	switch strings.ToLower(s) {
	case "deployment", "deployments", "deploy":
		return Deployment, nil
	case "statefulset", "statefulsets", "sts":
		return StatefulSet, nil
	case "daemonset", "daemonsets", "ds":
		return DaemonSet, nil
	}
	return "", fmt.Errorf("kind %q: use deployment, statefulset or daemonset", s)
}

func (k Kind) resource() string { return strings.ToLower(string(k)) + "s" }

// Status applies kubectl rollout status's rules for kind to a workload object: a message,
// whether the rollout is done, and an error when it has failed (a Deployment past its
// progress deadline). It is a pure function of the object.
func Status(kind Kind, obj gjson.Result) (msg string, done bool, err error) {
	name := obj.Get("metadata.name").String()
	gen, observed := obj.Get("metadata.generation").Int(), obj.Get("status.observedGeneration").Int()
	st := obj.Get("status")
	switch kind {
	case Deployment:
		if gen > observed {
			return "waiting for the deployment spec update to be observed", false, nil
		}
		for _, c := range st.Get("conditions").Array() {
			if c.Get("type").String() == "Progressing" && c.Get("reason").String() == "ProgressDeadlineExceeded" {
				return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", name)
			}
		}
		want := int64(1)
		if r := obj.Get("spec.replicas"); r.Exists() {
			want = r.Int()
		}
		updated, replicas, available := st.Get("updatedReplicas").Int(), st.Get("replicas").Int(), st.Get("availableReplicas").Int()
		switch {
		case updated < want:
			return fmt.Sprintf("%d out of %d new replicas have been updated", updated, want), false, nil
		case replicas > updated:
			return fmt.Sprintf("%d old replicas are pending termination", replicas-updated), false, nil
		case available < updated:
			return fmt.Sprintf("%d of %d updated replicas are available", available, updated), false, nil
		}
		return fmt.Sprintf("deployment %q successfully rolled out", name), true, nil
	case StatefulSet:
		if t := obj.Get("spec.updateStrategy.type").String(); t != "" && t != "RollingUpdate" {
			return "", false, fmt.Errorf("statefulset %q uses the %s update strategy; only RollingUpdate can be watched", name, t)
		}
		if observed == 0 || gen > observed {
			return "waiting for the statefulset spec update to be observed", false, nil
		}
		want := int64(1)
		if r := obj.Get("spec.replicas"); r.Exists() {
			want = r.Int()
		}
		if ready := st.Get("readyReplicas").Int(); ready < want {
			return fmt.Sprintf("%d of %d pods are ready", ready, want), false, nil
		}
		if p := obj.Get("spec.updateStrategy.rollingUpdate.partition"); p.Exists() && p.Int() > 0 {
			if updated := st.Get("updatedReplicas").Int(); updated < want-p.Int() {
				return fmt.Sprintf("%d of %d pods above the partition are updated", updated, want-p.Int()), false, nil
			}
			return fmt.Sprintf("partitioned roll out complete: %d new pods", st.Get("updatedReplicas").Int()), true, nil
		}
		if st.Get("updateRevision").String() != st.Get("currentRevision").String() {
			return fmt.Sprintf("%d of %d pods are at revision %s", st.Get("updatedReplicas").Int(), want, st.Get("updateRevision").String()), false, nil
		}
		return fmt.Sprintf("statefulset %q rolled out at revision %s", name, st.Get("currentRevision").String()), true, nil
	case DaemonSet:
		if t := obj.Get("spec.updateStrategy.type").String(); t != "" && t != "RollingUpdate" {
			return "", false, fmt.Errorf("daemonset %q uses the %s update strategy; only RollingUpdate can be watched", name, t)
		}
		if gen > observed {
			return "waiting for the daemonset spec update to be observed", false, nil
		}
		desired := st.Get("desiredNumberScheduled").Int()
		if updated := st.Get("updatedNumberScheduled").Int(); updated < desired {
			return fmt.Sprintf("%d out of %d new pods have been updated", updated, desired), false, nil
		}
		if available := st.Get("numberAvailable").Int(); available < desired {
			return fmt.Sprintf("%d of %d updated pods are available", available, desired), false, nil
		}
		return fmt.Sprintf("daemonset %q successfully rolled out", name), true, nil
	}
	return "", false, fmt.Errorf("unknown kind %q", kind)
}

// badWaiting are the container states that never fix themselves during a rollout.
var badWaiting = map[string]bool{"ImagePullBackOff": true, "ErrImagePull": true, "CrashLoopBackOff": true, "CreateContainerConfigError": true,
	"InvalidImageName": true, "CreateContainerError": true}

// PodProblem names the first container of pod stuck in a state that fails the rollout at
// once (ImagePullBackOff, ErrImagePull, CrashLoopBackOff, CreateContainerConfigError, ...),
// or returns "". It is a pure function of the pod.
func PodProblem(pod gjson.Result) string {
	for _, key := range []string{"status.initContainerStatuses", "status.containerStatuses"} {
		for _, c := range pod.Get(key).Array() {
			w := c.Get("state.waiting")
			if r := w.Get("reason").String(); badWaiting[r] {
				msg := fmt.Sprintf("pod %s container %s: %s", pod.Get("metadata.name").String(), c.Get("name").String(), r)
				if m := w.Get("message").String(); m != "" {
					msg += ": " + m
				}
				return msg
			}
		}
	}
	return ""
}

// counts reads the progress counts of a workload.
func counts(kind Kind, obj gjson.Result) (desired, updated, ready, available int) {
	st := obj.Get("status")
	switch kind {
	case DaemonSet:
		return int(st.Get("desiredNumberScheduled").Int()), int(st.Get("updatedNumberScheduled").Int()), int(st.Get("numberReady").Int()), int(st.Get("numberAvailable").Int())
	}
	want := int64(1)
	if r := obj.Get("spec.replicas"); r.Exists() {
		want = r.Int()
	}
	return int(want), int(st.Get("updatedReplicas").Int()), int(st.Get("readyReplicas").Int()), int(st.Get("availableReplicas").Int())
}
