// Package deploy is the contract between stevedore's targets and the programs that drive them.
//
// A [Target] turns a [Release] into a [Plan] by reading live state, without side effects. A
// plan shows its change as a readable diff, applies it and waits until it has settled, and can
// restore exactly what it observed. [Run] drives one or several targets through plan, apply
// and, when anything fails, times out or is cancelled, rollback. A target that implements
// [Honourer] says which [Parts] of a release it honours; Run rejects a release that sets
// another, for every such target at once, before planning any. [RunStages] runs a release as
// ordered [Stage] values with a [Gate] between them (a [Check] measured on a schedule with
// Argo Rollouts' analysis rules); a failure anywhere rolls back every started target, the
// latest stage first.
//
// Targets report progress as [Event] values to an optional callback and log through a
// *slog.Logger; nothing in stevedore prints. Errors carry a sentinel such as [ErrNotFound] or
// [ErrThrottled] for errors.Is, while errors.As still reaches the AWS SDK's own error.
package deploy
