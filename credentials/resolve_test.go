package credentials_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/stevedore-dev/stevedore/credentials"
	"github.com/stevedore-dev/stevedore/credentials/secretstest"
	"github.com/stevedore-dev/stevedore/deploy"
)

func mustParse(t testing.TB, s string) credentials.Ref {
	t.Helper()
	r, err := credentials.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func reveal(m map[credentials.Ref]credentials.Secret) map[string]string {
	out := map[string]string{}
	for r, v := range m {
		out[r.String()] = v.Reveal()
	}
	return out
}

// seed100 puts 60 parameters and 40 two-field secrets in the fake and returns 100 references
// to them: every parameter, and one JSON key of each secret.
func seed100(srv *secretstest.Server) []credentials.Ref {
	var refs []credentials.Ref
	for i := range 60 {
		name := fmt.Sprintf("/app/param%02d", i)
		srv.PutParameter(name, "pvalue"+fmt.Sprint(i))
		refs = append(refs, credentials.Ref{Source: credentials.SourceParameterStore, ID: name})
	}
	for i := range 40 {
		name := fmt.Sprintf("app/secret%02d", i)
		srv.PutSecret(name, fmt.Sprintf(`{"user":"u%d","password":"p%d"}`, i, i))
		refs = append(refs, credentials.Ref{Source: credentials.SourceSecretsManager, ID: name, JSONKey: "password"})
	}
	return refs
}

func TestResolveBatches(t *testing.T) {
	f := newFake()
	refs := seed100(f.srv)
	// Duplicates and a second key of a secret already asked for cost no call.
	refs = append(refs, refs[0], refs[70], credentials.Ref{Source: credentials.SourceSecretsManager, ID: "app/secret10", JSONKey: "user"})
	r := credentials.NewResolver(f.sm, f.ps, nil)
	got, err := r.Resolve(context.Background(), refs...)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 101 {
		t.Fatalf("got %d values, want 101", len(got))
	}
	vals := reveal(got)
	if vals["/app/param07"] != "pvalue7" || vals["secretsmanager:app/secret10:password"] != "p10" || vals["secretsmanager:app/secret10:user"] != "u10" {
		t.Errorf("wrong values: param07 ok %v, secret10 ok %v", vals["/app/param07"] == "pvalue7", vals["secretsmanager:app/secret10:password"] == "p10")
	}
	calls := map[string]int{}
	for _, op := range []string{"GetParameters", "GetParameter", "BatchGetSecretValue", "GetSecretValue", "GetParametersByPath"} {
		calls[op] = f.srv.Calls(op)
	}
	want := map[string]int{"GetParameters": 6, "GetParameter": 0, "BatchGetSecretValue": 2, "GetSecretValue": 0, "GetParametersByPath": 0}
	if d := cmp.Diff(want, calls); d != "" {
		t.Errorf("calls (-want +got):\n%s", d)
	}
	for _, req := range f.srv.Requests("GetParameters") {
		if !strings.Contains(string(req), `"WithDecryption":true`) {
			t.Errorf("GetParameters without decryption: %s", req)
		}
	}
}

func TestResolveVersionsLabelsAndReferences(t *testing.T) {
	f := newFake()
	v1 := f.srv.PutSecret("db", `{"password":"old"}`)
	f.srv.PutSecret("db", `{"password":"new"}`)
	f.srv.PutParameter("/p", "one")
	f.srv.PutParameter("/p", "two")
	if _, err := credentials.NewParameterStore(f.ps, nil).Put(context.Background(), "/multi", credentials.NewSecret(`{"a":"1","b":"2"}`)); err != nil {
		t.Fatal(err)
	}
	if err := credentials.NewParameterStore(f.ps, nil).Label(context.Background(), "/p", "1", "stable"); err != nil {
		t.Fatal(err)
	}
	arn := f.srv.SecretARN("db")
	refs := []string{
		"secretsmanager:db:password",
		"secretsmanager:db:password:AWSPREVIOUS",
		"secretsmanager:db:password::" + v1,
		arn + ":password:AWSCURRENT",
		"/p", "/p:1", "/p:stable", "/p:2",
		"arn:aws:ssm:us-east-1:123456789012:parameter/p:1",
		"/aws/reference/secretsmanager/db",
		"/multi",
	}
	var parsed []credentials.Ref
	for _, s := range refs {
		parsed = append(parsed, mustParse(t, s))
	}
	got, err := credentials.NewResolver(f.sm, f.ps, nil).Resolve(context.Background(), parsed...)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"secretsmanager:db:password":             "new",
		"secretsmanager:db:password:AWSPREVIOUS": "old",
		"secretsmanager:db:password::" + v1:      "old",
		arn + ":password:AWSCURRENT":             "new",
		"/p":                                     "two",
		"/p:1":                                   "one",
		"/p:stable":                              "one",
		"/p:2":                                   "two",
		"arn:aws:ssm:us-east-1:123456789012:parameter/p:1": "one",
		"/aws/reference/secretsmanager/db":                 `{"password":"new"}`,
		"/multi":                                           `{"a":"1","b":"2"}`,
	}
	if d := cmp.Diff(want, reveal(got)); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	// "/p", "/p:1", "/p:stable", "/p:2" and the ARN share a name: five GetParameters calls
	// (no two in one), the reference rides along; /multi is read by path.
	if n := f.srv.Calls("GetParameters"); n != 5 {
		t.Errorf("GetParameters calls = %d, want 5", n)
	}
	if n := f.srv.Calls("GetParametersByPath"); n != 1 {
		t.Errorf("GetParametersByPath calls = %d, want 1", n)
	}
}

