package gatetest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/stevedore-dev/stevedore/deploy/gate/gatetest"
)

// An alarm that goes off at a scripted time, read by the real SDK client in-process.
func Example() {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	cw := gatetest.NewCloudWatch(func() time.Time { return now })
	cw.Alarm("web-5xx",
		gatetest.AlarmState{At: now.Add(-time.Hour), Value: types.StateValueOk},
		gatetest.AlarmState{At: now.Add(5 * time.Minute), Value: types.StateValueAlarm, Reason: "5xx over 5"})
	client := cloudwatch.NewFromConfig(cw.Config())

	for _, at := range []time.Duration{0, 10 * time.Minute} {
		now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC).Add(at)
		out, err := client.DescribeAlarms(context.Background(), &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"web-5xx"}})
		if err != nil {
			panic(err)
		}
		a := out.MetricAlarms[0]
		fmt.Println(now.Format("15:04"), aws.ToString(a.AlarmName), a.StateValue)
	}
	fmt.Println(cw.Calls("DescribeAlarms"), "calls")
	// Output:
	// 12:00 web-5xx OK
	// 12:10 web-5xx ALARM
	// 2 calls
}
