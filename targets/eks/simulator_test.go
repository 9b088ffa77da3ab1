package eks_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/kubetest"
	"github.com/stevedore-dev/stevedore/targets/eks"
	"github.com/stevedore-dev/stevedore/targets/eks/ekstest"
)

// api makes raw requests of a Kubernetes API server.
type api struct {
	base, token string
	hc          *http.Client
}

func (a api) do(t *testing.T, method, path, body string) gjson.Result {
	t.Helper()
	req, _ := http.NewRequest(method, a.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %s", method, path, data)
	}
	return gjson.ParseBytes(data)
}

const simImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:"

// story rolls v2 out to Deployment web in ns, then a release whose image cannot be pulled,
// and tells what the target said and what the cluster holds after each.
func story(t *testing.T, a api, c *eks.Client, ns string) []string {
	t.Helper()
	path := "/apis/apps/v1/namespaces/" + ns + "/deployments/web"
	deadline := time.Now().Add(time.Minute)
	for { // the new Deployment rolls out first
		if _, done, _ := eks.Status(eks.Deployment, a.do(t, "GET", path, "")); done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new deployment never rolled out")
		}
		time.Sleep(100 * time.Millisecond)
	}
	target := eks.New(c, eks.Deployment, ns, "web", &eks.Options{PollInterval: 200 * time.Millisecond})
	var out []string
	for _, tag := range []string{"v2", "broken"} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		res, err := deploy.Run(ctx, deploy.Release{Version: tag, Images: map[string]string{"app": simImage + tag}}, []deploy.Target{target}, nil)
		cancel()
		out = append(out, fmt.Sprintf("%s: %s, ImagePullBackOff named: %v", tag, res.Outcome(), err != nil && strings.Contains(err.Error(), "ImagePullBackOff")))
		d := a.do(t, "GET", path, "")
		out = append(out, fmt.Sprintf("deployment: revision %s, generation %d observed %d, image %s, change-cause %q",
			d.Get(`metadata.annotations.deployment\.kubernetes\.io/revision`), d.Get("metadata.generation").Int(),
			d.Get("status.observedGeneration").Int(), d.Get("spec.template.spec.containers.0.image"), d.Get(`metadata.annotations.kubernetes\.io/change-cause`)))
		var sets []string
		for _, rs := range a.do(t, "GET", "/apis/apps/v1/namespaces/"+ns+"/replicasets?labelSelector=app%3Dweb", "").Get("items").Array() {
			sets = append(sets, fmt.Sprintf("revision %s %s replicas %d", rs.Get(`metadata.annotations.deployment\.kubernetes\.io/revision`),
				rs.Get("spec.template.spec.containers.0.image"), rs.Get("spec.replicas").Int()))
		}
		sort.Strings(sets)
		out = append(out, sets...)
	}
	return out
}

const storyDeployment = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":3,
	"strategy":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":0}},"selector":{"matchLabels":{"app":"web"}},
	"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"app","image":"` + simImage + `v1"}]}}}}`

// The ekstest simulator and the real control plane tell the EKS target the same story: the
// same outcomes, and the same revisions, ReplicaSets, generations and annotations after a
// rollout and after a rollback (kubectl rollout undo's patch onto the old ReplicaSet).
func TestSimulatorAgreesWithTheControlPlane(t *testing.T) {
	k := kubetest.Get(t)
	c, err := eks.NewClient(eks.ClientConfig{Endpoint: k.Endpoint, CAData: k.CA, Tokens: eks.StaticToken(k.Token)})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(k.CA)
	real := api{base: k.Endpoint, token: k.Token, hc: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	ns := fmt.Sprintf("sim%d", time.Now().UnixNano()%1e8)
	real.do(t, "POST", "/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+ns+`"}}`)
	t.Cleanup(func() { real.do(t, "DELETE", "/api/v1/namespaces/"+ns, "") })
	real.do(t, "POST", "/apis/apps/v1/namespaces/"+ns+"/deployments", storyDeployment)
	want := story(t, real, c, ns)

	sim := ekstest.New(nil)
	sim.StepInterval = 50 * time.Millisecond
	sim.SetBehavior(simImage+"broken", ekstest.Behavior{Reason: "ImagePullBackOff"})
	if err := sim.CreateDeployment(strings.Replace(storyDeployment, `"name":"web"`, `"name":"web","namespace":"`+ns+`"`, 1)); err != nil {
		t.Fatal(err)
	}
	got := story(t, api{base: "http://sim", hc: sim.HTTPClient()}, sim.Client(), ns)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the simulator says:\n%s\nthe control plane says:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	t.Logf("both say:\n%s", strings.Join(want, "\n"))
}
