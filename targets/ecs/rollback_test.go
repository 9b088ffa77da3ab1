package ecs_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/ecs"
	"github.com/stevedore-dev/stevedore/targets/ecs/ecstest"
)

// Fifty services on one client are released, then a gate fails and all fifty roll back
// while the connection resets under 400 UpdateService calls: more than the client's retry
// quota (500 tokens, 10 a retry after a reset) and its 3 attempts a call allow. Every
// rollback keeps trying until its deadline, and every service ends where it was.
func TestRollbacksOutlastTheClientsRetryQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1, true, true)
		e.srv.SetBehavior(newImage, ecstest.Behavior{StartEvery: 10 * time.Second})
		cl := ecs.NewCluster(e.client, "prod", nil)
		var targets []deploy.Target
		for i := range 50 {
			name := fmt.Sprintf("svc%02d", i)
			if err := e.srv.CreateService(ecstest.ServiceSpec{Cluster: "prod", Name: name, TaskDefinition: "web:1", DesiredCount: 1}); err != nil {
				t.Fatal(err)
			}
			targets = append(targets, cl.Service(name))
		}
		gate := deploy.CheckFunc("canary", func(context.Context) (deploy.Measurement, error) {
			e.srv.Inject("UpdateService", ecstest.Fault{Reset: true, Times: 400})
			return deploy.Measurement{Verdict: deploy.Fail, Evidence: "error budget spent"}, nil
		})
		res, err := deploy.RunStages(t.Context(), release, []deploy.Stage{{Name: "all", Targets: targets, Gates: []deploy.Gate{{Check: gate}}}},
			&deploy.Options{Concurrency: 50})
		if !errors.Is(err, deploy.ErrGateFailed) {
			t.Fatalf("err = %v", err)
		}
		if got := res.Outcome(); got != deploy.OutcomeRolledBack {
			for _, tr := range res.Targets {
				if !tr.RolledBack {
					t.Errorf("%s: %v", tr.Target, tr.Err)
				}
			}
			t.Fatalf("outcome %s, want every service rolled back", got)
		}
		for i := range 50 {
			if td := e.serviceTDOf(t, fmt.Sprintf("svc%02d", i)); td != "web:1" {
				t.Errorf("svc%02d runs %s, want web:1", i, td)
			}
		}
		if n := e.srv.Calls("UpdateService"); n < 450 {
			t.Errorf("%d UpdateService calls: the faults were not all met", n)
		}
	})
}

// Each target's result counts the ECS calls made for it: all of them for one service; for
// two services waited on together, each counts the shared polls that served it.
func TestCallsAreCountedPerTarget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1, true, true)
		res, err := deploy.Run(t.Context(), release, []deploy.Target{ecs.New(e.client, "prod", "web", nil)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := res.Targets[0].Calls, int64(e.srv.TotalCalls()); got != want || got == 0 {
			t.Errorf("counted %d calls, the fake answered %d", got, want)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1, true, true)
		if err := e.srv.CreateService(ecstest.ServiceSpec{Cluster: "prod", Name: "api", TaskDefinition: "web:1", DesiredCount: 1}); err != nil {
			t.Fatal(err)
		}
		cl := ecs.NewCluster(e.client, "prod", nil)
		res, err := deploy.Run(t.Context(), release, []deploy.Target{cl.Service("web"), cl.Service("api")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		sum := res.Targets[0].Calls + res.Targets[1].Calls
		polls := int64(e.srv.Calls("DescribeServices") - 2) // less the two plans'
		// Each poll counts once for every service it served: once or twice.
		if total := int64(e.srv.TotalCalls()); sum <= total || sum > total+polls {
			t.Errorf("counted %d and %d calls; the fake answered %d, of which %d polls could count for both", res.Targets[0].Calls, res.Targets[1].Calls, total, polls)
		}
	})
}
