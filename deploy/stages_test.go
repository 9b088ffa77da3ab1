package deploy_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stevedore-dev/stevedore/deploy"
)

// stagesOf makes the stages db (migrate), app (workers, web) and edge (cdn), every target
// logging to log; fail names the target whose apply fails.
func stagesOf(log *sharedLog, fail string, gates map[string][]deploy.Gate) []deploy.Stage {
	mk := func(names ...string) []deploy.Target {
		var ts []deploy.Target
		for _, n := range names {
			ft := &fakeTarget{name: n, applyTime: time.Second, shared: log}
			if n == fail {
				ft.applyErr = errors.New("tasks keep stopping")
			}
			ts = append(ts, ft)
		}
		return ts
	}
	return []deploy.Stage{
		{Name: "db", Targets: mk("migrate"), Gates: gates["db"]},
		{Name: "app", Targets: mk("workers", "web"), Gates: gates["app"]},
		{Name: "edge", Targets: mk("cdn"), Gates: gates["edge"]},
	}
}

// Stages apply in order, each once the one before has settled.
func TestStagesApplyInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log sharedLog
		var events []deploy.Event
		res, err := deploy.RunStages(t.Context(), rel, stagesOf(&log, "", nil), &deploy.Options{OnEvent: func(e deploy.Event) { events = append(events, e) }})
		if err != nil {
			t.Fatal(err)
		}
		// A stage's targets apply together; each stage starts once the one before settled.
		at := func(s string) int { return slices.Index(log.all, s) }
		for _, before := range []struct{ done, start string }{
			{"migrate applied", "workers apply"}, {"migrate applied", "web apply"},
			{"workers applied", "cdn apply"}, {"web applied", "cdn apply"},
			{"workers apply", "web applied"}, {"web apply", "workers applied"},
		} {
			if a, b := at(before.done), at(before.start); a < 0 || b < 0 || a > b {
				t.Errorf("%q at %d, %q at %d: want the first before the second\n%q", before.done, a, before.start, b, log.all)
			}
		}
		for _, e := range events {
			if e.Target == "" || e.ReleaseStage == "" {
				t.Errorf("event without its target or stage: %+v", e)
			}
		}
		if got := res.Targets[2].Stage; got != "app" {
			t.Errorf("web's stage %q", got)
		}
		if res.Outcome() != deploy.OutcomeDeployed || len(res.Stages) != 3 || !res.Stages[2].Started {
			t.Errorf("outcome %s, stages %+v", res.Outcome(), res.Stages)
		}
	})
}

// A failure stops the release: later stages never start, and every started target rolls
// back, the latest stage first.
func TestStagesFailureRollsBackLatestStageFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log sharedLog
		res, err := deploy.RunStages(t.Context(), rel, stagesOf(&log, "web", nil), &deploy.Options{Concurrency: 1})
		if !errors.Is(err, deploy.ErrRolledBack) {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"web", "workers", "migrate"}, log.only("rollback")); diff != "" {
			t.Errorf("rollback order (-want +got):\n%s", diff)
		}
		cdn := res.Targets[3]
		if cdn.Started || !errors.Is(cdn.Err, deploy.ErrCanceled) || !strings.Contains(cdn.Err.Error(), `stage "edge" not started`) {
			t.Errorf("cdn: started %v, err %v", cdn.Started, cdn.Err)
		}
		if res.Stages[2].Started || res.Outcome() != deploy.OutcomeRolledBack {
			t.Errorf("edge started %v; outcome %s", res.Stages[2].Started, res.Outcome())
		}
	})
}

