package eks

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"go.yaml.in/yaml/v3"

	"github.com/stevedore-dev/stevedore/deploy"
)

// KubeconfigOptions tunes LoadKubeconfig.
type KubeconfigOptions struct {
	// Context picks a context; empty means the current-context of the files.
	Context string
	// AWS is the configuration EKS tokens are made with for a user whose exec entry runs
	// `aws eks get-token` or aws-iam-authenticator (made natively, with no aws CLI); the
	// entry's --region and --role-arn apply on top of it. Nil, or an entry naming a profile
	// (--profile, AWS_PROFILE in its env), loads the shared configuration as the aws CLI would.
	AWS *aws.Config
}

// kubeconfig is the part of a kubeconfig file (clientcmd's v1 Config) stevedore reads.
type kubeconfig struct {
	CurrentContext string         `yaml:"current-context"`
	Clusters       []namedCluster `yaml:"clusters"`
	Users          []namedUser    `yaml:"users"`
	Contexts       []namedContext `yaml:"contexts"`
}

type namedCluster struct {
	Name    string  `yaml:"name"`
	Cluster cluster `yaml:"cluster"`
}

type cluster struct {
	Server                   string           `yaml:"server"`
	TLSServerName            string           `yaml:"tls-server-name"`
	InsecureSkipTLSVerify    bool             `yaml:"insecure-skip-tls-verify"`
	CertificateAuthority     string           `yaml:"certificate-authority"`
	CertificateAuthorityData string           `yaml:"certificate-authority-data"`
	ProxyURL                 string           `yaml:"proxy-url"`
	Extensions               []namedExtension `yaml:"extensions"`
}

type namedExtension struct {
	Name      string `yaml:"name"`
	Extension any    `yaml:"extension"`
}

type namedUser struct {
	Name string `yaml:"name"`
	User user   `yaml:"user"`
}

type user struct {
	ClientCertificate     string              `yaml:"client-certificate"`
	ClientCertificateData string              `yaml:"client-certificate-data"`
	ClientKey             string              `yaml:"client-key"`
	ClientKeyData         string              `yaml:"client-key-data"`
	Token                 string              `yaml:"token"`
	TokenFile             string              `yaml:"tokenFile"`
	As                    string              `yaml:"as"`
	AsUID                 string              `yaml:"as-uid"`
	AsGroups              []string            `yaml:"as-groups"`
	AsUserExtra           map[string][]string `yaml:"as-user-extra"`
	Username              string              `yaml:"username"`
	Password              string              `yaml:"password"`
	AuthProvider          *struct {
		Name string `yaml:"name"`
	} `yaml:"auth-provider"`
	Exec *execConfig `yaml:"exec"`
}

type namedContext struct {
	Name    string      `yaml:"name"`
	Context kubeContext `yaml:"context"`
}

type kubeContext struct {
	Cluster   string `yaml:"cluster"`
	User      string `yaml:"user"`
	Namespace string `yaml:"namespace"`
}

// execConfig is a user's exec entry: a credential plugin kubectl runs.
type execConfig struct {
	Command            string    `yaml:"command"`
	Args               []string  `yaml:"args"`
	Env                []execEnv `yaml:"env"`
	APIVersion         string    `yaml:"apiVersion"`
	InstallHint        string    `yaml:"installHint"`
	ProvideClusterInfo bool      `yaml:"provideClusterInfo"`
	InteractiveMode    string    `yaml:"interactiveMode"`
}

type execEnv struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// kubeconfigFiles returns the files to read, in precedence order, and whether they were
// named explicitly (a missing one is then an error, not skipped): path if given, else the
// KUBECONFIG list, else ~/.kube/config. These are clientcmd's loading rules.
func kubeconfigFiles(path string) ([]string, bool) {
	if path != "" {
		return []string{path}, true
	}
	if env := os.Getenv("KUBECONFIG"); env != "" {
		var files []string
		seen := map[string]bool{}
		for _, f := range filepath.SplitList(env) {
			if f != "" && !seen[f] {
				seen[f] = true
				files = append(files, f)
			}
		}
		return files, false
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return nil, false
	}
	return []string{filepath.Join(home, ".kube", "config")}, false
}

