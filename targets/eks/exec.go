package eks

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// The ExecCredential API versions kubectl speaks with credential plugins.
const (
	execV1      = "client.authentication.k8s.io/v1"
	execV1beta1 = "client.authentication.k8s.io/v1beta1"
)

// roleSessionName is the session name `aws eks get-token --role-arn` assumes the role with.
const roleSessionName = "EKSGetTokenAuth"

// execSource returns the token source for a user's exec entry: EKS tokens made natively for
// the aws CLI and aws-iam-authenticator entries it fully understands, else the plugin itself,
// run as kubectl runs it.
func execSource(e *execConfig, userName string, cl cluster, ca []byte, o KubeconfigOptions) (TokenSource, error) {
	switch e.APIVersion {
	case execV1, execV1beta1:
	case "client.authentication.k8s.io/v1alpha1":
		return nil, fmt.Errorf("user %q: the exec apiVersion %s was removed in Kubernetes 1.24; use %s", userName, e.APIVersion, execV1beta1)
	default:
		return nil, fmt.Errorf("user %q: exec apiVersion %q: use %s or %s", userName, e.APIVersion, execV1, execV1beta1)
	}
	switch e.InteractiveMode {
	case "":
		if e.APIVersion == execV1 {
			return nil, fmt.Errorf("user %q: an exec entry of %s must set interactiveMode (Never or IfAvailable)", userName, execV1)
		}
	case "Never", "IfAvailable":
	case "Always":
		return nil, fmt.Errorf("user %q: the exec plugin %q needs a terminal (interactiveMode Always); stevedore runs plugins without one", userName, e.Command)
	default:
		return nil, fmt.Errorf("user %q: exec interactiveMode %q: use Never, IfAvailable or Always", userName, e.InteractiveMode)
	}
	if e.Command == "" {
		return nil, fmt.Errorf("user %q: the exec entry has no command", userName)
	}
	if tok, ok := nativeEKS(e); ok {
		tok.base = o.AWS
		return tok, nil
	}
	p := &execPlugin{cfg: *e, user: userName}
	info := map[string]any{"kind": "ExecCredential", "apiVersion": e.APIVersion, "spec": map[string]any{"interactive": false}}
	if e.ProvideClusterInfo {
		c := map[string]any{"server": cl.Server}
		if len(ca) > 0 {
			c["certificate-authority-data"] = base64.StdEncoding.EncodeToString(ca)
		}
		if cl.TLSServerName != "" {
			c["tls-server-name"] = cl.TLSServerName
		}
		if cl.InsecureSkipTLSVerify {
			c["insecure-skip-tls-verify"] = true
		}
		if cl.ProxyURL != "" {
			c["proxy-url"] = cl.ProxyURL
		}
		for _, ext := range cl.Extensions {
			if ext.Name == "client.authentication.k8s.io/exec" {
				c["config"] = ext.Extension
			}
		}
		info["spec"].(map[string]any)["cluster"] = c
	}
	b, err := json.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("user %q: the cluster's exec extension cannot be passed to the plugin: %v", userName, err)
	}
	p.info = string(b)
	return p, nil
}

// awsEnv are the environment variables of an exec entry the native EKS token honours; an
// entry setting any other runs the plugin itself, which sees them all.
var awsEnv = map[string]bool{"AWS_PROFILE": true, "AWS_DEFAULT_PROFILE": true, "AWS_REGION": true, "AWS_DEFAULT_REGION": true,
	"AWS_CONFIG_FILE": true, "AWS_SHARED_CREDENTIALS_FILE": true, "AWS_STS_REGIONAL_ENDPOINTS": true}

