package ecs

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// ServiceStatus, one condition per row.
func TestServiceStatus(t *testing.T) {
	const (
		newTD   = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:8"
		oldTD   = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7"
		otherTD = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:9"
		ourID   = "ecs-svc/111"
	)
	since := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	want := Want{TaskDefinition: newTD, DeploymentID: ourID, Since: since, Previous: oldTD}
	dep := func(id, status, td string, created time.Time, running, desired int32, state types.DeploymentRolloutState) types.Deployment {
		return types.Deployment{Id: aws.String(id), Status: aws.String(status), TaskDefinition: aws.String(td), CreatedAt: aws.Time(created),
			RunningCount: running, DesiredCount: desired, RolloutState: state}
	}
	svc := func(status string, running, desired int32, deps ...types.Deployment) types.Service {
		return types.Service{Status: aws.String(status), RunningCount: running, DesiredCount: desired, Deployments: deps}
	}
	const (
		inProgress = types.DeploymentRolloutStateInProgress
		completed  = types.DeploymentRolloutStateCompleted
		failed     = types.DeploymentRolloutStateFailed
	)
	type verdict struct{ done, failed, rolledBack, superseded bool }
	tests := []struct {
		name string
		svc  types.Service
		want Want // zero means the Want above
		v    verdict
		msg  string
	}{
		{"settled", svc("ACTIVE", 2, 2, dep(ourID, "PRIMARY", newTD, since, 2, 2, completed)),
			Want{}, verdict{done: true}, "web:8: 2/2 running, stable"},
		{"settled without rolloutState (no circuit breaker data)", svc("ACTIVE", 2, 2, dep(ourID, "PRIMARY", newTD, since, 2, 2, "")),
			Want{}, verdict{done: true}, "web:8: 2/2 running, stable"},
		{"an old deployment is still listed, though every count is reached", svc("ACTIVE", 2, 2, dep(ourID, "PRIMARY", newTD, since, 2, 2, completed), dep("ecs-svc/0", "ACTIVE", oldTD, since.Add(-time.Hour), 0, 0, completed)),
			Want{}, verdict{}, "web:8: 2/2 running, 0 pending, 2 deployments"},
		{"old tasks still draining", svc("ACTIVE", 3, 2, dep(ourID, "PRIMARY", newTD, since, 2, 2, inProgress), dep("ecs-svc/0", "ACTIVE", oldTD, since.Add(-time.Hour), 1, 2, completed)),
			Want{}, verdict{}, "web:8: 2/2 running, 0 pending, 2 deployments"},
		{"new tasks still starting", svc("ACTIVE", 1, 2, dep(ourID, "PRIMARY", newTD, since, 1, 2, inProgress)),
			Want{}, verdict{}, "web:8: 1/2 running, 0 pending, 1 deployments"},
		{"counts reached but rollout not COMPLETED", svc("ACTIVE", 2, 2, dep(ourID, "PRIMARY", newTD, since, 2, 2, inProgress)),
			Want{}, verdict{}, "web:8: 2/2 running, 0 pending, 1 deployments"},
		{"service count behind the deployment's", svc("ACTIVE", 1, 2, dep(ourID, "PRIMARY", newTD, since, 2, 2, completed)),
			Want{}, verdict{}, "web:8: 2/2 running, 0 pending, 1 deployments"},
		{"circuit breaker FAILED", svc("ACTIVE", 2, 2, dep(ourID, "PRIMARY", newTD, since, 0, 2, failed), dep("ecs-svc/0", "ACTIVE", oldTD, since.Add(-time.Hour), 2, 2, completed)),
			Want{}, verdict{failed: true}, "the deployment failed"},
		{"ECS rolled back by itself: ours is listed FAILED", svc("ACTIVE", 2, 2, dep("ecs-svc/222", "PRIMARY", oldTD, since.Add(time.Minute), 2, 2, inProgress), dep(ourID, "ACTIVE", newTD, since, 0, 2, failed)),
			Want{}, verdict{failed: true, rolledBack: true}, "ECS rolled the service back to web:7 by itself"},
		{"ECS rollback finished: ours gone, the previous revision is PRIMARY", svc("ACTIVE", 2, 2, dep("ecs-svc/222", "PRIMARY", oldTD, since.Add(time.Minute), 2, 2, completed)),
			Want{}, verdict{failed: true, rolledBack: true}, "ECS rolled the service back to web:7 by itself"},
		{"another writer's revision replaced ours while ours was in progress", svc("ACTIVE", 2, 2, dep("ecs-svc/333", "PRIMARY", otherTD, since.Add(time.Minute), 0, 2, inProgress), dep(ourID, "ACTIVE", newTD, since, 2, 2, inProgress)),
			Want{}, verdict{failed: true, superseded: true}, "another writer updated the service to web:9"},
		{"another writer's revision replaced ours, and ours is gone", svc("ACTIVE", 2, 2, dep("ecs-svc/333", "PRIMARY", otherTD, since.Add(time.Minute), 2, 2, completed)),
			Want{}, verdict{failed: true, superseded: true}, "another writer updated the service to web:9"},
		{"another writer put the previous revision back while ours was in progress", svc("ACTIVE", 2, 2, dep("ecs-svc/333", "PRIMARY", oldTD, since.Add(time.Minute), 0, 2, inProgress), dep(ourID, "ACTIVE", newTD, since, 2, 2, inProgress)),
			Want{}, verdict{failed: true, superseded: true}, "another writer updated the service to web:7"},
		{"a newer deployment of our own revision is followed, not a supersession", svc("ACTIVE", 2, 2, dep("ecs-svc/444", "PRIMARY", newTD, since.Add(time.Minute), 2, 2, completed)),
			Want{}, verdict{done: true}, "web:8: 2/2 running, stable"},
		{"stale view from before the update", svc("ACTIVE", 2, 2, dep("ecs-svc/0", "PRIMARY", oldTD, since.Add(-time.Hour), 2, 2, completed)),
			Want{}, verdict{}, "PRIMARY deployment still on web:7"},
		{"start time unknown: another revision as PRIMARY is waited on", svc("ACTIVE", 2, 2, dep("ecs-svc/0", "PRIMARY", oldTD, since.Add(time.Hour), 2, 2, completed)),
			Want{TaskDefinition: newTD, Previous: oldTD}, verdict{}, "PRIMARY deployment still on web:7"},
		{"deployment ID unknown: ours is found by its revision", svc("ACTIVE", 2, 2, dep("ecs-svc/222", "PRIMARY", oldTD, since.Add(time.Minute), 2, 2, inProgress), dep("ecs-svc/x", "ACTIVE", newTD, since, 0, 2, failed)),
			Want{TaskDefinition: newTD, Since: since, Previous: oldTD}, verdict{failed: true, rolledBack: true}, "ECS rolled the service back to web:7"},
		{"draining", svc("DRAINING", 0, 0), Want{}, verdict{failed: true}, "the service is DRAINING"},
		{"inactive", svc("INACTIVE", 0, 0), Want{}, verdict{failed: true}, "the service is INACTIVE"},
		{"no primary", svc("ACTIVE", 0, 2), Want{}, verdict{}, "no PRIMARY deployment yet"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.want
			if w == (Want{}) {
				w = want
			}
			st := ServiceStatus(tc.svc, w)
			got := verdict{st.Done, st.Failed, st.RolledBack, st.Superseded}
			if got != tc.v || st.Message[:min(len(st.Message), len(tc.msg))] != tc.msg {
				t.Errorf("got %+v %q, want %+v %q...", got, st.Message, tc.v, tc.msg)
			}
		})
	}
}

