package eks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/imageref"
	"github.com/stevedore-dev/stevedore/internal/jsondiff"
)

// ChangeCause is the annotation kubectl shows as CHANGE-CAUSE in rollout history.
const ChangeCause = "kubernetes.io/change-cause"

// Plan is the EKS target's plan: the workload as observed, and its new pod template.
type Plan struct {
	t        *Target
	rel      deploy.Release
	observed []byte // the workload as read
	template string // the observed spec.template, raw JSON
	desired  string // the new spec.template
	revision string // a Deployment's deployment.kubernetes.io/revision as observed
	cause    string // the change-cause annotation as observed
	changed  bool
	restored bool // made by Restore: Apply resumes the wait

	mu         sync.Mutex
	applied    bool // Apply tried to write
	written    pin  // what Apply wrote, once known
	superseded bool // the wait saw another writer change the template
	rolledBack bool // Rollback finished: a second one has nothing to do
}

// pin is a change this process made: the generation the write produced and the pod template
// it left. A wait judges that change, not whatever the workload holds later.
type pin struct {
	generation int64
	template   string
}

// pinOf reads the pin from a workload as a write returned it.
func pinOf(obj []byte) pin {
	return pin{generation: gjson.GetBytes(obj, "metadata.generation").Int(), template: gjson.GetBytes(obj, "spec.template").Raw}
}

// InFlight implements deploy.InFlighter: the rollout the workload was in when the plan was
// made, by kubectl rollout status's rules (a generation not yet observed, replicas not yet
// updated or available), or "". A rollout past its progress deadline has stopped, and is not
// one.
func (p *Plan) InFlight() string {
	if p.restored || len(p.observed) == 0 {
		return ""
	}
	msg, done, err := Status(p.t.kind, gjson.ParseBytes(p.observed))
	if done || err != nil {
		return ""
	}
	return "rollout in progress: " + msg
}

var _ deploy.InFlighter = (*Plan)(nil)

// Describe implements deploy.Describer: the revision (a Deployment's) and images the
// workload's pod template had, and the images the plan writes.
func (p *Plan) Describe() (before, after deploy.State) {
	return deploy.State{Revision: p.revision, Images: containerImages(p.template)}, deploy.State{Images: containerImages(p.desired)}
}

// containerImages is a pod template's images by container name.
func containerImages(tpl string) map[string]string {
	out := map[string]string{}
	for _, c := range gjson.Get(tpl, "spec.containers").Array() {
		out[c.Get("name").String()] = c.Get("image").String()
	}
	return out
}

var _ deploy.Describer = (*Plan)(nil)

// Template returns the pod template the plan writes, as JSON.
func (p *Plan) Template() []byte { return []byte(p.desired) }

// Changed implements deploy.Plan.
func (p *Plan) Changed() bool { return p.changed }

// Diff implements deploy.Plan: the pod template change as JSON paths, the same bytes on
// every run (compared with go-cmp).
func (p *Plan) Diff() string {
	if !p.changed {
		return ""
	}
	var a, b any
	_ = json.Unmarshal([]byte(p.template), &a)
	_ = json.Unmarshal([]byte(p.desired), &b)
	return jsondiff.Diff(p.t.Name()+" spec.template", a, b)
}

// Plan implements deploy.Target: it reads the workload and sets the release's images in
// its pod template by container name (init containers too; "" means the only container).
func (t *Target) Plan(ctx context.Context, r deploy.Release) (deploy.Plan, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	if len(r.Env) > 0 || len(r.Secrets) > 0 {
		return nil, deploy.Errorf(deploy.ErrInvalid, t.Name(), "plan", "the Kubernetes target sets images; change environment and secrets in the manifest")
	}
	if len(r.Images) == 0 {
		return nil, deploy.Errorf(deploy.ErrInvalid, t.Name(), "plan", "the release sets no image")
	}
	for _, n := range r.ImageNames() {
		if _, err := imageref.Parse(r.Images[n]); err != nil {
			return nil, deploy.Errorf(deploy.ErrInvalid, t.Name(), "plan", "container %q: %v", n, err)
		}
	}
	obj, err := t.c.get(ctx, t.path)
	if err != nil {
		return nil, t.apiErr("read the workload", err)
	}
	if st := gjson.GetBytes(obj, "spec.updateStrategy.type").String(); t.kind != Deployment && st == "OnDelete" {
		return nil, deploy.Errorf(deploy.ErrInvalid, t.Name(), "plan", "the %s uses the OnDelete update strategy: its pods change only when deleted, so no rollout can be awaited; use RollingUpdate", strings.ToLower(string(t.kind)))
	}
	tpl := gjson.GetBytes(obj, "spec.template").Raw
	desired, err := setImages(tpl, r.Images)
	if err != nil {
		return nil, deploy.Errorf(deploy.ErrInvalid, t.Name(), "plan", "%v", err)
	}
	p := &Plan{t: t, rel: r, observed: obj, template: tpl, desired: desired,
		revision: gjson.GetBytes(obj, `metadata.annotations.deployment\.kubernetes\.io/revision`).String(),
		cause:    gjson.GetBytes(obj, "metadata.annotations."+escape(ChangeCause)).String()}
	p.changed = !jsonEqual(tpl, desired)
	return p, nil
}

func (t *Target) apiErr(op string, err error) error {
	var se *StatusError
	kind := deploy.ErrUnavailable
	detail := ""
	if errors.As(err, &se) {
		kind = kindOf(se.Code)
		switch se.Code {
		case 404:
			detail = fmt.Sprintf("no %s %q in namespace %q", strings.ToLower(string(t.kind)), t.name, t.namespace)
		case 401:
			detail = "the cluster refused the credentials (an expired token?)"
		case 403:
			detail = "the credentials lack a permission; they need get, list, watch and update on " + t.kind.resource() + ", and list on pods and replicasets or controllerrevisions"
		}
	} else if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return t.ctxErr(err, op)
	}
	return deploy.Wrap(kind, t.Name(), op, err, detail)
}

func (t *Target) ctxErr(err error, op string) error {
	return deploy.ContextError(err, t.Name(), op, "")
}

// setImages returns the template with images set by container name. The images were
// checked when the plan was made.
func setImages(tpl string, images map[string]string) (string, error) {
	type ref struct{ path, name string }
	var all []ref
	for _, key := range []string{"spec.initContainers", "spec.containers"} {
		for i, c := range gjson.Get(tpl, key).Array() {
			all = append(all, ref{fmt.Sprintf("%s.%d.image", key, i), c.Get("name").String()})
		}
	}
	names := make([]string, 0, len(images))
	for n := range images {
		names = append(names, n)
	}
	sort.Strings(names)
	out := tpl
	for _, n := range names {
		img := images[n]
		var hit []string
		for _, r := range all {
			if n == r.name || n == "" && len(all) == 1 {
				hit = append(hit, r.path)
			}
		}
		if len(hit) == 0 {
			var have []string
			for _, r := range all {
				have = append(have, r.name)
			}
			if n == "" {
				return "", fmt.Errorf("the release names no container, and the pod has %d (%s): name one", len(all), strings.Join(have, ", "))
			}
			return "", fmt.Errorf("no container %q in the pod template; it has %s", n, strings.Join(have, ", "))
		}
		for _, path := range hit {
			var err error
			if out, err = sjson.Set(out, path, img); err != nil {
				return "", err
			}
		}
	}
	return out, nil
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return a == b
	}
	return cmp.Equal(x, y)
}

// escape makes a key with dots a gjson path.
func escape(k string) string { return strings.ReplaceAll(k, ".", `\.`) }
