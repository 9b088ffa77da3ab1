package deploy

import "testing"

// The table says what changed, one rule per row.
func TestStateBrief(t *testing.T) {
	const reg = "123456789012.dkr.ecr.us-east-1.amazonaws.com/"
	for _, c := range []struct {
		name     string
		s, other State
		want     string
	}{
		{"an image that changed, by its last path element", State{Images: map[string]string{"app": reg + "team/app:v1"}}, State{Images: map[string]string{"app": reg + "team/app:v2"}}, "app=app:v1"},
		{"an image that did not change is left out", State{Revision: "app:4", Images: map[string]string{"app": reg + "app:v1", "log": "fluent-bit:stable"}},
			State{Revision: "app:5", Images: map[string]string{"app": reg + "app:v2", "log": "fluent-bit:stable"}}, "app:4 app=app:v1"},
		{"nothing differs: what runs", State{Images: map[string]string{"": "nginx:1.27"}}, State{Images: map[string]string{"": "nginx:1.27"}}, "nginx:1.27"},
		{"the other has no images", State{Images: map[string]string{"": reg + "app:v1"}, Version: "v1"}, State{Version: "unknown"}, "app:v1 version v1"},
		{"a digest cut to 12 hex digits", State{Images: map[string]string{"": reg + "app@sha256:0123456789abcdef0123"}}, State{}, "app@sha256:0123456789ab"},
		{"a tag and a digest", State{Images: map[string]string{"": "app:v1@sha256:0123456789abcdef"}}, State{}, "app:v1@sha256:0123456789ab"},
		{"a registry with a port", State{Images: map[string]string{"": "localhost:5000/app:v1"}}, State{}, "app:v1"},
		{"empty", State{}, State{}, "-"},
	} {
		if got := c.s.brief(c.other); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}
