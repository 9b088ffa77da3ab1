package eks

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stevedore-dev/stevedore/deploy"
)

// Names and image references are checked before any request: nothing is read or written
// for a release the API server would store wrongly or a name it cannot hold.
func TestPlanValidatesBeforeAnyRequest(t *testing.T) {
	var requests int
	c, err := NewClient(ClientConfig{Endpoint: "https://127.0.0.1:1", HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		requests++
		return nil, errors.New("no request should be made")
	})}})
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]string{"app": "registry.example.com/web:v2"}
	tests := []struct {
		name            string
		namespace, work string
		images          map[string]string
		want            string
	}{
		{"a query in the name", "default", "x?dryRun=All", good, `deployment name "x?dryRun=All"`},
		{"a path in the name", "default", "web/../../secrets", good, `deployment name "web/../../secrets"`},
		{"an uppercase name", "default", "Web", good, `deployment name "Web"`},
		{"a name of 254 characters", "default", strings.Repeat("a", 254), good, "at most 253"},
		{"a dot in the namespace", "team.a", "web", good, `namespace "team.a"`},
		{"an uppercase repository", "default", "web", map[string]string{"app": "registry.example.com/Web:v2"}, `repository part "Web" must be lowercase`},
		{"a space in the image", "default", "web", map[string]string{"app": "registry.example.com/web:v2 --privileged"}, "contains whitespace"},
		{"a 300-character tag", "default", "web", map[string]string{"app": "registry.example.com/web:" + strings.Repeat("v", 300)}, "must be 1-128"},
		{"an empty image", "default", "web", map[string]string{"app": ""}, "image reference is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			requests = 0
			_, err := New(c, Deployment, tc.namespace, tc.work, nil).Plan(context.Background(), deploy.Release{Images: tc.images})
			if !errors.Is(err, deploy.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrInvalid saying %q", err, tc.want)
			}
			if requests != 0 {
				t.Errorf("%d requests made before the input was checked", requests)
			}
		})
	}
}

// Every path segment is escaped, whatever reaches it.
func TestPathsAreEscaped(t *testing.T) {
	c, _ := NewClient(ClientConfig{Endpoint: "https://127.0.0.1:1"})
	tg := New(c, StatefulSet, "a b", "x?dryRun=All", nil)
	if want := "/apis/apps/v1/namespaces/a%20b/statefulsets/x%3FdryRun=All"; tg.path != want {
		t.Errorf("path %q, want %q", tg.path, want)
	}
}

// A target without a namespace uses the client's: the kubeconfig context's, else default.
func TestNamespaceDefaultsToTheClients(t *testing.T) {
	c, _ := NewClient(ClientConfig{Endpoint: "https://127.0.0.1:1", Namespace: "shop"})
	if tg := New(c, Deployment, "", "web", nil); tg.namespace != "shop" {
		t.Errorf("namespace %q, want the client's shop", tg.namespace)
	}
	c, _ = NewClient(ClientConfig{Endpoint: "https://127.0.0.1:1"})
	if tg := New(c, Deployment, "", "web", nil); tg.namespace != "default" {
		t.Errorf("namespace %q, want default", tg.namespace)
	}
}
