// Package ekstest is a Kubernetes API simulator for Deployments, in the style of
// net/http/httptest: an in-process API server that speaks the apps/v1 and v1 JSON wire
// format the EKS target uses, so an [eks.Client] (from [Server.Client], no sockets) can be
// tested, or a demo run, with no cluster. Its Deployment controller rolls replicas one at a
// time (surge one, none unavailable), keeps ReplicaSets with revisions as the real one does,
// so `kubectl rollout undo`'s patch goes back to the old ReplicaSet, and moves with the
// caller's clock (testing/synctest drives it). Images given a failing [Behavior] leave their
// pods waiting with a reason such as ImagePullBackOff. It answers GET, PUT and JSON Patch on
// Deployments, their list and watch, ReplicaSet and Pod lists by equality label selectors,
// and Pod deletion; other kinds are not found. The EKS target's tests run against a real
// control plane; this is for tests and demos of code built on it.
package ekstest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stevedore-dev/stevedore/targets/eks"
)

// Behavior scripts what the pods of an image do.
type Behavior struct {
	// Reason, when set, leaves every container of the image waiting with this reason
	// (ImagePullBackOff, CrashLoopBackOff, ...) and its pod never ready.
	Reason string
	// Message is the waiting container's message.
	Message string
}

// Server is the simulator. Its zero value is not usable; call New.
type Server struct {
	// StepInterval is how often a Deployment's controller makes progress: a new pod is
	// started, or a pod started one step before becomes ready and an old one is removed.
	// New sets 1 s.
	StepInterval time.Duration

	mu          sync.Mutex
	now         func() time.Time
	rv          int64                  // the last resourceVersion given out
	seq         int                    // names and UIDs
	deployments map[string]*deployment // by namespace/name
	behaviors   map[string]Behavior    // by image
	changed     chan struct{}          // closed and replaced when anything changes
	calls       map[string]int         // by method and resource, "GET deployments"
}

// New returns an empty cluster whose clock is now (time.Now if nil).
func New(now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	return &Server{StepInterval: time.Second, now: now, deployments: map[string]*deployment{},
		behaviors: map[string]Behavior{}, changed: make(chan struct{}), calls: map[string]int{}}
}

// SetBehavior scripts the pods whose containers run image.
func (s *Server) SetBehavior(image string, b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.behaviors[image] = b
}

// CreateDeployment stores a Deployment (an apps/v1 object as JSON) in its namespace
// ("default" when it names none), all its replicas ready on its template, as if it had been
// rolled out long ago: revision 1, one ReplicaSet.
func (s *Server) CreateDeployment(obj string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var o map[string]any
	if err := json.Unmarshal([]byte(obj), &o); err != nil {
		return fmt.Errorf("ekstest: the deployment is not JSON: %w", err)
	}
	meta, _ := o["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	if ns == "" {
		ns = "default"
	}
	if name == "" {
		return fmt.Errorf("ekstest: the deployment has no metadata.name")
	}
	if _, ok := s.deployments[ns+"/"+name]; ok {
		return fmt.Errorf("ekstest: deployment %s/%s exists", ns, name)
	}
	spec, _ := o["spec"].(map[string]any)
	defaults(spec)
	if err := validSpec(spec); err != nil {
		return fmt.Errorf("ekstest: deployment %s/%s: %w", ns, name, err)
	}
	s.seq++
	now := s.now()
	d := &deployment{namespace: ns, name: name, uid: fmt.Sprintf("00000000-0000-4000-8000-%012d", s.seq),
		labels: mapOf(meta["labels"]), annotations: mapOf(meta["annotations"]), spec: spec, generation: 1,
		created: now, lastStep: now, lastProgress: now}
	s.deployments[ns+"/"+name] = d
	s.sync(d, now)
	rs := d.newSet()
	for rs.replicas < d.replicas() {
		rs.replicas++
		s.startPod(d, rs, now)
		rs.pods[len(rs.pods)-1].ready = true
	}
	s.publish(d)
	return nil
}

// Deployment returns the Deployment namespace/name as the API answers it, or nil.
func (s *Server) Deployment(namespace, name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deployments[namespace+"/"+name]
	if d == nil {
		return nil
	}
	s.advance(d)
	return d.current
}

// Images returns the images of the pods of namespace/name that are running and ready, by
// pod name: what the workload serves now.
func (s *Server) Images(namespace, name string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	d := s.deployments[namespace+"/"+name]
	if d == nil {
		return out
	}
	s.advance(d)
	for _, rs := range d.sets {
		for _, p := range rs.pods {
			if p.ready {
				out[p.name] = strings.Join(containerImages(rs.template), ",")
			}
		}
	}
	return out
}

