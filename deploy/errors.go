package deploy

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels classify failures for errors.Is. An error from stevedore matches at most one of
// the "what went wrong" sentinels plus, after a rollback, ErrRolledBack, ErrRollbackFailed or
// ErrSuperseded. With several targets, Result.Outcome says where the whole release ended.
var (
	// ErrNotFound: a resource the deploy needs does not exist (cluster, service, task definition).
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the release, options or an input document cannot be applied as given.
	ErrInvalid = errors.New("invalid input")
	// ErrAccessDenied: the credentials lack a permission the deploy needs.
	ErrAccessDenied = errors.New("access denied")
	// ErrThrottled: the service kept throttling after retries with backoff.
	ErrThrottled = errors.New("throttled")
	// ErrUnavailable: the service kept failing with server errors after retries.
	ErrUnavailable = errors.New("service unavailable")
	// ErrFailed: the rollout itself failed (tasks would not start, the service rolled itself back).
	ErrFailed = errors.New("rollout failed")
	// ErrTimeout: the rollout did not settle before the deadline.
	ErrTimeout = errors.New("timed out")
	// ErrCanceled: the caller cancelled the deploy.
	ErrCanceled = errors.New("canceled")
	// ErrRolledBack: the deploy failed and what it changed was restored.
	ErrRolledBack = errors.New("rolled back")
	// ErrRollbackFailed: the deploy failed and restoring the previous state failed too.
	ErrRollbackFailed = errors.New("rollback failed")
	// ErrSuperseded: another writer changed the target after this deploy did, so this deploy
	// stopped following it and does not roll back over the newer change.
	ErrSuperseded = errors.New("superseded by another writer")
)

// Error is the error type stevedore returns. Kind is one of the sentinels above; Err is the
// cause, often an AWS SDK error reachable with errors.As (smithy.APIError and friends).
type Error struct {
	Kind   error
	Target string // e.g. "ecs:prod/web"; empty when no target is involved
	Op     string // what was being done, e.g. "register task definition"
	Detail string // what went wrong and, where known, how to fix it
	Err    error
}

func (e *Error) Error() string {
	var parts []string
	target := e.Target
	var inner *Error
	if errors.As(e.Err, &inner) && inner.Target == e.Target {
		target = "" // the cause names it already
	}
	for _, s := range []string{target, e.Op, e.Detail} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if e.Err != nil {
		parts = append(parts, e.Err.Error())
	} else if e.Detail == "" && e.Kind != nil {
		parts = append(parts, e.Kind.Error())
	}
	return strings.Join(parts, ": ")
}

// Unwrap exposes both the sentinel and the cause, so errors.Is and errors.As see each.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Errorf returns an *Error of the given kind with a formatted detail and no cause.
func Errorf(kind error, target, op, format string, args ...any) error {
	return &Error{Kind: kind, Target: target, Op: op, Detail: fmt.Sprintf(format, args...)}
}

// Wrap returns err as an *Error of the given kind, with detail saying what to do about it.
// It returns nil for a nil err, and err itself when err is already an *Error, so that every
// error is wrapped exactly once.
func Wrap(kind error, target, op string, err error, detail string) error {
	if err == nil {
		return nil
	}
	var de *Error
	if errors.As(err, &de) {
		return err
	}
	return &Error{Kind: kind, Target: target, Op: op, Detail: detail, Err: err}
}
