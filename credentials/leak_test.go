package credentials_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/stevedore-dev/stevedore/credentials"
	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/ecs"
	"github.com/stevedore-dev/stevedore/targets/ecs/ecstest"
)

// leakSentinel is the one secret value the leak test pushes through every path.
const leakSentinel = "SENTINEL-leak-test-8b3f6a"

// leaks reports where the sentinel, raw or encoded, appears in out.
func leaks(t *testing.T, what, out string) {
	t.Helper()
	for _, form := range []string{leakSentinel, base64.StdEncoding.EncodeToString([]byte(leakSentinel)), fmt.Sprintf("%x", leakSentinel)} {
		if strings.Contains(out, form) || strings.Contains(strings.ToUpper(out), strings.ToUpper(form)) {
			t.Errorf("%s leaks the secret:\n%s", what, out)
			return
		}
	}
}

type exported struct {
	Name   string
	Secret credentials.Secret
}

type unexported struct {
	name   string
	secret credentials.Secret
}

func TestLeakFmtJSONAndSlog(t *testing.T) {
	s := credentials.NewSecret(leakSentinel)
	values := []any{
		s, &s, exported{"db", s}, &exported{"db", s}, unexported{"db", s}, &unexported{"db", s},
		[]credentials.Secret{s}, map[string]credentials.Secret{"k": s}, map[credentials.Secret]int{s: 1},
		struct{ Inner exported }{exported{"x", s}}, []any{s}, [1]credentials.Secret{s},
	}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v", "%10.3v", "%-8s", "%U"} {
			leaks(t, fmt.Sprintf("fmt %s of %T", verb, v), fmt.Sprintf(verb, v))
		}
		leaks(t, fmt.Sprintf("fmt.Sprint of %T", v), fmt.Sprint(v)+fmt.Sprintln(v))
		if b, err := json.Marshal(v); err == nil {
			leaks(t, fmt.Sprintf("json.Marshal of %T", v), string(b))
		}
		var buf bytes.Buffer
		for _, h := range []slog.Handler{
			slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}),
			slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}),
		} {
			l := slog.New(h)
			l.Debug("value", "v", v)
			l.Debug("any", slog.Any("v", v))
			l.Debug("group", slog.Group("g", "v", v))
			l.With("v", v).Info("with")
		}
		leaks(t, fmt.Sprintf("slog of %T", v), buf.String())
	}
	if got := s.Reveal(); got != leakSentinel {
		t.Errorf("Reveal does not return the value")
	}
	if err := fmt.Errorf("wrapped: %v %w", s, errors.New("x")); true {
		leaks(t, "fmt.Errorf", err.Error())
	}
}

func TestLeakPanic(t *testing.T) {
	if os.Getenv("STEVEDORE_LEAK_PANIC") == "1" {
		panic(credentials.NewSecret(leakSentinel))
	}
	func() {
		defer func() { leaks(t, "a recovered panic", fmt.Sprint(recover())) }()
		panic(credentials.NewSecret(leakSentinel))
	}()
	// The runtime's own report of an unrecovered panic, in a child process.
	cmd := exec.Command(os.Args[0], "-test.run=^TestLeakPanic$")
	cmd.Env = append(os.Environ(), "STEVEDORE_LEAK_PANIC=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "panic: ") {
		t.Fatalf("the child did not panic: %v\n%s", err, out)
	}
	leaks(t, "an unrecovered panic", string(out))
	if !strings.Contains(string(out), credentials.Redacted) {
		t.Errorf("the panic report does not show the redacted form:\n%s", out)
	}
}