// DeploymentStatus, one condition per row.
func TestDeploymentStatus(t *testing.T) {
	const ours = "arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/web/ours"
	const theirs = "arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/web/theirs"
	pct := func(f float64) *float64 { return &f }
	base := func(status types.ServiceDeploymentStatus, stage types.ServiceDeploymentLifecycleStage) types.ServiceDeployment {
		return types.ServiceDeployment{ServiceDeploymentArn: aws.String(ours), Status: status, LifecycleStage: stage,
			TargetServiceRevision:    &types.ServiceRevisionSummary{RequestedTaskCount: 2, RunningTaskCount: 2},
			DeploymentConfiguration:  &types.DeploymentConfiguration{BakeTimeInMinutes: aws.Int32(10)},
			DeploymentCircuitBreaker: &types.ServiceDeploymentCircuitBreaker{Status: types.ServiceDeploymentRollbackMonitorsStatusMonitoring, Threshold: 3},
			Alarms:                   &types.ServiceDeploymentAlarms{Status: types.ServiceDeploymentRollbackMonitorsStatusMonitoring, AlarmNames: []string{"5xx"}}}
	}
	with := func(d types.ServiceDeployment, f func(*types.ServiceDeployment)) types.ServiceDeployment {
		f(&d)
		return d
	}
	const (
		inProgress = types.ServiceDeploymentStatusInProgress
		bake       = types.ServiceDeploymentLifecycleStageBakeTime
	)
	hook := func(status types.DeploymentLifecycleHookStatus, onTimeout types.DeploymentLifecycleHookAction) func(*types.ServiceDeployment) {
		return func(d *types.ServiceDeployment) {
			d.LifecycleHookDetails = []types.DeploymentLifecycleHookDetail{{HookId: aws.String("h1"), TargetArn: aws.String("arn:hook"),
				TargetType: types.DeploymentLifecycleHookTargetTypeAwsLambda, Status: status, TimeoutAction: onTimeout}}
		}
	}
	type verdict struct{ done, failed, rolledBack, superseded bool }
	tests := []struct {
		name     string
		d        types.ServiceDeployment
		current  string
		stageAge time.Duration
		v        verdict
		msg      string
	}{
		{"SUCCESSFUL is success", base(types.ServiceDeploymentStatusSuccessful, types.ServiceDeploymentLifecycleStageCleanUp), ours, 0,
			verdict{done: true}, "service deployment ours SUCCESSFUL"},
		{"baking with every task running is not success", base(inProgress, bake), ours, 4 * time.Minute,
			verdict{}, "IN_PROGRESS BAKE_TIME: 2/2 new tasks running, 0 pending, 6m0s of bake time left"},
		{"bake age unknown: no time left claimed", base(inProgress, bake), ours, -1,
			verdict{}, "IN_PROGRESS BAKE_TIME: 2/2 new tasks running, 0 pending"},
		{"PENDING waits", base(types.ServiceDeploymentStatusPending, ""), ours, 0, verdict{}, "PENDING: "},
		{"traffic share is reported", with(base(inProgress, types.ServiceDeploymentLifecycleStageProductionTrafficShift), func(d *types.ServiceDeployment) {
			d.TargetServiceRevision.RequestedProductionTrafficWeight = pct(10)
		}), ours, 0, verdict{}, "IN_PROGRESS PRODUCTION_TRAFFIC_SHIFT: 2/2 new tasks running, 0 pending, 10% of production traffic"},
		{"ECS rolling back is a failure at once", base(types.ServiceDeploymentStatusRollbackInProgress, bake), ours, 0,
			verdict{failed: true, rolledBack: true}, "ECS is rolling service deployment ours back"},
		{"rollback requested is a failure", base(types.ServiceDeploymentStatusRollbackRequested, bake), ours, 0,
			verdict{failed: true, rolledBack: true}, "ECS is rolling service deployment ours back"},
		{"ROLLBACK_SUCCESSFUL is a failure", base(types.ServiceDeploymentStatusRollbackSuccessful, bake), ours, 0,
			verdict{failed: true, rolledBack: true}, "ECS rolled service deployment ours back"},
		{"ROLLBACK_FAILED is a failure, not rolled back", base(types.ServiceDeploymentStatusRollbackFailed, bake), ours, 0,
			verdict{failed: true}, "service deployment ours failed and so did ECS's rollback"},
		{"STOPPED while current is a failure", base(types.ServiceDeploymentStatusStopped, types.ServiceDeploymentLifecycleStageScaleUp), ours, 0,
			verdict{failed: true}, "service deployment ours was STOPPED"},
		{"STOP_REQUESTED is a failure", base(types.ServiceDeploymentStatusStopRequested, types.ServiceDeploymentLifecycleStageScaleUp), ours, 0,
			verdict{failed: true}, "service deployment ours was STOP_REQUESTED"},
		{"STOPPED because another deployment is current: superseded", base(types.ServiceDeploymentStatusStopped, types.ServiceDeploymentLifecycleStageScaleUp), theirs, 0,
			verdict{failed: true, superseded: true}, "another writer started service deployment theirs"},
		{"in flight but another deployment is current: superseded", base(inProgress, types.ServiceDeploymentLifecycleStageScaleUp), theirs, 0,
			verdict{failed: true, superseded: true}, "another writer started service deployment theirs"},
		{"current unknown is not superseded", base(inProgress, types.ServiceDeploymentLifecycleStageScaleUp), "", 0,
			verdict{}, "IN_PROGRESS SCALE_UP"},
		{"triggered alarm fails before ECS reports the rollback", with(base(inProgress, bake), func(d *types.ServiceDeployment) {
			d.Alarms.Status, d.Alarms.TriggeredAlarmNames = types.ServiceDeploymentRollbackMonitorsStatusTriggered, []string{"5xx"}
		}), ours, 0, verdict{failed: true}, "service deployment ours is failing; alarms in ALARM: 5xx"},
		{"tripped circuit breaker fails naming its count and threshold", with(base(inProgress, types.ServiceDeploymentLifecycleStageScaleUp), func(d *types.ServiceDeployment) {
			d.DeploymentCircuitBreaker.Status, d.DeploymentCircuitBreaker.FailureCount = types.ServiceDeploymentRollbackMonitorsStatusTriggered, 3
		}), ours, 0, verdict{failed: true}, "service deployment ours is failing; circuit breaker: 3 failed tasks of a threshold of 3"},
		{"failed tasks under the threshold are counted, not fatal", with(base(inProgress, types.ServiceDeploymentLifecycleStageScaleUp), func(d *types.ServiceDeployment) {
			d.DeploymentCircuitBreaker.FailureCount = 2
		}), ours, 0, verdict{}, "IN_PROGRESS SCALE_UP: 2/2 new tasks running, 0 pending, 2 of 3 failed tasks the circuit breaker allows"},
		{"FAILED hook fails naming it", with(base(inProgress, types.ServiceDeploymentLifecycleStagePostScaleUp), hook(types.DeploymentLifecycleHookStatusFailed, "")),
			ours, 0, verdict{failed: true}, "service deployment ours is failing; lifecycle AWS_LAMBDA hook arn:hook in POST_SCALE_UP is FAILED"},
		{"TIMED_OUT hook whose action is ROLLBACK fails", with(base(inProgress, types.ServiceDeploymentLifecycleStagePostScaleUp), hook(types.DeploymentLifecycleHookStatusTimedOut, types.DeploymentLifecycleHookActionRollback)),
			ours, 0, verdict{failed: true}, "service deployment ours is failing; lifecycle AWS_LAMBDA hook arn:hook in POST_SCALE_UP is TIMED_OUT"},
		{"TIMED_OUT hook whose action is CONTINUE does not", with(base(inProgress, types.ServiceDeploymentLifecycleStagePostScaleUp), hook(types.DeploymentLifecycleHookStatusTimedOut, types.DeploymentLifecycleHookActionContinue)),
			ours, 0, verdict{}, "IN_PROGRESS POST_SCALE_UP"},
		{"hook in progress is reported while waiting", with(base(inProgress, types.ServiceDeploymentLifecycleStagePostScaleUp), hook(types.DeploymentLifecycleHookStatusInProgress, "")),
			ours, 0, verdict{}, "IN_PROGRESS POST_SCALE_UP: 2/2 new tasks running, 0 pending; AWS_LAMBDA hook arn:hook in POST_SCALE_UP is IN_PROGRESS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := DeploymentStatus(tc.d, tc.current, tc.stageAge)
			got := verdict{st.Done, st.Failed, st.RolledBack, st.Superseded}
			if got != tc.v || !strings.HasPrefix(st.Message, tc.msg) {
				t.Errorf("got %+v %q, want %+v %q...", got, st.Message, tc.v, tc.msg)
			}
		})
	}
}

