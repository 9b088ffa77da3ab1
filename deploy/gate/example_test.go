package gate_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/gate"
	"github.com/stevedore-dev/stevedore/deploy/gate/gatetest"
)

// A bake gate: none of the service's alarms in ALARM, checked every 30 s for ten minutes.
// Here against the simulator, where an alarm is in ALARM already.
func ExampleAlarms() {
	cw := gatetest.NewCloudWatch(nil)
	cw.Alarm("web-5xx", gatetest.AlarmState{At: time.Now().Add(-time.Minute), Value: types.StateValueAlarm, Reason: "Threshold Crossed: 12 > 5"})
	client := cloudwatch.NewFromConfig(cw.Config()) // cloudwatch.NewFromConfig(cfg) against AWS

	bake := deploy.Gate{Check: gate.Alarms(client, []string{"web-5xx"}, nil), Interval: 30 * time.Second, Count: 21}
	res := bake.Run(context.Background(), nil)
	fmt.Println(res.Verdict)
	// Output: fail
}

// A metric gate: the share of 5xx answers, as metric math over two ALB metrics, under 1%.
func ExampleMetric() {
	cw := gatetest.NewCloudWatch(nil)
	cw.Expression("100 * errors / requests", func(time.Time) (float64, bool) { return 0.4, true })
	client := cloudwatch.NewFromConfig(cw.Config())

	alb := func(id, metric string) types.MetricDataQuery {
		return types.MetricDataQuery{Id: aws.String(id), ReturnData: aws.Bool(false), MetricStat: &types.MetricStat{
			Metric: &types.Metric{Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String(metric),
				Dimensions: []types.Dimension{{Name: aws.String("LoadBalancer"), Value: aws.String("app/web/50dc6c495c0c9188")}}},
			Period: aws.Int32(60), Stat: aws.String("Sum")}}
	}
	queries := []types.MetricDataQuery{
		{Id: aws.String("rate"), Expression: aws.String("100 * errors / requests")},
		alb("errors", "HTTPCode_Target_5XX_Count"), alb("requests", "RequestCount"),
	}
	m, _ := gate.Metric(client, "5xx rate", queries, gate.Above(1), nil).Measure(context.Background())
	value, _, _ := strings.Cut(m.Evidence, " (") // then the window's values
	fmt.Println(m.Verdict, "-", value)
	// Output: pass - 5xx rate: latest 0.4, not above 1
}

// An HTTP gate: the new release's health endpoint answers 2xx with its version.
func ExampleHTTP() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"status":"ok"}`)
	}))
	defer srv.Close()

	m, _ := gate.HTTP(srv.URL+"/health?token=not-shown", nil).Measure(context.Background())
	fmt.Println(m.Verdict)
	// Output: pass
}
