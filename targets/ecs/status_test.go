package ecs

import (
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