// parseKubeconfig decodes one file, YAML or JSON (JSON is YAML), and makes its relative
// paths absolute against the file's directory, as clientcmd does before merging.
func parseKubeconfig(file string, data []byte) (kubeconfig, error) {
	var kc kubeconfig
	if err := yaml.Unmarshal(data, &kc); err != nil {
		return kc, err
	}
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return kc, err
	}
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for i := range kc.Clusters {
		abs(&kc.Clusters[i].Cluster.CertificateAuthority)
	}
	for i := range kc.Users {
		u := &kc.Users[i].User
		abs(&u.ClientCertificate)
		abs(&u.ClientKey)
		abs(&u.TokenFile)
		// A command with a directory part is relative to the file; a bare name is looked up
		// in PATH.
		if u.Exec != nil && strings.ContainsRune(u.Exec.Command, filepath.Separator) {
			abs(&u.Exec.Command)
		}
	}
	return kc, nil
}

// merge adds from to into: the first file to name a cluster, user or context wins it whole,
// and the first current-context set wins.
func (into *kubeconfig) merge(from kubeconfig) {
	if into.CurrentContext == "" {
		into.CurrentContext = from.CurrentContext
	}
	for _, c := range from.Clusters {
		if _, ok := into.cluster(c.Name); !ok {
			into.Clusters = append(into.Clusters, c)
		}
	}
	for _, u := range from.Users {
		if _, ok := into.user(u.Name); !ok {
			into.Users = append(into.Users, u)
		}
	}
	for _, c := range from.Contexts {
		if _, ok := into.context(c.Name); !ok {
			into.Contexts = append(into.Contexts, c)
		}
	}
}

func (kc *kubeconfig) cluster(name string) (cluster, bool) {
	for _, c := range kc.Clusters {
		if c.Name == name {
			return c.Cluster, true
		}
	}
	return cluster{}, false
}

func (kc *kubeconfig) user(name string) (user, bool) {
	for _, u := range kc.Users {
		if u.Name == name {
			return u.User, true
		}
	}
	return user{}, false
}

func (kc *kubeconfig) context(name string) (kubeContext, bool) {
	for _, c := range kc.Contexts {
		if c.Name == name {
			return c.Context, true
		}
	}
	return kubeContext{}, false
}

// LoadKubeconfig reads kubeconfig files the way kubectl does and returns how to reach the
// cluster of the chosen context. path names one file; empty means the files KUBECONFIG lists
// (merged: the first file to name a cluster, user or context wins it, and the first
// current-context set wins), else ~/.kube/config.
//
// Relative paths (certificate-authority, client-certificate, client-key, tokenFile, and an
// exec command with a directory part) are taken from the directory of the file that names
// them. The context's namespace becomes ClientConfig.Namespace. Users may have a token, a
// token file (read again every minute), a client certificate, basic auth, impersonation,
// or an exec entry: `aws eks get-token` and aws-iam-authenticator entries are made natively
// (honouring --region, --profile, --role-arn and the entry's AWS_* env), and any other
// plugin runs as kubectl runs it, through the ExecCredential protocol (v1 and v1beta1).
// Plugins run when a token is first needed, not here.
func LoadKubeconfig(path string, opts *KubeconfigOptions) (ClientConfig, error) {
	var o KubeconfigOptions
	if opts != nil {
		o = *opts
	}
	files, explicit := kubeconfigFiles(path)
	searched := strings.Join(files, ", ")
	if searched == "" {
		searched = "none: no path, no KUBECONFIG and no home directory"
	}
	bad := func(format string, args ...any) (ClientConfig, error) {
		return ClientConfig{}, deploy.Errorf(deploy.ErrInvalid, "", "read kubeconfig", format, args...)
	}
	var kc kubeconfig
	loaded := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) && !explicit {
			continue // kubectl skips a KUBECONFIG entry that does not exist
		}
		if err != nil {
			return bad("%v", err)
		}
		one, err := parseKubeconfig(f, data)
		if err != nil {
			return bad("%s: %v", f, err)
		}
		kc.merge(one)
		loaded++
	}
	if loaded == 0 {
		return bad("no kubeconfig file found (searched %s); set KUBECONFIG or give a path", searched)
	}
	name := o.Context
	if name == "" {
		name = kc.CurrentContext
	}
	if name == "" {
		return bad("no context given and no current-context set in %s", searched)
	}
	kctx, ok := kc.context(name)
	if !ok {
		return bad("no context %q in %s", name, searched)
	}
	cl, ok := kc.cluster(kctx.Cluster)
	if !ok {
		return bad("context %q names cluster %q, which is not in %s", name, kctx.Cluster, searched)
	}
	var u user
	if kctx.User != "" {
		if u, ok = kc.user(kctx.User); !ok {
			return bad("context %q names user %q, which is not in %s", name, kctx.User, searched)
		}
	}
	cfg, err := clientConfig(cl, u, kctx.User, o)
	if err != nil {
		return bad("context %q: %v", name, err)
	}
	cfg.Namespace = kctx.Namespace
	return cfg, nil
}

