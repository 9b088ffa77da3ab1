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
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/internal/kubetest"
	"github.com/stevedore-dev/stevedore/internal/mototest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	mototest.Stop()
	kubetest.Stop()
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
		{[]string{"-name", "web", "-image", "a=b"}, "give -cluster or -kubeconfig"},
		{[]string{"-kubeconfig", kc, "-name", "web"}, "at least one -image"},
		{[]string{"-kubeconfig", kc, "-name", "web", "-image", "nobody"}, "CONTAINER=IMAGE"},
		{[]string{"-kubeconfig", kc, "-name", "web", "-image", "a=b", "-kind", "cronjob"}, "kind \"cronjob\""},
	} {
		if code, _, errOut := program(t, tc.args...); code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, %q", tc.args, code, errOut)
		}
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
}