func TestResolveReportsEveryFailureTogether(t *testing.T) {
	f := newFake()
	f.srv.PutParameter("/ok", "fine")
	f.srv.PutParameter("/denied", "hidden")
	f.srv.Deny("/denied")
	f.srv.PutSecret("good", `{"k":"v"}`)
	f.srv.PutSecret("locked", "x")
	f.srv.Deny("locked")
	f.srv.PutSecret("plain", "SENTINEL-not-json-4d1c")
	refs := []string{"/ok", "/denied", "/missing", "secretsmanager:good:k", "secretsmanager:good:nokey",
		"secretsmanager:locked", "secretsmanager:gone", "secretsmanager:plain:k"}
	var parsed []credentials.Ref
	for _, s := range refs {
		parsed = append(parsed, mustParse(t, s))
	}
	got, err := credentials.NewResolver(f.sm, f.ps, nil).Resolve(context.Background(), parsed...)
	if d := cmp.Diff(map[string]string{"/ok": "fine", "secretsmanager:good:k": "v"}, reveal(got)); d != "" {
		t.Errorf("the references that resolved (-want +got)\n%s", d)
	}
	var re *credentials.ResolveError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a *credentials.ResolveError", err)
	}
	kinds := map[string]error{}
	for _, fl := range re.Failures {
		for _, k := range []error{deploy.ErrNotFound, deploy.ErrAccessDenied, deploy.ErrInvalid} {
			if errors.Is(fl.Err, k) {
				kinds[fl.Ref.String()] = k
			}
		}
		if !strings.Contains(fl.Err.Error(), fl.Ref.String()) {
			t.Errorf("the failure %q does not name its reference %s", fl.Err, fl.Ref)
		}
	}
	want := map[string]error{
		"/denied":                   deploy.ErrAccessDenied,
		"/missing":                  deploy.ErrNotFound,
		"secretsmanager:good:nokey": deploy.ErrNotFound,
		"secretsmanager:locked":     deploy.ErrAccessDenied,
		"secretsmanager:gone":       deploy.ErrNotFound,
		"secretsmanager:plain:k":    deploy.ErrInvalid,
	}
	if d := cmp.Diff(want, kinds, cmp.Comparer(func(a, b error) bool { return a == b })); d != "" {
		t.Errorf("failure kinds (-want +got)\n%s", d)
	}
	if !errors.Is(err, deploy.ErrAccessDenied) || !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("errors.Is does not reach the failures' kinds through %T", err)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Errorf("errors.As does not reach an SDK API error through the ResolveError")
	}
	if strings.Contains(err.Error(), "SENTINEL") || strings.Contains(err.Error(), "hidden") {
		t.Errorf("the error prints a secret value:\n%s", err)
	}
	t.Logf("the error reads:\n%s", err)
}

