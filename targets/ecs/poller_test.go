package ecs

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"
)

// throttledAPI answers every DescribeServices with throttling until calm, then with nothing.
type throttledAPI struct {
	API
	calm  time.Time
	mu    sync.Mutex
	calls []time.Time
}

func (a *throttledAPI) times() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

func (a *throttledAPI) DescribeServices(context.Context, *ecs.DescribeServicesInput, ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, time.Now())
	if time.Now().Before(a.calm) {
		return nil, &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	}
	return &ecs.DescribeServicesOutput{}, nil
}

// A throttled poll doubles the cluster's interval, up to MaxPollInterval, and clean polls
// halve it back to DefaultPollInterval.
func TestThrottledPollsSlowTheClusterDownAndCleanOnesSpeedItUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &throttledAPI{calm: time.Now().Add(40 * time.Second)}
		c := NewCluster(api, "prod", &Options{PollInterval: time.Second})
		c.poller.policy.Jitter = -1
		sub, cancel := c.poller.subscribe(t.Context(), "web", "")
		for len(api.times()) < 12 {
			<-sub.ch
		}
		cancel()
		calls := api.times()
		var gaps []time.Duration
		for i := 1; i < len(calls); i++ {
			gaps = append(gaps, calls[i].Sub(calls[i-1]).Round(time.Second))
		}
		// Throttled at 0, 2, 6, 14 and 29 s; clean from 44 s on, the slow-down halving each time.
		want := []time.Duration{2, 4, 8, 15, 15, 15, 8, 4, 2, 1, 1}
		for i := range want {
			if gaps[i] != want[i]*time.Second {
				t.Fatalf("polls %v apart, want %v seconds", gaps, want)
			}
		}
	})
}