// nativeEKS recognises an exec entry that makes an EKS token and whose every argument and
// variable it can honour: `aws [--region R] [--profile P] eks get-token --cluster-name X
// [--role-arn A] [--cluster-id I] [--output json]`, `aws-iam-authenticator token -i X [-r A]
// [--region R]`, or this project's `eks-rollout -print-token -cluster X`.
func nativeEKS(e *execConfig) (*awsExecToken, bool) {
	t := &awsExecToken{}
	for _, v := range e.Env {
		if !awsEnv[v.Name] {
			return nil, false
		}
		switch v.Name {
		case "AWS_PROFILE":
			t.profile = v.Value
		case "AWS_DEFAULT_PROFILE":
			if t.profile == "" {
				t.profile = v.Value
			}
		case "AWS_REGION":
			t.region = v.Value
		case "AWS_DEFAULT_REGION":
			if t.region == "" {
				t.region = v.Value
			}
		case "AWS_CONFIG_FILE":
			t.configFile = v.Value
		case "AWS_SHARED_CREDENTIALS_FILE":
			t.credentialsFile = v.Value
		}
	}
	// The flags each tool takes with a value; anything else makes the entry one to run.
	var takes map[string]*string
	var words []string
	var want []string
	outputOK := func(string) bool { return true }
	var output string
	switch filepath.Base(e.Command) {
	case "aws":
		takes = map[string]*string{"--cluster-name": &t.cluster, "--cluster-id": &t.clusterID, "--region": &t.region,
			"--profile": &t.profile, "--role-arn": &t.roleARN, "--output": &output}
		want = []string{"eks", "get-token"}
		outputOK = func(s string) bool { return s == "" || s == "json" }
	case "aws-iam-authenticator":
		takes = map[string]*string{"-i": &t.cluster, "--cluster-id": &t.cluster, "-r": &t.roleARN, "--role": &t.roleARN, "--region": &t.region}
		want = []string{"token"}
	case "eks-rollout":
		takes = map[string]*string{"-cluster": &t.cluster, "--cluster": &t.cluster}
		want = []string{"-print-token"}
	default:
		return nil, false
	}
	for i := 0; i < len(e.Args); i++ {
		a := e.Args[i]
		name, value, hasValue := strings.Cut(a, "=")
		if dst, ok := takes[name]; ok {
			if !hasValue {
				if i+1 >= len(e.Args) {
					return nil, false
				}
				i++
				value = e.Args[i]
			}
			*dst = value
			continue
		}
		if a == "--print-token" {
			a = "-print-token"
		}
		words = append(words, a)
	}
	if !slices.Equal(words, want) || t.cluster == "" || !outputOK(output) {
		return nil, false
	}
	if t.clusterID != "" {
		t.cluster = t.clusterID // the token of a local (Outposts) cluster names its ID
	}
	return t, true
}

// awsExecToken makes the EKS tokens an `aws eks get-token` exec entry would print, natively,
// with the entry's profile, region and role. The AWS configuration is loaded, and the role
// assumed, when the first token is needed.
type awsExecToken struct {
	cluster, clusterID, region, profile, roleARN string
	configFile, credentialsFile                  string
	base                                         *aws.Config

	mu  sync.Mutex
	src *EKSToken
}

// Token implements TokenSource.
func (a *awsExecToken) Token(ctx context.Context) (string, time.Time, error) {
	src, err := a.source(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	return src.Token(ctx)
}

func (a *awsExecToken) source(ctx context.Context) (*EKSToken, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.src != nil {
		return a.src, nil
	}
	var cfg aws.Config
	if a.base != nil && a.profile == "" && a.configFile == "" && a.credentialsFile == "" {
		cfg = a.base.Copy()
	} else {
		var opts []func(*config.LoadOptions) error
		if a.profile != "" {
			opts = append(opts, config.WithSharedConfigProfile(a.profile))
		}
		if a.configFile != "" {
			opts = append(opts, config.WithSharedConfigFiles([]string{a.configFile}))
		}
		if a.credentialsFile != "" {
			opts = append(opts, config.WithSharedCredentialsFiles([]string{a.credentialsFile}))
		}
		var err error
		if cfg, err = config.LoadDefaultConfig(ctx, opts...); err != nil {
			return nil, fmt.Errorf("loading the AWS configuration for the token of cluster %q (profile %q): %w", a.cluster, a.profile, err)
		}
	}
	if a.region != "" {
		cfg.Region = a.region
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("no AWS region for the token of cluster %q: the exec entry has no --region and none is configured", a.cluster)
	}
	if a.roleARN != "" {
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), a.roleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = roleSessionName
		}))
	}
	a.src = NewEKSToken(cfg, a.cluster)
	return a.src, nil
}

// fileToken reads a bearer token from a file, again every minute, as client-go does for a
// kubeconfig's tokenFile (projected service account tokens rotate).
type fileToken struct{ path string }

