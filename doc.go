// Package stevedore ships a build to AWS from Go, in-process: no aws CLI, no jq, no kubectl.
//
// The work is split into small packages:
//
//   - [github.com/stevedore-dev/stevedore/deploy] holds the contract every target implements
//     (plan, apply, roll back), the [deploy.Release] value that says what ships, typed progress
//     events, errors usable with errors.Is, and [deploy.Run], which plans, applies and, on
//     failure, timeout or cancellation, rolls back one target or several.
//   - [github.com/stevedore-dev/stevedore/targets/ecs] rolls a release out to an ECS service:
//     it renders the task definition with gjson/sjson, registers it once, updates the service,
//     waits until the new revision is the only one running, explains failures, and rolls back.
//
// Runnable programs live under examples/: quickstart (no AWS account needed) and ecs-rollout,
// the classic CodeBuild "describe, jq, register, update-service" script as a Go program.
package stevedore
