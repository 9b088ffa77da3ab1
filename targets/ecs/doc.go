// Package ecs rolls a [deploy.Release] out to an ECS service.
//
// A plan reads the service and its task definition (DescribeTaskDefinition with TAGS), or
// starts from a JSON file, and renders the new task definition with gjson/sjson: images by
// container name, environment set and unset, secrets as valueFrom entries. Only what
// RegisterTaskDefinition accepts is kept, by an allow-list derived from the SDK's input type,
// so describe-only fields (registeredAt, registeredBy, deregisteredAt, deleteRequestedAt,
// compatibilities, ...) and keys from newer APIs never break a register call.
//
// Apply registers the task definition exactly once, optionally runs a one-off task on it
// (a migration), updates the service and waits until the PRIMARY deployment runs the new
// revision alone with every task running and rolloutState COMPLETED. It fails fast when the
// circuit breaker marks the deployment FAILED, when ECS rolls the service back by itself, and
// when the service is missing, draining or inactive; the error names stopped tasks' reasons,
// exit codes and the latest service events. The wait judges the deployment this process
// started: when another writer updates the service meanwhile, the deploy fails with
// deploy.ErrSuperseded instead of following the other writer's deployment, and Rollback never
// writes over a newer writer's revision. Rollback returns the service to the revision the
// plan observed.
package ecs
