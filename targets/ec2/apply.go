package ec2

import (
	"context"
	"fmt"
	"slices"
	"strconv"
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

// Apply implements deploy.Plan. Without verify commands, a fleet chosen by tags (or of at
// most 50 instances) gets one command, with the strategy as MaxConcurrency and the failures
// MinHealthy allows as MaxErrors. Otherwise the target drives it wave by wave, a wave being
// one batch of the strategy, running the verify commands on each wave before the next. Every
// invocation must be Success. After a successful rollout it records what each instance runs.
func (p *Plan) Apply(ctx context.Context, emit deploy.EventFunc) error {
	t := p.t
	if p.restored {
		return deploy.Errorf(deploy.ErrInvalid, t.Name(), "apply", "a plan restored from a snapshot can roll back, not apply; plan the release again")
	}
	l := p.limits
	emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseApply, Counts: deploy.Counts{Desired: l.total},
		Message: fmt.Sprintf("sending version %s to %d instances, %d at a time, up to %d failures allowed", p.rel.version, l.total, l.batch, l.allowed)})

	var succeeded []string
	var failures []Result
	skipped := len(p.usable) < len(p.instances)
	if len(t.opts.VerifyCommands) == 0 && ((len(t.fleet.Tags) > 0 && len(t.fleet.InstanceIDs) == 0 && !skipped) || len(p.usable) <= 50) {
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
		for _, r := range s.Results {
			if r.Succeeded() {
				succeeded = append(succeeded, r.Instance)
			}
		}
		failures = s.Failures()
	} else {
		var err error
		if succeeded, failures, err = p.waves(ctx, emit); err != nil {
			return err
		}
	}
	if len(failures) > l.allowed {
		slices.Sort(succeeded)
		p.mu.Lock()
		p.done = succeeded
		p.mu.Unlock()
		return deploy.Errorf(deploy.ErrFailed, t.Name(), "apply", "%d of %d instances failed (at most %d may): %s",
			len(failures), l.total, l.allowed, describeFailures(failures, 5))
	}
	slices.Sort(succeeded)
	p.mu.Lock()
	p.done = succeeded
	p.mu.Unlock()
	if err := t.record(ctx, succeeded, recorded{Version: p.rel.version, Image: p.rel.image}); err != nil {
		return err
	}
	msg := fmt.Sprintf("version %s runs on %d/%d instances", p.rel.version, len(succeeded), l.total)
	if len(failures) > 0 {
		msg += fmt.Sprintf("; %d failed, within the %d allowed: %s", len(failures), l.allowed, describeFailures(failures, 5))
	}
	emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseDone, Message: msg,
		Counts: deploy.Counts{Desired: l.total, Updated: len(succeeded), Failed: len(failures)}})
	return nil
}

// waves deploys one batch at a time, verifying each before the next, and stops as soon as
// more instances failed than allowed.
func (p *Plan) waves(ctx context.Context, emit deploy.EventFunc) (succeeded []string, failures []Result, err error) {
	t, l := p.t, p.limits
	for i, wave := range slices.Collect(slices.Chunk(p.usable, l.batch)) {
		emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseApply, Counts: deploy.Counts{Desired: l.total, Updated: len(succeeded), Failed: len(failures)},
			Message: fmt.Sprintf("wave %d: %d instances", i+1, len(wave))})
		results, err := p.runAll(ctx, wave, func(ids []string) command {
			return p.deployCommand(ids, nil, strconv.Itoa(len(ids)), strconv.Itoa(len(ids)))
		}, emit)
		if err != nil {
			return nil, nil, err
		}
		var ok []string
		for _, r := range results {
			if r.Succeeded() {
				ok = append(ok, r.Instance)
			} else {
				failures = append(failures, r)
			}
		}
		if len(t.opts.VerifyCommands) > 0 && len(ok) > 0 {
			vres, err := p.runAll(ctx, ok, func(ids []string) command {
				return command{kind: "verify", document: "AWS-RunShellScript", ids: ids, maxConc: strconv.Itoa(len(ids)), maxErrs: strconv.Itoa(len(ids)),
					params: t.shellParams(append(preamble(p.rel.vars(nil)), t.opts.VerifyCommands...))}
			}, emit)
			if err != nil {
				return nil, nil, err
			}
			ok = ok[:0]
			for _, r := range vres {
				if r.Succeeded() {
					ok = append(ok, r.Instance)
				} else {
					r.Why = "verify failed: " + r.Why
					failures = append(failures, r)
				}
			}
		}
		succeeded = append(succeeded, ok...)
		if len(failures) > l.allowed {
			break // the rest are left alone
		}
	}
	slices.SortFunc(failures, func(a, b Result) int {
		if a.Instance < b.Instance {
			return -1
		}
		return 1
	})
	return succeeded, failures, nil
}

// runAll runs the command build makes on ids, fifty instances to a command (SSM's limit for
// InstanceIds), all at once, and returns every result.
func (p *Plan) runAll(ctx context.Context, ids []string, build func([]string) command, emit deploy.EventFunc) ([]Result, error) {
	var mu sync.Mutex // emit need not be safe for concurrent use
	serial := func(e deploy.Event) {
		mu.Lock()
		defer mu.Unlock()
		emit.Emit(e)
	}
	chunks := slices.Collect(slices.Chunk(ids, 50))
	results := make([][]Result, len(chunks))
	errs := make([]error, len(chunks))
	var wg sync.WaitGroup
	for i, chunk := range chunks {
		wg.Go(func() {
			s, err := p.run(ctx, build(chunk), serial)
			results[i], errs[i] = s.Results, err
		})
	}
	wg.Wait()
	var all []Result
	for i := range chunks {
		if errs[i] != nil {
			return nil, errs[i]
		}
		all = append(all, results[i]...)
	}
	return all, nil
}
