package eks

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/stevedore-dev/stevedore/deploy"
)

// maxConflicts is how many times an update is retried after a 409 Conflict.
const maxConflicts = 5

// update reads the workload (or starts from first), applies mutate and writes it back with
// its resourceVersion, so a concurrent change makes the write fail with 409; then it reads
// the workload again and retries, up to maxConflicts times.
func (t *Target) update(ctx context.Context, first []byte, op string, mutate func(obj []byte) ([]byte, error)) ([]byte, error) {
	obj := first
	for attempt := 1; ; attempt++ {
		if obj == nil {
			var err error
			if obj, err = t.c.get(ctx, t.path); err != nil {
				return nil, t.apiErr(op, err)
			}
		}
		next, err := mutate(obj)
		if err != nil {
			return nil, deploy.Errorf(deploy.ErrInvalid, t.Name(), op, "%v", err)
		}
		out, err := t.c.put(ctx, t.path, next)
		if err == nil {
			return out, nil
		}
		if !isConflict(err) || attempt == maxConflicts {
			return nil, t.apiErr(op, err)
		}
		t.log.DebugContext(ctx, "conflict; reading the workload again", "target", t.Name(), "attempt", attempt)
		obj = nil
	}
}

// Apply implements deploy.Plan: it sets the images (re-applied to the workload as it is at
// write time, so other changes survive), records the release in kubernetes.io/change-cause,
// and waits with kubectl's rules, failing fast on stuck pods.
func (p *Plan) Apply(ctx context.Context, emit deploy.EventFunc) error {
	t := p.t
	cause := changeCause(p.rel)
	p.applied = true
	_, err := t.update(ctx, p.observed, "update the workload", func(obj []byte) ([]byte, error) {
		tpl, err := setImages(gjson.GetBytes(obj, "spec.template").Raw, p.rel.Images)
		if err != nil {
			return nil, err
		}
		if obj, err = sjson.SetRawBytes(obj, "spec.template", []byte(tpl)); err != nil {
			return nil, err
		}
		return sjson.SetBytes(obj, "metadata.annotations."+escape(ChangeCause), cause)
	})
	if err != nil {
		return err
	}
	emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseApply, Message: "updated: " + cause})
	return t.wait(ctx, emit, deploy.PhaseWait)
}

func changeCause(r deploy.Release) string {
	names := make([]string, 0, len(r.Images))
	for n := range r.Images {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		if n == "" {
			parts[i] = r.Images[n]
		} else {
			parts[i] = n + "=" + r.Images[n]
		}
	}
	s := "stevedore"
	if r.Version != "" {
		s += " " + r.Version
	}
	return fmt.Sprintf("%s: set image %s", s, strings.Join(parts, " "))
}
