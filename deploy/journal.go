package deploy

import (
	"context"
	"encoding/json"
	"time"
)

// Journal keeps, for each release, a record of where it stands, written before every side
// effect, so that Recover can finish or undo a release whose runner died. Package
// deploy/store has S3, DynamoDB, local-file and in-memory ones. Records hold the plans'
// snapshots, never a secret value.
type Journal interface {
	// Write stores r, replacing the release's earlier record.
	Write(ctx context.Context, r *Record) error
	// Unfinished returns the records of the releases that have not finished, oldest first.
	Unfinished(ctx context.Context) ([]*Record, error)
}

// History is a Journal that keeps finished releases too, as every store of deploy/store
// does: Undo rolls the latest back.
type History interface {
	Journal
	// Finished returns up to n records of finished releases, the latest first.
	Finished(ctx context.Context, n int) ([]*Record, error)
}

// RecordVersion is the version of the records this stevedore writes and reads.
const RecordVersion = 1

// Record is a release's journal entry.
type Record struct {
	Version int       `json:"version"`
	ID      string    `json:"id"`
	Release string    `json:"release"`
	Who     string    `json:"who"`
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
	// Step is what the release is doing, or about to do: "plan", "apply ecs:prod/web",
	// "gate alarms web-5xx", "rollback ecs:prod/web", "done".
	Step    string  `json:"step"`
	Done    bool    `json:"done"`
	Outcome Outcome `json:"outcome,omitempty"`
	// UndoneBy names the release (of Undo) that rolled this one back after it finished.
	UndoneBy string        `json:"undoneBy,omitempty"`
	Stages   []RecordStage `json:"stages"`
}

// RecordStage is one stage of a release as the journal keeps it.
type RecordStage struct {
	Name    string         `json:"name"`
	Started bool           `json:"started"`
	Targets []RecordTarget `json:"targets"`
}

// TargetState is where one target of a release stands.
type TargetState string

const (
	StatePlanned        TargetState = "planned"
	StateApplying       TargetState = "applying" // Apply was called and has not returned
	StateApplied        TargetState = "applied"
	StateFailed         TargetState = "failed"
	StateRollingBack    TargetState = "rolling-back"
	StateRolledBack     TargetState = "rolled-back"
	StateRollbackFailed TargetState = "rollback-failed"
)

// RecordTarget is one target of a release as the journal keeps it: its state and its plan's
// latest snapshot (when the plan makes snapshots).
type RecordTarget struct {
	Name     string          `json:"name"`
	State    TargetState     `json:"state"`
	Snapshot json.RawMessage `json:"snapshot,omitempty"`
	Error    string          `json:"error,omitempty"`
}

// touched reports whether the target may have been changed by the release.
func (t RecordTarget) touched() bool {
	switch t.State {
	case StateApplying, StateApplied, StateFailed, StateRollingBack, StateRollbackFailed:
		return true
	}
	return false
}
