package credentials

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stevedore-dev/stevedore/deploy"
)

const (
	testSecretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
	testVersionID = "EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Ref
		str  string // String(), when it differs from in
	}{
		// ECS valueFrom, Secrets Manager, with the inner colons ECS allows.
		{in: testSecretARN, want: Ref{Source: SourceSecretsManager, ID: testSecretARN}},
		{in: testSecretARN + ":username::", want: Ref{Source: SourceSecretsManager, ID: testSecretARN, JSONKey: "username"}, str: testSecretARN + ":username"},
		{in: testSecretARN + "::AWSPREVIOUS:", want: Ref{Source: SourceSecretsManager, ID: testSecretARN, VersionStage: "AWSPREVIOUS"}, str: testSecretARN + "::AWSPREVIOUS"},
		{in: testSecretARN + ":::" + testVersionID, want: Ref{Source: SourceSecretsManager, ID: testSecretARN, VersionID: testVersionID}},
		{in: testSecretARN + ":password:AWSCURRENT", want: Ref{Source: SourceSecretsManager, ID: testSecretARN, JSONKey: "password", VersionStage: "AWSCURRENT"}},
		// ECS valueFrom, Parameter Store.
		{in: "/app/db/password", want: Ref{Source: SourceParameterStore, ID: "/app/db/password"}},
		{in: "plain_name", want: Ref{Source: SourceParameterStore, ID: "plain_name"}},
		{in: "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db/password", want: Ref{Source: SourceParameterStore, ID: "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db/password"}},
		{in: "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db/password:4", want: Ref{Source: SourceParameterStore, ID: "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db/password", Version: 4}},
		// Selectors.
		{in: "/app/db/password:3", want: Ref{Source: SourceParameterStore, ID: "/app/db/password", Version: 3}},
		{in: "/app/db/password:stable", want: Ref{Source: SourceParameterStore, ID: "/app/db/password", Label: "stable"}},
		// Parameter Store reading Secrets Manager.
		{in: "/aws/reference/secretsmanager/prod/db", want: Ref{Source: SourceSecretsManager, ID: "prod/db", ViaParameterStore: true}},
		{in: "/aws/reference/secretsmanager/" + testSecretARN, want: Ref{Source: SourceSecretsManager, ID: testSecretARN, ViaParameterStore: true}},
		// The buildspec form, prefixed (ParseIn takes it bare).
		{in: "secretsmanager:prod/db", want: Ref{Source: SourceSecretsManager, ID: "prod/db"}},
		{in: "secretsmanager:prod/db:password", want: Ref{Source: SourceSecretsManager, ID: "prod/db", JSONKey: "password"}},
		{in: "secretsmanager:prod/db:password:AWSPREVIOUS", want: Ref{Source: SourceSecretsManager, ID: "prod/db", JSONKey: "password", VersionStage: "AWSPREVIOUS"}},
		{in: "secretsmanager:" + testSecretARN + ":password", want: Ref{Source: SourceSecretsManager, ID: testSecretARN, JSONKey: "password"}, str: testSecretARN + ":password"},
		{in: "parameterstore:/app/x:2", want: Ref{Source: SourceParameterStore, ID: "/app/x", Version: 2}, str: "/app/x:2"},
		{in: "ssm:/app/x", want: Ref{Source: SourceParameterStore, ID: "/app/x"}, str: "/app/x"},
		// CloudFormation dynamic references.
		{in: "{{resolve:secretsmanager:prod/db:SecretString:password}}", want: Ref{Source: SourceSecretsManager, ID: "prod/db", JSONKey: "password"}, str: "secretsmanager:prod/db:password"},
		{in: "{{resolve:secretsmanager:" + testSecretARN + ":SecretString:password::" + testVersionID + "}}", want: Ref{Source: SourceSecretsManager, ID: testSecretARN, JSONKey: "password", VersionID: testVersionID}, str: testSecretARN + ":password::" + testVersionID},
		{in: "{{resolve:secretsmanager:prod/db}}", want: Ref{Source: SourceSecretsManager, ID: "prod/db"}, str: "secretsmanager:prod/db"},
		{in: "{{resolve:ssm:/app/x:7}}", want: Ref{Source: SourceParameterStore, ID: "/app/x", Version: 7}, str: "/app/x:7"},
		{in: "{{resolve:ssm-secure:/app/x}}", want: Ref{Source: SourceParameterStore, ID: "/app/x"}, str: "/app/x"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Fatalf("(-want +got)\n%s", d)
			}
			str := tc.str
			if str == "" {
				str = tc.in
			}
			if got.String() != str {
				t.Errorf("String() = %q, want %q", got.String(), str)
			}
		})
	}
}

