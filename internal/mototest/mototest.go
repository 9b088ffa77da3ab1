// Package mototest gives tests the moto AWS emulator: the one named by
// STEVEDORE_MOTO_ENDPOINT (as .ci/run starts it), or one it starts itself with
// `python3 -m moto.server` on a free loopback port. Tests fail, not skip, when moto is
// missing, unless STEVEDORE_SKIP_MOTO=1 says to skip them.
package mototest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// EnvEndpoint names the variable that hands a running moto server to the tests.
const EnvEndpoint = "STEVEDORE_MOTO_ENDPOINT"

// ServiceRunning is the MOTO_ECS_SERVICE_RUNNING value a server started here gets (and
// .ci/run sets): services with at most this many desired tasks start settled.
const ServiceRunning = "2"

var (
	once     sync.Once
	endpoint string
	startErr error
	proc     *exec.Cmd
)

// Main runs the tests and stops a moto server this package started. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops a moto server this package started; for a TestMain that needs other cleanup too.
func Stop() {
	if proc != nil && proc.Process != nil {
		_ = proc.Process.Kill()
		_ = proc.Wait()
	}
}

// Endpoint returns the base URL of a moto server, starting one if none was given.
func Endpoint(t testing.TB) string {
	t.Helper()
	if os.Getenv("STEVEDORE_SKIP_MOTO") == "1" {
		t.Skip("STEVEDORE_SKIP_MOTO=1: skipping the conformance test against moto")
	}
	once.Do(func() {
		if e := os.Getenv(EnvEndpoint); e != "" {
			endpoint, startErr = e, ready(e, 10*time.Second)
			return
		}
		endpoint, startErr = start()
	})
	if startErr != nil {
		t.Fatalf("the moto AWS emulator is needed for this test: %v\n"+
			"install Python 3 with moto (the machines this project runs on have it), "+
			"or start `python3 -m moto.server -p PORT` and set %s=http://127.0.0.1:PORT", startErr, EnvEndpoint)
	}
	return endpoint
}

// Config returns an SDK config that talks to moto with fake credentials in us-east-1.
func Config(t testing.TB) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(Endpoint(t)),
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	}
}

func start() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	proc = exec.Command("python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	proc.Env = append(os.Environ(), "MOTO_ECS_SERVICE_RUNNING="+ServiceRunning)
	if err := proc.Start(); err != nil {
		return "", fmt.Errorf("starting python3 -m moto.server: %w", err)
	}
	e := fmt.Sprintf("http://127.0.0.1:%d", port)
	return e, ready(e, 30*time.Second)
}

func ready(e string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e+"/moto-api/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no moto server answered at %s within %v: %w", e, within, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ECSNumbersAsStrings is a client option for ECS clients talking to moto. moto writes a
// task's and its containers' "cpu" and "memory" as JSON numbers in RunTask, DescribeTasks and StopTask answers,
// where the ECS API (and so the SDK's strict decoder) has strings; the AWS CLI tolerates it,
// the Go SDK does not. This rewrites those two fields of each task before decoding and
// touches nothing else, so the requests and every other answer stay moto's own.
func ECSNumbersAsStrings(o *ecs.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("motoTaskNumbers",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleDeserialize(ctx, in)
				resp, ok := out.RawResponse.(*smithyhttp.Response)
				if !ok || resp.Body == nil {
					return out, md, err
				}
				body, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				if rerr != nil {
					return out, md, rerr
				}
				for _, key := range []string{"tasks", "task"} {
					tasks := gjson.GetBytes(body, key)
					var fix func(path string, t gjson.Result)
					fix = func(path string, t gjson.Result) {
						for _, f := range []string{"cpu", "memory"} {
							if v := t.Get(f); v.Type == gjson.Number {
								body, _ = sjson.SetBytes(body, path+"."+f, v.Raw)
							}
						}
						for j, c := range t.Get("containers").Array() {
							fix(fmt.Sprintf("%s.containers.%d", path, j), c)
						}
					}
					if tasks.IsArray() {
						for i, t := range tasks.Array() {
							fix(fmt.Sprintf("%s.%d", key, i), t)
						}
					} else if tasks.IsObject() {
						fix(key, tasks)
					}
				}
				resp.Body = io.NopCloser(bytes.NewReader(body))
				return out, md, err
			}), middleware.After)
	})
}

// SetSDKEnv points SDK programs run by the test (config.LoadDefaultConfig) at endpoint, with
// fake credentials and none of the machine's shared config or credentials files.
func SetSDKEnv(t testing.TB, endpoint string) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL":            endpoint,
		"AWS_ACCESS_KEY_ID":           "testing",
		"AWS_SECRET_ACCESS_KEY":       "testing",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             dir + "/config",
		"AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials",
	} {
		t.Setenv(k, v)
	}
}

// CloudWatchQuery is a client option for CloudWatch clients talking to moto: moto answers
// CloudWatch's query protocol but not RPC v2 CBOR, the SDK's default. The operations, their
// inputs and outputs are the same in both; only the encoding differs.
func CloudWatchQuery(o *cloudwatch.Options) {
	o.Protocol = awsquery.New(cwschemas.GraniteServiceVersion20100801)
}