func TestResolveFallsBackWhenBatchIsDenied(t *testing.T) {
	f := newFake()
	refs := seed100(f.srv)[60:] // the 40 secrets
	f.srv.Inject("BatchGetSecretValue", secretstest.Fault{Code: "AccessDeniedException", Message: "not authorized to perform secretsmanager:BatchGetSecretValue", Times: -1})
	r := credentials.NewResolver(f.sm, f.ps, &credentials.ResolverOptions{Concurrency: 8})
	for round := range 2 {
		got, err := r.Resolve(context.Background(), refs...)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 40 || got[refs[5]].Reveal() != "p5" {
			t.Fatalf("round %d: %d values", round, len(got))
		}
	}
	// The first round tries the batch call (2 chunks, maybe both in flight), then reads
	// each secret; the second goes straight to GetSecretValue.
	if n := f.srv.Calls("BatchGetSecretValue"); n < 1 || n > 2 {
		t.Errorf("BatchGetSecretValue calls = %d, want 1 or 2", n)
	}
	if n := f.srv.Calls("GetSecretValue"); n != 80 {
		t.Errorf("GetSecretValue calls = %d, want 80", n)
	}
}

func TestResolveRetriesThrottlingAndReportsPersistentThrottling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		refs := seed100(f.srv)
		f.srv.Inject("GetParameters", secretstest.Fault{Code: "ThrottlingException", Message: "Rate exceeded", Times: 2})
		f.srv.Inject("BatchGetSecretValue", secretstest.Fault{Code: "ThrottlingException", Message: "Rate exceeded", Times: 1})
		r := credentials.NewResolver(f.sm, f.ps, nil)
		got, err := r.Resolve(context.Background(), refs...)
		if err != nil || len(got) != 100 {
			t.Fatalf("with passing throttling: %d values, %v", len(got), err)
		}
		if n := f.srv.Calls("GetParameters"); n != 8 {
			t.Errorf("GetParameters calls = %d, want 6 plus 2 retries", n)
		}

		f.srv.Inject("GetParameters", secretstest.Fault{Code: "ThrottlingException", Message: "Rate exceeded", Times: -1})
		_, err = r.Resolve(context.Background(), refs[:3]...)
		if !errors.Is(err, deploy.ErrThrottled) {
			t.Fatalf("with throttling that never ends: %v, want deploy.ErrThrottled", err)
		}
	})
}

func TestResolvePaginatesPaths(t *testing.T) {
	f := newFake()
	want := map[string]string{}
	for i := range 25 {
		k := fmt.Sprintf("field%02d", i)
		f.srv.PutParameter("/svc/config/"+k, "v"+k)
		want[k] = "v" + k
	}
	got, err := credentials.NewResolver(f.sm, f.ps, nil).Resolve(context.Background(), mustParse(t, "/svc/config"))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]string
	if err := json.Unmarshal([]byte(got[mustParse(t, "/svc/config")].Reveal()), &fields); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, fields); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if n := f.srv.Calls("GetParametersByPath"); n != 3 {
		t.Errorf("GetParametersByPath calls = %d, want 3 pages of 10", n)
	}
}

func TestResolveCanceled(t *testing.T) {
	f := newFake()
	refs := seed100(f.srv)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := credentials.NewResolver(f.sm, f.ps, nil).Resolve(ctx, refs...)
	if len(got) != 0 || !errors.Is(err, deploy.ErrCanceled) {
		t.Fatalf("Resolve on a canceled context: %d values, %v", len(got), err)
	}
	if n := f.srv.TotalCalls() - 0; n != 0 {
		t.Errorf("%d calls made after cancellation", n)
	}
}
