package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stevedore-dev/stevedore/credentials/secretstest"
	"github.com/stevedore-dev/stevedore/internal/clitest"
	"github.com/stevedore-dev/stevedore/internal/mototest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	mototest.Stop()
	clitest.Cleanup()
	os.Exit(code)
}

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

	// put NAME then get NAME, whichever store put chose: a bare name is looked for in both.
	secrets(t, pw+"\n", "put", "app/"+id+"/plain").ok(t)
	secrets(t, pw+"\n", "put", "-store", "parameterstore", id+"-flat").ok(t)
	secrets(t, pw+"\n", "put", id+"-sm-flat").ok(t)
	for _, name := range []string{"app/" + id + "/plain", id + "-flat", id + "-sm-flat"} {
		if r := secrets(t, "", "get", "-reveal", name).ok(t); r.stdout != name+"\t"+pw+"\n" {
			t.Errorf("get %s after put: %q", name, r.stdout)
		}
	}
	r = secrets(t, "", "get", id+"-nowhere")
	if r.code != 1 || !strings.Contains(r.stderr, id+"-nowhere is in neither Parameter Store nor Secrets Manager (write /NAME or secretsmanager:NAME to say which)") {
		t.Errorf("a bare name in neither store: exit %d, %q", r.code, r.stderr)
	}

	// Values a store cannot hold are refused, never cut to fit.
	for _, tc := range []struct {
		args  []string
		value string
		want  string
	}{
		{[]string{"put", "app/" + id + "/big"}, strings.Repeat("x", 70000), "Secrets Manager holds at most 65536"},
		{[]string{"put", "-store", "parameterstore", "/" + id + "/big"}, strings.Repeat("x", 5000), "a Standard parameter holds at most 4096"},
		{[]string{"put", "app/" + id + "/huge"}, strings.Repeat("x", 2<<20), "over 1048576 bytes"},
	} {
		r := secrets(t, tc.value, tc.args...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "nothing was written") {
			t.Errorf("%q with %d bytes: exit %d, %q", tc.args, len(tc.value), r.code, r.stderr)
		}
	}
	if r := secrets(t, "", "get", "app/"+id+"/big"); r.code != 1 {
		t.Errorf("a refused value was stored: %q", r.stdout)
	}

	// Failures: one line naming every bad reference.
	r = secrets(t, "", "get", "/"+id+"/nope", "secretsmanager:app/"+id+"/db:nokey")
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "/"+id+"/nope") || !strings.Contains(r.stderr, ":nokey") {
		t.Errorf("get of two bad references: exit %d, stderr %q", r.code, r.stderr)
	}
}

// The forms a log shows a value in, printed by the command, are all masked; so is a value the
// command splits between stdout and stderr.
func TestExecMasksEveryForm(t *testing.T) {
	awsEnv(t, mototest.Endpoint(t))
	id := fmt.Sprintf("cli%d", time.Now().UnixNano()%1e9)
	const pw = "SENTINEL-exec-pw-7e1f?>~"
	secrets(t, pw, "put", "-store", "parameterstore", "/"+id+"/pw").ok(t)
	script := `printf 'Authorization: Basic %s\n' "$(printf 'deploy:%s' "$PW" | base64 -w0)"
printf %s "$(head -c 60 /dev/zero | tr '\0' x)$PW$PW$PW" | base64 -w 76; echo
printf %s "$PW" | od -An -tx1 | tr -d ' \n'; echo
printf 'url: %s\n' "$(printf %s "$PW" | sed 's/?/%3F/; s/>/%3E/; s/~/%7E/')"
printf 'split: SENTINEL-exe'; sleep 0.3; printf 'c-pw-7e1f?>~\n' >&2; sleep 0.3; echo
`
	r := secrets(t, "", "exec", "-e", "PW=/"+id+"/pw", "--", "sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	all := r.stdout + r.stderr
	for _, leak := range []string{pw, "SENTINEL", base64.StdEncoding.EncodeToString([]byte(pw))[:16], "53454e54494e454c"} {
		if strings.Contains(strings.ReplaceAll(all, "\n", ""), leak) {
			t.Errorf("the output shows %q:\nstdout: %s\nstderr: %s", leak, r.stdout, r.stderr)
		}
	}
	if strings.Count(all, "[redacted]") < 5 {
		t.Errorf("not every form was masked:\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
	}
}

// SIGTERM to secrets exec goes to the command, and secrets exits with the command's status.
func TestExecPassesSignalsToTheCommand(t *testing.T) {
	endpoint := mototest.Endpoint(t)
	awsEnv(t, endpoint)
	id := fmt.Sprintf("cli%d", time.Now().UnixNano()%1e9)
	secrets(t, "v", "put", "-store", "parameterstore", "/"+id+"/v").ok(t)
	p := clitest.Start(t, clitest.Build(t, "examples/secrets"), nil, "exec", "-e", "V=/"+id+"/v", "--",
		"sh", "-c", `trap 'echo "got TERM" >&2; exit 7' TERM; echo ready >&2; while :; do sleep 0.05; done`)
	p.WaitFor("ready", time.Minute)
	p.Signal(syscall.SIGTERM)
	code, _ := p.Wait(time.Minute)
	if code != 7 || !strings.Contains(p.Stderr(), "got TERM") {
		t.Errorf("exit %d, want the command's 7 after it got TERM\n%s", code, p.Stderr())
	}
	// A command the signal kills: secrets exits as a shell reports it, 128 + the signal.
	p = clitest.Start(t, clitest.Build(t, "examples/secrets"), nil, "exec", "-e", "V=/"+id+"/v", "--",
		"sh", "-c", `echo ready >&2; exec sleep 60`)
	p.WaitFor("ready", time.Minute)
	p.Signal(syscall.SIGTERM)
	if code, _ := p.Wait(time.Minute); code != 143 {
		t.Errorf("exit %d, want 143 for a command killed by SIGTERM\n%s", code, p.Stderr())
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"put", "-h"}} {
		r := secrets(t, "", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "secrets get [-reveal] REF...") {
			t.Errorf("secrets %q: exit %d, stdout %q", args, r.code, r.stdout)
		}
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
		{[]string{"get", "/app/x:"}, 1, "give a version number or a label"},
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
	srv := secretstest.New()
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
