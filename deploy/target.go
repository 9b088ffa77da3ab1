package deploy

import (
	"context"
	"encoding/json"
)

// Target is a place a release can be rolled out to: an ECS service, an EC2 fleet, a
// Kubernetes workload. Implementations read live state in Plan and change nothing there.
type Target interface {
	// Name identifies the target in events, logs and errors, such as "ecs:prod/web".
	Name() string
	// Plan reads live state and computes what applying r would change, without side effects.
	Plan(ctx context.Context, r Release) (Plan, error)
}

// Plan is one target's computed change. It remembers what it observed so that Rollback can
// restore exactly that.
type Plan interface {
	// Changed reports whether Apply would change anything.
	Changed() bool
	// Diff is a readable diff (made with go-cmp) of observed and desired state; empty when
	// nothing changes.
	Diff() string
	// Apply makes the change and waits until it has settled or failed. It reports progress to
	// emit, which may be nil.
	Apply(ctx context.Context, emit EventFunc) error
	// Rollback restores the state the plan observed, waiting until it has settled. It is safe
	// to call after a failed, partial or cancelled Apply, and does nothing if Apply changed
	// nothing.
	Rollback(ctx context.Context, emit EventFunc) error
}

// Snapshotter is implemented by a plan that can be written down: a versioned JSON snapshot
// of what it observed and what it has changed so far, holding no secret values, from which
// its target's Restorer makes an equivalent plan in another process (to roll back, say, after
// the process that applied it crashed).
type Snapshotter interface {
	Snapshot() ([]byte, error)
}

// Restorer is implemented by a target that can make a plan from a snapshot one of its plans
// wrote. The restored plan rolls back as the original would have; its Apply resumes where the
// snapshot left off, waiting on a change already made rather than making it again.
type Restorer interface {
	Restore(ctx context.Context, snapshot []byte) (Plan, error)
}

// DecodeSnapshot reads a snapshot a plan of target wrote into v, after checking that its
// "version" is the one the caller reads; anything else is ErrInvalid naming what it found.
func DecodeSnapshot(target string, snap []byte, version int, v any) error {
	var head struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(snap, &head); err != nil {
		return Errorf(ErrInvalid, target, "restore", "the snapshot is not JSON: %v", err)
	}
	if head.Version != version {
		return Errorf(ErrInvalid, target, "restore", "snapshot version %d; this stevedore reads version %d", head.Version, version)
	}
	if err := json.Unmarshal(snap, v); err != nil {
		return Errorf(ErrInvalid, target, "restore", "the snapshot does not fit version %d: %v", version, err)
	}
	return nil
}
