package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/stevedore-dev/stevedore/deploy"
)

func lockedErr(key string, h *deploy.Holder) error {
	return &deploy.Error{Kind: deploy.ErrLocked, Target: key, Op: "lock", Err: &deploy.LockedError{Key: key, Holder: h}}
}

func lostErr(key string, now *deploy.Holder) error {
	detail := "the lease is gone"
	if now != nil {
		detail = "the lease is now held by " + now.String()
	}
	return deploy.Errorf(deploy.ErrLockLost, key, "renew lease", "%s", detail)
}

func supersededErr(key string, by *deploy.Holder) error {
	return deploy.Errorf(deploy.ErrSuperseded, key, "renew lease", "%s asked this release to yield", by.String())
}

// sortRecords orders records oldest first (by start, then ID).
func sortRecords(rs []*deploy.Record) {
	slices.SortFunc(rs, func(a, b *deploy.Record) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// latest sorts finished records the latest first and keeps n.
func latest(rs []*deploy.Record, n int) []*deploy.Record {
	slices.SortFunc(rs, func(a, b *deploy.Record) int {
		if c := b.Updated.Compare(a.Updated); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	if len(rs) > n {
		rs = rs[:n]
	}
	return rs
}

// decodeRecord reads a journal record, checking its version.
func decodeRecord(b []byte) (*deploy.Record, error) {
	if b == nil {
		return nil, nil
	}
	var r deploy.Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("a journal record that is not JSON: %w", err)
	}
	if r.Version != deploy.RecordVersion {
		return nil, deploy.Errorf(deploy.ErrInvalid, "", "read the journal", "record %s has version %d; this stevedore reads version %d", r.ID, r.Version, deploy.RecordVersion)
	}
	return &r, nil
}
