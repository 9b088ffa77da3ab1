package eks

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awseks "github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
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

// decodeToken returns the presigned URL inside an EKS token.
func decodeToken(t *testing.T, tok string) *url.URL {
	t.Helper()
	raw, ok := strings.CutPrefix(tok, "k8s-aws-v1.")
	if !ok || strings.Contains(raw, "=") {
		t.Fatalf("token %q lacks the k8s-aws-v1. prefix or has padding", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// The EKS part against moto: DescribeCluster, and a token whose presigned GetCallerIdentity
// moto's STS answers.
func TestEKSPartMoto(t *testing.T) {
	ctx := context.Background()
	cfg := mototest.Config(t)
	name := "stevedore-" + time.Now().Format("150405.000000")
	name = strings.ReplaceAll(name, ".", "-")
	api := awseks.NewFromConfig(cfg)
	if _, err := api.CreateCluster(ctx, &awseks.CreateClusterInput{Name: aws.String(name), RoleArn: aws.String("arn:aws:iam::123456789012:role/eks"),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: []string{"subnet-1"}}}); err != nil {
		t.Fatal(err)
	}
	endpoint, _, err := describeCluster(ctx, api, name)
	if err != nil || !strings.HasPrefix(endpoint, "https://") {
		t.Fatalf("describeCluster: %q, %v", endpoint, err)
	}
	// moto's CA data is random text, not a PEM certificate: connecting must say so.
	if _, err := ConnectEKS(ctx, api, name, StaticToken("x")); err == nil || !strings.Contains(err.Error(), "CA") {
		t.Errorf("ConnectEKS with moto's fake CA: %v", err)
	}
	if _, err := ConnectEKS(ctx, api, "no-such-cluster", StaticToken("x")); err == nil || !strings.Contains(err.Error(), "eks:no-such-cluster") {
		t.Errorf("a missing cluster: %v", err)
	}

	src := NewEKSToken(cfg, name)
	tok, exp, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(exp); d < 13*time.Minute || d > 14*time.Minute {
		t.Errorf("the token is used for %v, want 14 minutes", d)
	}
	u := decodeToken(t, tok)
	q := u.Query()
	if q.Get("Action") != "GetCallerIdentity" || q.Get("X-Amz-Expires") != "60" || q.Get("X-Amz-SignedHeaders") != "host;x-k8s-aws-id" || q.Get("X-Amz-Signature") == "" {
		t.Errorf("presigned URL %s", u)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	req.Header.Set("x-k8s-aws-id", name)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("moto's STS answered the presigned request with %d", resp.StatusCode)
	}
	var ec = gjson.ParseBytes(ExecCredential(tok, exp))
	if ec.Get("kind").String() != "ExecCredential" || ec.Get("status.token").String() != tok || ec.Get("status.expirationTimestamp").String() == "" {
		t.Errorf("ExecCredential = %s", ec.Raw)
	}
}

func TestKubeconfigSources(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca := base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\n"))
	awsCfg := aws.Config{Region: "us-east-1", Credentials: mototest.Config(t).Credentials}
	p := write("eks.yaml", strings.Replace(awsKubeconfig, "LS0tLS1CRUdJTg==", ca, 1))
	cfg, err := LoadKubeconfig(p, &KubeconfigOptions{AWS: &awsCfg})
	if err != nil {
		t.Fatal(err)
	}
	src, ok := cfg.Tokens.(*EKSToken)
	if !ok || src.cluster != "prod" || cfg.Endpoint != "https://ABCDEF.gr7.us-east-1.eks.amazonaws.com" {
		t.Fatalf("an aws eks get-token entry gave %T %+v", cfg.Tokens, cfg)
	}
	if _, err := LoadKubeconfig(p, nil); err == nil || !strings.Contains(err.Error(), "KubeconfigOptions.AWS") {
		t.Errorf("without AWS config: %v", err)
	}
	other := write("gke.yaml", strings.Replace(awsKubeconfig, "command: aws", "command: gke-gcloud-auth-plugin", 1))
	if _, err := LoadKubeconfig(other, &KubeconfigOptions{AWS: &awsCfg}); err == nil || !strings.Contains(err.Error(), `exec plugin "gke-gcloud-auth-plugin"`) {
		t.Errorf("another exec plugin: %v", err)
	}
	tokenFile := write("token.yaml", "apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\nclusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:6443\nusers:\n- name: u\n  user:\n    token: abc\n")
	cfg, err = LoadKubeconfig(tokenFile, nil)
	if err != nil || cfg.Tokens != StaticToken("abc") {
		t.Errorf("a token user: %+v %v", cfg, err)
	}
	if _, err := LoadKubeconfig(tokenFile, &KubeconfigOptions{Context: "nope"}); err == nil || !strings.Contains(err.Error(), `no context "nope"`) {
		t.Errorf("a missing context: %v", err)
	}
}

// A kubeconfig with a client certificate, against the real control plane.
func TestKubeconfigClientCertificate(t *testing.T) {
	k := kubetest.Get(t)
	if k.Dir == "" {
		t.Fatal("the control plane's directory (STEVEDORE_KUBE_DIR) is needed for its client certificate")
	}
	p := filepath.Join(t.TempDir(), "kubeconfig")
	body := "apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context:\n    cluster: k\n    user: u\nclusters:\n- name: k\n  cluster:\n" +
		"    server: " + k.Endpoint + "\n    certificate-authority-data: " + base64.StdEncoding.EncodeToString(k.CA) + "\n" +
		"users:\n- name: u\n  user:\n    client-certificate: " + filepath.Join(k.Dir, "client.crt") + "\n    client-key: " + filepath.Join(k.Dir, "client.key") + "\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadKubeconfig(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.get(context.Background(), "/api/v1/namespaces/default"); err != nil {
		t.Errorf("with the client certificate: %v", err)
	}
}
