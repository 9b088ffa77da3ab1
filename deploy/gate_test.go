package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
)

// scriptedCheck answers its measurements in order: "pass", "fail", "inconclusive", "error",
// or "hang" (blocks until ctx ends); past the end it repeats the last.
type scriptedCheck struct {
	script []string
	n      int
}

func (c *scriptedCheck) Name() string { return "scripted" }

func (c *scriptedCheck) Measure(ctx context.Context) (deploy.Measurement, error) {
	s := c.script[min(c.n, len(c.script)-1)]
	c.n++
	switch s {
	case "error":
		return deploy.Measurement{}, errors.New("metric source unreachable")
	case "denied":
		return deploy.Measurement{}, deploy.Errorf(deploy.ErrAccessDenied, "", "measure", "the credentials need cloudwatch:GetMetricData")
	case "hang":
		<-ctx.Done()
		return deploy.Measurement{}, ctx.Err()
	}
	return deploy.Measurement{Verdict: deploy.Verdict(s), Evidence: fmt.Sprintf("measurement %d said %s", c.n, s)}, nil
}

// The analysis rules, one condition per row.
func TestGateAnalysis(t *testing.T) {
	p, f, i, e := "pass", "fail", "inconclusive", "error"
	tests := []struct {
		name     string
		gate     deploy.Gate
		script   []string
		verdict  deploy.Verdict
		measured int
		took     time.Duration
		kind     error // nil when it passes
	}{
		{"one measurement by default", deploy.Gate{}, []string{p}, deploy.Pass, 1, 0, nil},
		{"count measurements interval apart", deploy.Gate{Count: 3, Interval: time.Minute}, []string{p}, deploy.Pass, 3, 2 * time.Minute, nil},
		{"default interval 30 s", deploy.Gate{Count: 2}, []string{p}, deploy.Pass, 2, 30 * time.Second, nil},
		{"a failure fails at once", deploy.Gate{Count: 5, Interval: time.Minute}, []string{p, f}, deploy.Fail, 2, time.Minute, deploy.ErrGateFailed},
		{"failures within the limit pass", deploy.Gate{Count: 3, Interval: time.Minute, FailureLimit: 1}, []string{f, p}, deploy.Pass, 3, 2 * time.Minute, nil},
		{"failures past the limit fail", deploy.Gate{Count: 4, Interval: time.Minute, FailureLimit: 1}, []string{f, p, f}, deploy.Fail, 3, 2 * time.Minute, deploy.ErrGateFailed},
		{"inconclusive past the limit fails", deploy.Gate{Count: 3, Interval: time.Minute}, []string{i}, deploy.Inconclusive, 1, 0, deploy.ErrGateFailed},
		{"inconclusive within the limit counts", deploy.Gate{Count: 2, Interval: time.Minute, InconclusiveLimit: 1}, []string{i, p}, deploy.Pass, 2, time.Minute, nil},
		{"waiting on inconclusive measures again", deploy.Gate{Count: 2, Interval: time.Minute, WaitOnInconclusive: true}, []string{i, i, i, p}, deploy.Pass, 5, 4 * time.Minute, nil},
		{"errors within the limit are measured again", deploy.Gate{Count: 1, Interval: time.Minute}, []string{e, e, e, e, p}, deploy.Pass, 5, 4 * time.Minute, nil},
		{"errors past the limit fail", deploy.Gate{Count: 1, Interval: time.Minute}, []string{e}, "", 5, 4 * time.Minute, deploy.ErrGateFailed},
		{"the error limit is settable", deploy.Gate{Count: 1, Interval: time.Minute, ConsecutiveErrorLimit: 1}, []string{e}, "", 2, time.Minute, deploy.ErrGateFailed},
		{"access denied fails at once", deploy.Gate{Count: 1, Interval: time.Minute}, []string{"denied"}, "", 1, 0, deploy.ErrAccessDenied},
		{"a measurement resets the error count", deploy.Gate{Count: 2, Interval: time.Minute, ConsecutiveErrorLimit: 1}, []string{e, p, e, p}, deploy.Pass, 4, 3 * time.Minute, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := &scriptedCheck{script: tc.script}
				g := tc.gate
				g.Check = c
				start := time.Now()
				res := g.Run(t.Context(), nil)
				if res.Verdict != tc.verdict || len(res.Measurements) != tc.measured || c.n != tc.measured {
					t.Errorf("verdict %q after %d measurements (%d taken), want %q after %d", res.Verdict, len(res.Measurements), c.n, tc.verdict, tc.measured)
				}
				if took := time.Since(start); took != tc.took {
					t.Errorf("took %v, want %v", took, tc.took)
				}
				switch {
				case tc.kind == nil && res.Err != nil:
					t.Errorf("err = %v, want none", res.Err)
				case tc.kind != nil && !errors.Is(res.Err, tc.kind):
					t.Errorf("err = %v, want %v", res.Err, tc.kind)
				}
			})
		})
	}
}

// A failed gate's error gives the evidence of the measurements that failed it, and a gate
// that cannot measure keeps the cause for errors.As.
func TestGateErrorsCarryTheEvidence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		res := deploy.Gate{Check: &scriptedCheck{script: []string{"pass", "fail"}}, Count: 3, Interval: time.Second}.Run(t.Context(), nil)
		if res.Err == nil || !strings.Contains(res.Err.Error(), "gate scripted: fail: measurement 2 said fail") {
			t.Errorf("err = %v", res.Err)
		}
		res = deploy.Gate{Check: &scriptedCheck{script: []string{"error"}}, Interval: time.Second}.Run(t.Context(), nil)
		if res.Err == nil || !strings.Contains(res.Err.Error(), "metric source unreachable") || !strings.Contains(res.Err.Error(), "5 times in a row") {
			t.Errorf("err = %v", res.Err)
		}
	})
}

// A gate ends with its context: ErrTimeout past the deadline, mid-measurement or between.
func TestGateHonoursItsContext(t *testing.T) {
	for _, script := range [][]string{{"hang"}, {"pass"}} {
		t.Run(script[0], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
				defer cancel()
				start := time.Now()
				res := deploy.Gate{Check: &scriptedCheck{script: script}, Count: 10, Interval: time.Minute}.Run(ctx, nil)
				if !errors.Is(res.Err, deploy.ErrTimeout) || res.Verdict != "" || time.Since(start) != 90*time.Second {
					t.Errorf("after %v: verdict %q, err %v", time.Since(start), res.Verdict, res.Err)
				}
			})
		})
	}
}

// Each measurement is reported as a gate event with its tally and evidence.
func TestGateReportsEachMeasurement(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var msgs []string
		deploy.Gate{Check: &scriptedCheck{script: []string{"pass"}}, Count: 2, Interval: time.Second}.Run(t.Context(), func(e deploy.Event) {
			if e.Phase != deploy.PhaseGate {
				t.Errorf("event in phase %s", e.Phase)
			}
			msgs = append(msgs, e.Message)
		})
		want := "gate scripted: pass (2 passed, 0 failed, 0 inconclusive of 2): measurement 2 said pass"
		if len(msgs) != 2 || msgs[1] != want {
			t.Errorf("events %q, want the second %q", msgs, want)
		}
	})
}