// Calls returns how many requests were made with method to resource ("deployments",
// "replicasets", "pods"); a watch counts as a GET.
func (s *Server) Calls(method, resource string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method+" "+resource]
}

// TotalCalls returns how many requests were made in all.
func (s *Server) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

// HTTPClient returns a client that hands requests straight to the server, with no sockets
// (so testing/synctest can drive it); a watch's answer streams as the server writes it.
func (s *Server) HTTPClient() *http.Client { return &http.Client{Transport: streamTransport{s}} }

// Client returns an EKS target client over [Server.HTTPClient], namespace "default".
func (s *Server) Client() *eks.Client {
	c, err := eks.NewClient(eks.ClientConfig{Endpoint: "http://ekstest.invalid", Tokens: eks.StaticToken("ekstest"),
		HTTPClient: s.HTTPClient()})
	if err != nil {
		panic(err) // the endpoint above is valid
	}
	return c
}

// ServeHTTP answers a Kubernetes API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, ok := parsePath(r.URL.Path)
	s.mu.Lock()
	s.calls[r.Method+" "+rt.resource]++
	s.mu.Unlock()
	var a answer
	switch {
	case !ok:
		a = status(http.StatusNotFound, "NotFound", fmt.Sprintf("the server could not find the requested resource (%s %s): ekstest serves deployments, replicasets and pods", r.Method, r.URL.Path))
	case rt.resource == "deployments" && rt.name == "" && r.Method == http.MethodGet && r.URL.Query().Get("watch") != "":
		s.watch(w, r, rt.namespace)
		return
	case rt.resource == "deployments" && rt.name == "" && r.Method == http.MethodGet:
		a = s.listDeployments(r, rt.namespace)
	case rt.resource == "deployments" && r.Method == http.MethodGet:
		a = s.getDeployment(rt)
	case rt.resource == "deployments" && (r.Method == http.MethodPut || r.Method == http.MethodPatch):
		a = s.writeDeployment(r, rt)
	case (rt.resource == "replicasets" || rt.resource == "pods") && rt.name == "" && r.Method == http.MethodGet:
		a = s.listOwned(r, rt)
	case rt.resource == "pods" && rt.name != "" && r.Method == http.MethodDelete:
		a = s.deletePod(rt)
	default:
		a = status(http.StatusMethodNotAllowed, "MethodNotAllowed", fmt.Sprintf("ekstest does not serve %s %s", r.Method, r.URL.Path))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.code)
	_, _ = w.Write(a.body)
}

// answer is a response, made under the lock and written after it.
type answer struct {
	code int
	body []byte
}

func ok(body []byte) answer { return answer{http.StatusOK, body} }

// status is a Kubernetes Status object, as the API server answers errors.
func status(code int, reason, msg string) answer {
	body, _ := json.Marshal(map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{}, "status": "Failure",
		"message": msg, "reason": reason, "code": code})
	return answer{code, body}
}

func notFound(kind, name string) answer {
	return status(http.StatusNotFound, "NotFound", fmt.Sprintf("%s %q not found", kind, name))
}

// route is what a request path names.
type route struct{ namespace, resource, name string }

// parsePath reads /apis/apps/v1/namespaces/NS/{deployments,replicasets}[/NAME] and
// /api/v1/namespaces/NS/pods[/NAME].
func parsePath(p string) (route, bool) {
	var rest string
	apps := strings.HasPrefix(p, "/apis/apps/v1/namespaces/")
	switch {
	case apps:
		rest = strings.TrimPrefix(p, "/apis/apps/v1/namespaces/")
	case strings.HasPrefix(p, "/api/v1/namespaces/"):
		rest = strings.TrimPrefix(p, "/api/v1/namespaces/")
	default:
		return route{resource: "other"}, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || (len(parts) == 3 && parts[2] == "") {
		return route{resource: "other"}, false
	}
	rt := route{namespace: parts[0], resource: parts[1]}
	if len(parts) == 3 {
		rt.name = parts[2]
	}
	if (apps && rt.resource != "deployments" && rt.resource != "replicasets") || (!apps && rt.resource != "pods") {
		return route{resource: rt.resource}, false
	}
	return rt, true
}

func (s *Server) getDeployment(rt route) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deployments[rt.namespace+"/"+rt.name]
	if d == nil {
		return notFound("deployments.apps", rt.name)
	}
	s.advance(d)
	return ok(d.current)
}

