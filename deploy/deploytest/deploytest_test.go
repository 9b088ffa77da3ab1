package deploytest_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/deploytest"
)

func TestMemoryTarget(t *testing.T) {
	deploytest.Run(t, deploytest.Harness{
		New: func(t *testing.T) *deploytest.World {
			m := deploytest.NewMemory("repo/web:v1", "web")
			image := func(tag string) deploy.Release {
				return deploy.Release{Version: tag, Images: map[string]string{"": "repo/web:" + tag}}
			}
			return &deploytest.World{
				Target:      m.Target("web"),
				State:       func(context.Context) (any, error) { return m.Image("web"), nil },
				Release:     image("v2"),
				Failing:     image("crash"),
				Slow:        image("slow"),
				Missing:     m.Target("api"),
				Unsupported: &deploy.Release{Env: []deploy.EnvChange{{Name: "A", Value: "1"}}},
			}
		},
		Bubble: synctest.Test,
	})
}
