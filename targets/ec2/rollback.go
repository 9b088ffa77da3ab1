package ec2

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/poll"
)

// Rollback implements deploy.Plan: it runs RollbackCommands (as the install step of the
// lifecycle hooks, if any), with the previous release's values, on every instance a deploy
// command reached, grouped by what each ran before, and puts every instance the rollout took
// out of its target groups back, waiting until they are healthy, whatever happened. With
// load balancing it goes wave by wave, the latest first, taking out only what the rollout's
// own waves took out at once. Instances with no recorded previous version are named in the
// error and left as they are. A restored plan first settles the commands the original left
// running: deploy and verify commands are cancelled (what they reached is rolled back),
// rollback commands waited on.
func (p *Plan) Rollback(ctx context.Context, emit deploy.EventFunc) error {
	t := p.t
	p.mu.Lock()
	if p.rolledBack {
		p.mu.Unlock()
		return nil
	}
	ctx = poll.Persistently(ctx) // keep trying until the deadline
	cmds := p.inFlight()
	p.mu.Unlock()
	if err := p.settle(ctx, cmds, emit); err != nil {
		return err
	}
	resume, err := p.holdScaling(ctx, deploy.PhaseRollback, emit)
	if err != nil {
		return err
	}
	defer resume()
	if err := p.restoreGroupRecords(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	touched := slices.Sorted(maps.Keys(p.touched))
	out := slices.Sorted(maps.Keys(p.out))
	p.mu.Unlock()
	if len(touched) == 0 && len(out) == 0 {
		return nil
	}
	var problems []string
	if len(touched) > 0 && len(t.opts.RollbackCommands) == 0 {
		problems = append(problems, fmt.Sprintf("no RollbackCommands were given, so %d instances keep what the failed rollout left: %s",
			len(touched), strings.Join(first(touched, 10), ", ")))
		touched = nil
	}
	all := slices.Compact(slices.Sorted(slices.Values(slices.Concat(touched, out))))
	batches := [][]string{all}
	if len(p.groups) > 0 {
		batches = nil
		for _, w := range slices.Backward(p.waves) {
			var in []string
			for _, id := range w.IDs {
				if slices.Contains(all, id) {
					in = append(in, id)
				}
			}
			if len(in) > 0 {
				batches = append(batches, in)
			}
		}
	}
	var failures []Result
	var unknown []string
	for _, ids := range batches {
		redo := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return !slices.Contains(touched, id) })
		if err := p.takeOut(ctx, deploy.PhaseRollback, redo, emit); err != nil {
			return err
		}
		f, u, err := p.rollbackInstances(ctx, redo, emit)
		if err != nil {
			return err
		}
		failures, unknown = append(failures, f...), append(unknown, u...)
		if err := p.putBack(ctx, deploy.PhaseRollback, ids, emit); err != nil {
			problems = append(problems, err.Error()) // the next waves still go back
		}
	}
	if len(failures) > 0 {
		problems = append(problems, fmt.Sprintf("the rollback commands failed on %d instances: %s", len(failures), describeFailures(failures, 5)))
	}
	if len(unknown) > 0 {
		problems = append(problems, fmt.Sprintf("%d instances had no recorded previous version and were left as they are: %s",
			len(unknown), strings.Join(first(unknown, 10), ", ")))
	}
	if len(problems) > 0 {
		return deploy.Errorf(deploy.ErrFailed, t.Name(), "rollback", "%s", strings.Join(problems, "; "))
	}
	p.mu.Lock()
	p.rolledBack = true
	p.mu.Unlock()
	return nil
}

// rollbackInstances runs the rollback lifecycle on ids, grouped by what each ran before,
// and records what each runs again. It returns the failures and the instances with no
// recorded previous release, which it leaves alone.
func (p *Plan) rollbackInstances(ctx context.Context, ids []string, emit deploy.EventFunc) ([]Result, []string, error) {
	t := p.t
	groups := map[recorded][]string{}
	var unknown []string
	for _, id := range ids {
		if prev := p.previous[id]; prev != nil {
			groups[*prev] = append(groups[*prev], id)
		} else {
			unknown = append(unknown, id)
		}
	}
	if len(groups) == 0 {
		return nil, unknown, nil
	}
	emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseRollback, Counts: deploy.Counts{Desired: len(ids) - len(unknown)},
		Message: fmt.Sprintf("rolling back %d instances to what they ran before", len(ids)-len(unknown))})
	prevs := slices.SortedFunc(maps.Keys(groups), func(a, b recorded) int { return strings.Compare(a.Version, b.Version) })
	var failures []Result
	for _, prev := range prevs {
		// What the instances are rolled back from is their previous release now.
		vars := release{version: prev.Version, image: prev.Image}.vars(&recorded{Version: p.rel.version, Image: p.rel.image})
		vars["STEVEDORE_FAILED_VERSION"] = p.rel.version
		lines := func([]string) []string { return preamble(vars) }
		back, failed, err := p.runLifecycle(ctx, "rollback", t.lifecycle(t.opts.RollbackCommands, false), groups[prev], lines, nil, emit)
		if err != nil {
			return nil, nil, err
		}
		failures = append(failures, failed...)
		// The record follows the instance: the next plan reads what it runs again.
		if err := t.record(ctx, back, prev); err != nil {
			return nil, nil, err
		}
	}
	return failures, unknown, nil
}

// settle ends the commands an earlier process left running before a rollback: cancelling
// deploy and verify commands, noting which instances a deploy command reached, and waiting on
// rollback commands, whose work the rollback repeats.
func (p *Plan) settle(ctx context.Context, cmds []sent, emit deploy.EventFunc) error {
	return together(len(cmds), emit, func(i int, emit deploy.EventFunc) error {
		c := cmds[i]
		if c.Kind == "rollback" {
			_, err := p.await(ctx, c, emit)
			return err
		}
		p.cancel(ctx, c)
		p.mu.Lock()
		delete(p.inflight, c.ID)
		p.mu.Unlock()
		return nil
	})
}

func first(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(slices.Clone(s[:n]), fmt.Sprintf("and %d more", len(s)-n))
}
