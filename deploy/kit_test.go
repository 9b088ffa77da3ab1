package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stevedore-dev/stevedore/deploy"
)

func TestValidEnvName(t *testing.T) {
	for name, want := range map[string]bool{
		"": false, "_": true, "A": true, "a1": true, "LOG_LEVEL": true, "_9": true,
		"1A": false, "A-B": false, "A B": false, "É": false, "A=B": false,
	} {
		if got := deploy.ValidEnvName(name); got != want {
			t.Errorf("ValidEnvName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestContextError(t *testing.T) {
	for _, tc := range []struct {
		cause error
		kind  error
	}{
		{context.DeadlineExceeded, deploy.ErrTimeout},
		{fmt.Errorf("get: %w", context.DeadlineExceeded), deploy.ErrTimeout},
		{context.Canceled, deploy.ErrCanceled},
		{fmt.Errorf("get: %w", context.Canceled), deploy.ErrCanceled},
	} {
		err := deploy.ContextError(tc.cause, "ecs:prod/web", "wait", "2/3 running")
		if !errors.Is(err, tc.kind) || !errors.Is(err, tc.cause) || err.Error() != fmt.Sprintf("ecs:prod/web: wait: 2/3 running: %v", tc.cause) {
			t.Errorf("ContextError(%v) = %v, want %v wrapping the cause", tc.cause, err, tc.kind)
		}
	}
}
