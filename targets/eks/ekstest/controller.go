package ekstest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"time"
)

// keptEvents is how many watch events each Deployment keeps for watches that resume.
const keptEvents = 100

// deployment is a Deployment and what its controller made of it.
type deployment struct {
	namespace, name, uid string
	labels, annotations  map[string]string
	spec                 map[string]any // defaulted
	generation, observed int64
	created              time.Time
	sets                 []*replicaSet // oldest first
	lastStep             time.Time     // the controller's last step
	lastProgress         time.Time     // the last time a new pod started or became ready
	rv                   int64         // the resourceVersion of current
	current              []byte        // the object as the API answers it
	content              []byte        // current without its resourceVersion
	events               []event       // the last keptEvents watch events
	dropped              int64         // the resourceVersion of the newest event no longer kept
}

// replicaSet is one revision of a Deployment's pod template.
type replicaSet struct {
	name, hash, uid string
	revision        int64
	template        map[string]any // with the pod-template-hash label
	plain           map[string]any // as the Deployment has it
	annotations     map[string]string
	replicas        int
	pods            []*pod
	created         time.Time
}

type pod struct {
	name, uid string
	started   time.Time
	ready     bool
}

type event struct {
	rv  int64
	typ string
	obj []byte
}

func (rs *replicaSet) labels() map[string]string {
	out := mapOf(dig(rs.template, "metadata", "labels"))
	out["pod-template-hash"] = rs.hash
	return out
}

// annotations the controller keeps on the Deployment and does not copy to ReplicaSets.
var ownAnnotations = map[string]bool{
	"kubectl.kubernetes.io/last-applied-configuration": true,
	"deployment.kubernetes.io/revision":                true,
	"deployment.kubernetes.io/revision-history":        true,
	"deployment.kubernetes.io/desired-replicas":        true,
	"deployment.kubernetes.io/max-replicas":            true,
	"deprecated.deployment.rollback.to":                true,
}

