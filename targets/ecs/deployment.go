package ecs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/stevedore-dev/stevedore/deploy"
)

// Until says when a rollout's wait returns: Deployed (the zero value: the service deployment
// is SUCCESSFUL), Started (right after UpdateService), or a lifecycle stage made with
// UntilStage (once the deployment reaches it, say BAKE_TIME, so a CI job need not sit through
// a day-long bake).
type Until string

const (
	Deployed Until = ""
	Started  Until = "STARTED"
)

// UntilStage returns the Until that ends the wait when the deployment reaches stage (or
// succeeds before ECS reports it).
func UntilStage(stage types.ServiceDeploymentLifecycleStage) Until { return Until(stage) }

// stageOrder is the order of the lifecycle stages; a wait for one ends at any later one.
var stageOrder = []types.ServiceDeploymentLifecycleStage{
	types.ServiceDeploymentLifecycleStageReconcileService,
	types.ServiceDeploymentLifecycleStagePreScaleUp,
	types.ServiceDeploymentLifecycleStageScaleUp,
	types.ServiceDeploymentLifecycleStagePostScaleUp,
	types.ServiceDeploymentLifecycleStageTestTrafficShift,
	types.ServiceDeploymentLifecycleStagePostTestTrafficShift,
	"PRE_PRODUCTION_TRAFFIC_SHIFT", // a hook stage; the SDK lists no constant for it
	types.ServiceDeploymentLifecycleStageProductionTrafficShift,
	types.ServiceDeploymentLifecycleStagePostProductionTrafficShift,
	types.ServiceDeploymentLifecycleStageBakeTime,
	types.ServiceDeploymentLifecycleStageCleanUp,
}

// ParseUntil reads "deployed", "started" or a lifecycle stage name (any case).
func ParseUntil(s string) (Until, error) {
	switch u := strings.ToUpper(strings.ReplaceAll(s, "-", "_")); u {
	case "", "DEPLOYED", "SUCCESSFUL":
		return Deployed, nil
	case "STARTED":
		return Started, nil
	default:
		if slices.Contains(stageOrder, types.ServiceDeploymentLifecycleStage(u)) {
			return Until(u), nil
		}
	}
	return "", fmt.Errorf("%q is not deployed, started or a lifecycle stage (%s)", s, stageList())
}

