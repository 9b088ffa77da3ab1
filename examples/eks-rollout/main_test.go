package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/internal/clitest"
	"github.com/stevedore-dev/stevedore/internal/kubetest"
	"github.com/stevedore-dev/stevedore/internal/mototest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	mototest.Stop()
	kubetest.Stop()
	clitest.Cleanup()
	os.Exit(code)
}

func program(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// kubeAPI makes raw calls to the test control plane, for setting up.
func kubeAPI(t *testing.T, method, path, body string) string {
	t.Helper()
	k := kubetest.Get(t)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(k.CA)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(method, k.Endpoint+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+k.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return string(b)
}

// kubeconfig writes a kubeconfig for the test control plane.
func kubeconfig(t *testing.T) string {
	k := kubetest.Get(t)
	p := filepath.Join(t.TempDir(), "kubeconfig")
	body := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: %s\n    certificate-authority-data: %s\nusers:\n- name: test\n  user:\n    token: %s\ncontexts:\n- name: local\n  context: {cluster: local, user: test}\ncurrent-context: local\n",
		k.Endpoint, base64.StdEncoding.EncodeToString(k.CA), k.Token)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRolloutWithKubeconfig(t *testing.T) {
	mototest.SetSDKEnv(t, "http://127.0.0.1:1") // no AWS call may be made
	t.Setenv("AWS_REGION", "us-east-1")
	ns := fmt.Sprintf("cli-%d", time.Now().UnixNano()%1e8)
	kubeAPI(t, "POST", "/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+ns+`"}}`)
	t.Cleanup(func() { kubeAPI(t, "DELETE", "/api/v1/namespaces/"+ns, "") })
	kubeAPI(t, "POST", "/apis/apps/v1/namespaces/"+ns+"/deployments", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
		"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
		"spec":{"containers":[{"name":"app","image":"registry.example.com/web:v1"},{"name":"proxy","image":"registry.example.com/proxy:v1"}]}}}}`)
	kc := kubeconfig(t)
	base := []string{"-kubeconfig", kc, "-namespace", ns, "-name", "web"}

	code, out, errOut := program(t, append(base, "-image", "app=registry.example.com/web:v2", "-dry-run")...)
	if code != 0 || !strings.Contains(out, "web:v1") || !strings.Contains(out, "web:v2") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = program(t, append(base, "-image", "app=registry.example.com/web:v2")...)
	if code != 0 || !strings.Contains(errOut, "successfully rolled out") {
		t.Fatalf("rollout: exit %d\n%s", code, errOut)
	}
	dep := kubeAPI(t, "GET", "/apis/apps/v1/namespaces/"+ns+"/deployments/web", "")
	if img := gjson.Get(dep, "spec.template.spec.containers.0.image").String(); img != "registry.example.com/web:v2" {
		t.Errorf("image %s", img)
	}

	code, _, errOut = program(t, append(base, "-image", "proxy=registry.example.com/proxy:broken")...)
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if code != 1 || !strings.HasPrefix(lines[len(lines)-1], "eks-rollout: ") || !strings.Contains(lines[len(lines)-1], "container proxy: ImagePullBackOff") {
		t.Errorf("a broken image: exit %d\n%s", code, errOut)
	}
	dep = kubeAPI(t, "GET", "/apis/apps/v1/namespaces/"+ns+"/deployments/web", "")
	if img := gjson.Get(dep, "spec.template.spec.containers.1.image").String(); img != "registry.example.com/proxy:v1" {
		t.Errorf("after the undo the proxy runs %s", img)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-cluster", "prod", "-kubeconfig", kc, "-name", "web", "-image", "a=b"}, "give -cluster, or -kubeconfig and -context, not both"},
		{[]string{"-kubeconfig", kc, "-name", "web"}, "at least one -image"},
		{[]string{"-kubeconfig", kc, "-name", "web", "-image", "nobody"}, "CONTAINER=IMAGE"},
		{[]string{"-kubeconfig", kc, "-name", "web", "-image", "a=b", "-kind", "cronjob"}, "kind \"cronjob\""},
	} {
		if code, _, errOut := program(t, tc.args...); code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, %q", tc.args, code, errOut)
		}
	}
}

