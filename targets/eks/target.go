package eks

import (
	"io"
	"log/slog"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
)

// Options tunes a Target. The zero value is ready.
type Options struct {
	// Cluster names the cluster in the target's name ("eks:prod/default/deployment/web").
	Cluster string
	// PollInterval is how often pods are checked for fail-fast states, and the workload
	// polled when watching is off or fails; zero means 1 s.
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

// New returns a target for the workload kind/namespace/name reached through c.
func New(c *Client, kind Kind, namespace, name string, opts *Options) *Target {
	t := &Target{c: c, kind: kind, namespace: namespace, name: name}
	if opts != nil {
		t.opts = *opts
	}
	if t.namespace == "" {
		t.namespace = "default"
	}
	if t.opts.PollInterval <= 0 {
		t.opts.PollInterval = time.Second
	}
	t.log = t.opts.Logger
	if t.log == nil {
		t.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	t.path = "/apis/apps/v1/namespaces/" + t.namespace + "/" + kind.resource() + "/" + name
	return t
}

// Name is "k8s:" (or "eks:<cluster>/") and namespace/kind/name.
func (t *Target) Name() string {
	prefix := "k8s:"
	if t.opts.Cluster != "" {
		prefix = "eks:" + t.opts.Cluster + "/"
	}
	return prefix + t.namespace + "/" + string(t.kind) + "/" + t.name
}

var _ deploy.Target = (*Target)(nil)
