package eks

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/deploy"
)

// KubeconfigOptions tunes LoadKubeconfig.
type KubeconfigOptions struct {
	// Context picks a context; empty means current-context.
	Context string
	// AWS signs EKS tokens for a user whose exec entry runs `aws eks get-token`; the
	// entry's --region and AWS_PROFILE are not applied, so pass the config they describe.
	AWS *aws.Config
}

// LoadKubeconfig reads a kubeconfig file (YAML or JSON) and returns how to reach the cluster
// of its context: server and CA, and a token, a token file, a client certificate, or an
// exec entry running `aws eks get-token` (made natively, with no aws CLI). Other exec plugins
// and auth providers are errors saying so.
func LoadKubeconfig(path string, opts *KubeconfigOptions) (ClientConfig, error) {
	var o KubeconfigOptions
	if opts != nil {
		o = *opts
	}
	bad := func(format string, args ...any) (ClientConfig, error) {
		return ClientConfig{}, deploy.Errorf(deploy.ErrInvalid, "", "read kubeconfig "+path, format, args...)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return bad("%v", err)
	}
	js, err := parseYAML(data)
	if err != nil {
		return bad("%v", err)
	}
	kc := gjson.ParseBytes(js)
	name := o.Context
	if name == "" {
		name = kc.Get("current-context").String()
	}
	if name == "" {
		return bad("no context given and no current-context set")
	}
	named := func(list, n string) gjson.Result {
		for _, e := range kc.Get(list).Array() {
			if e.Get("name").String() == n {
				return e
			}
		}
		return gjson.Result{}
	}
	ctx := named("contexts", name)
	if !ctx.Exists() {
		return bad("no context %q", name)
	}
	cluster := named("clusters", ctx.Get("context.cluster").String()).Get("cluster")
	user := named("users", ctx.Get("context.user").String()).Get("user")
	if !cluster.Exists() {
		return bad("context %q names cluster %q, which the file does not have", name, ctx.Get("context.cluster").String())
	}
	dir := filepath.Dir(path)
	read := func(dataKey, fileKey string, from gjson.Result) ([]byte, error) {
		if d := from.Get(escape(dataKey)).String(); d != "" {
			return base64.StdEncoding.DecodeString(d)
		}
		if f := from.Get(escape(fileKey)).String(); f != "" {
			if !filepath.IsAbs(f) {
				f = filepath.Join(dir, f)
			}
			return os.ReadFile(f)
		}
		return nil, nil
	}
	cfg := ClientConfig{Endpoint: cluster.Get("server").String()}
	if cfg.CAData, err = read("certificate-authority-data", "certificate-authority", cluster); err != nil {
		return bad("the cluster CA: %v", err)
	}
	if cfg.CertData, err = read("client-certificate-data", "client-certificate", user); err != nil {
		return bad("the client certificate: %v", err)
	}
	if cfg.KeyData, err = read("client-key-data", "client-key", user); err != nil {
		return bad("the client key: %v", err)
	}
	switch {
	case user.Get("token").String() != "":
		cfg.Tokens = StaticToken(user.Get("token").String())
	case user.Get("tokenFile").String() != "":
		b, err := os.ReadFile(user.Get("tokenFile").String())
		if err != nil {
			return bad("the token file: %v", err)
		}
		cfg.Tokens = StaticToken(strings.TrimSpace(string(b)))
	case user.Get("exec").Exists():
		cluster, ok := eksGetTokenCluster(user.Get("exec"))
		if !ok {
			return bad("user %q runs the exec plugin %q; only `aws eks get-token` (made natively) is supported: use a token or a client certificate",
				ctx.Get("context.user").String(), user.Get("exec.command").String())
		}
		if o.AWS == nil {
			return bad("user %q gets EKS tokens from `aws eks get-token`; pass KubeconfigOptions.AWS to make them natively", ctx.Get("context.user").String())
		}
		cfg.Tokens = NewEKSToken(*o.AWS, cluster)
	case user.Get("auth-provider").Exists():
		return bad("user %q uses the auth provider %q, which is not supported", ctx.Get("context.user").String(), user.Get("auth-provider.name").String())
	}
	if cfg.Tokens == nil && len(cfg.CertData) == 0 {
		return bad("user %q has no token, client certificate or exec entry", ctx.Get("context.user").String())
	}
	return cfg, nil
}

// eksGetTokenCluster recognises an exec entry running `aws eks get-token --cluster-name X`
// (or aws-iam-authenticator token -i X, or eks-rollout -print-token -cluster X) and returns X.
func eksGetTokenCluster(exec gjson.Result) (string, bool) {
	var args []string
	for _, a := range exec.Get("args").Array() {
		args = append(args, a.String())
	}
	flag := func(names ...string) string {
		for i, a := range args {
			for _, n := range names {
				if a == n && i+1 < len(args) {
					return args[i+1]
				}
				if v, ok := strings.CutPrefix(a, n+"="); ok {
					return v
				}
			}
		}
		return ""
	}
	switch filepath.Base(exec.Get("command").String()) {
	case "aws":
		i := slices.Index(args, "eks")
		if i >= 0 && i+1 < len(args) && args[i+1] == "get-token" {
			c := flag("--cluster-name")
			return c, c != ""
		}
	case "eks-rollout":
		if slices.Contains(args, "-print-token") || slices.Contains(args, "--print-token") {
			c := flag("-cluster", "--cluster")
			return c, c != ""
		}
	case "aws-iam-authenticator":
		if slices.Contains(args, "token") {
			c := flag("-i", "--cluster-id")
			return c, c != ""
		}
	}
	return "", false
}

// escape makes a key with dots a gjson path.
func escape(k string) string { return strings.ReplaceAll(k, ".", `\.`) }
