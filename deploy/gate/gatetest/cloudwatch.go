// Package gatetest is an in-process CloudWatch for testing gates offline: alarms whose state
// follows a script in time and metrics whose values do, answering DescribeAlarms and
// GetMetricData to the real SDK client in its default wire format (Smithy RPC v2 CBOR), with
// injected faults and a log of the calls made, in the style of net/http/httptest.
package gatetest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/stevedore-dev/stevedore/internal/awsfake"
)

// Fault is an error the simulator answers a call with instead of doing it.
type Fault = awsfake.Fault

// AlarmState is one change of an alarm's state: from At on, the alarm is in Value.
type AlarmState struct {
	At     time.Time
	Value  types.StateValue
	Reason string
}

// Series gives a metric's value for the period starting at t; false means no data point.
type Series func(t time.Time) (float64, bool)

// CloudWatch is the simulator. Its zero value is not usable; call NewCloudWatch.
type CloudWatch struct {
	mu      sync.Mutex
	now     func() time.Time
	alarms  map[string][]AlarmState
	metrics map[string]Series // by metricKey
	exprs   map[string]Series // by expression
	log     awsfake.Log
}

// NewCloudWatch returns a simulator whose clock is now (time.Now when nil).
func NewCloudWatch(now func() time.Time) *CloudWatch {
	if now == nil {
		now = time.Now
	}
	return &CloudWatch{now: now, alarms: map[string][]AlarmState{}, metrics: map[string]Series{}, exprs: map[string]Series{}}
}

// Alarm creates the metric alarm name, whose state follows changes (in INSUFFICIENT_DATA
// before the first).
func (c *CloudWatch) Alarm(name string, changes ...AlarmState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	changes = slices.Clone(changes)
	slices.SortStableFunc(changes, func(a, b AlarmState) int { return a.At.Compare(b.At) })
	c.alarms[name] = changes
}

// Metric makes namespace/name with dims (nil for none) take the values of s.
func (c *CloudWatch) Metric(namespace, name string, dims map[string]string, s Series) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.metrics[metricKey(namespace, name, dims)] = s
}

// Expression makes the metric math expression expr (as a query gives it) take the values
// of s: the simulator does not evaluate metric math itself.
func (c *CloudWatch) Expression(expr string, s Series) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.exprs[expr] = s
}

// Inject makes the next f.Times calls of op (DescribeAlarms, GetMetricData) fail with f.
func (c *CloudWatch) Inject(op string, f Fault) { c.log.Inject(op, f) }

// Calls returns how many calls of op were made.
func (c *CloudWatch) Calls(op string) int { return c.log.Calls(op) }

// Requests returns the calls of op made, as JSON.
func (c *CloudWatch) Requests(op string) []json.RawMessage { return c.log.Requests(op) }

// Config returns an aws.Config whose CloudWatch clients reach the simulator in-process.
func (c *CloudWatch) Config() aws.Config { return awsfake.Config(c, "us-east-1") }

// ServeHTTP answers one RPC v2 CBOR call.
func (c *CloudWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.URL.Path, "/service/GraniteServiceVersion20100801/operation/")
	if !ok || r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
		awsfake.WriteCBORError(w, 404, "UnknownOperationException", "gatetest speaks RPC v2 CBOR to CloudWatch only")
		return
	}
	raw, _ := io.ReadAll(r.Body)
	body, err := awsfake.CBORToJSON(raw)
	if err != nil {
		awsfake.AnswerCBOR(w, nil, err)
		return
	}
	if f := c.log.Record(op, body); f != nil {
		if f.Reset || f.Lost {
			f.Write(w)
			return
		}
		st := f.Status
		if st == 0 {
			st = 400
		}
		awsfake.WriteCBORError(w, st, f.Code, cmp.Or(f.Message, "injected "+f.Code))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch op {
	case "DescribeAlarms":
		out, err := c.describeAlarms(body)
		awsfake.AnswerCBOR(w, out, err)
	case "GetMetricData":
		out, err := c.getMetricData(body)
		awsfake.AnswerCBOR(w, out, err)
	default:
		awsfake.WriteCBORError(w, 400, "UnknownOperationException", "gatetest does not simulate "+op)
	}
}

