// Package ecs rolls a [deploy.Release] out to an ECS service, with whichever deployment
// strategy the service uses: ROLLING, BLUE_GREEN, LINEAR or CANARY. Import it as ecs and the
// SDK's package of the same name as awsecs, as every example here does.
//
// # Plan
//
// A plan reads the service and its task definition (DescribeTaskDefinition with TAGS), or
// starts from a JSON file, and renders the new task definition with gjson/sjson: images by
// container name, environment set and unset, secrets as valueFrom entries. Only what
// RegisterTaskDefinition accepts is kept, by an allow-list derived from the SDK's input type,
// so describe-only fields (registeredAt, registeredBy, deregisteredAt, deleteRequestedAt,
// compatibilities, ...) and keys from newer APIs never break a register call.
// [Options.DeploymentConfiguration] changes the service's deploymentConfiguration with the
// release (strategy, bake time, linear and canary steps, alarms, circuit breaker, lifecycle
// hooks, early success); fields left unset keep the service's settings, and [Plan.Diff] shows
// the change beside the task definition's. [Options.Verify] checks, before anything changes,
// that the images (ECR), roles, awslogs groups and secrets exist and can be read.
//
// # Apply: register exactly once, then follow the service deployment
//
// Apply registers the task definition exactly once: the revision carries a
// "stevedore:deploy-id" tag, the SDK's retries are off for that call, and before any retry
// the family's newest revisions are searched for the tag, so a lost answer never makes a
// second revision. It optionally runs a one-off task on the new revision (a migration), then
// updates the service.
//
// Since 2024 ECS reports every rollout as a service deployment, and that is what the wait
// follows: the service's currentServiceDeployment after UpdateService, then
// DescribeServiceDeployments for its status, lifecycleStage, statusReason, target revision
// counts and traffic weights, circuit breaker, alarms and lifecycle hooks ([DeploymentStatus]).
// Success is SUCCESSFUL and nothing else, for every strategy:
//
//   - ROLLING: SCALE_UP replaces tasks; with early-success criteria and DEFERRED clean-up ECS
//     calls the deployment SUCCESSFUL while old tasks still drain, and so does the wait.
//   - BLUE_GREEN: the green revision scales up, takes test then production traffic, and
//     bakes (BAKE_TIME) with both revisions running before CLEAN_UP. "The PRIMARY deployment
//     runs the new revision alone" says nothing here; an alarm during the bake makes ECS roll
//     back, and the wait fails at that moment, never succeeding before the bake ends.
//   - LINEAR and CANARY: production traffic moves in steps (stepPercent, or canaryPercent),
//     each baking for its configured minutes; events carry the traffic share and the time
//     left in a step's bake or the final bake.
//
// ROLLBACK_*, STOPPED and STOP_REQUESTED are failures that name triggered alarms, the circuit
// breaker's failure count against its threshold, the failing hook, stopped tasks' reasons and
// exit codes, and the latest service events; a deployment that someone else's UpdateService
// replaced fails with [deploy.ErrSuperseded] and is left to that writer. PAUSE hooks
// AWAITING_ACTION are put to [Options.Hooks], whose answer becomes ContinueServiceDeployment
// CONTINUE or ROLLBACK; without it the wait reports the hook and its expiry and keeps waiting.
// Lambda hooks appear in events with their status and hookDetails, and a FAILED one (or one
// TIMED_OUT whose action is ROLLBACK) fails the deploy naming it.
//
// [Options.WaitUntil] returns at a lifecycle stage instead (say BAKE_TIME, for a day-long
// bake a CI job must not sit through) or right after UpdateService; [Follow] picks the
// deployment up later by its ARN ([Plan.Deployment]), in this process or another, and
// [Report] reads it once.
//
// The services of a [Cluster] share one poller: it polls at once when a wait begins, then
// every second ([DefaultPollInterval]) one DescribeServiceDeployments call for the deployments
// followed and one DescribeServices call for the ten services seen longest ago, so the end of
// a rollout is seen within a second. It slows down after throttling (up to
// [MaxPollInterval]) and when the clusters sharing a [Budget] ask for more than its rate; in a
// bake whose end is known, a wait looks every [MaxPollInterval] (fifteen polls) until the last
// five seconds (five polls).
// BENCHMARKS.md records the lag after SUCCESSFUL and the calls per minute.
//
// Where the service-deployment API is not available (it answers UnknownOperation or
// AccessDenied, or the service reports no currentServiceDeployment, as in moto), the wait
// falls back to the deployments list, says so once in a debug record, and judges as before
// ([ServiceStatus]): the PRIMARY deployment runs the new revision alone with every task
// running and rolloutState COMPLETED, a circuit breaker FAILED or ECS's own rollback is a
// failure, and a newer PRIMARY on another revision that is not ECS's rollback is another
// writer's.
//
// # Rollback
//
// While this deploy's service deployment is in flight, Rollback asks ECS to roll it back
// (StopServiceDeployment, stopType ROLLBACK) and waits for ROLLBACK_SUCCESSFUL; when ECS is
// already rolling it back by itself (an alarm, the circuit breaker, a hook), it waits for that
// rather than starting another deployment. After the deployment finished, or without the
// service-deployment API, it updates the service to the revision the plan observed, with the
// observed desired count and deploymentConfiguration, and waits again. It never writes over
// a newer writer, and never deregisters a revision that a service or an in-flight service
// deployment still uses. [Prune] keeps the newest revisions of a family on the same rule.
package ecs
