package gate_test

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/gate"
	"github.com/stevedore-dev/stevedore/deploy/gate/gatetest"
)

var errorsQuery = []types.MetricDataQuery{{Id: aws.String("errors"), MetricStat: &types.MetricStat{
	Metric: &types.Metric{Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String("HTTPCode_Target_5XX_Count"),
		Dimensions: []types.Dimension{{Name: aws.String("LoadBalancer"), Value: aws.String("app/web/1234")}}},
	Period: aws.Int32(60), Stat: aws.String("Sum")}}}

// ramp is a series that is v1 until at (after the clock's start), then v2.
type ramp struct {
	at     time.Duration
	v1, v2 float64
}

func (r ramp) series(base time.Time) gatetest.Series {
	return func(t time.Time) (float64, bool) {
		if t.Before(base.Add(r.at)) {
			return r.v1, true
		}
		return r.v2, true
	}
}

// One measurement's verdict on the window's data points, one condition per row. Each runs
// ten minutes after the series begin: the default window holds the periods from 5:00 to 9:00.
func TestMetricVerdict(t *testing.T) {
	none := ramp{}
	tests := []struct {
		name     string
		series   ramp
		fail     gate.Threshold
		opts     *gate.MetricOptions
		verdict  deploy.Verdict
		evidence string
	}{
		{"latest under the threshold passes", ramp{0, 0, 2}, gate.Above(5), nil, deploy.Pass, "5xx: latest 2, not above 5 (last 5m0s: 2, 2, 2, 2, 2)"},
		{"latest over the threshold fails", ramp{0, 0, 7}, gate.Above(5), nil, deploy.Fail, "latest 7, which fails: above 5"},
		{"only the latest counts by default", ramp{9 * time.Minute, 9, 1}, gate.Above(5), nil, deploy.Pass, "latest 1, not above 5 (last 5m0s: 9, 9, 9, 9, 1)"},
		{"max sees an earlier spike", ramp{9 * time.Minute, 9, 1}, gate.Above(5), &gate.MetricOptions{Reduce: gate.Maximum}, deploy.Fail, "max 9"},
		{"average", ramp{7 * time.Minute, 10, 0}, gate.Above(5), &gate.MetricOptions{Reduce: gate.Average}, deploy.Pass, "avg 4"},
		{"below", ramp{0, 0, 97}, gate.Below(99.5), nil, deploy.Fail, "latest 97, which fails: below 99.5"},
		{"min", ramp{9 * time.Minute, 98, 100}, gate.Below(99.5), &gate.MetricOptions{Reduce: gate.Minimum}, deploy.Fail, "min 98"},
		{"the window bounds what is read", ramp{8 * time.Minute, 9, 1}, gate.Above(5), &gate.MetricOptions{Window: 2 * time.Minute, Reduce: gate.Maximum}, deploy.Pass, "last 2m0s: 1, 1"},
		{"no data points is inconclusive", none, gate.Above(5), nil, deploy.Inconclusive, "no data points in the last 5m0s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cw := gatetest.NewCloudWatch(nil)
				if tc.series != none {
					cw.Metric("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", map[string]string{"LoadBalancer": "app/web/1234"}, tc.series.series(time.Now()))
				}
				time.Sleep(10 * time.Minute)
				m, err := gate.Metric(cwClient(cw), "5xx", errorsQuery, tc.fail, tc.opts).Measure(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if m.Verdict != tc.verdict || !strings.Contains(m.Evidence, tc.evidence) {
					t.Errorf("%s: %q, want %s with %q", m.Verdict, m.Evidence, tc.verdict, tc.evidence)
				}
			})
		})
	}
}

// Metric math: the expression's series is compared; the metrics it uses return no data.
func TestMetricExpression(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cw := gatetest.NewCloudWatch(nil)
		expr := "100 * errors / requests"
		cw.Expression(expr, ramp{0, 0, 2.5}.series(time.Now()))
		time.Sleep(10 * time.Minute)
		queries := []types.MetricDataQuery{
			{Id: aws.String("rate"), Expression: aws.String(expr), Label: aws.String("5xx rate")},
			{Id: aws.String("errors"), MetricStat: errorsQuery[0].MetricStat, ReturnData: aws.Bool(false)},
			{Id: aws.String("requests"), MetricStat: &types.MetricStat{Metric: &types.Metric{Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String("RequestCount")},
				Period: aws.Int32(60), Stat: aws.String("Sum")}, ReturnData: aws.Bool(false)},
		}
		m, err := gate.Metric(cwClient(cw), "5xx rate", queries, gate.Above(1), nil).Measure(t.Context())
		if err != nil || m.Verdict != deploy.Fail || !strings.Contains(m.Evidence, "latest 2.5, which fails: above 1") {
			t.Errorf("%v %+v", err, m)
		}
	})
}

// Queries that return no series, or two, are a mistake no second look mends: the gate fails
// at once, saying so.
func TestMetricQueriesMustReturnOneSeries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cw := gatetest.NewCloudWatch(nil)
		two := append(append([]types.MetricDataQuery{}, errorsQuery...), types.MetricDataQuery{Id: aws.String("other"), MetricStat: errorsQuery[0].MetricStat})
		res := deploy.Gate{Check: gate.Metric(cwClient(cw), "5xx", two, gate.Above(1), nil)}.Run(t.Context(), nil)
		if !errors.Is(res.Err, deploy.ErrInvalid) || !strings.Contains(res.Err.Error(), "2 of the 2 queries return data") || len(res.Measurements) != 1 {
			t.Errorf("%d measurements, err %v", len(res.Measurements), res.Err)
		}
		if n := cw.Calls("GetMetricData"); n != 0 {
			t.Errorf("%d calls made", n)
		}
	})
}
