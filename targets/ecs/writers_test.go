package ecs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/ecs/ecstest"
)

// otherWriter registers a revision running repo:v3 (another pipeline's release) and points
// the service at it through the SDK.
func (e *env) otherWriter(t *testing.T) {
	t.Helper()
	arn, err := e.srv.RegisterTaskDefinition(`{"family":"web","containerDefinitions":[{"name":"app","image":"` + repo + `:v3","essential":true},{"name":"sidecar","image":"busybox:1"}]}`)
	if err != nil {
		t.Error(err)
		return
	}
	if _, err := e.client.UpdateService(context.Background(), &awsecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"),
		TaskDefinition: aws.String(arn)}); err != nil {
		t.Error(err)
	}
}

// meanwhile runs f 30 s after this deploy's UpdateService, while the deploy waits.
func (e *env) meanwhile(f func()) {
	go func() {
		for e.srv.Calls("UpdateService") < 1 {
			time.Sleep(time.Second)
		}
		time.Sleep(30 * time.Second)
		f()
	}()
}

// Two writers on one service: the deploy that is overtaken fails saying so, and does not
// roll back over the newer writer's release.
func TestAnotherWriterSupersedesTheWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2, true, true)
		e.srv.SetBehavior(newImage, ecstest.Behavior{StartEvery: time.Minute})
		e.meanwhile(func() { e.otherWriter(t) })
		res, log, err := run(t, e, nil, nil)
		if !errors.Is(err, deploy.ErrSuperseded) || errors.Is(err, deploy.ErrRolledBack) {
			t.Fatalf("err = %v, want ErrSuperseded and no rollback\n%s", err, log.text())
		}
		if !strings.Contains(err.Error(), "another writer updated the service to web:3") {
			t.Errorf("the error does not say what happened: %v", err)
		}
		if n := e.srv.Calls("UpdateService"); n != 2 {
			t.Errorf("%d UpdateService calls, want 2 (ours and the other writer's): the deploy rolled back over the newer release", n)
		}
		if got := e.serviceTD(t); got != "web:3" {
			t.Errorf("the service runs %s, want the other writer's web:3", got)
		}
		if got := res.Outcome(); got != deploy.OutcomePartial {
			t.Errorf("Outcome = %q, want partial", got)
		}
	})
}

// The other writer comes in after this deploy failed and before its rollback: the rollback
// sees a revision that is neither this deploy's nor the one it replaced, and leaves it.
func TestRollbackDoesNotOverwriteANewerWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2, true, false)
		e.srv.SetBehavior(newImage, ecstest.Behavior{Fail: true, StoppedReason: "CannotPullContainerError"})
		wrote := false
		dopts := &deploy.Options{}
		res, log, err := runWith(t, e, nil, dopts, func(ev deploy.Event) {
			if ev.Phase == deploy.PhaseFailed && !wrote {
				wrote = true
				e.otherWriter(t)
			}
		})
		if !errors.Is(err, deploy.ErrSuperseded) || errors.Is(err, deploy.ErrRolledBack) || !errors.Is(err, deploy.ErrFailed) {
			t.Fatalf("err = %v, want ErrFailed then ErrSuperseded, not rolled back\n%s", err, log.text())
		}
		if got := e.serviceTD(t); got != "web:3" {
			t.Errorf("the service runs %s, want the other writer's web:3", got)
		}
		if got := res.Outcome(); got != deploy.OutcomePartial {
			t.Errorf("Outcome = %q, want partial", got)
		}
	})
}

// Another writer putting back the revision this deploy replaced is still another writer: the
// deploy does not call that its own rollback.
func TestAnotherWriterRestoringThePreviousRevision(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2, true, true)
		e.srv.SetBehavior(newImage, ecstest.Behavior{StartEvery: time.Minute})
		e.meanwhile(func() {
			if _, err := e.client.UpdateService(context.Background(), &awsecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"),
				TaskDefinition: aws.String("web:1")}); err != nil {
				t.Error(err)
			}
		})
		_, log, err := run(t, e, nil, nil)
		if !errors.Is(err, deploy.ErrSuperseded) || errors.Is(err, deploy.ErrRolledBack) {
			t.Fatalf("err = %v, want ErrSuperseded and no rollback of ours\n%s", err, log.text())
		}
		if n := e.srv.Calls("UpdateService"); n != 2 {
			t.Errorf("%d UpdateService calls, want 2: the deploy wrote over the other writer", n)
		}
	})
}

// ECS's own rollback goes to the last COMPLETED deployment, which need not be the revision the
// plan observed (another deploy was in progress then). That is not another writer: the
// rollback still restores what the plan observed.
func TestECSRollbackToAnOlderRevisionIsNotAnotherWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2, true, true)
		// An earlier deploy of web:3 is still in progress when ours is planned.
		e.srv.SetBehavior(repo+":v3", ecstest.Behavior{StartEvery: time.Minute})
		e.otherWriter(t)
		e.srv.SetBehavior(newImage, ecstest.Behavior{Fail: true, StoppedReason: "CannotPullContainerError"})
		_, log, err := run(t, e, nil, nil)
		if !errors.Is(err, deploy.ErrRolledBack) || errors.Is(err, deploy.ErrSuperseded) {
			t.Fatalf("err = %v, want rolled back\n%s", err, log.text())
		}
		if !strings.Contains(log.text(), "ECS rolled the service back to web:1 by itself") {
			t.Errorf("ECS's rollback to web:1 was not seen:\n%s", log.text())
		}
		if got := e.serviceTD(t); got != "web:2" {
			t.Errorf("the service runs %s, want web:2 (repo:v3), the revision the plan observed", got)
		}
	})
}
