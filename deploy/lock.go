package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrLocked: another release holds a target's lease, or the target is deploying already;
// the error's *LockedError says who, which release and since when.
var ErrLocked = errors.New("locked by another release")

// Holder says who holds a lease: the release run and where it runs.
type Holder struct {
	ID      string    `json:"id"`      // the release run, unique (Options.ReleaseID)
	Who     string    `json:"who"`     // the runner: user@host, a CI job's URL
	Release string    `json:"release"` // what it releases (Release.String)
	Since   time.Time `json:"since"`
	Expires time.Time `json:"expires"`
	// YieldTo is set when a newer release asked this one to give way (LockSupersede).
	YieldTo *Holder `json:"yieldTo,omitempty"`
}

func (h Holder) String() string {
	return fmt.Sprintf("release %s (%s) by %s since %s", h.ID, h.Release, h.Who, h.Since.UTC().Format(time.RFC3339))
}

// LockedError is the cause of an ErrLocked: what holds the target.
type LockedError struct {
	Key    string
	Holder *Holder // nil when the target itself reports a rollout in progress
	// InFlight is what the target reported in progress (an ECS service deployment, a
	// Deployment whose generation is ahead of observed, an SSM command), when it did.
	InFlight string
}

func (e *LockedError) Error() string {
	if e.Holder != nil {
		return e.Key + " is held by " + e.Holder.String()
	}
	return e.Key + " is deploying already: " + e.InFlight
}

// Locker takes leases, one per target, so that one release at a time changes a target across
// runners and tools; package deploy/store has S3, DynamoDB and in-memory ones.
type Locker interface {
	// Lock takes the lease named key for h until h.Expires. When another holds it unexpired
	// it returns an ErrLocked error whose *LockedError names the holder.
	Lock(ctx context.Context, key string, h Holder) (Lease, error)
	// Yield asks the holder of key's lease to give way to h (LockSupersede). The holder learns
	// it at its next Renew.
	Yield(ctx context.Context, key string, h Holder) error
}

// Lease is a lease held.
type Lease interface {
	// Renew extends the lease to until. It returns ErrLockLost when the lease is no longer
	// this holder's, and an ErrSuperseded error naming the newer release when one asked this
	// holder to yield.
	Renew(ctx context.Context, until time.Time) error
	// Release gives the lease up, if it is still this holder's.
	Release(ctx context.Context) error
}

// ErrLockLost: a lease expired and another release took it, or it was deleted.
var ErrLockLost = errors.New("lease lost")

// LockPolicy is what a release does when a target is held or deploying already.
type LockPolicy string

const (
	// LockWait waits, up to LockOptions.Wait, for the holder to finish.
	LockWait LockPolicy = "wait"
	// LockFail fails at once, naming the holder.
	LockFail LockPolicy = "fail"
	// LockSupersede asks the holder to stop (it rolls back what it started and gives way),
	// then waits for it: the newest release wins.
	LockSupersede LockPolicy = "supersede"
)

// LockOptions make RunStages lease every target before planning, renew the leases while it
// runs and give them up at the end whatever happens.
type LockOptions struct {
	Locker Locker
	// Policy is what to do when a target is held or deploying; "" means LockWait.
	Policy LockPolicy
	// Wait bounds LockWait and LockSupersede; 0 means 10 minutes.
	Wait time.Duration
	// TTL is how long a lease lasts without renewal (a crashed holder's lapses after it);
	// 0 means 2 minutes. Leases are renewed every TTL/3.
	TTL time.Duration
	// Who names this runner to other releases; "" means user@host.
	Who string
}

// InFlighter is implemented by a plan that can tell a rollout already in progress on its
// target (another tool's, or a release that crashed): an ECS service deployment in progress,
// a Deployment whose generation is ahead of observed, an SSM command running on the fleet.
// RunStages treats it as it treats a lease another release holds.
type InFlighter interface {
	// InFlight describes the rollout in progress when the plan was made, or returns "".
	InFlight() string
}
