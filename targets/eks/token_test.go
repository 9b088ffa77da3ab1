package eks

import (
	"context"
	"encoding/base64"
	"io"
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
	if arn := callerOf(t, tok, name); !strings.HasPrefix(arn, "arn:aws:") {
		t.Errorf("moto's STS answered the presigned request with identity %q", arn)
	}
	var ec = gjson.ParseBytes(ExecCredential("", tok, exp))
	if ec.Get("kind").String() != "ExecCredential" || ec.Get("status.token").String() != tok || ec.Get("status.expirationTimestamp").String() == "" {
		t.Errorf("ExecCredential = %s", ec.Raw)
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

// callerOf calls the presigned GetCallerIdentity inside an EKS token, as the cluster's
// authenticator does, and returns the identity's ARN.
func callerOf(t *testing.T, tok, cluster string) string {
	t.Helper()
	u := decodeToken(t, tok)
	// moto serves every service on one address and tells them apart by the Authorization
	// header's credential scope; a presigned URL carries it in the query instead, and moto
	// would answer as S3. So the query's signature moves to the header, as the same request
	// signed the other way: the same credential, action and session token.
	q := u.Query()
	if q.Get("Action") != "GetCallerIdentity" || q.Get("X-Amz-Expires") != "60" || q.Get("X-Amz-SignedHeaders") != "host;x-k8s-aws-id" || q.Get("X-Amz-Signature") == "" {
		t.Fatalf("presigned URL %s", u)
	}
	header := http.Header{}
	header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+q.Get("X-Amz-Credential")+", SignedHeaders="+q.Get("X-Amz-SignedHeaders")+", Signature="+q.Get("X-Amz-Signature"))
	header.Set("X-Amz-Date", q.Get("X-Amz-Date"))
	if st := q.Get("X-Amz-Security-Token"); st != "" {
		header.Set("X-Amz-Security-Token", st)
	}
	header.Set("x-k8s-aws-id", cluster)
	for k := range q {
		if strings.HasPrefix(k, "X-Amz-") {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, u.String(), nil)
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("STS answered %d: %s", resp.StatusCode, body)
	}
	s := string(body)
	i, j := strings.Index(s, "<Arn>"), strings.Index(s, "</Arn>")
	if i < 0 || j < i {
		t.Fatalf("no Arn in %q", s)
	}
	return s[i+5 : j]
}

// An `aws eks get-token` exec entry is made natively for the identity it names: the role of
// --role-arn (assumed through STS), the profile of --profile or the entry's AWS_PROFILE, the
// region of --region or AWS_REGION. Checked against moto's STS.
func TestNativeEKSTokenIdentity(t *testing.T) {
	endpoint := mototest.Endpoint(t)
	mototest.SetSDKEnv(t, endpoint)
	t.Setenv("AWS_REGION", "us-east-1")
	base := mototest.Config(t)
	dir := t.TempDir()
	files := map[string]string{
		"config":      "[profile ci]\nregion = eu-west-1\n",
		"credentials": "[ci]\naws_access_key_id = AKIACIPROFILE0000001\naws_secret_access_key = not-a-secret\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const cluster = "clusters:\n- name: k\n  cluster: {server: https://ABCDEF.gr7.us-east-1.eks.amazonaws.com}\n" +
		"contexts:\n- name: c\n  context: {cluster: k, user: u}\ncurrent-context: c\n"
	load := func(t *testing.T, exec string, aws *aws.Config) TokenSource {
		t.Helper()
		p := filepath.Join(t.TempDir(), "config")
		if err := os.WriteFile(p, []byte(cluster+"users:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n"+exec), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadKubeconfig(p, &KubeconfigOptions{AWS: aws})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := cfg.Tokens.(*awsExecToken); !ok {
			t.Fatalf("tokens from %T, want made natively", cfg.Tokens)
		}
		return cfg.Tokens
	}
	token := func(t *testing.T, src TokenSource) string {
		t.Helper()
		tok, _, err := src.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	t.Run("--role-arn assumes the role", func(t *testing.T) {
		src := load(t, "      command: aws\n      args: [--region, us-east-1, eks, get-token, --cluster-name, prod, --role-arn, 'arn:aws:iam::123456789012:role/deployer']\n", &base)
		tok := token(t, src)
		if q := decodeToken(t, tok).Query(); q.Get("X-Amz-Security-Token") == "" || strings.HasPrefix(q.Get("X-Amz-Credential"), "testing/") {
			t.Errorf("the token is not signed with the role's session credentials: %s", q.Get("X-Amz-Credential"))
		}
		if arn := callerOf(t, tok, "prod"); !strings.Contains(arn, "assumed-role/deployer/"+roleSessionName) {
			t.Errorf("the token is for %s, want the assumed role deployer", arn)
		}
	})
	t.Run("without --role-arn, the caller's own identity", func(t *testing.T) {
		src := load(t, "      command: aws\n      args: [eks, get-token, --cluster-name, prod]\n", &base)
		if arn := callerOf(t, token(t, src), "prod"); strings.Contains(arn, "assumed-role") {
			t.Errorf("the token is for %s, want the base identity", arn)
		}
	})
	t.Run("--profile", func(t *testing.T) {
		t.Setenv("AWS_REGION", "") // else it wins over the profile's region, as with the aws CLI
		src := load(t, "      command: aws\n      args: [eks, get-token, --cluster-name, prod, --profile, ci]\n      env:\n"+
			"      - {name: AWS_CONFIG_FILE, value: "+filepath.Join(dir, "config")+"}\n      - {name: AWS_SHARED_CREDENTIALS_FILE, value: "+filepath.Join(dir, "credentials")+"}\n", &base)
		cred := decodeToken(t, token(t, src)).Query().Get("X-Amz-Credential")
		if !strings.HasPrefix(cred, "AKIACIPROFILE0000001/") || !strings.Contains(cred, "/eu-west-1/sts/") {
			t.Errorf("the token is signed as %s, want the ci profile's key in its region eu-west-1", cred)
		}
	})
	t.Run("the entry's AWS_PROFILE and AWS_REGION", func(t *testing.T) {
		src := load(t, "      command: aws\n      args: [eks, get-token, --cluster-name, prod]\n      env:\n      - {name: AWS_PROFILE, value: ci}\n      - {name: AWS_REGION, value: ap-southeast-2}\n"+
			"      - {name: AWS_CONFIG_FILE, value: "+filepath.Join(dir, "config")+"}\n      - {name: AWS_SHARED_CREDENTIALS_FILE, value: "+filepath.Join(dir, "credentials")+"}\n", nil)
		cred := decodeToken(t, token(t, src)).Query().Get("X-Amz-Credential")
		if !strings.HasPrefix(cred, "AKIACIPROFILE0000001/") || !strings.Contains(cred, "/ap-southeast-2/sts/") {
			t.Errorf("the token is signed as %s, want the ci profile's key in ap-southeast-2", cred)
		}
	})
}
