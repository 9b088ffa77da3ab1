package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
)

// memTarget is a target kept in memory: enough to show the contract.
type memTarget struct {
	name    string
	running string
	broken  map[string]bool
}

func (m *memTarget) Name() string { return m.name }

func (m *memTarget) Plan(_ context.Context, r deploy.Release) (deploy.Plan, error) {
	return &memPlan{t: m, from: m.running, to: r.Version}, nil
}

type memPlan struct {
	t        *memTarget
	from, to string
}

func (p *memPlan) Changed() bool { return p.from != p.to }
func (p *memPlan) Diff() string  { return fmt.Sprintf("-%s\n+%s\n", p.from, p.to) }

func (p *memPlan) Apply(_ context.Context, emit deploy.EventFunc) error {
	p.t.running = p.to
	emit.Emit(deploy.Event{Phase: deploy.PhaseWait, Message: "running " + p.to, Counts: deploy.Counts{Desired: 1, Updated: 1}})
	if p.t.broken[p.to] {
		return deploy.Errorf(deploy.ErrFailed, p.t.name, "wait", "%s crashed on start", p.to)
	}
	return nil
}

func (p *memPlan) Rollback(context.Context, deploy.EventFunc) error {
	p.t.running = p.from
	return nil
}

// Run plans, applies and, when the release fails, rolls back.
func ExampleRun() {
	web := &memTarget{name: "mem:web", running: "v1", broken: map[string]bool{"v3": true}}
	onEvent := func(e deploy.Event) { fmt.Printf("%s %s: %s\n", e.Target, e.Phase, e.Message) }

	_, err := deploy.Run(context.Background(), deploy.Release{Version: "v2"}, []deploy.Target{web}, &deploy.Options{OnEvent: onEvent})
	fmt.Println("v2:", err, "- running", web.running)

	res, err := deploy.Run(context.Background(), deploy.Release{Version: "v3"}, []deploy.Target{web}, &deploy.Options{OnEvent: onEvent})
	fmt.Println("v3:", err, "- running", web.running)
	fmt.Println("outcome:", res.Outcome(), "- because it failed:", errors.Is(err, deploy.ErrFailed))
	// Output:
	// mem:web plan: change planned
	// mem:web wait: running v2
	// mem:web done: rolled out version v2
	// v2: <nil> - running v2
	// mem:web plan: change planned
	// mem:web wait: running v3
	// mem:web failed: mem:web: wait: v3 crashed on start
	// mem:web rollback: rolling back
	// mem:web rollback: rolled back
	// v3: rolled back: mem:web: wait: v3 crashed on start - running v2
	// outcome: rolled back - because it failed: true
}

// A dry run plans every target and changes nothing.
func ExampleOptions_dryRun() {
	web := &memTarget{name: "mem:web", running: "v1"}
	res, _ := deploy.Run(context.Background(), deploy.Release{Version: "v2"}, []deploy.Target{web}, &deploy.Options{DryRun: true})
	fmt.Print(res.Targets[0].Plan.Diff())
	fmt.Println("running", web.running)
	// Output:
	// -v1
	// +v2
	// running v1
}

// Outcome says where a release of several targets ended: errors.Is(err, ErrRolledBack) is
// true when any one target rolled back, even if another was left on the new release.
func ExampleResult_Outcome() {
	web := &memTarget{name: "mem:web", running: "v1"}
	api := &memTarget{name: "mem:api", running: "v1", broken: map[string]bool{"v2": true}}
	res, err := deploy.Run(context.Background(), deploy.Release{Version: "v2"}, []deploy.Target{web, api}, &deploy.Options{Concurrency: 1})
	fmt.Println(res.Outcome(), "- web runs", web.running, "- api runs", api.running)
	fmt.Println("failed:", errors.Is(err, deploy.ErrFailed))
	// Output:
	// rolled back - web runs v1 - api runs v1
	// failed: true
}

// A target says which parts of a release it honours; Run checks them before planning.
func ExampleHonourer() {
	rel := deploy.Release{Version: "v2", Env: []deploy.EnvChange{{Name: "LOG_LEVEL", Value: "debug"}}}
	fmt.Println(rel.Parts())
	_, err := deploy.Run(context.Background(), rel, []deploy.Target{&imagesOnly{}}, nil)
	fmt.Println(err)
	// Output:
	// env, version
	// images-only: check release: the release sets env, which this target does not honour (it honours images, version)
}

// imagesOnly is a target that honours images and a version only.
type imagesOnly struct{ memTarget }

func (*imagesOnly) Name() string          { return "images-only" }
func (*imagesOnly) Honours() deploy.Parts { return deploy.Images | deploy.Version }

// A release in stages: the database's, then the web's, with a gate between them that reads
// an error rate twice (a minute apart in earnest; a millisecond here). The gate fails, so
// the web's stage never starts and the database's rolls back.
func ExampleRunStages() {
	db := &memTarget{name: "mem:db", running: "v1"}
	web := &memTarget{name: "mem:web", running: "v1"}
	rate := []float64{0.1, 7.5} // percent of requests failing, per measurement
	errorRate := deploy.CheckFunc("error-rate", func(context.Context) (deploy.Measurement, error) {
		r := rate[0]
		rate = rate[1:]
		if r > 1 {
			return deploy.Measurement{Verdict: deploy.Fail, Evidence: fmt.Sprintf("%.1f%% errors, over 1%%", r)}, nil
		}
		return deploy.Measurement{Verdict: deploy.Pass, Evidence: fmt.Sprintf("%.1f%% errors", r)}, nil
	})
	stages := []deploy.Stage{
		{Name: "db", Targets: []deploy.Target{db}, Gates: []deploy.Gate{{Check: errorRate, Count: 2, Interval: time.Millisecond}}},
		{Name: "web", Targets: []deploy.Target{web}},
	}
	onEvent := func(e deploy.Event) {
		if e.Phase == deploy.PhaseGate || e.Phase == deploy.PhaseRollback {
			fmt.Printf("[%s] %s\n", e.ReleaseStage, e.Message)
		}
	}
	res, err := deploy.RunStages(context.Background(), deploy.Release{Version: "v2"}, stages, &deploy.Options{OnEvent: onEvent})
	fmt.Println(res.Outcome(), "- db runs", db.running, "- web started:", res.Stages[1].Started)
	fmt.Println("gate failed:", errors.Is(err, deploy.ErrGateFailed))
	// Output:
	// [db] gate error-rate: pass (1 passed, 0 failed, 0 inconclusive of 2): 0.1% errors
	// [db] gate error-rate: fail (1 passed, 1 failed, 0 inconclusive of 2): 7.5% errors, over 1%
	// [db] rolling back
	// [db] rolled back
	// rolled back - db runs v1 - web started: false
	// gate failed: true
}
