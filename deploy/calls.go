package deploy

import (
	"context"
	"sync/atomic"
)

type callsKey struct{}

// CountCall counts one API call against the target whose work ctx is: RunStages hands each
// target's Plan, Apply and Rollback a context that counts, and the release report says how
// many calls each target made. Targets call it once per API call (not per retry); a call
// that serves several targets at once (one DescribeServices for ten services) counts for each.
func CountCall(ctx context.Context) {
	if c, ok := ctx.Value(callsKey{}).(*atomic.Int64); ok && c != nil {
		c.Add(1)
	}
}

// withCalls returns ctx counting calls into c.
func withCalls(ctx context.Context, c *atomic.Int64) context.Context {
	return context.WithValue(ctx, callsKey{}, c)
}

// WithoutCallCount returns ctx counting no calls: for work a target does on behalf of several
// (a shared poller), which it counts for each as it serves them.
func WithoutCallCount(ctx context.Context) context.Context {
	return context.WithValue(ctx, callsKey{}, (*atomic.Int64)(nil))
}
