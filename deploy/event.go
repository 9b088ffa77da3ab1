package deploy

import "time"

// Phase says which part of a deploy an event belongs to.
type Phase string

// The phases of a deploy, in the order they normally happen.
const (
	PhasePlan     Phase = "plan"     // reading live state and computing the change
	PhaseApply    Phase = "apply"    // making the change (register, update, send)
	PhaseWait     Phase = "wait"     // waiting for the change to settle
	PhaseGate     Phase = "gate"     // a gate measuring whether the release may go on
	PhaseRollback Phase = "rollback" // restoring what the plan observed
	PhaseDone     Phase = "done"     // the target settled on the new release
	PhaseFailed   Phase = "failed"   // the target failed; a rollback may follow
)

// Event is one step of progress. Targets fill what they know; Run stamps Time.
type Event struct {
	Time    time.Time
	Target  string
	Phase   Phase
	Message string
	Counts  Counts
	// Stage is where the target's own rollout is (for ECS, the service deployment's lifecycle
	// stage, such as BAKE_TIME); "" when the target reports none.
	Stage string
	// Traffic is the percentage of production traffic on the new release, when the target
	// reports it (ECS blue/green, linear and canary deployments); nil otherwise.
	Traffic *float64
	// Remaining is the time left in a bake, when the target knows it.
	Remaining time.Duration
	// ReleaseStage names the stage of a release the event belongs to (RunStages); "" for a
	// release of one unnamed stage.
	ReleaseStage string
}

// Counts are the unit counts a target reports while it waits. For ECS a unit is a task, for
// EC2 an instance, for Kubernetes a pod. Zero values mean "not reported".
type Counts struct {
	Desired int // units wanted
	Updated int // units running the new release and healthy
	Running int // units running, old and new
	Pending int // units starting
	Failed  int // units that failed during this rollout
}

// EventFunc receives progress events. Run serialises its calls, so it need not be safe for
// concurrent use when it is passed to Run.
type EventFunc func(Event)

// Emit calls f with e if f is not nil.
func (f EventFunc) Emit(e Event) {
	if f != nil {
		f(e)
	}
}
