package deploy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stevedore-dev/stevedore/deploy"
)

// honouring is a fakeTarget that honours only some parts (or panics when asked).
type honouring struct {
	*fakeTarget
	parts deploy.Parts
	panic bool
}

func (h honouring) Honours() deploy.Parts {
	if h.panic {
		panic("honours exploded")
	}
	return h.parts
}

func TestRunRejectsUnhonouredPartsBeforePlanning(t *testing.T) {
	images := &fakeTarget{name: "images-only"}
	imagesEnv := &fakeTarget{name: "images-and-env"}
	silent := &fakeTarget{name: "says-nothing"} // no Honourer: honours everything
	panics := &fakeTarget{name: "panics"}
	targets := []deploy.Target{
		honouring{images, deploy.Images | deploy.Version, false},
		honouring{imagesEnv, deploy.Images | deploy.Env | deploy.Version, false},
		silent,
		honouring{panics, 0, true},
	}
	rel := deploy.Release{Version: "v2", Images: map[string]string{"": "repo/web:v2"},
		Env: []deploy.EnvChange{{Name: "A", Value: "1"}}, Secrets: []deploy.SecretRef{{Name: "DB", ValueFrom: "/db"}}}
	res, err := deploy.Run(t.Context(), rel, targets, nil)
	if !errors.Is(err, deploy.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	for _, want := range []string{
		"images-only: check release: the release sets env, secrets, which this target does not honour (it honours images, version)",
		"images-and-env: check release: the release sets secrets, which this target does not honour (it honours images, env, version)",
		"panics: honours:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "says-nothing") {
		t.Errorf("a target without Honourer was rejected: %v", err)
	}
	for _, f := range []*fakeTarget{images, imagesEnv, silent, panics} {
		if ev := f.events(); len(ev) != 0 {
			t.Errorf("%s was used before the release was checked: %v", f.name, ev)
		}
	}
	if res.Targets[0].Err == nil || res.Targets[1].Err == nil || res.Targets[2].Err != nil || res.Targets[3].Err == nil {
		t.Errorf("per-target errors: %+v", res.Targets)
	}

	// The same targets with a release of images and a version only: all plan and apply.
	rel = deploy.Release{Version: "v2", Images: map[string]string{"": "repo/web:v2"}}
	if _, err := deploy.Run(t.Context(), rel, targets[:3], nil); err != nil {
		t.Fatalf("a release every target honours: %v", err)
	}
}

func TestPartsString(t *testing.T) {
	for _, tc := range []struct {
		p    deploy.Parts
		want string
	}{
		{0, "nothing"}, {deploy.Images, "images"}, {deploy.AllParts, "images, env, secrets, version"},
		{deploy.Release{Env: []deploy.EnvChange{{Name: "A"}}}.Parts(), "env"},
		{deploy.Release{Version: "v", Secrets: []deploy.SecretRef{{Name: "A", ValueFrom: "/a"}}}.Parts(), "secrets, version"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%08b: %q, want %q", tc.p, got, tc.want)
		}
	}
}