func (c *CloudWatch) describeAlarms(body []byte) (any, error) {
	var in struct {
		AlarmNames      []string
		AlarmNamePrefix string
		StateValue      string
		MaxRecords      int
		NextToken       string
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.AlarmNames) > 100 || in.MaxRecords < 0 || in.MaxRecords > 100 {
		return nil, awsfake.Errorf("InvalidParameterValue", "AlarmNames and MaxRecords: at most 100")
	}
	if len(in.AlarmNames) > 0 && in.AlarmNamePrefix != "" {
		return nil, awsfake.Errorf("InvalidParameterCombination", "AlarmNames and AlarmNamePrefix cannot be given together")
	}
	now := c.now()
	var names []string
	for n := range c.alarms {
		if (len(in.AlarmNames) == 0 || slices.Contains(in.AlarmNames, n)) && strings.HasPrefix(n, in.AlarmNamePrefix) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var alarms []map[string]any
	for _, n := range names {
		st := stateAt(c.alarms[n], now)
		if in.StateValue != "" && string(st.Value) != in.StateValue {
			continue
		}
		alarms = append(alarms, map[string]any{"AlarmName": n, "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:" + n,
			"StateValue": string(st.Value), "StateReason": st.Reason, "StateUpdatedTimestamp": st.At, "ActionsEnabled": true})
	}
	if in.MaxRecords == 0 {
		in.MaxRecords = 50 // CloudWatch's default; 100 at most
	}
	page, next, err := awsfake.Page(alarms, in.NextToken, in.MaxRecords, 100)
	if err != nil {
		return nil, err
	}
	return map[string]any{"MetricAlarms": page, "CompositeAlarms": []any{}, "NextToken": next}, nil
}

// stateAt is the alarm's state at now.
func stateAt(changes []AlarmState, now time.Time) AlarmState {
	st := AlarmState{Value: types.StateValueInsufficientData, Reason: "Unchecked: Initial alarm creation"}
	if len(changes) > 0 {
		st.At = changes[0].At.Add(-time.Minute)
	}
	for _, ch := range changes {
		if ch.At.After(now) {
			break
		}
		st = ch
	}
	return st
}

func (c *CloudWatch) getMetricData(body []byte) (any, error) {
	var in struct {
		MetricDataQueries []struct {
			Id         string
			Label      string
			Expression string
			Period     int
			ReturnData *bool
			MetricStat *struct {
				Metric struct {
					Namespace  string
					MetricName string
					Dimensions []struct{ Name, Value string }
				}
				Period int
				Stat   string
			}
		}
		StartTime, EndTime float64
		ScanBy             string
		MaxDatapoints      int
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.MetricDataQueries) == 0 || len(in.MetricDataQueries) > 500 {
		return nil, awsfake.Errorf("ValidationError", "MetricDataQueries: 1 to 500")
	}
	if in.EndTime <= in.StartTime {
		return nil, awsfake.Errorf("ValidationError", "The parameter EndTime must be greater than StartTime.")
	}
	start, end := time.UnixMilli(int64(in.StartTime*1000)), time.UnixMilli(int64(in.EndTime*1000))
	exprPeriod := 0 // an expression without a period takes its metrics' (the shortest)
	for _, q := range in.MetricDataQueries {
		if q.MetricStat != nil && (exprPeriod == 0 || q.MetricStat.Period < exprPeriod) {
			exprPeriod = q.MetricStat.Period
		}
	}
	var results []map[string]any
	for _, q := range in.MetricDataQueries {
		if q.Id == "" || (q.Expression == "") == (q.MetricStat == nil) {
			return nil, awsfake.Errorf("ValidationError", "each query needs an Id and exactly one of Expression and MetricStat")
		}
		if q.ReturnData != nil && !*q.ReturnData {
			continue
		}
		var s Series
		period := q.Period
		if q.MetricStat != nil {
			m := q.MetricStat.Metric
			dims := map[string]string{}
			for _, d := range m.Dimensions {
				dims[d.Name] = d.Value
			}
			s = c.metrics[metricKey(m.Namespace, m.MetricName, dims)]
			period = q.MetricStat.Period
		} else if period == 0 {
			period = cmp.Or(exprPeriod, 60)
		}
		if q.Expression != "" {
			if s = c.exprs[q.Expression]; s == nil {
				return nil, awsfake.Errorf("ValidationError", "gatetest does not evaluate metric math: register %q with Expression", q.Expression)
			}
		}
		if !slices.Contains([]int{1, 5, 10, 30}, period) && (period <= 0 || period%60 != 0) {
			return nil, awsfake.Errorf("ValidationError", "query %s: the period must be a multiple of 60", q.Id)
		}
		p := time.Duration(period) * time.Second
		var ts []time.Time
		var vs []float64
		for t := start.Truncate(p); t.Before(end); t = t.Add(p) {
			if t.Before(start) || t.Add(p).After(c.now()) {
				continue // a period not yet over has no data point
			}
			if s == nil {
				continue
			}
			if v, ok := s(t); ok {
				ts, vs = append(ts, t), append(vs, v)
			}
		}
		if in.ScanBy != "TimestampAscending" {
			slices.Reverse(ts)
			slices.Reverse(vs)
		}
		results = append(results, map[string]any{"Id": q.Id, "Label": cmp.Or(q.Label, q.Id), "Timestamps": ts, "Values": vs, "StatusCode": "Complete"})
	}
	return map[string]any{"MetricDataResults": results, "Messages": []any{}}, nil
}

func metricKey(namespace, name string, dims map[string]string) string {
	keys := make([]string, 0, len(dims))
	for k := range dims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s", namespace, name)
	for _, k := range keys {
		fmt.Fprintf(&b, "|%s=%s", k, dims[k])
	}
	return b.String()
}