func stageList() string {
	var names []string
	for _, s := range stageOrder {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}

// reached reports whether a deployment observed at stage has reached u's stage.
func (u Until) reached(st Status) bool {
	if u == Deployed || u == Started {
		return false
	}
	want := slices.Index(stageOrder, types.ServiceDeploymentLifecycleStage(u))
	return st.Stage != "" && slices.Index(stageOrder, types.ServiceDeploymentLifecycleStage(st.Stage)) >= want
}

// Hook is a lifecycle hook of the current stage of a service deployment.
type Hook struct {
	Deployment string // the service deployment's ARN
	ID         string // what ContinueServiceDeployment takes
	Target     string // the hook's Lambda function ARN, or the PAUSE hook's target
	Type       types.DeploymentLifecycleHookTargetType
	Stage      string
	Status     types.DeploymentLifecycleHookStatus
	Expires    time.Time
	OnTimeout  types.DeploymentLifecycleHookAction
	Details    string // the hook's hookDetails as JSON, when configured
}

func (h Hook) String() string {
	s := fmt.Sprintf("%s hook %s in %s is %s", h.Type, h.Target, h.Stage, h.Status)
	if h.Status == types.DeploymentLifecycleHookStatusAwaitingAction && !h.Expires.IsZero() {
		s += fmt.Sprintf(" (it expires at %s, then ECS will %s)", h.Expires.UTC().Format(time.RFC3339), h.OnTimeout)
	}
	if h.Details != "" {
		s += ", details " + h.Details
	}
	return s
}

// hooksOf lists the hooks of d's current stage, with their configured details.
func hooksOf(d types.ServiceDeployment) []Hook {
	var hs []Hook
	for _, h := range d.LifecycleHookDetails {
		hk := Hook{Deployment: aws.ToString(d.ServiceDeploymentArn), ID: aws.ToString(h.HookId), Target: aws.ToString(h.TargetArn),
			Type: h.TargetType, Stage: string(d.LifecycleStage), Status: h.Status, Expires: aws.ToTime(h.ExpiresAt), OnTimeout: h.TimeoutAction}
		if c := d.DeploymentConfiguration; c != nil {
			for _, cfg := range c.LifecycleHooks {
				if aws.ToString(cfg.HookTargetArn) == hk.Target && cfg.HookDetails != nil {
					if b, err := cfg.HookDetails.MarshalSmithyDocument(); err == nil {
						hk.Details = string(b)
					}
				}
			}
		}
		hs = append(hs, hk)
	}
	return hs
}

// DeploymentStatus judges one observation of the service deployment d that a rollout follows.
// current is the service's currentServiceDeployment at the same time, and stageAge how long d
// has been in its lifecycle stage as far as the caller has seen (for the time left in a bake;
// negative when unknown).
//
// Success is SUCCESSFUL and nothing else: not "the PRIMARY deployment runs the new revision
// alone", which is true while a blue/green deployment still bakes and may yet roll back.
// ROLLBACK_*, STOPPED and STOP_REQUESTED are failures, as are a triggered alarm or circuit
// breaker and a hook that FAILED or TIMED_OUT with a ROLLBACK action, which ECS is about to
// act on. A deployment the service no longer calls current, stopped without a rollback, was
// superseded by another writer's.
func DeploymentStatus(d types.ServiceDeployment, current string, stageAge time.Duration) Status {
	arn := aws.ToString(d.ServiceDeploymentArn)
	st := Status{Deployment: arn, State: d.Status, Stage: string(d.LifecycleStage), Hooks: hooksOf(d)}
	if r := d.TargetServiceRevision; r != nil {
		st.Counts = deploy.Counts{Desired: int(r.RequestedTaskCount), Updated: int(r.RunningTaskCount), Pending: int(r.PendingTaskCount)}
		st.Traffic = r.RequestedProductionTrafficWeight
	}
	for _, r := range d.SourceServiceRevisions {
		st.Counts.Running += int(r.RunningTaskCount)
	}
	st.Counts.Running += st.Counts.Updated
	cb := d.DeploymentCircuitBreaker
	if cb != nil {
		st.Counts.Failed = int(cb.FailureCount)
	}
	reason := aws.ToString(d.StatusReason)
	why := func(lead string) string {
		parts := []string{lead}
		if reason != "" {
			parts[0] += ": " + strings.TrimSuffix(reason, ".")
		}
		if a := d.Alarms; a != nil && len(a.TriggeredAlarmNames) > 0 {
			parts = append(parts, "alarms in ALARM: "+strings.Join(a.TriggeredAlarmNames, ", "))
		}
		if cb != nil && cb.Status == types.ServiceDeploymentRollbackMonitorsStatusTriggered {
			parts = append(parts, fmt.Sprintf("circuit breaker: %d failed tasks of a threshold of %d", cb.FailureCount, cb.Threshold))
		}
		for _, h := range st.Hooks {
			if h.Status == types.DeploymentLifecycleHookStatusFailed || h.Status == types.DeploymentLifecycleHookStatusTimedOut {
				parts = append(parts, "lifecycle "+h.String())
			}
		}
		return strings.Join(parts, "; ")
	}
	switch d.Status {
	case types.ServiceDeploymentStatusSuccessful:
		st.Done = true
		st.Message = fmt.Sprintf("service deployment %s SUCCESSFUL: %d/%d tasks of the new revision running", shortARN(arn), st.Counts.Updated, st.Counts.Desired)
		return st
	case types.ServiceDeploymentStatusRollbackRequested, types.ServiceDeploymentStatusRollbackInProgress,
		types.ServiceDeploymentStatusRollbackSuccessful:
		st.Failed, st.RolledBack = true, true
		lead := "ECS is rolling service deployment " + shortARN(arn) + " back"
		if d.Status == types.ServiceDeploymentStatusRollbackSuccessful {
			lead = "ECS rolled service deployment " + shortARN(arn) + " back"
		}
		if rb := d.Rollback; rb != nil && aws.ToString(rb.Reason) != "" && reason == "" {
			reason = aws.ToString(rb.Reason)
		}
		st.Message = why(lead)
		return st
	case types.ServiceDeploymentStatusRollbackFailed:
		st.Failed = true
		st.Message = why("service deployment " + shortARN(arn) + " failed and so did ECS's rollback")
		return st
	case types.ServiceDeploymentStatusStopped, types.ServiceDeploymentStatusStopRequested:
		st.Failed = true
		if current != "" && current != arn {
			st.Superseded = true
			st.Message = fmt.Sprintf("another writer started service deployment %s after this deploy started; "+
				"this deploy stops following it and leaves the service as that writer set it", shortARN(current))
			return st
		}
		st.Message = why("service deployment " + shortARN(arn) + " was " + string(d.Status))
		return st
	}
	if current != "" && current != arn {
		st.Failed, st.Superseded = true, true
		st.Message = fmt.Sprintf("another writer started service deployment %s while this deploy's %s was %s; "+
			"this deploy stops following it and leaves the service as that writer set it", shortARN(current), shortARN(arn), d.Status)
		return st
	}
	alarmed := d.Alarms != nil && d.Alarms.Status == types.ServiceDeploymentRollbackMonitorsStatusTriggered
	tripped := cb != nil && cb.Status == types.ServiceDeploymentRollbackMonitorsStatusTriggered
	hookFailed := false
	for _, h := range st.Hooks {
		hookFailed = hookFailed || h.Status == types.DeploymentLifecycleHookStatusFailed ||
			h.Status == types.DeploymentLifecycleHookStatusTimedOut && h.OnTimeout != types.DeploymentLifecycleHookActionContinue
	}
	if alarmed || tripped || hookFailed {
		st.Failed = true
		st.Message = why("service deployment " + shortARN(arn) + " is failing")
		return st
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s", d.Status)
	if st.Stage != "" {
		fmt.Fprintf(&b, " %s", st.Stage)
	}
	fmt.Fprintf(&b, ": %d/%d new tasks running, %d pending", st.Counts.Updated, st.Counts.Desired, st.Counts.Pending)
	if st.Traffic != nil {
		fmt.Fprintf(&b, ", %g%% of production traffic", *st.Traffic)
	}
	if bake, what := bakeOf(d, st.Traffic); bake > 0 && stageAge >= 0 {
		st.Remaining = max(0, bake-stageAge)
		fmt.Fprintf(&b, ", %s of %s left", st.Remaining.Round(time.Second), what)
	}
	if st.Counts.Failed > 0 && cb != nil && cb.Status != types.ServiceDeploymentRollbackMonitorsStatusDisabled {
		fmt.Fprintf(&b, ", %d of %d failed tasks the circuit breaker allows", cb.FailureCount, cb.Threshold)
	}
	for _, h := range st.Hooks {
		if h.Status == types.DeploymentLifecycleHookStatusAwaitingAction || h.Status == types.DeploymentLifecycleHookStatusInProgress {
			b.WriteString("; " + h.String())
		}
	}
	st.Message = b.String()
	return st
}

// bakeOf is how long d's current stage bakes, and what to call it: the deployment's bake
// time in BAKE_TIME, a linear or canary step's while production traffic is part-shifted.
func bakeOf(d types.ServiceDeployment, traffic *float64) (time.Duration, string) {
	c := d.DeploymentConfiguration
	if c == nil {
		return 0, ""
	}
	minutes := func(m *int32) time.Duration { return time.Duration(aws.ToInt32(m)) * time.Minute }
	switch {
	case d.LifecycleStage == types.ServiceDeploymentLifecycleStageBakeTime && c.BakeTimeInMinutes != nil:
		return minutes(c.BakeTimeInMinutes), "bake time"
	case d.LifecycleStage != types.ServiceDeploymentLifecycleStageProductionTrafficShift || traffic == nil || *traffic <= 0 || *traffic >= 100:
		return 0, ""
	case c.Strategy == types.DeploymentStrategyLinear && c.LinearConfiguration != nil:
		return minutes(c.LinearConfiguration.StepBakeTimeInMinutes), "this step's bake"
	case c.Strategy == types.DeploymentStrategyCanary && c.CanaryConfiguration != nil:
		return minutes(c.CanaryConfiguration.CanaryBakeTimeInMinutes), "the canary's bake"
	}
	return 0, ""
}

// shortARN is the last part of an ARN: a service deployment's ID.
func shortARN(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// errNoDeploymentAPI marks an ECS without the service-deployment API for this caller: the
// operation is unknown there (older regions, emulators) or the credentials may not call it.
var errNoDeploymentAPI = errors.New("the service-deployment API is not available")

// describeDeployment reads one service deployment.
func (t *Target) describeDeployment(ctx context.Context, arn string) (*types.ServiceDeployment, error) {
	out, err := t.c.api.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{arn}})
	if err != nil {
		if unavailable(err) {
			return nil, fmt.Errorf("%w: %w", errNoDeploymentAPI, err)
		}
		return nil, err
	}
	if len(out.ServiceDeployments) == 0 {
		return nil, deploy.Errorf(deploy.ErrNotFound, t.Name(), "describe service deployment", "service deployment %s is MISSING", arn)
	}
	return &out.ServiceDeployments[0], nil
}

// fallBack records that the cluster's ECS has no service-deployment API for these
// credentials, saying so once in a debug record.
func (c *Cluster) fallBack(ctx context.Context, log *slog.Logger, why error) {
	if !c.noDeployments.Swap(true) {
		log.DebugContext(ctx, "following rollouts by the service's deployments list: the service-deployment API is not available",
			"cluster", c.name, "err", why)
	}
}
