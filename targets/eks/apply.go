package eks

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/stevedore-dev/stevedore/deploy"
)

// maxConflicts is how many times an update is retried after a 409 Conflict, and
// maxTransientWrites after a write failed in a way that leaves unknown whether it landed.
const (
	maxConflicts       = 5
	maxTransientWrites = 5
)

// update reads the workload (or starts from first), applies mutate and writes it back with
// its resourceVersion, so a concurrent change makes the write fail with 409; then it reads
// the workload again and retries, up to maxConflicts times. After a transient failure (a
// 5xx, a lost answer) it also reads again before writing: the write may have landed, and if
// the object already is what mutate makes of it, nothing is written. It returns the object
// as stored.
func (t *Target) update(ctx context.Context, first []byte, op string, mutate func(obj []byte) ([]byte, error)) ([]byte, error) {
	obj := first
	conflicts, transients := 0, 0
	for {
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
		if jsonEqual(string(next), string(obj)) {
			return obj, nil // already so: an earlier write whose answer was lost landed
		}
		out, err := t.c.put(ctx, t.path, next)
		switch {
		case err == nil:
			return out, nil
		case isConflict(err) && conflicts < maxConflicts:
			conflicts++
			t.log.DebugContext(ctx, "conflict; reading the workload again", "target", t.Name(), "attempt", conflicts)
		case transient(err) && transients < maxTransientWrites && ctx.Err() == nil:
			t.log.DebugContext(ctx, "the write failed transiently; reading the workload again before writing", "target", t.Name(), "err", err)
			if err := sleep(ctx, backoff(transients, err)); err != nil {
				return nil, t.ctxErr(err, op)
			}
			transients++
		default:
			return nil, t.apiErr(op, err)
		}
		obj = nil
	}
}

// Apply implements deploy.Plan: it sets the images (re-applied to the workload as it is at
// write time, so other changes survive), records the release in kubernetes.io/change-cause,
// and waits with kubectl's rules, failing fast on stuck pods.
func (p *Plan) Apply(ctx context.Context, emit deploy.EventFunc) error {
	t := p.t
	if p.restored {
		p.mu.Lock()
		written, applied := p.written, p.applied
		p.mu.Unlock()
		if !applied || written.generation == 0 {
			return deploy.Errorf(deploy.ErrInvalid, t.Name(), "resume", "the snapshot was taken before the workload was written; plan the release again")
		}
		return t.wait(ctx, emit, deploy.PhaseWait, written)
	}
	cause := changeCause(p.rel)
	p.mu.Lock()
	p.applied = true // a failed write may still have landed: roll back regardless
	p.mu.Unlock()
	// Said before the write, with the plan already saying so: a release's journal writes the
	// plan's snapshot as the event passes, so the write is on record before it is made.
	emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseApply, Message: "writing the new pod template"})
	out, err := t.update(ctx, p.observed, "update the workload", func(obj []byte) ([]byte, error) {
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
	written := pinOf(out)
	p.mu.Lock()
	p.written = written
	p.mu.Unlock()
	emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseApply, Message: "updated: " + cause})
	err = t.wait(ctx, emit, deploy.PhaseWait, written)
	if errors.Is(err, deploy.ErrSuperseded) {
		p.mu.Lock()
		p.superseded = true
		p.mu.Unlock()
	}
	return err
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
