package deploy

import (
	"errors"
	"strings"
	"testing"
)

func TestReleaseValidate(t *testing.T) {
	const secret = "hunter2\xff"
	tests := []struct {
		r    Release
		want string // "" means valid
	}{
		{Release{}, ""},
		{Release{Version: "v1", Images: map[string]string{"": "nginx:1"}, Env: []EnvChange{{Name: "A_1", Value: ""}}}, ""},
		{Release{Images: map[string]string{"app": " "}}, `image for container "app" is empty`},
		{Release{Env: []EnvChange{{Name: "1A"}}}, `Env[0]: "1A" is not a valid`},
		{Release{Env: []EnvChange{{Name: "A-B"}}}, `"A-B" is not a valid`},
		{Release{Env: []EnvChange{{Name: "PASSWORD", Value: secret}}}, "Env[0] (PASSWORD): the value or container name is not valid UTF-8"},
		{Release{Secrets: []SecretRef{{Name: "DB"}}}, "Secrets[0] (DB): ValueFrom is empty"},
	}
	for _, tc := range tests {
		err := tc.r.Validate()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.r, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: err = %v, want ErrInvalid containing %q", tc.r, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error leaks the value: %v", err)
		}
	}
}

func TestReleaseStringHidesValues(t *testing.T) {
	r := Release{Version: "abc", Images: map[string]string{"app": "x:1"}, Env: []EnvChange{{Name: "TOKEN", Value: "s3cr3t"}}}
	if got := r.String(); strings.Contains(got, "s3cr3t") || got != "version abc, app=x:1, 1 env changes" {
		t.Errorf("String() = %q", got)
	}
}
