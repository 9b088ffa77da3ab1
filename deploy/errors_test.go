package deploy

import (
	"errors"
	"testing"
)

func TestErrorMessage(t *testing.T) {
	cause := errors.New("throttled")
	inner := &Error{Kind: ErrFailed, Target: "ecs:c/s", Op: "wait for web:2", Detail: "tasks stopped"}
	tests := []struct {
		err  error
		want string
	}{
		{&Error{Kind: ErrNotFound, Target: "ecs:c/s", Op: "describe service", Detail: `service "s" is MISSING`}, `ecs:c/s: describe service: service "s" is MISSING`},
		{&Error{Kind: ErrThrottled, Target: "ecs:c/s", Op: "update service", Err: cause}, "ecs:c/s: update service: throttled"},
		{&Error{Kind: ErrTimeout}, "timed out"},
		{&Error{Kind: ErrRolledBack, Target: "ecs:c/s", Detail: "rolled back", Err: inner}, "rolled back: ecs:c/s: wait for web:2: tasks stopped"},
		{&Error{Kind: ErrRolledBack, Target: "ecs:c/other", Detail: "rolled back", Err: inner}, "ecs:c/other: rolled back: ecs:c/s: wait for web:2: tasks stopped"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
	if w := Wrap(ErrFailed, "t", "op", nil, ""); w != nil {
		t.Errorf("Wrap(nil) = %v", w)
	}
}
