package ekstest_test

import (
	"context"
	"encoding/json"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/deploytest"
	"github.com/stevedore-dev/stevedore/targets/eks"
	"github.com/stevedore-dev/stevedore/targets/eks/ekstest"
)

const repo = "123456789012.dkr.ecr.us-east-1.amazonaws.com/"

func web(replicas int, image string) string {
	return `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop"},"spec":{"replicas":` +
		itoa(replicas) + `,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},` +
		`"spec":{"containers":[{"name":"app","image":"` + image + `"}]}}}}`
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// newWorld is a simulator with Deployment shop/web of three replicas of web:v1 ready, and a
// broken image whose pods cannot pull.
func newWorld(t *testing.T) *ekstest.Server {
	t.Helper()
	sim := ekstest.New(nil)
	if err := sim.CreateDeployment(web(3, repo+"web:v1")); err != nil {
		t.Fatal(err)
	}
	sim.SetBehavior(repo+"web:broken", ekstest.Behavior{Reason: "ImagePullBackOff", Message: `Back-off pulling image "` + repo + `web:broken"`})
	return sim
}

// The EKS target keeps its contract over the simulator, as it does over the real control
// plane: the simulator is a faithful enough peer for tests and demos built on it.
func TestConformance(t *testing.T) {
	opts := &eks.Options{PollInterval: 200 * time.Millisecond}
	deploytest.Run(t, deploytest.Harness{
		New: func(t *testing.T) *deploytest.World {
			sim := newWorld(t)
			c := sim.Client()
			image := func(tag string) deploy.Release {
				return deploy.Release{Version: tag, Images: map[string]string{"app": repo + "web:" + tag}}
			}
			return &deploytest.World{
				Target: eks.New(c, eks.Deployment, "shop", "web", opts),
				State: func(ctx context.Context) (any, error) {
					var tpl any
					err := json.Unmarshal([]byte(gjson.GetBytes(sim.Deployment("shop", "web"), "spec.template").Raw), &tpl)
					return tpl, err
				},
				Release:     image("v2"),
				Failing:     image("broken"),
				Slow:        image("broken"),
				Missing:     eks.New(c, eks.Deployment, "shop", "no-such-workload", opts),
				Unsupported: &deploy.Release{Version: "v2", Env: []deploy.EnvChange{{Name: "A", Value: "1"}}},
			}
		},
		Bubble: synctest.Test,
	})
}
