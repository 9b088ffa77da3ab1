package eks

import (
	"context"
	"errors"
	"io"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/poll"
)

// stallFactor is how many PollIntervals the workload must be quiet before its new pods are
// read: long enough that a healthy rollout's pauses between steps cost no reads, short
// enough that a pod that cannot start fails the rollout seconds after it stalls.
const stallFactor = 3

// errWatchEnded says the workload's watch failed for good: the wait goes on by polling.
var errWatchEnded = errors.New("the watch failed")

// wait follows the workload until kubectl's rules say the change mine made is rolled out, a
// new pod is stuck (unless NoFailFast), another writer replaces the pod template (ErrSuperseded),
// or ctx ends. It watches the workload, restarting the watch when the server ends it and
// falling back to polling every PollInterval when watching fails. New pods are read only when
// the workload has been quiet for a while (a pod that cannot start stops its status moving).
// A zero mine judges whatever the workload holds (a workload just created, in tests).
func (t *Target) wait(ctx context.Context, emit deploy.EventFunc, phase deploy.Phase, mine pin) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	raw, err := t.c.get(ctx, t.path)
	if err != nil {
		return t.apiErr("read the workload", err)
	}
	var last deploy.Counts
	lastMsg := ""
	check := func(obj gjson.Result) (bool, error) {
		if mine.template != "" {
			if gen := obj.Get("metadata.generation").Int(); gen > mine.generation && !jsonEqual(obj.Get("spec.template").Raw, mine.template) {
				return false, deploy.Errorf(deploy.ErrSuperseded, t.Name(), "wait",
					"another writer changed the %s's pod template after this deploy (generation %d, now %d; images now %s); "+
						"this deploy stops following it and leaves it as that writer set it",
					strings.ToLower(string(t.kind)), mine.generation, gen, images(obj.Get("spec.template")))
			}
		}
		msg, done, err := Status(t.kind, obj)
		if err != nil {
			return false, deploy.Errorf(deploy.ErrFailed, t.Name(), "wait", "%v", err)
		}
		desired, updated, ready, available := counts(t.kind, obj)
		c := deploy.Counts{Desired: desired, Updated: updated, Running: ready, Pending: max(desired-available, 0)}
		if c != last || msg != lastMsg {
			last, lastMsg = c, msg
			emit.Emit(deploy.Event{Target: t.Name(), Phase: phase, Message: msg, Counts: c})
		}
		return done, nil
	}
	obj := gjson.ParseBytes(raw)
	if done, err := check(obj); done || err != nil {
		return err
	}
	rv := obj.Get("metadata.resourceVersion").String()

	// The fail-fast check: once the workload has been quiet for an interval (longer each
	// time nothing is wrong), read its new pods; never while it keeps moving, so a healthy
	// rollout costs no pod reads at all.
	stallPolicy := poll.Policy{Interval: stallFactor * t.opts.PollInterval, Max: 15 * time.Second}.Defaults()
	quiet := stallPolicy.Interval
	stall := time.NewTimer(quiet)
	defer stall.Stop()
	observe := func(o gjson.Result) (bool, error) {
		if v := o.Get("metadata.resourceVersion").String(); v != rv {
			rv = v
			quiet = stallPolicy.Interval
			stall.Reset(quiet)
		}
		obj = o
		return check(o)
	}
	stalled := func(ctx context.Context) error {
		if !t.opts.NoFailFast {
			if problem, err := t.stuckPods(ctx, obj); err != nil {
				t.log.DebugContext(ctx, "could not check pods", "target", t.Name(), "err", err)
			} else if problem != "" {
				return deploy.Errorf(deploy.ErrFailed, t.Name(), "wait", "a new pod cannot start, so the rollout cannot finish: %s", problem)
			}
		}
		quiet = stallPolicy.Next(quiet)
		stall.Reset(quiet)
		return nil
	}

	err = errWatchEnded
	if !t.opts.NoWatch {
		err = t.watchUntil(ctx, &rv, observe, stall.C, stalled)
	}
	if errors.Is(err, errWatchEnded) {
		// Polling: a GET every PollInterval, the same judgement and fail-fast check.
		look := func(ctx context.Context) (poll.Look, error) {
			select {
			case <-stall.C:
				if err := stalled(ctx); err != nil {
					return poll.Look{}, err
				}
			default:
			}
			raw, err := t.c.get(ctx, t.path)
			if err != nil {
				return poll.Look{}, t.apiErr("read the workload", err)
			}
			done, err := observe(gjson.ParseBytes(raw))
			return poll.Look{Done: done}, err
		}
		err = poll.Until(ctx, poll.Policy{Interval: t.opts.PollInterval, Growth: 1, Jitter: -1}, look, nil)
	}
	if err != nil && ctx.Err() != nil {
		return t.ctxErr(ctx.Err(), "wait: "+lastMsg)
	}
	return err
}

