package ec2

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/stevedore-dev/stevedore/deploy"
)

// deployCommand is the deploy command for ids (or the plan's tags when ids is nil).
func (p *Plan) deployCommand(ids []string, tags map[string]string, maxConc, maxErrs string) command {
	t := p.t
	c := command{kind: "deploy", document: t.opts.Document, ids: ids, tags: tags, maxConc: maxConc, maxErrs: maxErrs}
	if t.opts.Document == "AWS-RunShellScript" {
		on := ids
		if on == nil {
			on = p.usable // the tags reach the usable instances
		}
		lines := append(preamble(p.rel.vars(nil)), previousPreamble(p.previous, on)...)
		c.params = t.shellParams(append(lines, t.opts.Commands...))
		return c
	}
	c.params = map[string][]string{}
	for k, v := range t.opts.Parameters {
		c.params[k] = v
	}
	if t.opts.VersionParameter != "" {
		c.params[t.opts.VersionParameter] = []string{p.rel.version}
	}
	if t.opts.ImageParameter != "" && p.rel.image != "" {
		c.params[t.opts.ImageParameter] = []string{p.rel.image}
	}
	return c
}

// Apply implements deploy.Plan. Without verify commands, hooks, gates, load balancing or
// zones, a fleet chosen by tags (or of at most 50 instances) gets one command, with the
// strategy as MaxConcurrency and the failures MinHealthy allows as MaxErrors. Otherwise the
// target drives it wave by wave (see rollWaves). Every invocation must be Success. With
// AutoScaling, scaling is held for the rollout or followed (see AutoScaling). After a
// successful rollout it records what each instance (and group) runs. A plan made by Restore
// resumes instead (see Target.Restore).
func (p *Plan) Apply(ctx context.Context, emit deploy.EventFunc) error {
	if p.restored {
		return p.resume(ctx, emit)
	}
	resume, err := p.holdScaling(ctx, deploy.PhaseApply, emit)
	if err != nil {
		return err
	}
	defer resume()
	t, l := p.t, p.limits
	emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseApply, Counts: deploy.Counts{Desired: l.total},
		Message: fmt.Sprintf("sending version %s to %d instances, %d at a time, up to %d failures allowed", p.rel.version, l.total, l.batch, l.allowed)})
	skipped := len(p.usable) < len(p.instances)
	if !t.byWaves() && ((len(t.fleet.Tags) > 0 && len(t.fleet.InstanceIDs) == 0 && !skipped) || len(p.usable) <= 50) {
		var c command
		if len(p.usable) <= 50 {
			c = p.deployCommand(p.usable, nil, t.opts.Strategy.String(), strconv.Itoa(l.allowed))
		} else {
			c = p.deployCommand(nil, t.fleet.Tags, t.opts.Strategy.String(), strconv.Itoa(l.allowed))
		}
		s, err := p.run(ctx, c, emit)
		if err != nil {
			return err
		}
		if len(s.Results) == 0 {
			return deploy.Errorf(deploy.ErrFailed, t.Name(), "apply", "the command reached no instance: SSM found none matching %s", t.fleet)
		}
		p.note(split(s.Results, ""))
	} else if err := p.rollWaves(ctx, emit); err != nil {
		return err
	}
	if p.failures() <= l.allowed {
		if err := p.followScaling(ctx, emit); err != nil {
			return err
		}
	}
	return p.finish(ctx, emit)
}

// finish judges the rollout by what it reached: more failures than MinHealthy allows fail
// it; otherwise what each instance now runs is recorded.
func (p *Plan) finish(ctx context.Context, emit deploy.EventFunc) error {
	if err := p.leavers(ctx); err != nil {
		return err
	}
	t := p.t
	p.mu.Lock()
	l, succeeded, failures, left := p.limits, slices.Clone(p.done), slices.Clone(p.failed), slices.Clone(p.left)
	l.total -= len(left)
	p.mu.Unlock()
	if len(failures) > l.allowed {
		return deploy.Errorf(deploy.ErrFailed, t.Name(), "apply", "%d of %d instances failed (at most %d may): %s",
			len(failures), l.total, l.allowed, describeFailures(failures, 5))
	}
	if err := t.record(ctx, succeeded, recorded{Version: p.rel.version, Image: p.rel.image}); err != nil {
		return err
	}
	if err := p.recordGroups(ctx, recorded{Version: p.rel.version, Image: p.rel.image}); err != nil {
		return err
	}
	msg := fmt.Sprintf("version %s runs on %d/%d instances", p.rel.version, len(succeeded), l.total)
	if len(failures) > 0 {
		msg += fmt.Sprintf("; %d failed, within the %d allowed: %s", len(failures), l.allowed, describeFailures(failures, 5))
	}
	if len(left) > 0 {
		msg += fmt.Sprintf("; %d left the fleet during the rollout: %s", len(left), strings.Join(first(left, 10), ", "))
	}
	emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseDone, Message: msg,
		Counts: deploy.Counts{Desired: l.total, Updated: len(succeeded), Failed: len(failures)}})
	return nil
}

// split divides results into the instances that succeeded and the failures, prefixing the
// failures' Why with why.
func split(results []Result, why string) (ok []string, failed []Result) {
	for _, r := range results {
		if r.Succeeded() {
			ok = append(ok, r.Instance)
			continue
		}
		if why != "" {
			r.Why = why + r.Why
		}
		failed = append(failed, r)
	}
	return ok, failed
}

