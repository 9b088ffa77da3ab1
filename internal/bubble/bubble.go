// Package bubble runs a benchmark's body in a testing/synctest bubble, so that a scripted
// rollout of minutes takes milliseconds and its times are the fake clock's.
package bubble

import (
	"testing"
	"testing/synctest"
)

// Bench runs f in a synctest bubble from b: synctest.Test takes a *testing.T, which
// testing.RunTests provides. b fails when f does.
func Bench(b *testing.B, f func(t *testing.T)) {
	b.Helper()
	ok := testing.RunTests(func(string, string) (bool, error) { return true, nil },
		[]testing.InternalTest{{Name: b.Name(), F: func(t *testing.T) { synctest.Test(t, f) }}})
	if !ok {
		b.Fatal("the run in the bubble failed")
	}
}