// writeDeployment replaces (PUT) or patches (JSON Patch, RFC 6902) a Deployment's labels,
// annotations and spec. A PUT whose resourceVersion is not the stored one fails with 409
// Conflict, as optimistic concurrency on the API server does.
func (s *Server) writeDeployment(r *http.Request, rt route) answer {
	if ct := r.Header.Get("Content-Type"); r.Method == http.MethodPatch && ct != "application/json-patch+json" {
		return status(http.StatusUnsupportedMediaType, "UnsupportedMediaType", fmt.Sprintf("ekstest applies application/json-patch+json patches, not %q", ct))
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return status(http.StatusBadRequest, "BadRequest", err.Error())
	}
	var o map[string]any
	if r.Method == http.MethodPut {
		if err := json.Unmarshal(body, &o); err != nil {
			return status(http.StatusBadRequest, "BadRequest", "the body is not a JSON object: "+err.Error())
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deployments[rt.namespace+"/"+rt.name]
	if d == nil {
		return notFound("deployments.apps", rt.name)
	}
	s.advance(d)
	if r.Method == http.MethodPatch {
		var doc any
		_ = json.Unmarshal(d.current, &doc)
		patched, err := applyPatch(doc, body)
		if err != nil {
			return status(http.StatusUnprocessableEntity, "Invalid", "the patch does not apply: "+err.Error())
		}
		o, _ = patched.(map[string]any)
	} else if v, _ := dig(o, "metadata", "resourceVersion").(string); v != "" && v != strconv.FormatInt(d.rv, 10) {
		return status(http.StatusConflict, "Conflict", fmt.Sprintf(`Operation cannot be fulfilled on deployments.apps %q: the object has been modified; please apply your changes to the latest version and try again`, rt.name))
	}
	spec, _ := o["spec"].(map[string]any)
	defaults(spec)
	if err := validSpec(spec); err != nil {
		return status(http.StatusUnprocessableEntity, "Invalid", fmt.Sprintf("Deployment.apps %q is invalid: %v", d.name, err))
	}
	d.labels, d.annotations = mapOf(dig(o, "metadata", "labels")), mapOf(dig(o, "metadata", "annotations"))
	if !jsonEqual(spec, d.spec) {
		d.spec = spec
		d.generation++
		d.lastStep = s.now().Add(-s.StepInterval) // the controller sees the change at once
	}
	s.publish(d)
	return ok(d.current)
}

// validSpec checks what the API server would refuse and the controller relies on.
func validSpec(spec map[string]any) error {
	containers, _ := dig(spec, "template", "spec", "containers").([]any)
	if len(containers) == 0 {
		return fmt.Errorf("spec.template.spec.containers: Required value")
	}
	for i, c := range containers {
		if img, _ := dig(c, "image").(string); img == "" {
			return fmt.Errorf("spec.template.spec.containers[%d].image: Required value", i)
		}
	}
	sel := mapOf(dig(spec, "selector", "matchLabels"))
	if len(sel) == 0 {
		return fmt.Errorf("spec.selector: Required value")
	}
	if !matches(sel, mapOf(dig(spec, "template", "metadata", "labels"))) {
		return fmt.Errorf("spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`")
	}
	if n, ok := spec["replicas"].(float64); !ok || n < 0 || n != float64(int(n)) {
		return fmt.Errorf("spec.replicas: Invalid value: %v", spec["replicas"])
	}
	return nil
}

func (s *Server) listDeployments(r *http.Request, ns string) answer {
	name, err := nameSelector(r.URL.Query().Get("fieldSelector"))
	if err != nil {
		return status(http.StatusBadRequest, "BadRequest", err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var items []json.RawMessage
	for _, d := range s.in(ns, name) {
		items = append(items, d.current)
	}
	return s.list("DeploymentList", "apps/v1", items)
}

// in returns the Deployments of namespace ns (only the one named name, unless name is ""),
// moved forward to now, by name. It is called with s.mu held.
func (s *Server) in(ns, name string) []*deployment {
	var out []*deployment
	for _, d := range s.sorted() {
		if d.namespace == ns && (name == "" || d.name == name) {
			s.advance(d)
			out = append(out, d)
		}
	}
	return out
}

func (s *Server) list(kind, apiVersion string, items []json.RawMessage) answer {
	if items == nil {
		items = []json.RawMessage{}
	}
	body, _ := json.Marshal(map[string]any{"kind": kind, "apiVersion": apiVersion,
		"metadata": map[string]any{"resourceVersion": strconv.FormatInt(s.rv, 10)}, "items": items})
	return ok(body)
}

// listOwned lists the ReplicaSets or Pods of a namespace that match a label selector.
func (s *Server) listOwned(r *http.Request, rt route) answer {
	sel, err := parseSelector(r.URL.Query().Get("labelSelector"))
	if err != nil {
		return status(http.StatusBadRequest, "BadRequest", err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var items []json.RawMessage
	for _, d := range s.in(rt.namespace, "") {
		for _, rs := range d.sets {
			if !matches(sel, rs.labels()) {
				continue
			}
			if rt.resource == "replicasets" {
				items = append(items, s.renderSet(d, rs))
				continue
			}
			for _, p := range rs.pods {
				items = append(items, s.renderPod(d, rs, p))
			}
		}
	}
	if rt.resource == "replicasets" {
		return s.list("ReplicaSetList", "apps/v1", items)
	}
	return s.list("PodList", "v1", items)
}

// deletePod deletes a pod; its ReplicaSet starts another in its place at the next step.
func (s *Server) deletePod(rt route) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.in(rt.namespace, "") {
		for _, rs := range d.sets {
			for i, p := range rs.pods {
				if p.name == rt.name {
					body := s.renderPod(d, rs, p)
					rs.pods = append(rs.pods[:i], rs.pods[i+1:]...)
					s.publish(d)
					return ok(body)
				}
			}
		}
	}
	return notFound("pods", rt.name)
}

// watch streams the events of the namespace's Deployments after the given resourceVersion,
// one JSON object a line, until timeoutSeconds pass or the client goes away. A
// resourceVersion older than the events kept gets an ERROR event (410 Expired), as from
// the API server.
func (s *Server) watch(w http.ResponseWriter, r *http.Request, ns string) {
	q := r.URL.Query()
	name, err := nameSelector(q.Get("fieldSelector"))
	var from int64
	initial := q.Get("resourceVersion") == "" || q.Get("resourceVersion") == "0" // the current objects first
	if err == nil && !initial {
		if from, err = strconv.ParseInt(q.Get("resourceVersion"), 10, 64); err != nil {
			err = fmt.Errorf("resourceVersion %q is not a number", q.Get("resourceVersion"))
		}
	}
	if err != nil {
		a := status(http.StatusBadRequest, "BadRequest", err.Error())
		w.WriteHeader(a.code)
		_, _ = w.Write(a.body)
		return
	}
	ctx := r.Context()
	if secs, err := strconv.Atoi(q.Get("timeoutSeconds")); err == nil && secs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(secs)*time.Second)
		defer cancel()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	enc := json.NewEncoder(w)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		var out []event
		var next time.Time
		expired := false
		for _, d := range s.in(ns, name) {
			expired = expired || (!initial && from < d.dropped)
			for _, e := range d.events {
				if initial && e.rv == d.rv {
					out = append(out, event{rv: e.rv, typ: "ADDED", obj: e.obj})
				} else if !initial && e.rv > from {
					out = append(out, e)
				}
			}
			if t, ok := s.nextStep(d); ok && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
		changed, now := s.changed, s.now()
		if initial {
			from, initial = s.rv, false
		}
		s.mu.Unlock()
		if expired {
			_ = enc.Encode(map[string]any{"type": "ERROR", "object": json.RawMessage(status(http.StatusGone, "Expired",
				fmt.Sprintf("too old resource version: %d", from)).body)})
			return
		}
		sort.Slice(out, func(i, j int) bool { return out[i].rv < out[j].rv })
		for _, e := range out {
			if err := enc.Encode(map[string]any{"type": e.typ, "object": json.RawMessage(e.obj)}); err != nil {
				return // the client went away
			}
			from = max(from, e.rv)
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		var wake <-chan time.Time
		if !next.IsZero() {
			timer.Reset(max(next.Sub(now), 0))
			wake = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-wake:
		}
		timer.Stop()
	}
}

// nameSelector reads a fieldSelector of the form metadata.name=NAME (or "").
func nameSelector(sel string) (string, error) {
	if sel == "" {
		return "", nil
	}
	k, v, ok := strings.Cut(sel, "=")
	v = strings.TrimPrefix(v, "=")
	if !ok || k != "metadata.name" || strings.Contains(v, ",") {
		return "", fmt.Errorf("ekstest understands the field selector metadata.name=NAME only, not %q", sel)
	}
	return v, nil
}

// parseSelector reads an equality-based label selector (k=v,k2==v2); ekstest does not
// understand set-based ones and says so.
func parseSelector(sel string) (map[string]string, error) {
	out := map[string]string{}
	if sel == "" {
		return out, nil
	}
	for _, part := range strings.Split(sel, ",") {
		k, v, ok := strings.Cut(part, "=")
		v = strings.TrimPrefix(v, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, "!() ") || strings.ContainsAny(v, "=!() ") {
			return nil, fmt.Errorf("ekstest understands equality label selectors (k=v,...) only, not %q", sel)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

func matches(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}
