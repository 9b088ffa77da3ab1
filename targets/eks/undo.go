package eks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/poll"
)

// Annotations kubectl rollout undo keeps from the Deployment instead of copying them from
// the ReplicaSet it goes back to.
var keepOnUndo = map[string]bool{
	"kubectl.kubernetes.io/last-applied-configuration": true,
	"deployment.kubernetes.io/revision":                true,
	"deployment.kubernetes.io/revision-history":        true,
	"deployment.kubernetes.io/desired-replicas":        true,
	"deployment.kubernetes.io/max-replicas":            true,
	"deprecated.deployment.rollback.to":                true,
}

// Rollback implements deploy.Plan and waits until the workload is rolled out again.
//
// For a Deployment it does what `kubectl rollout undo --to-revision=<observed>` does: it
// finds the ReplicaSet of the revision the plan observed, strips its pod-template-hash label
// and, in one JSON Patch, puts its template and annotations back; the controller then scales
// that ReplicaSet up again, so the pods are the old ones, not new pods of an equal template.
// For StatefulSets and DaemonSets it writes back the exact template the plan observed (and
// the change-cause annotation): a ControllerRevision stores its template as a patch whose
// format is the controller's business, while the observed template is exactly what ran, and
// the controller maps it back to the matching revision itself.
//
// It never writes over another writer: when the wait saw someone else change the pod template,
// or the template now is neither the one this deploy wrote nor the one it replaced, Rollback
// changes nothing and returns deploy.ErrSuperseded.
func (p *Plan) Rollback(ctx context.Context, emit deploy.EventFunc) error {
	p.mu.Lock()
	applied, superseded, written, done := p.applied, p.superseded, p.written, p.rolledBack
	p.mu.Unlock()
	if !applied || done {
		return nil
	}
	ctx = poll.Persistently(ctx) // keep trying until the deadline
	if err := p.rollback(ctx, superseded, written, emit); err != nil {
		return err
	}
	p.mu.Lock()
	p.rolledBack = true
	p.mu.Unlock()
	return nil
}

func (p *Plan) rollback(ctx context.Context, superseded bool, written pin, emit deploy.EventFunc) error {
	t := p.t
	if superseded {
		return deploy.Errorf(deploy.ErrSuperseded, t.Name(), "rollback", "another writer changed the pod template during this deploy; not rolling back over its change")
	}
	ours := written.template
	if ours == "" {
		ours = p.desired // the write's answer was lost: what it would have written
	}
	raw, err := t.c.get(ctx, t.path)
	if err != nil {
		return t.apiErr("read the workload", err)
	}
	if now := gjson.GetBytes(raw, "spec.template"); !jsonEqual(now.Raw, ours) && !jsonEqual(now.Raw, p.template) {
		return deploy.Errorf(deploy.ErrSuperseded, t.Name(), "rollback",
			"the pod template is neither the one this deploy wrote nor the one it replaced (images now %s): another writer changed it; not rolling back over it", images(now))
	}
	emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseRollback, Message: "restoring the pod template the plan observed"})
	if t.kind == Deployment && p.revision != "" {
		out, done, err := p.undoDeployment(ctx, raw)
		if err != nil {
			return err
		}
		if done {
			return t.wait(ctx, emit, deploy.PhaseRollback, pinOf(out))
		}
	}
	var failedRevision string
	if t.kind == StatefulSet {
		failedRevision = gjson.GetBytes(raw, "status.updateRevision").String()
	}
	out, err := t.update(ctx, nil, "restore the pod template", func(obj []byte) ([]byte, error) {
		obj, err := sjson.SetRawBytes(obj, "spec.template", []byte(p.template))
		if err != nil {
			return nil, err
		}
		if p.cause == "" {
			return sjson.DeleteBytes(obj, "metadata.annotations."+escape(ChangeCause))
		}
		return sjson.SetBytes(obj, "metadata.annotations."+escape(ChangeCause), p.cause)
	})
	if err != nil {
		return err
	}
	if failedRevision != "" {
		// A StatefulSet does not replace a pod of the bad revision that never became ready
		// (kubernetes/kubernetes#67250); delete those, as its documentation says to.
		if err := p.deleteStuckPods(ctx, failedRevision); err != nil {
			return err
		}
	}
	return t.wait(ctx, emit, deploy.PhaseRollback, pinOf(out))
}

// deleteStuckPods deletes the pods of revision that cannot start.
func (p *Plan) deleteStuckPods(ctx context.Context, revision string) error {
	t := p.t
	obj := gjson.ParseBytes(p.observed)
	pods, err := t.list(ctx, "", "pods", selector(obj, "controller-revision-hash="+revision))
	if err != nil {
		return t.apiErr("list the failed revision's pods", err)
	}
	for _, pod := range gjson.GetBytes(pods, "items").Array() {
		if PodProblem(pod) == "" {
			continue
		}
		name := pod.Get("metadata.name").String()
		if _, err := t.c.do(ctx, "DELETE", "/api/v1/namespaces/"+url.PathEscape(t.namespace)+"/pods/"+url.PathEscape(name), "", nil); err != nil && !isNotFound(err) {
			return t.apiErr("delete stuck pod "+name, err)
		}
		t.log.DebugContext(ctx, "deleted a pod stuck on the failed revision", "target", t.Name(), "pod", name)
	}
	return nil
}