// watchUntil watches the workload from *rv, each event judged by observe, resuming where
// it left off when the server ends the watch, until observe says done or fails, stall fires
// and stalled fails, or the watch fails (errWatchEnded).
func (t *Target) watchUntil(ctx context.Context, rv *string, observe func(gjson.Result) (bool, error),
	stall <-chan time.Time, stalled func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type event struct {
		typ string
		obj gjson.Result
	}
	events := make(chan event)
	watchDone := make(chan error, 1)
	startWatch := func() {
		q := url.Values{"watch": {"1"}, "fieldSelector": {"metadata.name=" + t.name}, "resourceVersion": {*rv}, "timeoutSeconds": {"300"}}
		path := "/apis/apps/v1/namespaces/" + url.PathEscape(t.namespace) + "/" + t.kind.resource() + "?" + q.Encode()
		go func() {
			watchDone <- t.c.watch(ctx, path, func(typ string, o gjson.Result) bool {
				select {
				case events <- event{typ, o}:
					return true
				case <-ctx.Done():
					return false
				}
			})
		}()
	}
	startWatch()
	look := func(ctx context.Context) (poll.Look, error) {
		select {
		case <-ctx.Done():
			return poll.Look{}, ctx.Err()
		case ev := <-events:
			switch ev.typ {
			case "DELETED":
				return poll.Look{}, deploy.Errorf(deploy.ErrFailed, t.Name(), "wait", "the workload was deleted during the rollout")
			case "ADDED", "MODIFIED":
				done, err := observe(ev.obj)
				return poll.Look{Done: done}, err
			}
		case err := <-watchDone:
			if errors.Is(err, io.EOF) || err == nil {
				startWatch() // the server ends watches now and then: resume where it left off
				return poll.Look{}, nil
			}
			t.log.DebugContext(ctx, "watch failed; polling instead", "target", t.Name(), "err", err)
			return poll.Look{}, errWatchEnded
		case <-stall:
			return poll.Look{}, stalled(ctx)
		}
		return poll.Look{}, nil
	}
	err := poll.Until(ctx, poll.Policy{Blocking: true}, look, nil)
	cancel()
	if errors.Is(err, errWatchEnded) {
		return err
	}
	<-watchDone // the watch ends with ctx
	return err
}

// images lists a pod template's containers as name=image, for messages.
func images(tpl gjson.Result) string {
	var parts []string
	for _, key := range []string{"spec.initContainers", "spec.containers"} {
		for _, c := range tpl.Get(key).Array() {
			parts = append(parts, c.Get("name").String()+"="+c.Get("image").String())
		}
	}
	return strings.Join(parts, " ")
}

// selector is the workload's matchLabels as a label selector.
func selector(obj gjson.Result, extra ...string) string {
	var parts []string
	obj.Get("spec.selector.matchLabels").ForEach(func(k, v gjson.Result) bool {
		parts = append(parts, k.String()+"="+v.String())
		return true
	})
	sort.Strings(parts)
	return strings.Join(append(parts, extra...), ",")
}

// owned returns the items of list controlled by the object with uid.
func owned(list []byte, uid string) []gjson.Result {
	var out []gjson.Result
	for _, it := range gjson.GetBytes(list, "items").Array() {
		for _, o := range it.Get("metadata.ownerReferences").Array() {
			if o.Get("controller").Bool() && o.Get("uid").String() == uid {
				out = append(out, it)
			}
		}
	}
	return out
}

func (t *Target) list(ctx context.Context, group, resource, labelSelector string) ([]byte, error) {
	path := "/api/v1/namespaces/" + url.PathEscape(t.namespace) + "/" + resource
	if group != "" {
		path = "/apis/" + group + "/namespaces/" + url.PathEscape(t.namespace) + "/" + resource
	}
	return t.c.get(ctx, path+"?labelSelector="+url.QueryEscape(labelSelector))
}

// newPodLabel returns the label that marks the pods of the workload's new revision.
func (t *Target) newPodLabel(ctx context.Context, obj gjson.Result) (string, error) {
	uid := obj.Get("metadata.uid").String()
	switch t.kind {
	case Deployment:
		rev := obj.Get(`metadata.annotations.deployment\.kubernetes\.io/revision`).String()
		rs, err := t.list(ctx, "apps/v1", "replicasets", selector(obj))
		if err != nil {
			return "", err
		}
		for _, r := range owned(rs, uid) {
			if r.Get(`metadata.annotations.deployment\.kubernetes\.io/revision`).String() == rev {
				return "pod-template-hash=" + r.Get(`metadata.labels.pod-template-hash`).String(), nil
			}
		}
	case StatefulSet:
		if r := obj.Get("status.updateRevision").String(); r != "" {
			return "controller-revision-hash=" + r, nil
		}
	case DaemonSet:
		crs, err := t.list(ctx, "apps/v1", "controllerrevisions", selector(obj))
		if err != nil {
			return "", err
		}
		var best gjson.Result
		for _, cr := range owned(crs, uid) {
			if !best.Exists() || cr.Get("revision").Int() > best.Get("revision").Int() {
				best = cr
			}
		}
		if best.Exists() {
			name := best.Get("metadata.name").String()
			return "controller-revision-hash=" + name[strings.LastIndexByte(name, '-')+1:], nil
		}
	}
	return "", nil
}

// stuckPods names a pod of the new revision that cannot start, or returns "".
func (t *Target) stuckPods(ctx context.Context, obj gjson.Result) (string, error) {
	label, err := t.newPodLabel(ctx, obj)
	if err != nil || label == "" {
		return "", err
	}
	pods, err := t.list(ctx, "", "pods", selector(obj, label))
	if err != nil {
		return "", err
	}
	for _, pod := range gjson.GetBytes(pods, "items").Array() {
		if p := PodProblem(pod); p != "" {
			return p, nil
		}
	}
	return "", nil
}

// Wait waits for the rollout the workload is in, whoever started it, by kubectl rollout
// status's rules, failing as soon as a new pod is stuck (unless NoFailFast).
func (t *Target) Wait(ctx context.Context, emit deploy.EventFunc) error {
	if err := t.validate(); err != nil {
		return err
	}
	return t.wait(ctx, emit, deploy.PhaseWait, pin{})
}
