package ec2

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
)

// Hook is one lifecycle event's commands, run on each wave as an SSM command of its own.
type Hook struct {
	Commands []string
	// Timeout is the commands' executionTimeout; zero means Options.ExecutionTimeout.
	Timeout time.Duration
}

// Hooks are CodeDeploy's lifecycle events around Options.Commands (its Install), run in its
// order: ApplicationStop, BeforeInstall, Install, AfterInstall, ApplicationStart,
// ValidateService. The commands are always those given here, with the values of the release
// being deployed or, in a rollback, of the release rolled back to: never a script the
// previous release left on the instance (CodeDeploy runs the old revision's ApplicationStop,
// so a broken one blocks every later deployment).
type Hooks struct {
	ApplicationStop, BeforeInstall, AfterInstall, ApplicationStart, ValidateService Hook
	// IgnoreApplicationStopFailures goes on with an instance whose ApplicationStop failed,
	// as CodeDeploy's option of that name does: the running release may be past stopping.
	IgnoreApplicationStopFailures bool
}

func (h Hooks) any() bool {
	for _, k := range []Hook{h.ApplicationStop, h.BeforeInstall, h.AfterInstall, h.ApplicationStart, h.ValidateService} {
		if len(k.Commands) > 0 {
			return true
		}
	}
	return false
}

// phase is one step of an instance's lifecycle.
type phase struct {
	name     string
	commands []string
	timeout  time.Duration
}

// Install is the lifecycle phase that runs Options.Commands (or RollbackCommands).
const install = "Install"

// lifecycle returns the phases that have commands, in CodeDeploy's order, with installing
// running installCommands, or Options.Document when byDocument.
func (t *Target) lifecycle(installCommands []string, byDocument bool) []phase {
	h := t.opts.Hooks
	all := []phase{
		{"ApplicationStop", h.ApplicationStop.Commands, h.ApplicationStop.Timeout},
		{"BeforeInstall", h.BeforeInstall.Commands, h.BeforeInstall.Timeout},
		{install, installCommands, t.opts.ExecutionTimeout},
		{"AfterInstall", h.AfterInstall.Commands, h.AfterInstall.Timeout},
		{"ApplicationStart", h.ApplicationStart.Commands, h.ApplicationStart.Timeout},
		{"ValidateService", h.ValidateService.Commands, h.ValidateService.Timeout},
	}
	var out []phase
	for _, ph := range all {
		if len(ph.commands) > 0 || (ph.name == install && byDocument) {
			out = append(out, ph)
		}
	}
	return out
}

// runLifecycle runs the phases on ids, each on the instances every phase before it
// succeeded on (ApplicationStop's failures are let through when the hooks say so). kind is
// deploy or rollback; lines gives the shell lines that set a chunk of instances' values;
// install builds the install command when it is not shell commands (a Document). It
// returns the instances every phase succeeded on and the failures, each naming its phase.
func (p *Plan) runLifecycle(ctx context.Context, kind string, phases []phase, ids []string, lines func(chunk []string) []string,
	install func(chunk []string) command, emit deploy.EventFunc) ([]string, []Result, error) {
	t := p.t
	live := ids
	var failed []Result
	for _, ph := range phases {
		if len(live) == 0 {
			break
		}
		results, err := p.runAll(ctx, live, func(chunk []string) command {
			if ph.name == "Install" && install != nil {
				c := install(chunk)
				c.phase = ph.name
				return c
			}
			n := strconv.Itoa(len(chunk))
			return command{kind: kind, phase: ph.name, document: "AWS-RunShellScript", ids: chunk, maxConc: n, maxErrs: n,
				params: t.shellParamsFor(append(lines(chunk), ph.commands...), ph.timeout)}
		}, emit)
		if err != nil {
			return nil, nil, err
		}
		ok, bad := split(results, ph.name+": ")
		if ph.name == "ApplicationStop" && t.opts.Hooks.IgnoreApplicationStopFailures && len(bad) > 0 {
			emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseWait, Counts: deploy.Counts{Desired: len(live), Failed: len(bad)},
				Message: fmt.Sprintf("ApplicationStop failed on %d instances; going on, as IgnoreApplicationStopFailures says: %s", len(bad), describeFailures(bad, 3))})
			continue
		}
		failed = append(failed, bad...)
		live = ok
	}
	return live, failed, nil
}
