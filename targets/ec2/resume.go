package ec2

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/stevedore-dev/stevedore/deploy"
)

// resume is a restored plan's Apply: it waits on the commands the original sent and did not
// see end, then judges the rollout as Apply would. It sends nothing, since the snapshot holds
// none of the release's environment: instances the release had not reached, or reached and
// not verified, are left for a fresh plan, and then nothing is recorded, so that the fresh
// plan still sees what they ran before.
func (p *Plan) resume(ctx context.Context, emit deploy.EventFunc) error {
	t, l := p.t, p.limits
	p.mu.Lock()
	rolledBack := p.rolledBack
	started := len(p.touched) > 0 || len(p.done) > 0 || len(p.failed) > 0 || len(p.inflight) > 0
	cmds := p.inFlight()
	p.mu.Unlock()
	switch {
	case rolledBack:
		return deploy.Errorf(deploy.ErrInvalid, t.Name(), "resume", "the plan was rolled back; plan the release again")
	case !started:
		return deploy.Errorf(deploy.ErrInvalid, t.Name(), "resume", "the snapshot was taken before anything was sent, and a restored plan sends nothing; plan the release again")
	}
	for _, c := range cmds {
		if c.Kind == "rollback" {
			return deploy.Errorf(deploy.ErrInvalid, t.Name(), "resume", "the snapshot was taken while rollback command %s ran; roll back again", c.ID)
		}
	}
	if len(cmds) > 0 {
		emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseApply, Counts: deploy.Counts{Desired: l.total},
			Message: fmt.Sprintf("resuming version %s: waiting on %d commands sent before the snapshot", p.rel.version, len(cmds))})
	}
	results := make([][]Result, len(cmds))
	err := together(len(cmds), emit, func(i int, emit deploy.EventFunc) error {
		s, err := p.await(ctx, cmds[i], emit)
		results[i] = s.Results
		return err
	})
	if err != nil {
		return err
	}
	for i, c := range cmds {
		if c.Kind == "verify" {
			p.note(split(results[i], "verify failed: "))
			continue
		}
		ok, failed := split(results[i], "")
		if t.staged() {
			ok = nil // installed, not yet through the rest (verify, hooks, back in service): left for a fresh plan
		}
		p.note(ok, failed)
	}
	p.mu.Lock()
	reached := len(p.done)
	var left []string
	for _, id := range p.usable {
		if _, ok := slices.BinarySearch(p.done, id); !ok && !slices.ContainsFunc(p.failed, func(r Result) bool { return r.Instance == id }) {
			left = append(left, id)
		}
	}
	failures := len(p.failed)
	p.mu.Unlock()
	if failures <= l.allowed && len(left) > 0 {
		return deploy.Errorf(deploy.ErrInvalid, t.Name(), "resume",
			"version %s succeeded on %d instances before and since the snapshot, but %d had not been sent it or verified (%s), and a restored plan sends nothing; plan the release again to finish, or roll back",
			p.rel.version, reached, len(left), strings.Join(first(left, 10), ", "))
	}
	return p.finish(ctx, emit)
}

// inFlight returns the commands in flight, by ID; p.mu must be held.
func (p *Plan) inFlight() []sent {
	cmds := make([]sent, 0, len(p.inflight))
	for _, c := range p.inflight {
		cmds = append(cmds, c)
	}
	slices.SortFunc(cmds, func(a, b sent) int { return strings.Compare(a.ID, b.ID) })
	return cmds
}
