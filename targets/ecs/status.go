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
	Done    bool   // settled on the wanted revision
	Failed  bool   // will not settle on it
	Message string // why it is waiting, or why it failed
	Counts  deploy.Counts
}

// ServiceStatus judges svc against the task definition ARN want. since is the creation time
// of the deployment this rollout started; a PRIMARY deployment on another revision created
// after it means ECS rolled the service back by itself, one created before it is a stale view.
//
// Stable means: the PRIMARY deployment runs want and is the only deployment, running equals
// desired (for the service and the deployment), and rolloutState is COMPLETED where the
// service reports one. Unlike the SDK's ServicesStable waiter it reads rolloutState, so a
// service that the circuit breaker returned to the old revision is a failure, not a success.
func ServiceStatus(svc types.Service, want string, since time.Time) Status {
	st := Status{Counts: deploy.Counts{Desired: int(svc.DesiredCount), Running: int(svc.RunningCount)}}
	switch s := aws.ToString(svc.Status); s {
	case "DRAINING", "INACTIVE":
		st.Failed, st.Message = true, fmt.Sprintf("the service is %s", s)
		return st
	}
	var primary *types.Deployment
	var wanted *types.Deployment
	for i := range svc.Deployments {
		d := &svc.Deployments[i]
		if aws.ToString(d.Status) == "PRIMARY" {
			primary = d
		}
		if aws.ToString(d.TaskDefinition) == want && wanted == nil {
			wanted = d
		}
	}
	if primary == nil {
		st.Message = "no PRIMARY deployment yet"
		return st
	}
	st.Counts.Updated = int(primary.RunningCount)
	st.Counts.Pending = int(primary.PendingCount)
	st.Counts.Failed = int(primary.FailedTasks)
	if aws.ToString(primary.TaskDefinition) != want {
		if created := aws.ToTime(primary.CreatedAt); !created.Before(since) && !since.IsZero() {
			st.Failed = true
			st.Message = fmt.Sprintf("ECS rolled the service back to %s by itself", shortTD(aws.ToString(primary.TaskDefinition)))
			if wanted != nil {
				st.Counts.Failed = int(wanted.FailedTasks)
				if r := aws.ToString(wanted.RolloutStateReason); r != "" {
					st.Message += ": " + r
				}
			}
			return st
		}
		st.Message = fmt.Sprintf("PRIMARY deployment still on %s", shortTD(aws.ToString(primary.TaskDefinition)))
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
	st.Message = fmt.Sprintf("%s: %d/%d running, %d pending, %d deployments", shortTD(want),
		primary.RunningCount, primary.DesiredCount, primary.PendingCount, len(svc.Deployments))
	if primary.FailedTasks > 0 {
		st.Message += fmt.Sprintf(", %d failed tasks", primary.FailedTasks)
	}
	st.Done = len(svc.Deployments) == 1 &&
		svc.RunningCount == svc.DesiredCount && primary.RunningCount == primary.DesiredCount &&
		(primary.RolloutState == "" || primary.RolloutState == types.DeploymentRolloutStateCompleted)
	if st.Done {
		st.Message = fmt.Sprintf("%s: %d/%d running, stable", shortTD(want), primary.RunningCount, primary.DesiredCount)
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
