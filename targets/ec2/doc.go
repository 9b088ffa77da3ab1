// Package ec2 is the EC2 target: it rolls a release across a fleet of instances with SSM
// Run Command, with no SSH and no agent of stevedore's, as safely as a CodeDeploy in-place
// deployment. Import it as ec2 and the SDK's package of the same name as awsec2, as every
// example here does.
//
// Plan finds the instances (by IDs or ANDed tags), checks their SSM agents and reads what
// each was recorded to run; it names stopped, offline and unmanaged instances before
// anything is sent. Apply sends AWS-RunShellScript (or any document) with the release as
// environment variables, never pasted into shell text; one command with MaxConcurrency and
// MaxErrors for a fleet chosen by tags, or waves the target drives when a verify command
// must pass between them. Every invocation must end in Success: Undeliverable, Terminated,
// DeliveryTimedOut, TimedOut, Failed and Cancelled are failures whatever the command-level
// status says. On success it records the version on each instance (a tag, or a Parameter
// Store parameter); on failure, timeout or cancellation it cancels the command and Rollback
// runs the rollback commands with the previous version on the instances that were touched.
// A plan's snapshot names the commands in flight, so a plan restored in another process
// cancels them and rolls back, or waits on them and finishes the rollout they were ending.
package ec2
