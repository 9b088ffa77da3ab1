package eks

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/gjson"
)

// As `aws eks update-kubeconfig` writes it.
const awsKubeconfig = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTg==
    server: https://ABCDEF.gr7.us-east-1.eks.amazonaws.com
  name: arn:aws:eks:us-east-1:123456789012:cluster/prod
contexts:
- context:
    cluster: arn:aws:eks:us-east-1:123456789012:cluster/prod
    user: arn:aws:eks:us-east-1:123456789012:cluster/prod
  name: arn:aws:eks:us-east-1:123456789012:cluster/prod
current-context: arn:aws:eks:us-east-1:123456789012:cluster/prod
kind: Config
preferences: {}
users:
- name: arn:aws:eks:us-east-1:123456789012:cluster/prod
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - --region
      - us-east-1
      - eks
      - get-token
      - --cluster-name
      - prod
      - --output
      - json
      command: aws
      env:
      - name: AWS_PROFILE
        value: "deploy" # a comment
`

func TestParseYAMLKubeconfig(t *testing.T) {
	out, err := parseYAML([]byte(awsKubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	j := gjson.ParseBytes(out)
	got := map[string]string{
		"server":  j.Get("clusters.0.cluster.server").String(),
		"ca":      j.Get("clusters.0.cluster.certificate-authority-data").String(),
		"current": j.Get("current-context").String(),
		"ctxUser": j.Get("contexts.0.context.user").String(),
		"cmd":     j.Get("users.0.user.exec.command").String(),
		"args":    j.Get("users.0.user.exec.args").Raw,
		"env":     j.Get("users.0.user.exec.env.0.value").String(),
		"prefs":   j.Get("preferences").Raw,
	}
	want := map[string]string{
		"server": "https://ABCDEF.gr7.us-east-1.eks.amazonaws.com", "ca": "LS0tLS1CRUdJTg==",
		"current": "arn:aws:eks:us-east-1:123456789012:cluster/prod", "ctxUser": "arn:aws:eks:us-east-1:123456789012:cluster/prod",
		"cmd": "aws", "args": `["--region","us-east-1","eks","get-token","--cluster-name","prod","--output","json"]`,
		"env": "deploy", "prefs": "{}",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}

	flowDoc := "contexts:\n- name: local\n  context: {cluster: local, user: 'test user'}\nlist: [a, \"b c\"]\n"
	out, err = parseYAML([]byte(flowDoc))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); s != `{"contexts":[{"context":{"cluster":"local","user":"test user"},"name":"local"}],"list":["a","b c"]}` {
		t.Errorf("flow: %s", s)
	}
	for _, bad := range []string{"a: &x 1\n", "a: |\n  text\n", "a: {b: c\n", "a:\n  b: c\n d: e\n"} {
		if _, err := parseYAML([]byte(bad)); err == nil {
			t.Errorf("parseYAML(%q) accepted", bad)
		}
	}
}

func FuzzParseYAML(f *testing.F) {
	f.Add(awsKubeconfig)
	f.Add("a: {b: [c, d]}\n- x\n")
	f.Fuzz(func(t *testing.T, s string) {
		out, err := parseYAML([]byte(s))
		if err == nil && !gjson.ValidBytes(out) {
			t.Fatalf("parseYAML(%q) = invalid JSON %s", s, out)
		}
	})
}