func TestParseIn(t *testing.T) {
	got, err := ParseIn(SourceSecretsManager, "prod/db:password::"+testVersionID)
	if err != nil {
		t.Fatal(err)
	}
	want := Ref{Source: SourceSecretsManager, ID: "prod/db", JSONKey: "password", VersionID: testVersionID}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if _, err := ParseIn(SourceSecretsManager, "/app/x"); err != nil {
		t.Errorf("a hierarchical secret name: %v", err)
	}
	if _, err := ParseIn(SourceParameterStore, testSecretARN); err == nil || !strings.Contains(err.Error(), "is a secretsmanager reference where a parameterstore one is expected") {
		t.Errorf("store mismatch: %v", err)
	}
	if got, err := ParseIn(SourceParameterStore, "/app/x:stable"); err != nil || got.Label != "stable" {
		t.Errorf("ParseIn(ParameterStore) = %+v, %v", got, err)
	}
}

func TestParseErrorsNameThePart(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty"},
		{" /app/x", "white space"},
		{testSecretARN + "::AWSCURRENT:" + testVersionID, "both a version stage"},
		{testSecretARN + ":a:b:c:d", "at most three parts"},
		{testSecretARN + ":::short", "32 to 64"},
		{"arn:aws:secretsmanager:us-east-1:12345:secret:x", "account \"12345\" is not 12 digits"},
		{"arn:aws:secretsmanager:us-east-1:123456789012:key:x", "resource type is \"key\""},
		{"arn:aws:secretsmanager:US_EAST:123456789012:secret:x", "region"},
		{"arn:aws:secretsmanager:us-east-1:123456789012", "at least six colon-separated fields"},
		{"arn:aws:secretsmanager:us-east-1:123456789012:secret", "arn:<partition>:secretsmanager"},
		{"arn:aws:s3:::bucket/key", "service is \"s3\""},
		{"arn:aws:ssm:us-east-1:123456789012:document/x", "not parameter/<name>"},
		{"/app/x:", "followed by nothing"},
		{"/app/x:0", "not a positive whole number"},
		{"/app/x:1abc", "labels cannot start with a digit"},
		{"/app/x:awsfoo", "starts with aws or ssm"},
		{"/app/x:a:b", "one selector"},
		{"/app/x:la bel", "has a character"},
		{"app/x", "does not start with one"},
		{"/app//x", "empty path segment"},
		{"/app/x y", "has a character (' ')"},
		{"secretsmanager:", "secret name or id is empty"},
		{"secretsmanager:a b", "has a character"},
		{"{{resolve:secretsmanager:x:SecretBinary}}", "takes SecretString"},
		{"{{resolve:ssm:/x:stable}}", "not a positive whole number"},
		{"{{resolve:s3:x}}", "not a secret reference"},
		{"{{resolve:ssm:/x", "must end with }}"},
		{"/aws/reference/secretsmanager/" + testSecretARN + ":password", "takes no json key"},
	}
	for _, tc := range tests {
		_, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded; want an error mentioning %q", tc.in, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v; want it to mention %q", tc.in, err, tc.want)
		}
		if !errors.Is(err, deploy.ErrInvalid) {
			t.Errorf("Parse(%q): %v does not match deploy.ErrInvalid", tc.in, err)
		}
	}
}

// FuzzParse checks that whatever Parse accepts, String gives back in a form that parses to
// the same reference, and that Parse never panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		testSecretARN + ":username::", testSecretARN + ":::" + testVersionID, "/app/db:3", "/app/db:stable",
		"arn:aws:ssm:eu-west-1:123456789012:parameter/x:lbl", "/aws/reference/secretsmanager/x",
		"secretsmanager:x:k:AWSPREVIOUS", "{{resolve:secretsmanager:x:SecretString:k}}", "{{resolve:ssm:/x:2}}",
		"ssm:x", "parameterstore:/a/b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, src := range []Source{0, SourceSecretsManager, SourceParameterStore} {
			var r Ref
			var err error
			if src == 0 {
				r, err = Parse(s)
			} else {
				r, err = ParseIn(src, s)
			}
			if err != nil {
				continue
			}
			back, err := Parse(r.String())
			if err != nil {
				t.Fatalf("Parse(%q) = %+v, whose String %q does not parse: %v", s, r, r.String(), err)
			}
			if back != r {
				t.Fatalf("Parse(%q) = %+v; Parse(String()) = %+v", s, r, back)
			}
		}
	})
}
