package ecs

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stevedore-dev/stevedore/deploy"
)

// Status is what one observation of a service says about a rollout.
type Status struct {
	Done       bool   // settled on the wanted revision
	Failed     bool   // will not settle on it
	RolledBack bool   // failed, and ECS rolled the service back by itself
	Superseded bool   // failed because another writer replaced this rollout's deployment
	Message    string // why it is waiting, or why it failed
	Counts     deploy.Counts

	// What a service deployment reports (DeploymentStatus); empty on the fallback path.
	Deployment string                        // the service deployment's ARN
	State      types.ServiceDeploymentStatus // its status
	Stage      string                        // its lifecycle stage
	Traffic    *float64                      // percent of production traffic on the new revision, where ECS reports it
	Remaining  time.Duration                 // time left in a bake, or in a linear or canary step's bake, when known
	Hooks      []Hook                        // lifecycle hooks of the current stage

}

// Want is the rollout a wait judges: the deployment this process started, not whatever the
// service happens to run.
type Want struct {
	// TaskDefinition is the ARN the service should run.
	TaskDefinition string
	// DeploymentID is the deployment UpdateService started ("ecs-svc/..."); empty when its
	// answer did not show it, in which case the deployment running TaskDefinition counts.
	DeploymentID string
	// Since is that deployment's creation time; zero when unknown. A PRIMARY deployment on
	// another revision created before it is a stale view, not a change.
	Since time.Time
	// Previous is the task definition the service ran before: where ECS's own rollback goes.
	Previous string
	// Deployment is the service deployment UpdateService started (its ARN); empty where ECS
	// reports none, and the wait then judges the service's deployments list (ServiceStatus).
	Deployment string
	// Until is when the wait returns; RollingBack waits instead for Deployment's rollback to
	// end ROLLBACK_SUCCESSFUL.
	Until       Until
	RollingBack bool
}

// ServiceStatus judges svc against want. Stable means: the PRIMARY deployment runs
// want.TaskDefinition and is the only deployment, running equals desired (for the service
// and the deployment), and rolloutState is COMPLETED where the service reports one. Unlike
// the SDK's ServicesStable waiter it reads rolloutState, so a service the circuit breaker
// returned to the old revision is a failure, not a success; and when a newer PRIMARY on
// another revision is not ECS's own rollback, someone else updated the service: the rollout
// was superseded, and is not judged by the other writer's deployment.
func ServiceStatus(svc types.Service, want Want) Status {
	st := Status{Counts: deploy.Counts{Desired: int(svc.DesiredCount), Running: int(svc.RunningCount)}}
	switch s := aws.ToString(svc.Status); s {
	case "DRAINING", "INACTIVE":
		st.Failed, st.Message = true, fmt.Sprintf("the service is %s", s)
		return st
	}
	var primary, ours *types.Deployment
	for i := range svc.Deployments {
		d := &svc.Deployments[i]
		if aws.ToString(d.Status) == "PRIMARY" {
			primary = d
		}
		switch {
		case ours != nil:
		case want.DeploymentID != "" && aws.ToString(d.Id) == want.DeploymentID:
			ours = d
		case want.DeploymentID == "" && aws.ToString(d.TaskDefinition) == want.TaskDefinition:
			ours = d
		}
	}
	if primary == nil {
		st.Message = "no PRIMARY deployment yet"
		return st
	}
	st.Counts.Updated = int(primary.RunningCount)
	st.Counts.Pending = int(primary.PendingCount)
	st.Counts.Failed = int(primary.FailedTasks)
	if other := aws.ToString(primary.TaskDefinition); other != want.TaskDefinition {
		if want.Since.IsZero() || aws.ToTime(primary.CreatedAt).Before(want.Since) {
			st.Message = fmt.Sprintf("PRIMARY deployment still on %s", shortTD(other))
			return st
		}
		st.Failed = true
		rolledBack := ours != nil && ours.RolloutState == types.DeploymentRolloutStateFailed ||
			ours == nil && other == want.Previous && want.Previous != ""
		if !rolledBack {
			st.Superseded = true
			st.Message = fmt.Sprintf("another writer updated the service to %s (deployment %s) after this deploy started; "+
				"this deploy stops following it and leaves it as that writer set it", shortTD(other), aws.ToString(primary.Id))
			return st
		}
		st.RolledBack = true
		st.Message = fmt.Sprintf("ECS rolled the service back to %s by itself", shortTD(other))
		if ours != nil {
			st.Counts.Failed = int(ours.FailedTasks)
			if r := aws.ToString(ours.RolloutStateReason); r != "" {
				st.Message += ": " + r
			}
		}
		return st
	}
	if primary.RolloutState == types.DeploymentRolloutStateFailed {
		st.Failed = true
		st.Message = "the deployment failed"
		if r := aws.ToString(primary.RolloutStateReason); r != "" {
			st.Message += ": " + r
		}
		return st
	}
	st.Message = fmt.Sprintf("%s: %d/%d running, %d pending, %d deployments", shortTD(want.TaskDefinition),
		primary.RunningCount, primary.DesiredCount, primary.PendingCount, len(svc.Deployments))
	if primary.FailedTasks > 0 {
		st.Message += fmt.Sprintf(", %d failed tasks", primary.FailedTasks)
	}
	st.Done = len(svc.Deployments) == 1 &&
		svc.RunningCount == svc.DesiredCount && primary.RunningCount == primary.DesiredCount &&
		(primary.RolloutState == "" || primary.RolloutState == types.DeploymentRolloutStateCompleted)
	if st.Done {
		st.Message = fmt.Sprintf("%s: %d/%d running, stable", shortTD(want.TaskDefinition), primary.RunningCount, primary.DesiredCount)
	}
	return st
}

// shortTD turns a task definition ARN into family:revision.
func shortTD(arn string) string {
	for i := len(arn) - 1; i >= 0; i-- {
		if arn[i] == '/' {
			return arn[i+1:]
		}
	}
	return arn
}