// TestLeakEveryPath pushes the sentinel through resolving, caching, failing, rendering an ECS
// task definition and a whole deploy with debug logs and events, and looks for it in every
// log line, event, error and request the ECS API receives.
func TestLeakEveryPath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		var logs bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		var outputs []string

		f := newFake()
		f.srv.PutSecret("prod/db", `{"password":"`+leakSentinel+`"}`)
		f.srv.PutSecret("prod/raw", leakSentinel)
		f.srv.PutParameter("/prod/token", leakSentinel)
		r := credentials.NewResolver(f.sm, f.ps, &credentials.ResolverOptions{Logger: logger})
		c := credentials.NewCache(r, &credentials.CacheOptions{Logger: logger, TTL: time.Minute})

		refs := []credentials.Ref{mustParse(t, "secretsmanager:prod/db:password"), mustParse(t, "/prod/token"),
			mustParse(t, "secretsmanager:prod/raw:nokey"), mustParse(t, "secretsmanager:prod/db:nokey"), mustParse(t, "/missing")}
		vals, err := c.Resolve(ctx, refs...)
		if err == nil {
			t.Fatal("want failures for the bad references")
		}
		outputs = append(outputs, err.Error(), fmt.Sprintf("%+v %#v", err, err), fmt.Sprint(vals))
		// A refresh that fails serves the last good value, with a warning.
		time.Sleep(2 * time.Minute)
		f.srv.Inject("BatchGetSecretValue", serverFault("InternalServiceError"))
		f.srv.Inject("GetSecretValue", serverFault("InternalServiceError"))
		f.srv.Inject("GetParameters", serverFault("InternalServiceError"))
		if v, err := c.Resolve(ctx, refs[:2]...); err != nil || v[refs[0]].Reveal() != leakSentinel {
			t.Fatalf("stale values were not served: %v", err)
		}

		// Stores refusing values.
		for _, s := range []credentials.Store{credentials.NewParameterStore(f.ps, nil), credentials.NewSecretsManager(f.sm, nil), credentials.NewMemoryStore()} {
			for _, v := range []string{`{"port":5432,"x":"` + leakSentinel + `"}`, leakSentinel + "\xff", `{"bad key":"` + leakSentinel + `"}`} {
				if _, err := s.Put(ctx, "/leak/x", credentials.NewSecret(v)); err != nil {
					outputs = append(outputs, err.Error())
				}
			}
		}
		if _, err := credentials.Environ(nil, map[string]credentials.Secret{"bad-name": vals[refs[0]], "NUL": credentials.NewSecret(leakSentinel + "\x00")}); err != nil {
			outputs = append(outputs, err.Error())
		}

		// A deploy that hands the secrets to ECS by reference, and one that fails.
		secrets, err := r.ECSSecrets(ctx, "", map[string]credentials.Ref{"DB_PASSWORD": refs[0], "TOKEN": refs[1]})
		if err != nil {
			t.Fatal(err)
		}
		sim := ecstest.New(nil)
		sim.CreateCluster("c")
		if _, err := sim.RegisterTaskDefinition(`{"family":"app","containerDefinitions":[{"name":"app","image":"app:v1"}]}`); err != nil {
			t.Fatal(err)
		}
		if err := sim.CreateService(ecstest.ServiceSpec{Cluster: "c", Name: "app", TaskDefinition: "app:1", DesiredCount: 2, CircuitBreaker: true}); err != nil {
			t.Fatal(err)
		}
		sim.SetBehavior("app:v3", ecstest.Behavior{Fail: true, StoppedReason: "Essential container exited"})
		client := awsecs.New(awsecs.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://ecs.invalid"),
			Credentials: awscreds.NewStaticCredentialsProvider("testing", "testing", ""), HTTPClient: sim.HTTPClient()})
		target := ecs.New(client, "c", "app", &ecs.Options{Logger: logger})
		var events []string
		opts := &deploy.Options{Logger: logger, OnEvent: func(e deploy.Event) { events = append(events, fmt.Sprintf("%+v", e)) }}
		for _, img := range []string{"app:v2", "app:v3"} {
			res, err := deploy.Run(ctx, deploy.Release{Version: img, Images: map[string]string{"app": img}, Secrets: secrets}, []deploy.Target{target}, opts)
			if err != nil {
				outputs = append(outputs, err.Error())
			}
			if res != nil && len(res.Targets) > 0 && res.Targets[0].Plan != nil {
				outputs = append(outputs, res.Targets[0].Plan.Diff())
			}
		}
		if len(events) == 0 || sim.Calls("RegisterTaskDefinition") == 0 {
			t.Fatalf("the deploys did nothing: %d events, %d registrations", len(events), sim.Calls("RegisterTaskDefinition"))
		}
		var sent []string
		for _, op := range []string{"RegisterTaskDefinition", "UpdateService"} {
			for _, req := range sim.Requests(op) {
				sent = append(sent, string(req))
			}
		}
		if !strings.Contains(strings.Join(sent, ""), f.srv.SecretARN("prod/db")+":password::") {
			t.Errorf("the task definition does not reference the secret by ARN")
		}

		leaks(t, "the debug log", logs.String())
		leaks(t, "the events", strings.Join(events, "\n"))
		leaks(t, "the errors and diffs", strings.Join(outputs, "\n"))
		leaks(t, "what ECS was sent", strings.Join(sent, "\n"))
		if !strings.Contains(logs.String(), "serving the last good value") {
			t.Errorf("the stale path did not run; the log:\n%s", logs.String())
		}
	})
}