// defaults fills what the API server defaults in a Deployment's spec.
func defaults(spec map[string]any) {
	if spec == nil {
		return
	}
	set := func(m map[string]any, k string, v any) {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	set(spec, "replicas", float64(1))
	set(spec, "revisionHistoryLimit", float64(10))
	set(spec, "progressDeadlineSeconds", float64(600))
	set(spec, "strategy", map[string]any{})
	if st, ok := spec["strategy"].(map[string]any); ok {
		set(st, "type", "RollingUpdate")
		if st["type"] == "RollingUpdate" {
			set(st, "rollingUpdate", map[string]any{})
			if ru, ok := st["rollingUpdate"].(map[string]any); ok {
				set(ru, "maxSurge", "25%")
				set(ru, "maxUnavailable", "25%")
			}
		}
	}
}

func (d *deployment) replicas() int {
	n, _ := d.spec["replicas"].(float64)
	return int(n)
}

// newSet is the ReplicaSet of the Deployment's template, or nil before the controller saw it.
func (d *deployment) newSet() *replicaSet {
	tpl, _ := d.spec["template"].(map[string]any)
	for _, rs := range d.sets {
		if jsonEqual(rs.plain, tpl) {
			return rs
		}
	}
	return nil
}

// busy reports whether the controller has work left: a change not yet observed, pods not
// yet ready (forever, for pods that cannot start), old pods left, a pod to replace.
func (d *deployment) busy() bool {
	if d.observed < d.generation {
		return true
	}
	n := d.newSet()
	if n == nil || len(n.pods) != d.replicas() {
		return true
	}
	for _, rs := range d.sets {
		if len(rs.pods) != rs.replicas || (rs != n && len(rs.pods) > 0) {
			return true
		}
		for _, p := range rs.pods {
			if !p.ready {
				return true
			}
		}
	}
	return false
}

// nextStep returns when the controller next steps d, if it has work.
func (s *Server) nextStep(d *deployment) (time.Time, bool) {
	if !d.busy() {
		return time.Time{}, false
	}
	return d.lastStep.Add(s.StepInterval), true
}

// advance moves d forward to now, one controller step at a time.
func (s *Server) advance(d *deployment) {
	now := s.now()
	for d.busy() {
		next := d.lastStep.Add(s.StepInterval)
		if next.After(now) {
			return
		}
		d.lastStep = next
		s.sync(d, next)
		s.step(d, next)
		s.publish(d)
	}
	d.lastStep = now
}

// sync observes the Deployment's spec: the ReplicaSet of its template becomes the newest
// revision (an existing one when the template went back to it, as after an undo).
func (s *Server) sync(d *deployment, now time.Time) {
	if d.observed >= d.generation {
		return
	}
	d.observed = d.generation
	var top int64
	for _, rs := range d.sets {
		top = max(top, rs.revision)
	}
	rs := d.newSet()
	if rs == nil {
		tpl, _ := d.spec["template"].(map[string]any)
		rs = &replicaSet{plain: clone(tpl), created: now}
		s.seq++
		rs.uid = fmt.Sprintf("00000000-0000-4000-8000-%012d", s.seq)
		rs.hash = templateHash(tpl)
		rs.name = d.name + "-" + rs.hash
		rs.template = clone(tpl)
		meta, _ := rs.template["metadata"].(map[string]any)
		if meta == nil {
			meta = map[string]any{}
			rs.template["metadata"] = meta
		}
		labels, _ := meta["labels"].(map[string]any)
		if labels == nil {
			labels = map[string]any{}
			meta["labels"] = labels
		}
		labels["pod-template-hash"] = rs.hash
		d.sets = append(d.sets, rs)
	}
	if rs.revision != top || top == 0 {
		rs.revision = top + 1
	}
	rs.annotations = map[string]string{}
	for k, v := range d.annotations {
		if !ownAnnotations[k] {
			rs.annotations[k] = v
		}
	}
	if d.annotations == nil {
		d.annotations = map[string]string{}
	}
	d.annotations["deployment.kubernetes.io/revision"] = strconv.FormatInt(rs.revision, 10)
	s.prune(d)
}

// prune drops empty old ReplicaSets beyond the Deployment's revisionHistoryLimit.
func (s *Server) prune(d *deployment) {
	limit, _ := d.spec["revisionHistoryLimit"].(float64)
	n := d.newSet()
	var old []*replicaSet
	for _, rs := range d.sets {
		if rs != n && rs.replicas == 0 && len(rs.pods) == 0 {
			old = append(old, rs)
		}
	}
	sort.Slice(old, func(i, j int) bool { return old[i].revision < old[j].revision })
	for len(old) > int(limit) {
		for i, rs := range d.sets {
			if rs == old[0] {
				d.sets = append(d.sets[:i], d.sets[i+1:]...)
				break
			}
		}
		old = old[1:]
	}
}

// step is one step of a rolling update with one pod of surge and none unavailable: pods
// started a step ago become ready (unless their image is scripted to fail); old pods that
// are not ready go at once; an old ready pod goes for each ready pod beyond the desired
// count; the new ReplicaSet starts one more pod while it has fewer than desired. ReplicaSets
// replace pods deleted from under them.
func (s *Server) step(d *deployment, now time.Time) {
	n := d.newSet()
	for _, rs := range d.sets {
		for len(rs.pods) < rs.replicas {
			s.startPod(d, rs, now)
		}
		for _, p := range rs.pods {
			if !p.ready && !p.started.After(now.Add(-s.StepInterval)) && s.healthy(rs) {
				p.ready = true
				d.lastProgress = now
			}
		}
	}
	if n == nil {
		return
	}
	desired, ready := d.replicas(), 0
	for _, rs := range d.sets {
		if rs == n {
			ready += countReady(rs)
			continue
		}
		kept := rs.pods[:0]
		for _, p := range rs.pods {
			if p.ready {
				kept = append(kept, p)
			}
		}
		rs.pods, rs.replicas = kept, len(kept)
		ready += len(kept)
	}
	for _, rs := range d.sets {
		for rs != n && ready > desired && len(rs.pods) > 0 {
			rs.pods, rs.replicas = rs.pods[1:], rs.replicas-1
			ready--
		}
	}
	for len(n.pods) > desired { // scaled down
		n.pods, n.replicas = n.pods[1:], n.replicas-1
	}
	total := 0
	for _, rs := range d.sets {
		total += len(rs.pods)
	}
	if len(n.pods) < desired && total < desired+1 {
		n.replicas++
		s.startPod(d, n, now)
		d.lastProgress = now
	}
}

func (s *Server) startPod(d *deployment, rs *replicaSet, now time.Time) {
	s.seq++
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	suffix := []byte{}
	for v := uint32(s.seq) * 2654435761; len(suffix) < 5; v /= uint32(len(alphabet)) { // spread, as random names look
		suffix = append(suffix, alphabet[v%uint32(len(alphabet))])
	}
	rs.pods = append(rs.pods, &pod{name: rs.name + "-" + string(suffix), uid: fmt.Sprintf("00000000-0000-4000-9000-%012d", s.seq), started: now})
}

func countReady(rs *replicaSet) int {
	n := 0
	for _, p := range rs.pods {
		if p.ready {
			n++
		}
	}
	return n
}

// healthy reports whether rs's pods can become ready: none of its images is scripted to fail.
func (s *Server) healthy(rs *replicaSet) bool {
	for _, img := range containerImages(rs.template) {
		if s.behaviors[img].Reason != "" {
			return false
		}
	}
	return true
}

// publish renders d; when it changed, it gets a new resourceVersion, a watch event, and
// watchers wake.
func (s *Server) publish(d *deployment) {
	content := s.renderDeployment(d, 0)
	if d.current != nil && string(content) == string(d.content) {
		return
	}
	d.content = content
	s.rv++
	d.rv = s.rv
	d.current = s.renderDeployment(d, d.rv)
	typ := "MODIFIED"
	if len(d.events) == 0 && d.dropped == 0 {
		typ = "ADDED"
	}
	d.events = append(d.events, event{rv: d.rv, typ: typ, obj: d.current})
	if len(d.events) > keptEvents {
		d.dropped = d.events[0].rv
		d.events = d.events[1:]
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// renderDeployment is d as the API answers it, with resourceVersion rv (none when 0).
func (s *Server) renderDeployment(d *deployment, rv int64) []byte {
	desired := d.replicas()
	n := d.newSet()
	var replicas, updated, ready int
	for _, rs := range d.sets {
		replicas += len(rs.pods)
		ready += countReady(rs)
		if rs == n {
			updated = len(rs.pods)
		}
	}
	complete := n != nil && updated == desired && replicas == desired && ready == desired && d.observed == d.generation
	available := map[string]any{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."}
	if ready < desired {
		available["status"], available["reason"], available["message"] = "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."
	}
	progressing := map[string]any{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
		"lastUpdateTime": d.lastProgress.UTC().Format(time.RFC3339)}
	switch deadline, _ := d.spec["progressDeadlineSeconds"].(float64); {
	case complete:
		progressing["reason"] = "NewReplicaSetAvailable"
		progressing["message"] = fmt.Sprintf("ReplicaSet %q has successfully progressed.", n.name)
	case n != nil && deadline > 0 && d.lastStep.Sub(d.lastProgress) > time.Duration(deadline)*time.Second:
		progressing["status"], progressing["reason"] = "False", "ProgressDeadlineExceeded"
		progressing["message"] = fmt.Sprintf("ReplicaSet %q has timed out progressing.", n.name)
	case n != nil:
		progressing["message"] = fmt.Sprintf("ReplicaSet %q is progressing.", n.name)
	}
	st := map[string]any{"observedGeneration": d.observed, "conditions": []any{available, progressing}}
	for k, v := range map[string]int{"replicas": replicas, "updatedReplicas": updated, "readyReplicas": ready,
		"availableReplicas": ready, "unavailableReplicas": max(desired-ready, 0)} {
		if v > 0 { // the API omits zero counts
			st[k] = v
		}
	}
	meta := map[string]any{"name": d.name, "namespace": d.namespace, "uid": d.uid, "generation": d.generation,
		"creationTimestamp": d.created.UTC().Format(time.RFC3339)}
	if rv > 0 {
		meta["resourceVersion"] = strconv.FormatInt(rv, 10)
	}
	if len(d.labels) > 0 {
		meta["labels"] = d.labels
	}
	if len(d.annotations) > 0 {
		meta["annotations"] = d.annotations
	}
	out, _ := json.Marshal(map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": d.spec, "status": st})
	return out
}

func (s *Server) renderSet(d *deployment, rs *replicaSet) []byte {
	annotations := map[string]string{"deployment.kubernetes.io/revision": strconv.FormatInt(rs.revision, 10)}
	for k, v := range rs.annotations {
		annotations[k] = v
	}
	sel := mapOf(dig(d.spec, "selector", "matchLabels"))
	sel["pod-template-hash"] = rs.hash
	ready := countReady(rs)
	st := map[string]any{"replicas": len(rs.pods), "observedGeneration": 1}
	if ready > 0 {
		st["readyReplicas"], st["availableReplicas"] = ready, ready
	}
	out, _ := json.Marshal(map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet",
		"metadata": map[string]any{"name": rs.name, "namespace": d.namespace, "uid": rs.uid, "labels": rs.labels(),
			"annotations": annotations, "creationTimestamp": rs.created.UTC().Format(time.RFC3339),
			"ownerReferences": []any{owner("apps/v1", "Deployment", d.name, d.uid)}},
		"spec":   map[string]any{"replicas": rs.replicas, "selector": map[string]any{"matchLabels": sel}, "template": rs.template},
		"status": st})
	return out
}

func owner(apiVersion, kind, name, uid string) map[string]any {
	return map[string]any{"apiVersion": apiVersion, "kind": kind, "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}
}

// renderPod is a pod of rs: running and ready, starting, or waiting with its image's
// scripted reason.
func (s *Server) renderPod(d *deployment, rs *replicaSet, p *pod) []byte {
	var statuses []any
	containers, _ := dig(rs.template, "spec", "containers").([]any)
	for _, c := range containers {
		name, _ := dig(c, "name").(string)
		img, _ := dig(c, "image").(string)
		cs := map[string]any{"name": name, "image": img, "ready": p.ready, "restartCount": 0, "started": p.ready}
		switch b := s.behaviors[img]; {
		case p.ready:
			cs["state"] = map[string]any{"running": map[string]any{"startedAt": p.started.UTC().Format(time.RFC3339)}}
		case b.Reason != "":
			cs["state"] = map[string]any{"waiting": map[string]any{"reason": b.Reason, "message": b.Message}}
		default:
			cs["state"] = map[string]any{"waiting": map[string]any{"reason": "ContainerCreating"}}
		}
		statuses = append(statuses, cs)
	}
	phase, readyStatus := "Pending", "False"
	if p.ready {
		phase, readyStatus = "Running", "True"
	}
	out, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": p.name, "namespace": d.namespace, "uid": p.uid, "labels": rs.labels(),
			"creationTimestamp": p.started.UTC().Format(time.RFC3339),
			"ownerReferences":   []any{owner("apps/v1", "ReplicaSet", rs.name, rs.uid)}},
		"spec": dig(rs.template, "spec"),
		"status": map[string]any{"phase": phase, "conditions": []any{map[string]any{"type": "Ready", "status": readyStatus}},
			"containerStatuses": statuses}})
	return out
}

// templateHash is the pod-template-hash of a template: its FNV-32a, spelt in the
// controller's alphabet.
func templateHash(tpl map[string]any) string {
	b, _ := json.Marshal(tpl)
	h := fnv.New32a()
	_, _ = h.Write(b)
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	digits := []byte(strconv.FormatUint(uint64(h.Sum32()), 10))
	for i, c := range digits {
		digits[i] = alphabet[int(c)%len(alphabet)]
	}
	return string(digits)
}

// containerImages lists a pod template's images, init containers first.
func containerImages(tpl map[string]any) []string {
	var out []string
	for _, key := range []string{"initContainers", "containers"} {
		list, _ := dig(tpl, "spec", key).([]any)
		for _, c := range list {
			if img, _ := dig(c, "image").(string); img != "" {
				out = append(out, img)
			}
		}
	}
	return out
}

// sorted lists the Deployments by namespace and name.
func (s *Server) sorted() []*deployment {
	out := make([]*deployment, 0, len(s.deployments))
	for _, d := range s.deployments {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].namespace+"/"+out[i].name < out[j].namespace+"/"+out[j].name
	})
	return out
}

// dig walks nested JSON objects.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// mapOf reads a JSON object of strings.
func mapOf(v any) map[string]string {
	out := map[string]string{}
	switch m := v.(type) {
	case map[string]any:
		for k, x := range m {
			if s, ok := x.(string); ok {
				out[k] = s
			}
		}
	case map[string]string:
		for k, x := range m {
			out[k] = x
		}
	}
	return out
}

// jsonEqual compares two JSON values by content.
func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func clone(m map[string]any) map[string]any {
	var out map[string]any
	b, _ := json.Marshal(m)
	_ = json.Unmarshal(b, &out)
	return out
}