// undoDeployment patches the Deployment back to the ReplicaSet of the observed revision and
// returns the Deployment as stored. It reports false when that ReplicaSet is gone, so the
// caller restores the template instead. A patch that fails transiently is made again from a
// fresh read: if it landed, the fresh read shows the old template and there is nothing to do.
func (p *Plan) undoDeployment(ctx context.Context, raw []byte) ([]byte, bool, error) {
	for attempt := 0; ; attempt++ {
		out, done, err := p.undoOnce(ctx, raw)
		raw = nil // a retry reads again
		if err == nil || !transient(err) || attempt+1 >= poll.TransientFor(ctx, maxTransientWrites) {
			return out, done, err
		}
		p.t.log.DebugContext(ctx, "the undo failed transiently; reading the deployment again", "target", p.t.Name(), "err", err)
		if err := sleep(ctx, backoff(attempt, err)); err != nil {
			return nil, false, p.t.ctxErr(err, "undo")
		}
	}
}

// undoOnce makes one undo from raw, the Deployment as just read, or reads it when raw is nil.
func (p *Plan) undoOnce(ctx context.Context, raw []byte) ([]byte, bool, error) {
	t := p.t
	if raw == nil {
		var err error
		if raw, err = t.c.get(ctx, t.path); err != nil {
			return nil, false, t.apiErr("read the deployment", err)
		}
	}
	dep := gjson.ParseBytes(raw)
	if dep.Get("spec.paused").Bool() {
		return nil, false, deploy.Errorf(deploy.ErrFailed, t.Name(), "undo", "the deployment is paused; resume it (kubectl rollout resume) and undo again")
	}
	list, err := t.list(ctx, "apps/v1", "replicasets", selector(dep))
	if err != nil {
		return nil, false, t.apiErr("list replicasets", err)
	}
	var rs gjson.Result
	for _, r := range owned(list, dep.Get("metadata.uid").String()) {
		if r.Get(`metadata.annotations.deployment\.kubernetes\.io/revision`).String() == p.revision {
			rs = r
		}
	}
	if !rs.Exists() {
		t.log.DebugContext(ctx, "the observed revision's replicaset is gone; restoring the template", "target", t.Name(), "revision", p.revision)
		return nil, false, nil
	}
	tpl, err := sjson.Delete(rs.Get("spec.template").Raw, `metadata.labels.pod-template-hash`)
	if err != nil {
		return nil, false, err
	}
	if jsonEqual(tpl, dep.Get("spec.template").Raw) {
		return raw, true, nil // already there
	}
	annotations := map[string]string{}
	dep.Get("metadata.annotations").ForEach(func(k, v gjson.Result) bool {
		if keepOnUndo[k.String()] {
			annotations[k.String()] = v.String()
		}
		return true
	})
	rs.Get("metadata.annotations").ForEach(func(k, v gjson.Result) bool {
		if !keepOnUndo[k.String()] {
			annotations[k.String()] = v.String()
		}
		return true
	})
	patch, _ := json.Marshal([]map[string]any{
		{"op": "replace", "path": "/spec/template", "value": json.RawMessage(tpl)},
		{"op": "replace", "path": "/metadata/annotations", "value": annotations},
	})
	out, err := t.c.patch(ctx, t.path, patch)
	if err != nil {
		return nil, false, t.apiErr("undo to revision "+p.revision, err)
	}
	return out, true, nil
}

// Undo rolls a Deployment back to its previous revision, as kubectl rollout undo does: the
// ReplicaSet of the highest revision below the current one gets the workload's template
// back (its pods are the old ones), and Undo waits for the rollout. StatefulSets and
// DaemonSets keep no such history here: roll them back from a journal (deploy.Undo).
func (t *Target) Undo(ctx context.Context, emit deploy.EventFunc) error {
	if err := t.validate(); err != nil {
		return err
	}
	if t.kind != Deployment {
		return deploy.Errorf(deploy.ErrInvalid, t.Name(), "undo", "only a Deployment keeps its previous revisions (ReplicaSets); roll a %s back from the journal", strings.ToLower(string(t.kind)))
	}
	raw, err := t.c.get(ctx, t.path)
	if err != nil {
		return t.apiErr("read the deployment", err)
	}
	dep := gjson.ParseBytes(raw)
	current := dep.Get(`metadata.annotations.deployment\.kubernetes\.io/revision`).Int()
	list, err := t.list(ctx, "apps/v1", "replicasets", selector(dep))
	if err != nil {
		return t.apiErr("list replicasets", err)
	}
	var previous int64
	for _, r := range owned(list, dep.Get("metadata.uid").String()) {
		if rev := r.Get(`metadata.annotations.deployment\.kubernetes\.io/revision`).Int(); rev < current && rev > previous {
			previous = rev
		}
	}
	if previous == 0 {
		return deploy.Errorf(deploy.ErrNotFound, t.Name(), "undo", "revision %d is the oldest the deployment keeps: there is nothing to go back to", current)
	}
	emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseRollback, Message: fmt.Sprintf("going back from revision %d to %d", current, previous)})
	p := &Plan{t: t, revision: strconv.FormatInt(previous, 10)}
	out, done, err := p.undoDeployment(ctx, raw)
	if err != nil {
		return err
	}
	if !done {
		return deploy.Errorf(deploy.ErrNotFound, t.Name(), "undo", "the ReplicaSet of revision %d is gone", previous)
	}
	return t.wait(ctx, emit, deploy.PhaseRollback, pinOf(out))
}
