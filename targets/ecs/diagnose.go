package ecs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stevedore-dev/stevedore/deploy"
)

// failure builds the error for a rollout that will not settle, naming why: the stopped
// tasks of the new revision with their reasons and exit codes, and the latest service events.
func (t *Target) failure(ctx context.Context, svc *types.Service, want string, since time.Time, st Status) error {
	var b strings.Builder
	b.WriteString(st.Message)
	if why, err := t.stoppedTasks(ctx, want, since); err != nil {
		fmt.Fprintf(&b, "; stopped tasks could not be read: %v", err)
	} else if why != "" {
		b.WriteString("; stopped tasks: ")
		b.WriteString(why)
	}
	var evs []string
	for _, e := range svc.Events {
		if len(evs) == 3 || !aws.ToTime(e.CreatedAt).After(since) {
			break
		}
		evs = append(evs, aws.ToString(e.Message))
	}
	if len(evs) > 0 {
		b.WriteString("; latest events: ")
		b.WriteString(strings.Join(evs, " | "))
	}
	return &deploy.Error{Kind: deploy.ErrFailed, Target: t.Name(), Op: "wait for " + shortTD(want), Detail: b.String()}
}

// stoppedTasks describes up to three distinct reasons the service's tasks on want stopped.
func (t *Target) stoppedTasks(ctx context.Context, want string, since time.Time) (string, error) {
	list, err := t.c.api.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(t.c.name),
		ServiceName: aws.String(t.service), DesiredStatus: types.DesiredStatusStopped})
	if err != nil || len(list.TaskArns) == 0 {
		return "", err
	}
	out, err := t.c.api.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(t.c.name), Tasks: list.TaskArns})
	if err != nil {
		return "", err
	}
	var reasons []string
	seen := map[string]bool{}
	for _, task := range out.Tasks {
		if aws.ToString(task.TaskDefinitionArn) != want || aws.ToTime(task.StoppedAt).Before(since) {
			continue
		}
		if strings.HasPrefix(aws.ToString(task.StoppedReason), "Scaling activity initiated by") {
			continue // scaled in by a deployment (a rollback's drain), not a failure
		}
		r := describeStopped(task)
		if seen[r] {
			continue
		}
		seen[r] = true
		reasons = append(reasons, r)
		if len(reasons) == 3 {
			break
		}
	}
	return strings.Join(reasons, " | "), nil
}

// describeStopped says why a task stopped: its stoppedReason and each container's exit code
// and reason.
func describeStopped(task types.Task) string {
	parts := []string{aws.ToString(task.StoppedReason)}
	for _, c := range task.Containers {
		var s []string
		if c.ExitCode != nil {
			s = append(s, fmt.Sprintf("exit code %d", *c.ExitCode))
		}
		if r := aws.ToString(c.Reason); r != "" {
			s = append(s, r)
		}
		if len(s) > 0 {
			parts = append(parts, fmt.Sprintf("container %s: %s", aws.ToString(c.Name), strings.Join(s, ", ")))
		}
	}
	return strings.Join(parts, "; ")
}