// note adds to what the release succeeded and failed on so far.
func (p *Plan) note(ok []string, failed []Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = append(p.done, ok...)
	slices.Sort(p.done)
	p.failed = append(p.failed, failed...)
	slices.SortFunc(p.failed, func(a, b Result) int { return strings.Compare(a.Instance, b.Instance) })
}

func (p *Plan) failures() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.failed)
}

// rollWaves rolls the release out wave by wave (Plan's waves: batches of the strategy,
// zone by zone with ByZone, none so large that a target group or zone loses more than
// MinHealthy allows). After each wave the wave gates run, and after each zone's last wave
// the zone gates; the rollout goes on, or is done, only when they pass. It stops as soon as
// more instances failed than allowed or a gate failed.
func (p *Plan) rollWaves(ctx context.Context, emit deploy.EventFunc) error {
	t, l := p.t, p.limits
	for i, w := range p.waves {
		p.mu.Lock()
		counts := deploy.Counts{Desired: l.total, Updated: len(p.done), Failed: len(p.failed)}
		p.mu.Unlock()
		msg := fmt.Sprintf("wave %d of %d: %d instances", i+1, len(p.waves), len(w.IDs))
		if w.Zone != "" {
			msg += " in " + w.Zone
		}
		emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseApply, Counts: counts, Message: msg})
		if err := p.deployWave(ctx, w.IDs, emit); err != nil {
			return err
		}
		if err := p.leavers(ctx); err != nil {
			return err
		}
		if p.failures() > l.allowed {
			break // the rest are left alone
		}
		where := fmt.Sprintf("wave %d of %d", i+1, len(p.waves))
		gates := slices.Clone(t.opts.WaveGates)
		if i == len(p.waves)-1 || p.waves[i+1].Zone != w.Zone {
			gates = append(gates, t.opts.ZoneGates...)
			if w.Zone != "" {
				where += ", the last in " + w.Zone
			}
		}
		for _, g := range gates {
			emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseGate, Message: fmt.Sprintf("gate %s after %s", g.Check.Name(), where)})
			if res := g.Run(ctx, emit); res.Err != nil {
				return &deploy.Error{Kind: deploy.ErrGateFailed, Target: t.Name(), Op: "apply", Detail: "stopped after " + where, Err: res.Err}
			}
		}
	}
	return nil
}

// deployWave replaces one wave: out of its target groups, the lifecycle's phases, the verify
// commands, back into the target groups once healthy. Instances that fail a phase stay out
// of service; one that does not come back healthy fails the rollout.
func (p *Plan) deployWave(ctx context.Context, ids []string, emit deploy.EventFunc) error {
	t := p.t
	if err := p.takeOut(ctx, deploy.PhaseApply, ids, emit); err != nil {
		return err
	}
	lines := func(chunk []string) []string {
		return append(preamble(p.rel.vars(nil)), previousPreamble(p.previous, chunk)...)
	}
	install := func(chunk []string) command {
		n := strconv.Itoa(len(chunk))
		return p.deployCommand(chunk, nil, n, n)
	}
	ok, failed, err := p.runLifecycle(ctx, "deploy", t.lifecycle(t.opts.Commands, t.opts.Document != "AWS-RunShellScript"), ids, lines, install, emit)
	if err != nil {
		return err
	}
	if len(t.opts.VerifyCommands) > 0 && len(ok) > 0 {
		vres, err := p.runAll(ctx, ok, func(ids []string) command {
			return command{kind: "verify", document: "AWS-RunShellScript", ids: ids, maxConc: strconv.Itoa(len(ids)), maxErrs: strconv.Itoa(len(ids)),
				params: t.shellParams(append(preamble(p.rel.vars(nil)), t.opts.VerifyCommands...))}
		}, emit)
		if err != nil {
			return err
		}
		var bad []Result
		ok, bad = split(vres, "verify failed: ")
		failed = append(failed, bad...)
	}
	p.note(nil, failed)
	if err := p.putBack(ctx, deploy.PhaseWait, ok, emit); err != nil {
		return err
	}
	p.note(ok, nil)
	return nil
}

// runAll runs the command build makes on ids, fifty instances to a command (SSM's limit for
// InstanceIds), all at once, and returns every result.
func (p *Plan) runAll(ctx context.Context, ids []string, build func([]string) command, emit deploy.EventFunc) ([]Result, error) {
	chunks := slices.Collect(slices.Chunk(ids, 50))
	results := make([][]Result, len(chunks))
	err := together(len(chunks), emit, func(i int, emit deploy.EventFunc) error {
		s, err := p.run(ctx, build(chunks[i]), emit)
		results[i] = s.Results
		return err
	})
	if err != nil {
		return nil, err
	}
	return slices.Concat(results...), nil
}

// together runs f(0) to f(n-1) at once, each with an emit safe for their concurrent use, and
// returns the first error by index.
func together(n int, emit deploy.EventFunc, f func(i int, emit deploy.EventFunc) error) error {
	var mu sync.Mutex // emit need not be safe for concurrent use
	serial := func(e deploy.Event) {
		mu.Lock()
		defer mu.Unlock()
		emit.Emit(e)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = f(i, serial) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
