package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stevedore-dev/stevedore/internal/mototest"
	"github.com/stevedore-dev/stevedore/internal/secretsfake"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// awsEnv points the program at endpoint in us-east-1.
func awsEnv(t *testing.T, endpoint string) {
	mototest.SetSDKEnv(t, endpoint)
	t.Setenv("AWS_REGION", "us-east-1")
}

type result struct {
	code           int
	stdout, stderr string
}

func secrets(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r
}

func TestAgainstMoto(t *testing.T) {
	awsEnv(t, mototest.Endpoint(t))
	id := fmt.Sprintf("cli%d", time.Now().UnixNano()%1e9)
	const pw = "SENTINEL-cli-pw-51c0"

	secrets(t, `{"username":"admin","password":"`+pw+`"}`+"\n", "put", "app/"+id+"/db").ok(t)
	r := secrets(t, pw+"\n", "put", "-store", "parameterstore", "/"+id+"/token").ok(t)
	if !strings.Contains(r.stdout, "version 1") {
		t.Errorf("put says %q", r.stdout)
	}
	secrets(t, `{"user":"u","pass":"`+pw+`"}`, "put", "-store", "parameterstore", "/"+id+"/multi").ok(t)

	refs := []string{"secretsmanager:app/" + id + "/db:password", "/" + id + "/token", "/" + id + "/multi"}
	r = secrets(t, "", append([]string{"get"}, refs...)...).ok(t)
	if strings.Contains(r.stdout, pw) {
		t.Errorf("get without -reveal prints the value:\n%s", r.stdout)
	}
	want := refs[0] + "\t[redacted] (20 bytes)\n" + refs[1] + "\t[redacted] (20 bytes)\n" + refs[2] + "\t[redacted] (42 bytes)\n"
	if r.stdout != want {
		t.Errorf("get:\n%s\nwant:\n%s", r.stdout, want)
	}
	r = secrets(t, "", append([]string{"get", "-reveal"}, refs...)...).ok(t)
	want = refs[0] + "\t" + pw + "\n" + refs[1] + "\t" + pw + "\n" + refs[2] + "\t" + `{"pass":"` + pw + `","user":"u"}` + "\n"
	if r.stdout != want {
		t.Errorf("get -reveal:\n%s\nwant:\n%s", r.stdout, want)
	}

	// exec: the child sees the values; what it prints of them, raw or encoded, is masked.
	r = secrets(t, "", "exec", "-e", "DB_PASSWORD="+refs[0], "-e", "TOKEN="+refs[1], "--",
		"sh", "-c", `test "$DB_PASSWORD" = "$TOKEN" && echo "pw=$DB_PASSWORD"; printf %s "$TOKEN" | base64; echo "to stderr $TOKEN" >&2; exit 3`)
	if r.code != 3 {
		t.Errorf("exec exit %d, want the child's 3; stderr %s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, pw) || strings.Contains(r.stdout, base64.StdEncoding.EncodeToString([]byte(pw))) {
		t.Errorf("exec output leaks:\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
	}
	if r.stdout != "pw=[redacted]\n[redacted]\n" || r.stderr != "to stderr [redacted]\n" {
		t.Errorf("exec output:\nstdout: %q\nstderr: %q", r.stdout, r.stderr)
	}

	// Failures: one line naming every bad reference.
	r = secrets(t, "", "get", "/"+id+"/nope", "secretsmanager:app/"+id+"/db:nokey")
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "/"+id+"/nope") || !strings.Contains(r.stderr, ":nokey") {
		t.Errorf("get of two bad references: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestUsageAndBadInput(t *testing.T) {
	awsEnv(t, "http://127.0.0.1:1") // nothing listens: no call may be made
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage:"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"get"}, 2, "at least one reference"},
		{[]string{"get", "-bogus"}, 2, "flag provided but not defined"},
		{[]string{"get", "/app//x"}, 1, "empty path segment"},
		{[]string{"get", "app/x"}, 1, "does not start with one"},
		{[]string{"put", "-store", "vault", "x"}, 2, `-store "vault"`},
		{[]string{"exec", "-e", "NOEQUALS", "--", "true"}, 2, "write NAME=REF"},
		{[]string{"exec", "-e", "X=/a"}, 2, "give the command"},
		{[]string{"import-source-credential"}, 2, "-server is required"},
	} {
		r := secrets(t, "", tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("secrets %q: exit %d, stderr %q; want exit %d mentioning %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

// moto has no CodeBuild source credentials: these run against the in-process fake, served
// over HTTP so the whole program, SDK configuration included, is exercised.
func TestImportSourceCredential(t *testing.T) {
	srv := secretsfake.New()
	hs := httptest.NewServer(srv)
	defer hs.Close()
	awsEnv(t, hs.URL)
	srv.PutParameter("/ci/github-token", "ghp_from_parameter")

	r := secrets(t, "ghp_from_stdin\n", "import-source-credential", "-server", "github").ok(t)
	if r.stdout != "imported arn:aws:codebuild:us-east-1:123456789012:token/github\n" || srv.SourceCredentialToken("GITHUB") != "ghp_from_stdin" {
		t.Errorf("from stdin: %q, token ok %v", r.stdout, srv.SourceCredentialToken("GITHUB") == "ghp_from_stdin")
	}
	secrets(t, "", "import-source-credential", "-server", "github-enterprise", "-token-ref", "/ci/github-token").ok(t)
	if srv.SourceCredentialToken("GITHUB_ENTERPRISE") != "ghp_from_parameter" {
		t.Errorf("-token-ref did not import the parameter's value")
	}
	r = secrets(t, "app-password", "import-source-credential", "-server", "bitbucket", "-auth", "basic-auth", "-username", "me", "-secret", "ci/bitbucket").ok(t)
	if !strings.Contains(r.stdout, "token kept in "+srv.SecretARN("ci/bitbucket")) || srv.SourceCredentialToken("BITBUCKET") != srv.SecretARN("ci/bitbucket") {
		t.Errorf("-secret: %q", r.stdout)
	}
	r = secrets(t, "", "import-source-credential", "-server", "github", "-token-ref", "/ci/missing")
	if r.code != 1 || !strings.Contains(r.stderr, "/ci/missing") {
		t.Errorf("a missing token reference: exit %d, %q", r.code, r.stderr)
	}
	r = secrets(t, "tok", "import-source-credential", "-server", "svn")
	if r.code != 1 || !strings.Contains(r.stderr, `server type "SVN"`) {
		t.Errorf("an unknown server: exit %d, %q", r.code, r.stderr)
	}
	for _, out := range []string{r.stdout, r.stderr} {
		if strings.Contains(out, "ghp_") || strings.Contains(out, "app-password") {
			t.Errorf("a token was printed: %q", out)
		}
	}
}