// clientConfig turns a cluster and user entry into a ClientConfig.
func clientConfig(cl cluster, u user, userName string, o KubeconfigOptions) (ClientConfig, error) {
	read := func(what, data, file string) ([]byte, error) {
		if data != "" {
			b, err := base64.StdEncoding.DecodeString(data)
			if err != nil {
				return nil, fmt.Errorf("%s-data is not base64: %v", what, err)
			}
			return b, nil
		}
		if file != "" {
			b, err := os.ReadFile(file)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", what, err)
			}
			return b, nil
		}
		return nil, nil
	}
	cfg := ClientConfig{Endpoint: cl.Server, Insecure: cl.InsecureSkipTLSVerify, TLSServerName: cl.TLSServerName, ProxyURL: cl.ProxyURL}
	if cfg.Endpoint == "" {
		return cfg, errors.New("the cluster has no server")
	}
	if !strings.Contains(cfg.Endpoint, "://") {
		cfg.Endpoint = "https://" + cfg.Endpoint // as clientcmd defaults it
	}
	var err error
	if cfg.CAData, err = read("certificate-authority", cl.CertificateAuthorityData, cl.CertificateAuthority); err != nil {
		return cfg, err
	}
	if cfg.CertData, err = read("client-certificate", u.ClientCertificateData, u.ClientCertificate); err != nil {
		return cfg, err
	}
	if cfg.KeyData, err = read("client-key", u.ClientKeyData, u.ClientKey); err != nil {
		return cfg, err
	}
	cfg.Impersonate = Impersonation{User: u.As, UID: u.AsUID, Groups: u.AsGroups, Extra: u.AsUserExtra}
	if (u.Token != "" || u.TokenFile != "") && (u.Username != "" || u.Password != "") {
		return cfg, fmt.Errorf("user %q has both a token and a username/password; kubectl refuses that too: keep one", userName)
	}
	switch {
	case u.TokenFile != "":
		src := &fileToken{path: u.TokenFile}
		if _, err := src.read(); err != nil {
			return cfg, fmt.Errorf("user %q: %v", userName, err)
		}
		cfg.Tokens = src
	case u.Token != "":
		cfg.Tokens = StaticToken(u.Token)
	case u.Username != "" || u.Password != "":
		cfg.Username, cfg.Password = u.Username, u.Password
	case u.Exec != nil:
		src, err := execSource(u.Exec, userName, cl, cfg.CAData, o)
		if err != nil {
			return cfg, err
		}
		cfg.Tokens = src
		if p, ok := src.(*execPlugin); ok && len(cfg.CertData) == 0 {
			cfg.ClientCertificate = p.certificate
		}
	case u.AuthProvider != nil:
		return cfg, fmt.Errorf("user %q uses the auth provider %q, which kubectl removed in 1.26: use its exec plugin instead (gke-gcloud-auth-plugin, kubelogin, ...)", userName, u.AuthProvider.Name)
	}
	return cfg, nil
}