// Without -cluster or -kubeconfig the program reads KUBECONFIG (else ~/.kube/config) and its
// current context, as kubectl does; -context picks another; the namespace is the context's.
// Names are checked before anything is read or written.
func TestKubeconfigFromTheEnvironment(t *testing.T) {
	mototest.SetSDKEnv(t, "http://127.0.0.1:1") // no AWS call may be made
	k := kubetest.Get(t)
	ns := fmt.Sprintf("cli-env-%d", time.Now().UnixNano()%1e8)
	kubeAPI(t, "POST", "/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+ns+`"}}`)
	t.Cleanup(func() { kubeAPI(t, "DELETE", "/api/v1/namespaces/"+ns, "") })
	kubeAPI(t, "POST", "/apis/apps/v1/namespaces/"+ns+"/deployments", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
		"spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
		"spec":{"containers":[{"name":"app","image":"registry.example.com/web:v1"}]}}}}`)
	body := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n"+
		"users:\n- name: test\n  user:\n    token: %s\n- name: nobody\n  user:\n    token: not-a-token\n"+
		"contexts:\n- name: shop\n  context: {cluster: local, user: test, namespace: %s}\n- name: wrong\n  context: {cluster: local, user: nobody, namespace: %s}\n"+
		"current-context: shop\n", k.Endpoint, base64.StdEncoding.EncodeToString(k.CA), k.Token, ns, ns)
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".kube"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".kube", "config"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", "")

	code, _, errOut := program(t, "-name", "web", "-image", "app=registry.example.com/web:v2")
	if code != 0 {
		t.Fatalf("~/.kube/config and its context's namespace: exit %d\n%s", code, errOut)
	}
	dep := kubeAPI(t, "GET", "/apis/apps/v1/namespaces/"+ns+"/deployments/web", "")
	if img := gjson.Get(dep, "spec.template.spec.containers.0.image").String(); img != "registry.example.com/web:v2" {
		t.Errorf("image %s", img)
	}
	if code, _, errOut := program(t, "-context", "wrong", "-name", "web", "-image", "app=registry.example.com/web:v3"); code != 1 || !strings.Contains(errOut, "refused the credentials") {
		t.Errorf("-context wrong: exit %d\n%s", code, errOut)
	}

	other := filepath.Join(t.TempDir(), "other")
	if err := os.WriteFile(other, []byte(strings.Replace(body, "current-context: shop", "current-context: wrong", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", other)
	if code, _, errOut := program(t, "-name", "web", "-image", "app=registry.example.com/web:v3"); code != 1 || !strings.Contains(errOut, "refused the credentials") {
		t.Errorf("KUBECONFIG wins over ~/.kube/config: exit %d\n%s", code, errOut)
	}
	t.Setenv("KUBECONFIG", "")

	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"-name", "x?dryRun=All", "-image", "app=registry.example.com/web:v3"}, `deployment name "x?dryRun=All": use at most 253 lowercase letters`},
		{[]string{"-name", "web", "-image", "app=registry.example.com/Web:v3"}, `repository part "Web" must be lowercase`},
		{[]string{"-name", "web", "-image", "app=registry.example.com/web:" + strings.Repeat("t", 300)}, "must be 1-128 of"},
		{[]string{"-name", "web", "-image", "app=registry.example.com/web:v3 --privileged"}, "contains whitespace"},
	} {
		if code, _, errOut := program(t, bad.args...); code != 1 || !strings.Contains(errOut, bad.want) {
			t.Errorf("%q: exit %d, want 1 saying %q\n%s", bad.args, code, bad.want, errOut)
		}
	}
	dep = kubeAPI(t, "GET", "/apis/apps/v1/namespaces/"+ns+"/deployments/web", "")
	if img := gjson.Get(dep, "spec.template.spec.containers.0.image").String(); img != "registry.example.com/web:v2" {
		t.Errorf("an invalid release was written: image %s", img)
	}
}

// SIGTERM in the middle of a rollout undoes it and exits 143.
func TestSIGTERMUndoes(t *testing.T) {
	ns := fmt.Sprintf("cli-sig-%d", time.Now().UnixNano()%1e8)
	kubeAPI(t, "POST", "/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+ns+`"}}`)
	t.Cleanup(func() { kubeAPI(t, "DELETE", "/api/v1/namespaces/"+ns, "") })
	// Pods become ready at once but count as available only after an hour: the rollout is
	// still in progress when the signal comes, with nothing failing.
	kubeAPI(t, "POST", "/apis/apps/v1/namespaces/"+ns+"/deployments", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
		"spec":{"replicas":1,"minReadySeconds":3600,"progressDeadlineSeconds":7200,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
		"spec":{"containers":[{"name":"app","image":"registry.example.com/web:v1"}]}}}}`)
	p := clitest.Start(t, clitest.Build(t, "examples/eks-rollout"), []string{"AWS_ENDPOINT_URL=http://127.0.0.1:1"},
		"-kubeconfig", kubeconfig(t), "-namespace", ns, "-name", "web", "-image", "app=registry.example.com/web:v2", "-rollback-timeout", "5s")
	p.WaitFor("updated: stevedore", time.Minute)
	p.Signal(syscall.SIGTERM)
	code, _ := p.Wait(time.Minute)
	if code != 143 || !strings.Contains(p.Stderr(), "eks-rollout: terminated: undoing the change") {
		t.Errorf("exit %d, want 143 saying so\n%s", code, p.Stderr())
	}
	dep := kubeAPI(t, "GET", "/apis/apps/v1/namespaces/"+ns+"/deployments/web", "")
	if img := gjson.Get(dep, "spec.template.spec.containers.0.image").String(); img != "registry.example.com/web:v1" {
		t.Errorf("after SIGTERM the deployment runs %s, want web:v1 back", img)
	}
}

// -print-token against moto's STS: the ExecCredential a kubeconfig exec entry reads.
func TestPrintToken(t *testing.T) {
	mototest.SetSDKEnv(t, mototest.Endpoint(t))
	t.Setenv("AWS_REGION", "us-east-1")
	code, out, errOut := program(t, "-print-token", "-cluster", "prod")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	ec := gjson.Parse(out)
	tok := ec.Get("status.token").String()
	if ec.Get("kind").String() != "ExecCredential" || !strings.HasPrefix(tok, "k8s-aws-v1.") {
		t.Fatalf("output %s", out)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, "k8s-aws-v1."))
	if !strings.Contains(string(raw), "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id") {
		t.Errorf("the token's URL %s", raw)
	}
	// Run by kubectl for an exec entry of v1, it answers in v1.
	t.Setenv("KUBERNETES_EXEC_INFO", `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}`)
	if code, out, errOut := program(t, "-print-token", "-cluster", "prod"); code != 0 || gjson.Get(out, "apiVersion").String() != "client.authentication.k8s.io/v1" {
		t.Errorf("exit %d, %s %s", code, out, errOut)
	}
}
