package eks

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/deploytest"
)

// The EKS target runs the conformance suite against the real control plane, on real time:
// a Deployment of two replicas in a namespace of its own for each check.
func TestConformance(t *testing.T) {
	var k *kube
	opts := &Options{PollInterval: 200 * time.Millisecond}
	deploytest.Run(t, deploytest.Harness{
		New: func(t *testing.T) *deploytest.World {
			k = newKube(t)
			k.deployWorkload(Deployment, "web", registry+"web:v1", 2)
			image := func(tag string) deploy.Release {
				return deploy.Release{Version: tag, Images: map[string]string{"app": registry + "web:" + tag}}
			}
			return &deploytest.World{
				Target: New(k.c, Deployment, k.ns, "web", opts),
				State: func(ctx context.Context) (any, error) { // the pod template, as data
					raw, err := k.c.get(ctx, "/apis/apps/v1/namespaces/"+k.ns+"/deployments/web")
					if err != nil {
						return nil, err
					}
					var tpl any
					err = json.Unmarshal([]byte(gjson.GetBytes(raw, "spec.template").Raw), &tpl)
					return tpl, err
				},
				Release: image("v2"),
				Failing: image("broken"),
				// The cancel check cancels at the first wait event; a broken image keeps the
				// rollout from settling until then.
				Slow:        image("broken"),
				Missing:     New(k.c, Deployment, k.ns, "no-such-workload", opts),
				Unsupported: &deploy.Release{Version: "v2", Env: []deploy.EnvChange{{Name: "A", Value: "1"}}},
			}
		},
		// Another process: a new client and a new target over the same workload.
		Restore: func(t *testing.T, w *deploytest.World) deploy.Target {
			return New(connect(t, nil, nil), Deployment, k.ns, "web", opts)
		},
	})
}
