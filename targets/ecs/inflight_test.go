package ecs_test

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/store"
	"github.com/stevedore-dev/stevedore/targets/ecs"
	"github.com/stevedore-dev/stevedore/targets/ecs/ecstest"
)

// A service another tool is rolling out reports it in its plan: a release with LockFail
// refuses, naming the deployment; once it has settled, the plan reports nothing.
func TestPlanReportsARolloutInProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2, true, true)
		e.srv.SetBehavior(newImage, ecstest.Behavior{StartEvery: 30 * time.Second})
		// Another tool starts a deployment to a revision of its own.
		if _, err := e.srv.RegisterTaskDefinition(`{"family":"web","containerDefinitions":[{"name":"app","image":"` + newImage + `","essential":true}]}`); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.UpdateService(t.Context(), &awsecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"), TaskDefinition: aws.String("web:2")}); err != nil {
			t.Fatal(err)
		}
		tg := ecs.New(e.client, "prod", "web", nil)
		p, err := tg.Plan(t.Context(), release)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.(deploy.InFlighter).InFlight(); !strings.Contains(got, "to web:2 IN_PROGRESS since") {
			t.Errorf("InFlight() = %q", got)
		}
		_, err = deploy.Run(t.Context(), release, []deploy.Target{tg}, &deploy.Options{Lock: &deploy.LockOptions{Locker: store.NewMemory(), Policy: deploy.LockFail}})
		if !errors.Is(err, deploy.ErrLocked) || !strings.Contains(err.Error(), "ecs:prod/web is deploying already: deployment") {
			t.Errorf("a release with LockFail: %v", err)
		}
		time.Sleep(2 * time.Minute) // the other tool's rollout settles
		p, err = tg.Plan(t.Context(), release)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.(deploy.InFlighter).InFlight(); got != "" {
			t.Errorf("InFlight() = %q after the rollout settled", got)
		}
	})
}
