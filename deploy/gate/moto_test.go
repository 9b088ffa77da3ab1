package gate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/gate"
	"github.com/stevedore-dev/stevedore/internal/mototest"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// The CloudWatch calls the gates make (DescribeAlarms, GetMetricData), against moto: an
// alarm set to ALARM fails the alarm check with its reason; data put into a metric is what
// the metric check reads.
func TestGatesAgainstMoto(t *testing.T) {
	cw := cloudwatch.NewFromConfig(mototest.Config(t), mototest.CloudWatchQuery)
	ctx := t.Context()
	for _, name := range []string{"gate-5xx", "gate-p99"} {
		if _, err := cw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String(name), Namespace: aws.String("Gate"), MetricName: aws.String(name),
			Statistic: types.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(5),
			ComparisonOperator: types.ComparisonOperatorGreaterThanThreshold}); err != nil {
			t.Fatal(err)
		}
	}
	check := gate.Alarms(cw, []string{"gate-5xx", "gate-p99", "gate-missing"}, nil)
	if m, err := check.Measure(ctx); err != nil || m.Verdict != deploy.Inconclusive || !strings.Contains(m.Evidence, "no alarm named gate-missing") {
		t.Errorf("with a missing alarm: %v %+v", err, m)
	}
	if _, err := cw.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String("gate-5xx"), StateValue: types.StateValueAlarm,
		StateReason: aws.String("Threshold Crossed: 12 > 5")}); err != nil {
		t.Fatal(err)
	}
	check = gate.Alarms(cw, []string{"gate-5xx", "gate-p99"}, nil)
	if m, err := check.Measure(ctx); err != nil || m.Verdict != deploy.Fail || !strings.Contains(m.Evidence, "gate-5xx in ALARM since") || !strings.Contains(m.Evidence, "12 > 5") {
		t.Errorf("with gate-5xx in ALARM: %v %+v", err, m)
	}

	now := time.Now()
	if _, err := cw.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("Gate"), MetricData: []types.MetricDatum{
		{MetricName: aws.String("Errors"), Value: aws.Float64(7), Timestamp: aws.Time(now.Add(-2 * time.Minute))},
	}}); err != nil {
		t.Fatal(err)
	}
	q := []types.MetricDataQuery{{Id: aws.String("errors"), MetricStat: &types.MetricStat{
		Metric: &types.Metric{Namespace: aws.String("Gate"), MetricName: aws.String("Errors")}, Period: aws.Int32(60), Stat: aws.String("Sum")}}}
	m, err := gate.Metric(cw, "errors", q, gate.Above(5), nil).Measure(ctx)
	if err != nil || m.Verdict != deploy.Fail || !strings.Contains(m.Evidence, "latest 7") {
		t.Errorf("metric: %v %+v", err, m)
	}
}