func (f *fileToken) read() (string, error) {
	b, err := os.ReadFile(f.path)
	if err != nil {
		return "", fmt.Errorf("the token file: %v", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("the token file %s is empty", f.path)
	}
	return tok, nil
}

// Token implements TokenSource: the client asks again refreshBefore before the time given.
func (f *fileToken) Token(context.Context) (string, time.Time, error) {
	tok, err := f.read()
	return tok, time.Now().Add(refreshBefore + time.Minute), err
}

// Invalidate implements the client's invalidator: the next Token reads the file again.
func (f *fileToken) Invalidate() {}

// execPlugin runs a kubeconfig exec credential plugin as kubectl does: the command with its
// args, its env added to ours, KUBERNETES_EXEC_INFO describing the request, no terminal. The
// credential it prints is used until its expirationTimestamp, or until the server refuses it.
type execPlugin struct {
	cfg  execConfig
	user string
	info string // KUBERNETES_EXEC_INFO

	mu   sync.Mutex
	cred *execCredential
}

type execCredential struct {
	token   string
	cert    *tls.Certificate
	expires time.Time
}

// maxPluginOutput bounds what is read of a plugin's stdout.
const maxPluginOutput = 1 << 20

// get returns the cached credential or runs the plugin for a new one.
func (p *execPlugin) get(ctx context.Context) (*execCredential, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.cred; c != nil && (c.expires.IsZero() || time.Now().Before(c.expires)) {
		return c, nil
	}
	c, err := p.run(ctx)
	if err != nil {
		return nil, err
	}
	p.cred = c
	return c, nil
}

// Token implements TokenSource. A plugin that returns a client certificate gives no token.
func (p *execPlugin) Token(ctx context.Context) (string, time.Time, error) {
	c, err := p.get(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	return c.token, c.expires, nil
}

// Invalidate implements the client's invalidator: the next request runs the plugin again.
func (p *execPlugin) Invalidate() {
	p.mu.Lock()
	p.cred = nil
	p.mu.Unlock()
}

// certificate gives the plugin's client certificate for a TLS handshake, or none.
// The request that needs the handshake has just asked for a token, so the credential cached
// then is the one to use, even if it expires meanwhile: the plugin runs here only when there
// is none.
func (p *execPlugin) certificate(ctx context.Context) (*tls.Certificate, error) {
	p.mu.Lock()
	c := p.cred
	p.mu.Unlock()
	if c == nil {
		var err error
		if c, err = p.get(ctx); err != nil {
			return nil, err
		}
	}
	if c.cert == nil {
		return &tls.Certificate{}, nil
	}
	return c.cert, nil
}

// tailWriter keeps the last n bytes written to it.
type tailWriter struct {
	n   int
	buf []byte
}

func (w *tailWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	if len(w.buf) > w.n {
		w.buf = w.buf[len(w.buf)-w.n:]
	}
	return len(b), nil
}

// capWriter keeps the first n bytes written to it and notes that more came.
type capWriter struct {
	n    int
	buf  bytes.Buffer
	over bool
}

func (w *capWriter) Write(b []byte) (int, error) {
	if room := w.n - w.buf.Len(); room < len(b) {
		w.over = true
		b = b[:max(room, 0)]
	}
	w.buf.Write(b)
	return len(b), nil
}

func (p *execPlugin) run(ctx context.Context) (*execCredential, error) {
	name := p.cfg.Command
	fail := func(format string, args ...any) (*execCredential, error) {
		return nil, fmt.Errorf("user %q: the exec plugin %s %s", p.user, name, fmt.Sprintf(format, args...))
	}
	cmd := exec.CommandContext(ctx, p.cfg.Command, p.cfg.Args...)
	cmd.Env = os.Environ()
	for _, e := range p.cfg.Env {
		cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
	}
	cmd.Env = append(cmd.Env, "KUBERNETES_EXEC_INFO="+p.info)
	stdout, stderr := &capWriter{n: maxPluginOutput}, &tailWriter{n: 2048}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = 5 * time.Second // a child left holding the pipes does not hold us
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			hint := p.cfg.InstallHint
			if hint == "" {
				hint = "install it or fix the command in the kubeconfig"
			}
			return fail("is not installed: %s", strings.TrimSpace(hint))
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		msg := strings.TrimSpace(string(stderr.buf))
		if msg != "" {
			msg = ": " + strings.ReplaceAll(msg, "\n", " | ")
		}
		return fail("failed: %v%s", err, msg)
	}
	if stdout.over {
		return fail("printed more than %d bytes", maxPluginOutput)
	}
	var out struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
		Status     *struct {
			ExpirationTimestamp   string `json:"expirationTimestamp"`
			Token                 string `json:"token"`
			ClientCertificateData string `json:"clientCertificateData"`
			ClientKeyData         string `json:"clientKeyData"`
		} `json:"status"`
	}
	if err := json.Unmarshal(stdout.buf.Bytes(), &out); err != nil {
		return fail("did not print an ExecCredential as JSON: %v", err)
	}
	switch {
	case out.Kind != "ExecCredential":
		return fail("printed kind %q, not ExecCredential", out.Kind)
	case out.APIVersion != p.cfg.APIVersion:
		return fail("printed apiVersion %q; the kubeconfig asks for %q", out.APIVersion, p.cfg.APIVersion)
	case out.Status == nil:
		return fail("printed an ExecCredential without a status")
	}
	c := &execCredential{token: out.Status.Token}
	if ts := out.Status.ExpirationTimestamp; ts != "" {
		t, err := time.Parse(time.RFC3339, ts)
		if err != nil {
			return fail("printed expirationTimestamp %q, not RFC 3339", ts)
		}
		c.expires = t
	}
	if out.Status.ClientCertificateData != "" || out.Status.ClientKeyData != "" {
		cert, err := tls.X509KeyPair([]byte(out.Status.ClientCertificateData), []byte(out.Status.ClientKeyData))
		if err != nil {
			return fail("printed a client certificate and key that do not load: %v", err)
		}
		c.cert = &cert
	}
	if c.token == "" && c.cert == nil {
		return fail("printed neither a token nor a client certificate")
	}
	return c, nil
}
