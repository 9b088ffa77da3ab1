// Package stevedore ships a build to AWS from Go, in-process: no aws CLI, no jq, no kubectl.
// This package holds no code; the work is split into small packages.
//
// The contract and the runner:
//
//   - [github.com/stevedore-dev/stevedore/deploy] holds what every target implements (plan,
//     apply, roll back), the [github.com/stevedore-dev/stevedore/deploy.Release] that says what
//     ships, typed progress events, errors usable with errors.Is, and
//     [github.com/stevedore-dev/stevedore/deploy.Run], which plans, applies and, on failure,
//     timeout, cancellation or a panic, rolls back one target or several, latest first;
//     [github.com/stevedore-dev/stevedore/deploy.Result.Outcome] says where the release ended.
//     [github.com/stevedore-dev/stevedore/deploy.RunStages] runs a release in stages with gates
//     between them, leasing its targets and keeping a journal that
//     [github.com/stevedore-dev/stevedore/deploy.Recover] finishes or undoes after a crash.
//   - [github.com/stevedore-dev/stevedore/deploy/gate] holds the built-in gate checks:
//     CloudWatch alarms, a CloudWatch metric against a threshold, an HTTP answer.
//   - [github.com/stevedore-dev/stevedore/deploy/store] keeps leases and journals in S3
//     (conditional writes), DynamoDB (condition expressions), a directory or memory.
//   - [github.com/stevedore-dev/stevedore/deploy/deploytest] is the conformance suite every
//     target passes, with a small in-memory target to read as the example of your own.
//
// The targets:
//
//   - [github.com/stevedore-dev/stevedore/targets/ecs] rolls a release out to an ECS service:
//     it renders the task definition with gjson/sjson, registers it once, updates the service,
//     waits on the deployment it started, explains failures, and rolls back.
//   - [github.com/stevedore-dev/stevedore/targets/ec2] rolls a release across an EC2 fleet
//     with SSM Run Command: strategies, verify waves, every invocation checked, rollback of the
//     instances reached.
//   - [github.com/stevedore-dev/stevedore/targets/eks] sets images on a Kubernetes Deployment,
//     StatefulSet or DaemonSet (on EKS or any cluster) through a small REST client, reads
//     kubeconfigs as kubectl does, waits with kubectl's rules, fails fast, and undoes.
//
// Secrets:
//
//   - [github.com/stevedore-dev/stevedore/credentials] reads, writes and resolves secrets from
//     Secrets Manager and Parameter Store, caches them, and masks them in logs.
//   - [github.com/stevedore-dev/stevedore/credentials/credentialstest] is the conformance suite
//     every credentials.Store passes; run it on yours.
//
// Simulators for your own tests, in-process and handing out an aws.Config for the real SDK
// clients, in the style of net/http/httptest:
//
//   - [github.com/stevedore-dev/stevedore/targets/ecs/ecstest]: ECS, with service deployments
//     of every strategy over time, the circuit breaker, alarms, lifecycle hooks and faults.
//   - [github.com/stevedore-dev/stevedore/targets/ec2/ec2test]: EC2 and SSM Run Command, with
//     MaxConcurrency and MaxErrors, agents and scripted per-instance outcomes.
//   - [github.com/stevedore-dev/stevedore/credentials/secretstest]: Secrets Manager, Parameter
//     Store and CodeBuild source credentials, with denials, faults and gates.
//   - [github.com/stevedore-dev/stevedore/deploy/gate/gatetest]: CloudWatch alarms and metrics
//     that follow a script in time, for gates.
//   - [github.com/stevedore-dev/stevedore/targets/eks/ekstest]: a Kubernetes API server for
//     Deployments (a rolling controller, ReplicaSet revisions, watch, scripted pull failures),
//     handing out the EKS target's client instead of an aws.Config.
//
// Runnable programs live under examples/: release (one command for a release file of ECS,
// EKS and EC2 targets in stages; examples/codebuild has its buildspec, release files and IAM
// policies), quickstart (no AWS account needed; ECS rollouts, then a staged release across
// ECS, EKS and EC2 and one rolled back from all three), ecs-rollout
// (the classic CodeBuild "describe, jq, register, update-service" script as a Go program),
// ec2-rollout, eks-rollout (also a kubeconfig exec plugin), and secrets (get, put, exec with
// masked output, CodeBuild source credentials). The internal/ packages are what the
// simulators share, the moto and Kubernetes test servers, and helpers the programs share.
package stevedore
