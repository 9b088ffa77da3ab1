package ec2

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/poll"
)

// Rollback implements deploy.Plan: it runs RollbackCommands, with the previous release's
// values, on every instance a deploy command reached, grouped by what each ran before.
// Instances with no recorded previous version are named in the error and left as they are.
// A restored plan first settles the commands the original left running: deploy and verify
// commands are cancelled (what they reached is rolled back), rollback commands waited on.
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
	p.mu.Lock()
	touched := make([]string, 0, len(p.touched))
	for id := range p.touched {
		touched = append(touched, id)
	}
	p.mu.Unlock()
	sort.Strings(touched)
	if len(touched) == 0 {
		return nil
	}
	if len(t.opts.RollbackCommands) == 0 {
		return deploy.Errorf(deploy.ErrFailed, t.Name(), "rollback", "no RollbackCommands were given, so %d instances keep what the failed rollout left: %s",
			len(touched), strings.Join(first(touched, 10), ", "))
	}
	groups := map[recorded][]string{}
	var unknown []string
	for _, id := range touched {
		if prev := p.previous[id]; prev != nil {
			groups[*prev] = append(groups[*prev], id)
		} else {
			unknown = append(unknown, id)
		}
	}
	emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseRollback, Counts: deploy.Counts{Desired: len(touched) - len(unknown)},
		Message: fmt.Sprintf("rolling back %d instances to what they ran before", len(touched)-len(unknown))})
	prevs := make([]recorded, 0, len(groups))
	for r := range groups {
		prevs = append(prevs, r)
	}
	sort.Slice(prevs, func(i, j int) bool { return prevs[i].Version < prevs[j].Version })
	var failures []Result
	for _, prev := range prevs {
		// What the instances are rolled back from is their previous release now.
		vars := release{version: prev.Version, image: prev.Image}.vars(&recorded{Version: p.rel.version, Image: p.rel.image})
		vars["STEVEDORE_FAILED_VERSION"] = p.rel.version
		results, err := p.runAll(ctx, groups[prev], func(ids []string) command {
			return command{kind: "rollback", document: "AWS-RunShellScript", ids: ids, maxConc: strconv.Itoa(len(ids)), maxErrs: strconv.Itoa(len(ids)),
				params: t.shellParams(append(preamble(vars), t.opts.RollbackCommands...))}
		}, emit)
		if err != nil {
			return err
		}
		var back []string
		for _, r := range results {
			if !r.Succeeded() {
				failures = append(failures, r)
			} else {
				back = append(back, r.Instance)
			}
		}
		// The record follows the instance: the next plan reads what it runs again.
		if err := t.record(ctx, back, prev); err != nil {
			return err
		}
	}
	var problems []string
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
