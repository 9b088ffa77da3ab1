package gate_test

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/gate"
	"github.com/stevedore-dev/stevedore/deploy/gate/gatetest"
)

func cwClient(cw *gatetest.CloudWatch) *cloudwatch.Client {
	return cloudwatch.NewFromConfig(cw.Config())
}

// One measurement's verdict on the alarms' states, one condition per row.
func TestAlarmsVerdict(t *testing.T) {
	ok := gatetest.AlarmState{At: time.Unix(0, 0), Value: types.StateValueOk, Reason: "fine"}
	alarm := gatetest.AlarmState{At: time.Unix(60, 0), Value: types.StateValueAlarm, Reason: "Threshold Crossed: 1 datapoint [12.0] was greater than 5.0"}
	tests := []struct {
		name     string
		alarms   map[string][]gatetest.AlarmState
		names    []string
		opts     *gate.AlarmOptions
		verdict  deploy.Verdict
		evidence string
	}{
		{"every alarm OK passes", map[string][]gatetest.AlarmState{"web-5xx": {ok}, "web-p99": {ok}}, []string{"web-5xx", "web-p99"}, nil, deploy.Pass, "none in ALARM (2 OK)"},
		{"one in ALARM fails, naming it and why", map[string][]gatetest.AlarmState{"web-5xx": {ok, alarm}, "web-p99": {ok}}, []string{"web-5xx", "web-p99"}, nil, deploy.Fail,
			"web-5xx in ALARM since 1970-01-01T00:01:00Z: Threshold Crossed: 1 datapoint [12.0] was greater than 5.0"},
		{"without data passes by default", map[string][]gatetest.AlarmState{"web-5xx": nil}, []string{"web-5xx"}, nil, deploy.Pass, "1 without enough data: web-5xx"},
		{"without data can be inconclusive", map[string][]gatetest.AlarmState{"web-5xx": nil}, []string{"web-5xx"}, &gate.AlarmOptions{InsufficientData: deploy.Inconclusive}, deploy.Inconclusive, "without enough data: web-5xx"},
		{"a missing alarm is inconclusive, named", map[string][]gatetest.AlarmState{"web-5xx": {ok}}, []string{"web-5xx", "web-5xxx"}, nil, deploy.Inconclusive, "no alarm named web-5xxx"},
		{"ALARM outweighs a missing alarm", map[string][]gatetest.AlarmState{"web-5xx": {alarm}}, []string{"web-5xx", "gone"}, nil, deploy.Fail, "web-5xx in ALARM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cw := gatetest.NewCloudWatch(func() time.Time { return time.Unix(120, 0) })
			for n, states := range tc.alarms {
				cw.Alarm(n, states...)
			}
			m, err := gate.Alarms(cwClient(cw), tc.names, tc.opts).Measure(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if m.Verdict != tc.verdict || !strings.Contains(m.Evidence, tc.evidence) {
				t.Errorf("%s: %q, want %s with %q", m.Verdict, m.Evidence, tc.verdict, tc.evidence)
			}
		})
	}
}

// A bake: every 30 s for ten minutes, none of the alarms in ALARM. An alarm going off at
// 4:10 fails the gate at the next measurement, 4:30, with its reason.
func TestAlarmsBake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		cw := gatetest.NewCloudWatch(nil)
		cw.Alarm("web-5xx", gatetest.AlarmState{At: start.Add(-time.Hour), Value: types.StateValueOk},
			gatetest.AlarmState{At: start.Add(4*time.Minute + 10*time.Second), Value: types.StateValueAlarm, Reason: "5xx over 5"})
		cw.Alarm("web-p99", gatetest.AlarmState{At: start.Add(-time.Hour), Value: types.StateValueOk})
		g := deploy.Gate{Check: gate.Alarms(cwClient(cw), []string{"web-5xx", "web-p99"}, nil), Interval: 30 * time.Second, Count: 21}
		res := g.Run(t.Context(), nil)
		if !errors.Is(res.Err, deploy.ErrGateFailed) || !strings.Contains(res.Err.Error(), "web-5xx in ALARM") || !strings.Contains(res.Err.Error(), "5xx over 5") {
			t.Fatalf("err = %v", res.Err)
		}
		if took := time.Since(start); took != 4*time.Minute+30*time.Second {
			t.Errorf("failed after %v, want 4m30s: the first measurement after the alarm", took)
		}
		if n := cw.Calls("DescribeAlarms"); n != 10 {
			t.Errorf("%d DescribeAlarms calls, want one a measurement (10)", n)
		}
	})
}

// Up to 100 names a call (DescribeAlarms' limit), every measurement.
func TestAlarmsChunksOf100(t *testing.T) {
	cw := gatetest.NewCloudWatch(nil)
	var names []string
	for i := range 150 {
		n := "alarm-" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + time.Duration(i).String()
		names = append(names, n)
		cw.Alarm(n, gatetest.AlarmState{At: time.Unix(0, 0), Value: types.StateValueOk})
	}
	m, err := gate.Alarms(cwClient(cw), names, nil).Measure(t.Context())
	if err != nil || m.Verdict != deploy.Pass || !strings.Contains(m.Evidence, "150 OK") {
		t.Fatalf("%v %+v", err, m)
	}
	if n := cw.Calls("DescribeAlarms"); n != 2 {
		t.Errorf("%d calls for 150 names, want 2", n)
	}
}

// A throttled or failing DescribeAlarms is a failed measurement the gate takes again; access
// denied ends the gate at once, saying which permission is missing.
func TestAlarmsErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cw := gatetest.NewCloudWatch(nil)
		cw.Alarm("web-5xx", gatetest.AlarmState{At: time.Now().Add(-time.Hour), Value: types.StateValueOk})
		cw.Inject("DescribeAlarms", gatetest.Fault{Code: "Throttling", Times: 4})
		client := cloudwatch.NewFromConfig(cw.Config(), func(o *cloudwatch.Options) { o.RetryMaxAttempts = 1 })
		res := deploy.Gate{Check: gate.Alarms(client, []string{"web-5xx"}, nil), Interval: time.Second, Count: 2}.Run(t.Context(), nil)
		if res.Err != nil || len(res.Measurements) != 6 {
			t.Errorf("after 4 throttled calls: %d measurements, err %v; want 6 and a pass", len(res.Measurements), res.Err)
		}
		cw.Inject("DescribeAlarms", gatetest.Fault{Code: "AccessDenied", Status: 403, Times: -1})
		res = deploy.Gate{Check: gate.Alarms(client, []string{"web-5xx"}, nil), Interval: time.Second}.Run(t.Context(), nil)
		if !errors.Is(res.Err, deploy.ErrAccessDenied) || !strings.Contains(res.Err.Error(), "cloudwatch:DescribeAlarms") || len(res.Measurements) != 1 {
			t.Errorf("access denied: %d measurements, err %v", len(res.Measurements), res.Err)
		}
	})
}
