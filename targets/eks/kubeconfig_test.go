package eks

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tidwall/gjson"
	"go.yaml.in/yaml/v3"

	"github.com/stevedore-dev/stevedore/internal/kubetest"
)

// connectProxy is an HTTP proxy that tunnels CONNECT requests and counts them.
type connectProxy struct {
	srv      *httptest.Server
	connects atomic.Int64
}

func newConnectProxy(t *testing.T) *connectProxy {
	p := &connectProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		p.connects.Add(1)
		upstream, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			upstream.Close()
			return
		}
		go func() {
			_, _ = io.Copy(upstream, buf)
			upstream.Close()
		}()
		_, _ = io.Copy(conn, upstream)
		conn.Close()
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// corpus copies testdata/kubeconfig into a temporary directory with the placeholders filled in
// for the test control plane, and puts the plugin on PATH. It returns the directory.
func corpus(t *testing.T, proxy string) string {
	t.Helper()
	k := kubetest.Get(t)
	if k.Dir == "" {
		t.Fatal("the control plane's directory (STEVEDORE_KUBE_DIR) is needed for its client certificate")
	}
	dir := t.TempDir()
	cert, err := os.ReadFile(filepath.Join(k.Dir, "client.crt"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(k.Dir, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	caData := base64.StdEncoding.EncodeToString(k.CA)
	fill := strings.NewReplacer("@SERVER@", k.Endpoint, "@CA_DATA@", caData, "@TOKEN@", k.Token, "@TOKEN2@", k.Token+"r1",
		"@CERT_DATA@", base64.StdEncoding.EncodeToString(cert), "@KEY_DATA@", base64.StdEncoding.EncodeToString(key),
		"@PROXY@", proxy, "@DIR@", dir)
	copyTree := func(from, to string) {
		entries, err := os.ReadDir(from)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			b, err := os.ReadFile(filepath.Join(from, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			s := wrapPlaceholder(string(b), "@CA_DATA_WRAPPED@", caData, 64)
			mode := os.FileMode(0o600)
			if e.Name() == "plugin.sh" {
				mode = 0o700
			}
			if err := os.WriteFile(filepath.Join(to, e.Name()), []byte(fill.Replace(s)), mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	copyTree(filepath.Join("testdata", "kubeconfig"), dir)
	if err := os.Mkdir(filepath.Join(dir, "merge"), 0o700); err != nil {
		t.Fatal(err)
	}
	copyTree(filepath.Join("testdata", "kubeconfig", "merge"), filepath.Join(dir, "merge"))
	for name, body := range map[string][]byte{"ca.crt": k.CA, "client.crt": cert, "client.key": key, "token": []byte(k.Token + "\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "plugin.sh"), filepath.Join(bin, "stevedore-test-plugin")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return dir
}

// wrapPlaceholder replaces placeholder with value cut into lines of width, each indented as
// the placeholder is.
func wrapPlaceholder(s, placeholder, value string, width int) string {
	i := strings.Index(s, placeholder)
	if i < 0 {
		return s
	}
	indent := s[strings.LastIndexByte(s[:i], '\n')+1 : i]
	var lines []string
	for len(value) > width {
		lines = append(lines, value[:width])
		value = value[width:]
	}
	lines = append(lines, value)
	return s[:i] + strings.Join(lines, "\n"+indent) + s[i+len(placeholder):]
}

// kubectlView is what kubectl resolves from a kubeconfig: the current context, flattened.
type kubectlView struct {
	Server, CAData, TLSServerName, ProxyURL, Namespace, Token, As string
	Insecure                                                      bool
}

func kubectl(t *testing.T, env []string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command("kubectl", args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, &kubectlError{err, errb.String()}
	}
	return out.Bytes(), nil
}

type kubectlError struct {
	err    error
	stderr string
}

func (e *kubectlError) Error() string { return e.err.Error() + ": " + e.stderr }

func viewOf(t *testing.T, env []string, kubeconfigArgs ...string) kubectlView {
	t.Helper()
	out, err := kubectl(t, env, append(kubeconfigArgs, "config", "view", "--minify", "--flatten", "-o", "json")...)
	if err != nil {
		t.Fatalf("kubectl config view: %v", err)
	}
	v := gjson.ParseBytes(out)
	cl, u := v.Get("clusters.0.cluster"), v.Get("users.0.user")
	token := u.Get("token").String()
	if f := u.Get("tokenFile").String(); f != "" {
		if !filepath.IsAbs(f) { // kubectl resolves it against the kubeconfig's directory
			f = filepath.Join(filepath.Dir(kubeconfigArgs[len(kubeconfigArgs)-1]), f)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		token = strings.TrimSpace(string(b))
	}
	return kubectlView{Server: cl.Get("server").String(), CAData: cl.Get("certificate-authority-data").String(),
		TLSServerName: cl.Get("tls-server-name").String(), ProxyURL: cl.Get("proxy-url").String(), Insecure: cl.Get("insecure-skip-tls-verify").Bool(),
		Namespace: v.Get("contexts.0.context.namespace").String(), Token: token, As: u.Get("as").String()}
}

func ourView(t *testing.T, cfg ClientConfig) kubectlView {
	t.Helper()
	v := kubectlView{Server: cfg.Endpoint, TLSServerName: cfg.TLSServerName, ProxyURL: cfg.ProxyURL, Insecure: cfg.Insecure,
		Namespace: cfg.Namespace, As: cfg.Impersonate.User}
	if len(cfg.CAData) > 0 {
		v.CAData = base64.StdEncoding.EncodeToString(cfg.CAData)
	}
	switch src := cfg.Tokens.(type) {
	case StaticToken:
		v.Token = string(src)
	case *fileToken:
		v.Token, _ = src.read()
	}
	return v
}

// readNamespace reads a namespace through c and returns its uid.
func readNamespace(t *testing.T, c *Client, ns string) string {
	t.Helper()
	raw, err := c.get(context.Background(), "/api/v1/namespaces/"+ns)
	if err != nil {
		t.Fatalf("reading namespace %s: %v", ns, err)
	}
	return gjson.GetBytes(raw, "metadata.uid").String()
}

// Every kubeconfig of the corpus loads, reaches the real control plane, and resolves to what
// kubectl resolves from it.
func TestKubeconfigCorpus(t *testing.T) {
	proxy := newConnectProxy(t)
	dir := corpus(t, proxy.srv.URL)
	_, kubectlErr := exec.LookPath("kubectl")
	files, _ := filepath.Glob(filepath.Join(dir, "*.*"))
	var n int
	for _, f := range files {
		if ext := filepath.Ext(f); ext != ".yaml" && ext != ".json" {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := LoadKubeconfig(f, nil)
			if err != nil {
				t.Fatal(err)
			}
			c, err := NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ns := c.Namespace()
			uid := readNamespace(t, c, ns)
			switch filepath.Base(f) {
			case "16-namespace.yaml":
				if ns != "kube-system" {
					t.Errorf("namespace %q, want the context's kube-system", ns)
				}
			case "19-proxy.yaml":
				if proxy.connects.Load() == 0 {
					t.Error("the request did not go through the proxy")
				}
			case "20-exec-v1beta1.yaml", "21-exec-v1.yaml":
				if _, ok := cfg.Tokens.(*execPlugin); !ok {
					t.Errorf("tokens from %T, want the exec plugin", cfg.Tokens)
				}
			case "23-impersonation.yaml":
				body := `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`
				raw, err := c.do(context.Background(), http.MethodPost, "/apis/authentication.k8s.io/v1/selfsubjectreviews", "application/json", []byte(body))
				if err != nil {
					t.Fatal(err)
				}
				if u := gjson.GetBytes(raw, "status.userInfo"); u.Get("username").String() != "release-bot" || !strings.Contains(u.Get("groups").Raw, "deployers") {
					t.Errorf("the server sees %s, want release-bot in deployers", u.Raw)
				}
			}
			if kubectlErr != nil {
				t.Logf("kubectl is not installed: not compared")
				return
			}
			args := []string{"--kubeconfig", f}
			if want, got := viewOf(t, nil, args...), ourView(t, cfg); want != got {
				t.Errorf("kubectl resolves\n%+v\nstevedore\n%+v", want, got)
			}
			out, err := kubectl(t, nil, append(args, "get", "--raw", "/api/v1/namespaces/"+ns)...)
			if err != nil {
				t.Fatalf("kubectl cannot read it either: %v", err)
			}
			if got := gjson.GetBytes(out, "metadata.uid").String(); got != uid {
				t.Errorf("kubectl read namespace uid %s, stevedore %s", got, uid)
			}
		})
	}
	if n < 20 {
		t.Errorf("%d kubeconfigs in the corpus, want at least 20", n)
	}
}

// KUBECONFIG lists several files: missing ones are skipped, the first file to name an entry
// wins it, and the first current-context set wins.
func TestKubeconfigMerge(t *testing.T) {
	dir := corpus(t, "")
	list := strings.Join([]string{filepath.Join(dir, "merge", "a.yaml"), filepath.Join(dir, "merge", "missing.yaml"), filepath.Join(dir, "merge", "b.yaml")}, string(os.PathListSeparator))
	t.Setenv("KUBECONFIG", list)
	cfg, err := LoadKubeconfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Namespace() != "kube-public" {
		t.Errorf("namespace %q, want b.yaml's context's kube-public", c.Namespace())
	}
	uid := readNamespace(t, c, "kube-public")
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl is not installed: not compared")
	}
	env := []string{"KUBECONFIG=" + list}
	if want, got := viewOf(t, env), ourView(t, cfg); want != got {
		t.Errorf("kubectl resolves\n%+v\nstevedore\n%+v", want, got)
	}
	out, err := kubectl(t, env, "get", "--raw", "/api/v1/namespaces/kube-public")
	if err != nil || gjson.GetBytes(out, "metadata.uid").String() != uid {
		t.Errorf("kubectl: %s %v", out, err)
	}
}

// Without a path or KUBECONFIG, ~/.kube/config is read; the Context option picks a context.
func TestKubeconfigDefaultPathAndContext(t *testing.T) {
	dir := corpus(t, "")
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".kube"), 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "22-many-contexts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".kube", "config"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", "")
	cfg, err := LoadKubeconfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tokens != StaticToken(kubetest.Get(t).Token+"r1") {
		t.Errorf("the current context's user was not used: %+v", cfg.Tokens)
	}
	cfg, err = LoadKubeconfig("", &KubeconfigOptions{Context: "elsewhere"})
	if err != nil || cfg.Endpoint != "https://192.0.2.10:6443" || !cfg.Insecure || cfg.Tokens != StaticToken("not-a-token") {
		t.Errorf("Context: elsewhere gave %+v, %v", cfg, err)
	}
}

// Kubeconfigs kubectl refuses, or that name what is not there: the error says what and where.
func TestKubeconfigErrors(t *testing.T) {
	dir := t.TempDir()
	const cluster = "clusters:\n- name: k\n  cluster: {server: https://127.0.0.1:6443}\n"
	const ctx = "contexts:\n- name: c\n  context: {cluster: k, user: u}\ncurrent-context: c\n"
	tests := []struct{ name, body, want string }{
		{"a context naming a missing user", cluster + ctx, `context "c" names user "u", which is not in ` + dir},
		{"a context naming a missing cluster", "users:\n- name: u\n  user: {token: t}\n" + ctx, `context "c" names cluster "k", which is not in ` + dir},
		{"no such context", cluster + "contexts:\n- name: c\n  context: {cluster: k}\ncurrent-context: other\n", `no context "other" in ` + dir},
		{"no current context", cluster, "no context given and no current-context set in " + dir},
		{"a cluster without a server", "clusters:\n- name: k\n  cluster: {}\n" + "users:\n- name: u\n  user: {token: t}\n" + ctx, "the cluster has no server"},
		{"an auth provider", cluster + "users:\n- name: u\n  user: {auth-provider: {name: gcp}}\n" + ctx, `auth provider "gcp", which kubectl removed in 1.26`},
		{"exec v1alpha1", cluster + "users:\n- name: u\n  user: {exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x}}\n" + ctx, "removed in Kubernetes 1.24"},
		{"exec v1 without interactiveMode", cluster + "users:\n- name: u\n  user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: x}}\n" + ctx, "must set interactiveMode"},
		{"exec that needs a terminal", cluster + "users:\n- name: u\n  user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: x, interactiveMode: Always}}\n" + ctx, "needs a terminal"},
		{"a token and basic auth", cluster + "users:\n- name: u\n  user: {token: t, username: a, password: b}\n" + ctx, "both a token and a username/password"},
		{"a missing token file", cluster + "users:\n- name: u\n  user: {tokenFile: nothing-here}\n" + ctx, filepath.Join(dir, "nothing-here")},
		{"tabs for indentation", "clusters:\n-\tname: k\n", "found character that cannot start any token"},
		{"a list where a mapping belongs", "clusters: {name: k}\n", "cannot unmarshal !!map into []eks.namedCluster"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(p, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadKubeconfig(p, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	t.Setenv("KUBECONFIG", filepath.Join(dir, "a")+string(os.PathListSeparator)+filepath.Join(dir, "b"))
	if _, err := LoadKubeconfig("", nil); err == nil || !strings.Contains(err.Error(), "no kubeconfig file found (searched "+filepath.Join(dir, "a")+", "+filepath.Join(dir, "b")) {
		t.Errorf("KUBECONFIG of missing files: %v", err)
	}
	if _, err := LoadKubeconfig(filepath.Join(dir, "explicit-but-missing"), nil); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("a missing explicit path: %v", err)
	}
}

// writePlugin writes an exec plugin script and a kubeconfig that runs it for the control plane.
func writePlugin(t *testing.T, script string) (kubeconfig, runs string) {
	t.Helper()
	k := kubetest.Get(t)
	dir := t.TempDir()
	runs = filepath.Join(dir, "runs")
	if err := os.WriteFile(filepath.Join(dir, "plugin"), []byte("#!/bin/sh\nset -eu\nRUNS="+runs+"\necho run >>\"$RUNS\"\n"+script), 0o700); err != nil {
		t.Fatal(err)
	}
	kubeconfig = filepath.Join(dir, "config")
	body := "clusters:\n- name: k\n  cluster:\n    server: " + k.Endpoint + "\n    certificate-authority-data: " + base64.StdEncoding.EncodeToString(k.CA) + "\n" +
		"users:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: ./plugin\n" +
		"contexts:\n- name: c\n  context: {cluster: k, user: u}\ncurrent-context: c\n"
	if err := os.WriteFile(kubeconfig, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return kubeconfig, runs
}

func countRuns(t *testing.T, runs string) int {
	b, err := os.ReadFile(runs)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Count(string(b), "run")
}

func clientFor(t *testing.T, kubeconfig string) *Client {
	t.Helper()
	cfg, err := LoadKubeconfig(kubeconfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// An exec plugin's credential is kept until its expirationTimestamp and no longer: the
// plugin runs for three requests as many times as the credential needs, one row per case.
func TestExecPluginCaching(t *testing.T) {
	k := kubetest.Get(t)
	expiring := func(d time.Duration) string {
		return `,"expirationTimestamp":"` + time.Now().Add(d).UTC().Format(time.RFC3339) + `"`
	}
	for _, tc := range []struct {
		name    string
		expires string
		runs    int
	}{
		{"no expiry", "", 1},
		{"expired", expiring(-time.Minute), 3},
		{"valid for an hour", expiring(time.Hour), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc, runs := writePlugin(t, `printf '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"`+k.Token+`"`+tc.expires+`}}'`+"\n")
			c := clientFor(t, kc)
			for range 3 {
				readNamespace(t, c, "default")
			}
			if n := countRuns(t, runs); n != tc.runs {
				t.Errorf("the plugin ran %d times for 3 requests, want %d", n, tc.runs)
			}
		})
	}
}

// A token the server refuses (401) makes the client run the plugin again, as kubectl does.
func TestExecPluginRunsAgainOn401(t *testing.T) {
	k := kubetest.Get(t)
	// The first run hands out a token the server does not know; later runs a good one.
	script := `if [ "$(grep -c run "$RUNS")" -le 1 ]; then tok=stale; else tok=` + k.Token + `; fi
printf '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"%s"}}' "$tok"
`
	kc, runs := writePlugin(t, script)
	c := clientFor(t, kc)
	readNamespace(t, c, "default")
	if n := countRuns(t, runs); n != 2 {
		t.Errorf("the plugin ran %d times, want 2 (a stale token, then a good one after the 401)", n)
	}
}

// A plugin that fails, prints nonsense or is missing: the error names the user, the plugin
// and what went wrong, with the plugin's stderr.
func TestExecPluginFailures(t *testing.T) {
	for _, tc := range []struct{ name, script, want string }{
		{"exits non-zero", "echo 'token expired; run sso login' >&2\nexit 3\n", `/plugin failed: exit status 3: token expired; run sso login`},
		{"prints no JSON", "echo hello\n", "did not print an ExecCredential as JSON"},
		{"prints another apiVersion", `echo '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"x"}}'` + "\n", `printed apiVersion "client.authentication.k8s.io/v1"; the kubeconfig asks for "client.authentication.k8s.io/v1beta1"`},
		{"prints no credential", `echo '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","status":{}}'` + "\n", "printed neither a token nor a client certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc, _ := writePlugin(t, tc.script)
			c := clientFor(t, kc)
			_, err := c.get(context.Background(), "/api/v1/namespaces/default")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `user "u": the exec plugin `) {
				t.Errorf("err = %v, want %q naming the user and the plugin", err, tc.want)
			}
		})
	}
	kc, _ := writePlugin(t, "")
	b, _ := os.ReadFile(kc)
	_ = os.WriteFile(kc, bytes.Replace(b, []byte("command: ./plugin"), []byte("command: stevedore-no-such-plugin\n      installHint: brew install stevedore-no-such-plugin"), 1), 0o600)
	_, err := clientFor(t, kc).get(context.Background(), "/api/v1/namespaces/default")
	if err == nil || !strings.Contains(err.Error(), "is not installed: brew install stevedore-no-such-plugin") {
		t.Errorf("a missing plugin: %v", err)
	}
}

// The exec entries made natively are only those whose every argument and variable stevedore
// honours; anything else runs the plugin itself.
func TestNativeEKSEntries(t *testing.T) {
	tests := []struct {
		name    string
		e       execConfig
		native  bool
		cluster string
		region  string
		profile string
		role    string
	}{
		{"aws eks get-token", execConfig{Command: "aws", Args: []string{"--region", "us-east-1", "eks", "get-token", "--cluster-name", "prod", "--output", "json"}},
			true, "prod", "us-east-1", "", ""},
		{"--role-arn and --profile", execConfig{Command: "/usr/local/bin/aws", Args: []string{"eks", "get-token", "--cluster-name=prod", "--role-arn", "arn:aws:iam::123456789012:role/deploy", "--profile", "ci"}},
			true, "prod", "", "ci", "arn:aws:iam::123456789012:role/deploy"},
		{"the entry's env", execConfig{Command: "aws", Args: []string{"eks", "get-token", "--cluster-name", "prod"}, Env: []execEnv{{"AWS_PROFILE", "deploy"}, {"AWS_REGION", "eu-west-1"}}},
			true, "prod", "eu-west-1", "deploy", ""},
		{"--cluster-id names the token's cluster", execConfig{Command: "aws", Args: []string{"eks", "get-token", "--cluster-name", "prod", "--cluster-id", "0123-abcd"}},
			true, "0123-abcd", "", "", ""},
		{"aws-iam-authenticator with a role", execConfig{Command: "aws-iam-authenticator", Args: []string{"token", "-i", "prod", "-r", "arn:aws:iam::123456789012:role/deploy"}},
			true, "prod", "", "", "arn:aws:iam::123456789012:role/deploy"},
		{"eks-rollout -print-token", execConfig{Command: "eks-rollout", Args: []string{"-print-token", "-cluster", "prod"}},
			true, "prod", "", "", ""},
		{"an aws flag it does not know", execConfig{Command: "aws", Args: []string{"eks", "get-token", "--cluster-name", "prod", "--debug"}}, false, "", "", "", ""},
		{"another aws output", execConfig{Command: "aws", Args: []string{"eks", "get-token", "--cluster-name", "prod", "--output", "yaml"}}, false, "", "", "", ""},
		{"an env it does not know", execConfig{Command: "aws", Args: []string{"eks", "get-token", "--cluster-name", "prod"}, Env: []execEnv{{"HTTPS_PROXY", "http://proxy:3128"}}}, false, "", "", "", ""},
		{"aws-iam-authenticator forwarding the session name", execConfig{Command: "aws-iam-authenticator", Args: []string{"token", "-i", "prod", "--forward-session-name"}}, false, "", "", "", ""},
		{"another aws command", execConfig{Command: "aws", Args: []string{"sts", "get-caller-identity"}}, false, "", "", "", ""},
		{"no cluster", execConfig{Command: "aws", Args: []string{"eks", "get-token"}}, false, "", "", "", ""},
		{"another plugin", execConfig{Command: "gke-gcloud-auth-plugin"}, false, "", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := nativeEKS(&tc.e)
			if ok != tc.native {
				t.Fatalf("native = %v, want %v", ok, tc.native)
			}
			if ok && (got.cluster != tc.cluster || got.region != tc.region || got.profile != tc.profile || got.roleARN != tc.role) {
				t.Errorf("got cluster %q region %q profile %q role %q", got.cluster, got.region, got.profile, got.roleARN)
			}
		})
	}
}

// decodeExecInfo is a test helper for the KUBERNETES_EXEC_INFO a plugin is given.
func decodeExecInfo(t *testing.T, s string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestExecInfoCarriesTheCluster(t *testing.T) {
	cl := cluster{Server: "https://k.example", TLSServerName: "k", ProxyURL: "http://p:3128",
		Extensions: []namedExtension{{Name: "client.authentication.k8s.io/exec", Extension: map[string]any{"audience": "x"}}}}
	src, err := execSource(&execConfig{Command: "p", APIVersion: execV1, InteractiveMode: "Never", ProvideClusterInfo: true}, "u", cl, []byte("CA"), KubeconfigOptions{})
	if err != nil {
		t.Fatal(err)
	}
	info := decodeExecInfo(t, src.(*execPlugin).info)
	c := info["spec"].(map[string]any)["cluster"].(map[string]any)
	if info["apiVersion"] != execV1 || c["server"] != "https://k.example" || c["certificate-authority-data"] != base64.StdEncoding.EncodeToString([]byte("CA")) ||
		c["tls-server-name"] != "k" || c["proxy-url"] != "http://p:3128" || c["config"].(map[string]any)["audience"] != "x" || info["spec"].(map[string]any)["interactive"] != false {
		t.Errorf("KUBERNETES_EXEC_INFO = %s", src.(*execPlugin).info)
	}
	src, _ = execSource(&execConfig{Command: "p", APIVersion: execV1beta1}, "u", cl, nil, KubeconfigOptions{})
	if _, has := decodeExecInfo(t, src.(*execPlugin).info)["spec"].(map[string]any)["cluster"]; has {
		t.Error("the cluster is passed without provideClusterInfo")
	}
}

// FuzzKubeconfig: whatever the bytes, reading them does not panic; what is read survives being
// written and read again; and an exec entry made natively always names a cluster.
func FuzzKubeconfig(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "kubeconfig", "*.*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("users:\n- name: u\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws, args: [eks, get-token, --cluster-name, x]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		kc, err := parseKubeconfig("fuzz/config", data)
		if err != nil {
			return
		}
		out, err := yaml.Marshal(kc)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseKubeconfig("fuzz/config", out)
		if err != nil {
			t.Fatalf("read back %s: %v", out, err)
		}
		if d := cmp.Diff(kc, again, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("written and read again, it changed (-first +again):\n%s", d)
		}
		for _, u := range kc.Users {
			if u.User.Exec != nil {
				if tok, ok := nativeEKS(u.User.Exec); ok && tok.cluster == "" {
					t.Fatalf("a native EKS entry with no cluster: %+v", u.User.Exec)
				}
			}
		}
	})
}
