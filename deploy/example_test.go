package deploy_test

import (
	"context"
	"errors"
	"fmt"

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