func TestUntil(t *testing.T) {
	for _, tc := range []struct {
		in    string
		until Until
		stage string
		ends  bool
	}{
		{"deployed", Deployed, "CLEAN_UP", false},
		{"started", Started, "CLEAN_UP", false},
		{"bake_time", UntilStage(types.ServiceDeploymentLifecycleStageBakeTime), "BAKE_TIME", true},
		{"bake-time", UntilStage(types.ServiceDeploymentLifecycleStageBakeTime), "CLEAN_UP", true},
		{"BAKE_TIME", UntilStage(types.ServiceDeploymentLifecycleStageBakeTime), "PRODUCTION_TRAFFIC_SHIFT", false},
		{"scale_up", UntilStage(types.ServiceDeploymentLifecycleStageScaleUp), "", false},
	} {
		u, err := ParseUntil(tc.in)
		if err != nil || u != tc.until || u.reached(Status{Stage: tc.stage}) != tc.ends {
			t.Errorf("ParseUntil(%q) = %q, %v; reached at %q = %v, want %q, %v", tc.in, u, err, tc.stage, u.reached(Status{Stage: tc.stage}), tc.until, tc.ends)
		}
	}
	if _, err := ParseUntil("soon"); err == nil || !strings.Contains(err.Error(), "BAKE_TIME") {
		t.Errorf("ParseUntil(soon) = %v, want an error listing the stages", err)
	}
}

func FuzzParseDeploymentARN(f *testing.F) {
	f.Add("arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/web/abc")
	f.Add("arn:aws:ecs:us-east-1:123456789012:service/prod/web")
	f.Fuzz(func(t *testing.T, arn string) {
		c, s, err := ParseDeploymentARN(arn)
		if err == nil && (c == "" || s == "" || !strings.Contains(arn, "/"+c+"/"+s+"/")) {
			t.Errorf("ParseDeploymentARN(%q) = %q, %q", arn, c, s)
		}
	})
}
