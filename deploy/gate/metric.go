package gate

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
)

// Threshold is where a metric's value fails a measurement: above a value, or below one.
type Threshold struct {
	value float64
	below bool
}

// Above fails a measurement whose value is greater than v.
func Above(v float64) Threshold { return Threshold{value: v} }

// Below fails a measurement whose value is less than v.
func Below(v float64) Threshold { return Threshold{value: v, below: true} }

func (t Threshold) fails(v float64) bool {
	if t.below {
		return v < t.value
	}
	return v > t.value
}

func (t Threshold) String() string {
	if t.below {
		return "below " + num(t.value)
	}
	return "above " + num(t.value)
}

// Reduce is which value of the window a measurement compares with the threshold.
type Reduce string

const (
	Latest  Reduce = "latest" // the newest data point (the default)
	Maximum Reduce = "max"    // the largest in the window
	Minimum Reduce = "min"    // the smallest in the window
	Average Reduce = "avg"    // the mean of the window's data points
)

// MetricOptions tune Metric. The zero value is ready to use.
type MetricOptions struct {
	// Window is how far back each measurement reads; 0 means 5 minutes.
	Window time.Duration
	// Reduce is which value of the window is compared; "" means Latest.
	Reduce Reduce
}

// Metric is a check of a CloudWatch metric against a threshold: each measurement reads the
// last Window of queries (one GetMetricData call) and compares the one series they return,
// a metric or a metric math expression over the others (ReturnData false), reduced to one
// value. A window without data points is inconclusive.
func Metric(client cloudwatch.GetMetricDataAPIClient, name string, queries []types.MetricDataQuery, fail Threshold, opts *MetricOptions) deploy.Check {
	m := &metric{client: client, name: name, queries: slices.Clone(queries), fail: fail}
	if opts != nil {
		m.opts = *opts
	}
	if m.opts.Window <= 0 {
		m.opts.Window = 5 * time.Minute
	}
	if m.opts.Reduce == "" {
		m.opts.Reduce = Latest
	}
	return m
}

type metric struct {
	client  cloudwatch.GetMetricDataAPIClient
	name    string
	queries []types.MetricDataQuery
	fail    Threshold
	opts    MetricOptions
}

func (m *metric) Name() string { return "metric " + m.name }

func (m *metric) Measure(ctx context.Context) (deploy.Measurement, error) {
	returned := 0
	for _, q := range m.queries {
		if q.ReturnData == nil || *q.ReturnData {
			returned++
		}
	}
	if returned != 1 {
		return deploy.Measurement{}, deploy.Errorf(deploy.ErrInvalid, "", "gate "+m.Name(),
			"%d of the %d queries return data; exactly one must (set ReturnData false on the ones an expression uses)", returned, len(m.queries))
	}
	end := time.Now()
	in := &cloudwatch.GetMetricDataInput{MetricDataQueries: m.queries, StartTime: aws.Time(end.Add(-m.opts.Window)), EndTime: aws.Time(end),
		ScanBy: types.ScanByTimestampDescending}
	var ts []time.Time
	var vs []float64
	for p := cloudwatch.NewGetMetricDataPaginator(m.client, in); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			return deploy.Measurement{}, awserr.WrapHints("", "gate "+m.Name()+": get metric data", err, awserr.Hints{
				deploy.ErrAccessDenied: "the credentials need cloudwatch:GetMetricData",
				deploy.ErrInvalid:      "check the queries: ids, expressions, periods"})
		}
		for _, r := range out.MetricDataResults {
			ts, vs = append(ts, r.Timestamps...), append(vs, r.Values...)
		}
	}
	return m.judge(ts, vs), nil
}

// judge is the verdict on the window's data points, newest first.
func (m *metric) judge(ts []time.Time, vs []float64) deploy.Measurement {
	if len(vs) == 0 {
		return deploy.Measurement{Verdict: deploy.Inconclusive, Evidence: fmt.Sprintf("%s: no data points in the last %s", m.name, m.opts.Window)}
	}
	var v float64
	switch m.opts.Reduce {
	case Maximum:
		v = slices.Max(vs)
	case Minimum:
		v = slices.Min(vs)
	case Average:
		for _, x := range vs {
			v += x
		}
		v /= float64(len(vs))
	default:
		newest := 0
		for i := range ts {
			if ts[i].After(ts[newest]) {
				newest = i
			}
		}
		v = vs[newest]
	}
	order := make([]int, len(vs)) // oldest first
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return ts[a].Compare(ts[b]) })
	var window []string
	for _, i := range order[max(0, len(order)-10):] {
		window = append(window, num(vs[i]))
	}
	ev := fmt.Sprintf("%s: %s %s, %s %s (last %s: %s)", m.name, m.opts.Reduce, num(v), verb(m.fail.fails(v)), m.fail, m.opts.Window, strings.Join(window, ", "))
	if m.fail.fails(v) {
		return deploy.Measurement{Verdict: deploy.Fail, Evidence: ev}
	}
	return deploy.Measurement{Verdict: deploy.Pass, Evidence: ev}
}

func verb(fails bool) string {
	if fails {
		return "which fails:"
	}
	return "not"
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
