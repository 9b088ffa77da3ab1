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
