package gate

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
)

// AlarmOptions tune Alarms. The zero value is ready to use.
type AlarmOptions struct {
	// InsufficientData is what an alarm without enough data counts as: deploy.Pass (the
	// default: none of the alarms is in ALARM) or deploy.Inconclusive.
	InsufficientData deploy.Verdict
}

// Alarms is a check that passes while none of the named CloudWatch alarms (metric or
// composite) is in ALARM; run on a schedule, it is a bake: every 30 s for 10 minutes, say.
// An alarm that does not exist makes the measurement inconclusive, naming it, so that a
// misspelt name cannot pass a gate. One DescribeAlarms call a measurement (per 100 names).
func Alarms(client cloudwatch.DescribeAlarmsAPIClient, names []string, opts *AlarmOptions) deploy.Check {
	a := &alarms{client: client, names: slices.Clone(names)}
	if opts != nil {
		a.opts = *opts
	}
	if a.opts.InsufficientData == "" {
		a.opts.InsufficientData = deploy.Pass
	}
	return a
}

type alarms struct {
	client cloudwatch.DescribeAlarmsAPIClient
	names  []string
	opts   AlarmOptions
}

func (a *alarms) Name() string { return "alarms " + strings.Join(first(a.names, 3), ", ") }

// state is one alarm's state as a measurement reports it.
type state struct {
	name, value, reason string
	since               time.Time
}

func (a *alarms) Measure(ctx context.Context) (deploy.Measurement, error) {
	if len(a.names) == 0 {
		return deploy.Measurement{}, deploy.Errorf(deploy.ErrInvalid, "", "gate "+a.Name(), "no alarm names given")
	}
	found := map[string]state{}
	for chunk := range slices.Chunk(a.names, 100) {
		in := &cloudwatch.DescribeAlarmsInput{AlarmNames: chunk, MaxRecords: aws.Int32(100),
			AlarmTypes: []types.AlarmType{types.AlarmTypeMetricAlarm, types.AlarmTypeCompositeAlarm}}
		for p := cloudwatch.NewDescribeAlarmsPaginator(a.client, in); p.HasMorePages(); {
			out, err := p.NextPage(ctx)
			if err != nil {
				return deploy.Measurement{}, awserr.WrapHints("", "gate "+a.Name()+": describe alarms", err, awserr.Hints{
					deploy.ErrAccessDenied: "the credentials need cloudwatch:DescribeAlarms"})
			}
			for _, m := range out.MetricAlarms {
				found[aws.ToString(m.AlarmName)] = state{aws.ToString(m.AlarmName), string(m.StateValue), aws.ToString(m.StateReason), aws.ToTime(m.StateUpdatedTimestamp)}
			}
			for _, c := range out.CompositeAlarms {
				found[aws.ToString(c.AlarmName)] = state{aws.ToString(c.AlarmName), string(c.StateValue), aws.ToString(c.StateReason), aws.ToTime(c.StateUpdatedTimestamp)}
			}
		}
	}
	return a.judge(found), nil
}

// judge is the verdict on the alarms' states: any in ALARM fails; a missing one, or one
// without data when that is inconclusive, is inconclusive; otherwise it passes.
func (a *alarms) judge(found map[string]state) deploy.Measurement {
	var alarming, unknown, missing, ok []string
	for _, n := range a.names {
		s, exists := found[n]
		switch {
		case !exists:
			missing = append(missing, n)
		case s.value == string(types.StateValueAlarm):
			alarming = append(alarming, fmt.Sprintf("%s in ALARM since %s: %s", n, s.since.UTC().Format(time.RFC3339), s.reason))
		case s.value == string(types.StateValueInsufficientData):
			unknown = append(unknown, n)
		default:
			ok = append(ok, n)
		}
	}
	switch {
	case len(alarming) > 0:
		return deploy.Measurement{Verdict: deploy.Fail, Evidence: strings.Join(alarming, "; ")}
	case len(missing) > 0:
		return deploy.Measurement{Verdict: deploy.Inconclusive, Evidence: "no alarm named " + strings.Join(missing, ", ") + " (check the names and the region)"}
	case len(unknown) > 0 && a.opts.InsufficientData == deploy.Inconclusive:
		return deploy.Measurement{Verdict: deploy.Inconclusive, Evidence: "without enough data: " + strings.Join(unknown, ", ")}
	}
	ev := fmt.Sprintf("none in ALARM (%d OK", len(ok))
	if len(unknown) > 0 {
		ev += fmt.Sprintf(", %d without enough data: %s", len(unknown), strings.Join(unknown, ", "))
	}
	return deploy.Measurement{Verdict: deploy.Pass, Evidence: ev + ")"}
}

func first(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(slices.Clone(s[:n]), fmt.Sprintf("and %d more", len(s)-n))
}