// A gate between stages: passing lets the next stage start; failing stops the release and
// rolls back what started, the error giving the evidence.
func TestStagesGates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log sharedLog
		pass := deploy.Gate{Check: &scriptedCheck{script: []string{"pass"}}, Count: 2, Interval: time.Minute}
		fail := deploy.Gate{Check: &scriptedCheck{script: []string{"pass", "fail"}}, Count: 3, Interval: time.Minute}
		var gateEvents []deploy.Event
		res, err := deploy.RunStages(t.Context(), rel, stagesOf(&log, "", map[string][]deploy.Gate{"db": {pass}, "app": {fail}}),
			&deploy.Options{OnEvent: func(e deploy.Event) {
				if e.Phase == deploy.PhaseGate {
					gateEvents = append(gateEvents, e)
				}
			}})
		if !errors.Is(err, deploy.ErrGateFailed) || !errors.Is(err, deploy.ErrRolledBack) || !strings.Contains(err.Error(), "measurement 2 said fail") {
			t.Fatalf("err = %v", err)
		}
		if got := log.only("applied"); len(got) != 3 || got[0] != "migrate" {
			t.Errorf("applied %v, want migrate then the app stage's two", got)
		}
		if got := log.only("rollback"); len(got) != 3 || got[2] != "migrate" {
			t.Errorf("rolled back %v, want the app stage's two, then migrate", got)
		}
		if len(res.Stages[0].Gates) != 1 || res.Stages[0].Gates[0].Verdict != deploy.Pass ||
			len(res.Stages[1].Gates) != 1 || res.Stages[1].Gates[0].Verdict != deploy.Fail || !errors.Is(res.Stages[1].Err, deploy.ErrGateFailed) {
			t.Errorf("stage results %+v", res.Stages)
		}
		if res.Stages[2].Started || res.Targets[3].Started {
			t.Error("the edge stage started after a failed gate")
		}
		for _, e := range gateEvents {
			if e.ReleaseStage == "" || e.ReleaseStage == "edge" {
				t.Errorf("gate event of stage %q: %s", e.ReleaseStage, e.Message)
			}
		}
	})
}

// What is checked before anything is planned, one condition per row.
func TestStagesRejected(t *testing.T) {
	a := func() *fakeTarget { return &fakeTarget{name: "a"} }
	tests := []struct {
		name   string
		stages []deploy.Stage
		want   string
	}{
		{"no stages", nil, "no targets given"},
		{"an empty stage", []deploy.Stage{{Name: "one", Targets: []deploy.Target{a()}}, {Name: "two"}}, `stage 2 ("two") has no targets`},
		{"two stages of one name", []deploy.Stage{{Name: "x", Targets: []deploy.Target{a()}}, {Name: "x", Targets: []deploy.Target{&fakeTarget{name: "b"}}}}, `two stages are named "x"`},
		{"a target twice", []deploy.Stage{{Name: "one", Targets: []deploy.Target{a()}}, {Name: "two", Targets: []deploy.Target{a()}}}, `the target is given twice (stage "one" and stage "two")`},
		{"a gate with no check", []deploy.Stage{{Name: "one", Targets: []deploy.Target{a()}, Gates: []deploy.Gate{{}}}}, `gate 1 of stage "one" has no Check`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := deploy.RunStages(t.Context(), rel, tc.stages, nil)
			if !errors.Is(err, deploy.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrInvalid saying %q", err, tc.want)
			}
			for _, s := range tc.stages {
				for _, tg := range s.Targets {
					if ev := tg.(*fakeTarget).events(); len(ev) > 0 {
						t.Errorf("%s did %v", tg.Name(), ev)
					}
				}
			}
		})
	}
}

// A dry run plans every stage's targets and changes nothing.
func TestStagesDryRunPlansEveryStage(t *testing.T) {
	var log sharedLog
	res, err := deploy.RunStages(t.Context(), rel, stagesOf(&log, "", nil), &deploy.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"migrate", "workers", "web", "cdn"}, sortedLike(log.only("plan"), []string{"migrate", "workers", "web", "cdn"})); diff != "" {
		t.Errorf("planned (-want +got):\n%s", diff)
	}
	if len(log.only("apply")) != 0 || res.Stages[0].Started {
		t.Errorf("a dry run applied: %v", log.all)
	}
	for _, tr := range res.Targets {
		if tr.Plan == nil || tr.Plan.Diff() == "" {
			t.Errorf("%s has no plan or diff", tr.Target)
		}
	}
}

// sortedLike orders got as want orders the same elements (planning runs concurrently).
func sortedLike(got, want []string) []string {
	var out []string
	for _, w := range want {
		for _, g := range got {
			if g == w {
				out = append(out, g)
			}
		}
	}
	if len(out) != len(got) {
		return got
	}
	return out
}
