package deploy

import (
	"context"
	"errors"
	"log/slog"
)

// What every target needs the same way, for built-in and third-party targets alike.

// LoggerOrDiscard returns l, or a logger that discards every record when l is nil: the
// default of each Options.Logger.
func LoggerOrDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// ContextError reports that a context ended while op was under way: ErrTimeout when cause is
// (or wraps) context.DeadlineExceeded, ErrCanceled otherwise. cause is ctx.Err() or an error
// a call returned because of it; detail says where things stood.
func ContextError(cause error, target, op, detail string) error {
	return &Error{Kind: contextKind(cause), Target: target, Op: op, Detail: detail, Err: cause}
}

// contextKind is ErrTimeout if any of errs is a deadline, else ErrCanceled.
func contextKind(errs ...error) error {
	for _, err := range errs {
		if errors.Is(err, context.DeadlineExceeded) {
			return ErrTimeout
		}
	}
	return ErrCanceled
}

// ValidEnvName reports whether name can be an environment variable's name in every runtime
// the targets drive: a letter or underscore, then letters, digits and underscores.
func ValidEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
