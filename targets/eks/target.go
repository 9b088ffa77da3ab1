package eks

import (
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
)

// Options tunes a Target. The zero value is ready.
type Options struct {
	// Cluster names the cluster in the target's name ("eks:prod/default/deployment/web").
	Cluster string
	// PollInterval is how often the workload is polled when watching is off or fails; the
	// new pods are checked for fail-fast states once the workload has been quiet for three
	// of them (then less often while nothing is wrong). Zero means 1 s.
	PollInterval time.Duration
	// NoWatch polls the workload instead of watching it.
	NoWatch bool
	// NoFailFast waits for kubectl's own verdict (the progress deadline) instead of failing
	// as soon as a new pod is stuck in ImagePullBackOff, CrashLoopBackOff and the like.
	NoFailFast bool
	// Logger receives debug lines; nil discards them.
	Logger *slog.Logger
}

// Target rolls images out to one Deployment, StatefulSet or DaemonSet.
type Target struct {
	c                     *Client
	kind                  Kind
	namespace, name, path string
	opts                  Options
	log                   *slog.Logger
}

// New returns a target for the workload kind/namespace/name reached through c. An empty
// namespace means the client's (a kubeconfig context's, else "default"). Names are checked
// when the target plans, before anything is read or changed.
func New(c *Client, kind Kind, namespace, name string, opts *Options) *Target {
	t := &Target{c: c, kind: kind, namespace: namespace, name: name}
	if opts != nil {
		t.opts = *opts
	}
	if t.namespace == "" {
		t.namespace = c.Namespace()
	}
	if t.opts.PollInterval <= 0 {
		t.opts.PollInterval = time.Second
	}
	t.log = deploy.LoggerOrDiscard(t.opts.Logger)
	t.path = "/apis/apps/v1/namespaces/" + url.PathEscape(t.namespace) + "/" + kind.resource() + "/" + url.PathEscape(name)
	return t
}

// validate checks the names before any request: a namespace is a DNS label, a workload name a
// DNS subdomain (RFC 1123), as the API server requires. Escaping alone would send a request
// for an object that cannot exist; this says why instead.
func (t *Target) validate() error {
	if _, err := ParseKind(string(t.kind)); err != nil {
		return deploy.Errorf(deploy.ErrInvalid, t.Name(), "plan", "%v", err)
	}
	if !dnsLabel(t.namespace) {
		return deploy.Errorf(deploy.ErrInvalid, t.Name(), "plan", "namespace %q: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit", t.namespace)
	}
	if !dnsSubdomain(t.name) {
		return deploy.Errorf(deploy.ErrInvalid, t.Name(), "plan", "%s name %q: use at most 253 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit", strings.ToLower(string(t.kind)), t.name)
	}
	return nil
}

// dnsLabel reports whether s is an RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63.
func dnsLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// dnsSubdomain reports whether s is an RFC 1123 subdomain: labels joined by '.', at most 253.
func dnsSubdomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !dnsLabel(l) {
			return false
		}
	}
	return true
}

// Name is "k8s:" (or "eks:<cluster>/") and namespace/kind/name.
func (t *Target) Name() string {
	prefix := "k8s:"
	if t.opts.Cluster != "" {
		prefix = "eks:" + t.opts.Cluster + "/"
	}
	return prefix + t.namespace + "/" + string(t.kind) + "/" + t.name
}

var (
	_ deploy.Target   = (*Target)(nil)
	_ deploy.Honourer = (*Target)(nil)
)

// Honours says the Kubernetes target sets images (and records the version); environment
// and secrets belong in the manifest.
func (t *Target) Honours() deploy.Parts { return deploy.Images | deploy.Version }
