package ecs

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

func TestServiceStatus(t *testing.T) {
	const (
		newTD = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:8"
		oldTD = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7"
	)
	since := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	dep := func(status, td string, created time.Time, running, desired int32, state types.DeploymentRolloutState) types.Deployment {
		return types.Deployment{Status: aws.String(status), TaskDefinition: aws.String(td), CreatedAt: aws.Time(created),
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
	tests := []struct {
		name         string
		svc          types.Service
		done, failed bool
		msg          string
	}{
		{"settled", svc("ACTIVE", 2, 2, dep("PRIMARY", newTD, since, 2, 2, completed)), true, false, "web:8: 2/2 running, stable"},
		{"settled without rolloutState (no circuit breaker data)", svc("ACTIVE", 2, 2, dep("PRIMARY", newTD, since, 2, 2, "")), true, false, "web:8: 2/2 running, stable"},
		{"old deployment still draining", svc("ACTIVE", 3, 2, dep("PRIMARY", newTD, since, 2, 2, inProgress), dep("ACTIVE", oldTD, since.Add(-time.Hour), 1, 2, completed)), false, false, "web:8: 2/2 running, 0 pending, 2 deployments"},
		{"new tasks still starting", svc("ACTIVE", 1, 2, dep("PRIMARY", newTD, since, 1, 2, inProgress)), false, false, "web:8: 1/2 running, 0 pending, 1 deployments"},
		{"counts reached but rollout not COMPLETED", svc("ACTIVE", 2, 2, dep("PRIMARY", newTD, since, 2, 2, inProgress)), false, false, "web:8: 2/2 running, 0 pending, 1 deployments"},
		{"service count behind the deployment's", svc("ACTIVE", 1, 2, dep("PRIMARY", newTD, since, 2, 2, completed)), false, false, "web:8: 2/2 running, 0 pending, 1 deployments"},
		{"circuit breaker FAILED", svc("ACTIVE", 2, 2, dep("PRIMARY", newTD, since, 0, 2, failed), dep("ACTIVE", oldTD, since.Add(-time.Hour), 2, 2, completed)), false, true, "the deployment failed"},
		{"ECS rolled back by itself", svc("ACTIVE", 2, 2, dep("PRIMARY", oldTD, since.Add(time.Minute), 2, 2, inProgress), dep("ACTIVE", newTD, since, 0, 2, failed)), false, true, "ECS rolled the service back to web:7 by itself"},
		{"ECS rollback finished, failed deployment gone", svc("ACTIVE", 2, 2, dep("PRIMARY", oldTD, since.Add(time.Minute), 2, 2, completed)), false, true, "ECS rolled the service back to web:7 by itself"},
		{"stale view from before the update", svc("ACTIVE", 2, 2, dep("PRIMARY", oldTD, since.Add(-time.Hour), 2, 2, completed)), false, false, "PRIMARY deployment still on web:7"},
		{"draining", svc("DRAINING", 0, 0), false, true, "the service is DRAINING"},
		{"inactive", svc("INACTIVE", 0, 0), false, true, "the service is INACTIVE"},
		{"no primary", svc("ACTIVE", 0, 2), false, false, "no PRIMARY deployment yet"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := ServiceStatus(tc.svc, newTD, since)
			if st.Done != tc.done || st.Failed != tc.failed || st.Message[:min(len(st.Message), len(tc.msg))] != tc.msg {
				t.Errorf("got done=%v failed=%v %q, want done=%v failed=%v %q...", st.Done, st.Failed, st.Message, tc.done, tc.failed, tc.msg)
			}
		})
	}
}
