package ecs

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"github.com/aws/aws-sdk-go-v2/aws"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/deploy"
)

var update = flag.Bool("update", false, "rewrite golden files")

const ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "render", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("rendered JSON is invalid: %v\n%s", err, got)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", "render", name+".golden")
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), pretty.String()); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name, input string
		rel         deploy.Release
	}{
		{"full-image-by-repository", "describe-full.json", deploy.Release{
			Images: map[string]string{"": ecr + "/web:abc123"},
			Env: []deploy.EnvChange{
				{Container: "app", Name: "RELEASE", Value: "abc123"},
				{Container: "app", Name: "LOG_LEVEL", Unset: true},
				{Name: "REGION", Value: "us-east-1"},
			},
			Secrets: []deploy.SecretRef{{Container: "app", Name: "DB_PASSWORD",
				ValueFrom: "arn:aws:secretsmanager:us-east-1:123456789012:secret:web/db-AbCdEf:password::"}},
		}},
		{"full-image-by-name", "describe-full.json", deploy.Release{
			Images: map[string]string{"log_router": "public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.0"},
		}},
		{"full-no-change", "describe-full.json", deploy.Release{}},
		{"bare-only-container", "bare-single.json", deploy.Release{
			Images: map[string]string{"": ecr + "/worker:v2"},
			Env:    []deploy.EnvChange{{Name: "QUEUE", Value: ""}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Render(readTestdata(t, tc.input), tc.rel, nil)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, got)
			if _, err := RegisterInput(got); err != nil {
				t.Errorf("the SDK input type rejects the rendered document: %v", err)
			}
		})
	}
}

func TestRenderDropsReadOnlyAndUnknownKeys(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	got, err := Render(readTestdata(t, "describe-full.json"), deploy.Release{}, &RenderOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
		"registeredAt", "registeredBy", "deregisteredAt", "deleteRequestedAt", "someFutureTopLevelKey"} {
		if gjson.GetBytes(got, k).Exists() {
			t.Errorf("%s survived rendering", k)
		}
	}
	if gjson.GetBytes(got, "containerDefinitions.1.futureContainerSetting").Exists() {
		t.Error("an unknown nested key survived rendering")
	}
	for path, want := range map[string]string{
		`containerDefinitions.1.environment.#(name=="FEATURE_FLAGS").value`: "",
		"containerDefinitions.1.dockerLabels.empty":                         "",
		`tags.#(key=="cost-center").value`:                                  "",
		"enableFaultInjection":                                              "false",
	} {
		if r := gjson.GetBytes(got, path); !r.Exists() || r.String() != want {
			t.Errorf("%s = %q (exists %v), want %q kept", path, r.String(), r.Exists(), want)
		}
	}
	var dropped []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		dropped = append(dropped, gjson.Get(line, "key").Str)
	}
	slices.Sort(dropped)
	want := []string{"compatibilities", "containerDefinitions[1].futureContainerSetting", "deleteRequestedAt",
		"deregisteredAt", "registeredAt", "registeredBy", "requiresAttributes", "revision", "someFutureTopLevelKey",
		"status", "taskDefinitionArn"}
	if diff := cmp.Diff(want, dropped); diff != "" {
		t.Errorf("dropped keys logged (-want +got):\n%s", diff)
	}
}

func TestRenderWithAndWithoutWrapper(t *testing.T) {
	doc := readTestdata(t, "describe-full.json")
	inner := []byte(gjson.GetBytes(doc, "taskDefinition").Raw)
	rel := deploy.Release{Images: map[string]string{"app": ecr + "/web:v9"}}
	wrapped, err := Render(doc, rel, nil)
	if err != nil {
		t.Fatal(err)
	}
	bare, err := Render(inner, rel, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The only difference: the wrapper's tags.
	withoutTags, _ := json.Marshal(dropKey(t, wrapped, "tags"))
	bareMap, _ := json.Marshal(dropKey(t, bare, "tags"))
	if string(withoutTags) != string(bareMap) {
		t.Errorf("wrapped and bare render differ beyond tags:\n%s\n%s", withoutTags, bareMap)
	}
	if n := len(gjson.GetBytes(wrapped, "tags").Array()); n != 2 {
		t.Errorf("wrapped: %d tags, want 2", n)
	}
	if gjson.GetBytes(bare, "tags").Exists() {
		t.Error("bare: tags appeared from nowhere")
	}
}

func dropKey(t *testing.T, doc []byte, key string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, key)
	return m
}

func TestRenderRegisterStyleFileKeepsItsTags(t *testing.T) {
	doc := []byte(`{"family":"f","containerDefinitions":[{"name":"a","image":"x"}],"tags":[{"key":"k","value":"v"}]}`)
	got, err := Render(doc, deploy.Release{Images: map[string]string{"": "y:1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"family":"f","containerDefinitions":[{"name":"a","image":"y:1"}],"tags":[{"key":"k","value":"v"}]}`; string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestRenderErrors(t *testing.T) {
	two := `{"family":"f","containerDefinitions":[{"name":"a","image":"nginx:1"},{"name":"b","image":"redis:7"}]}`
	twins := `{"family":"f","containerDefinitions":[{"name":"a","image":"nginx:1"},{"name":"b","image":"nginx:2"}]}`
	tests := []struct {
		name, doc string
		rel       deploy.Release
		want      string
	}{
		{"not json", `{"family":`, deploy.Release{}, "not valid JSON"},
		{"array", `[]`, deploy.Release{}, "must be a JSON object"},
		{"wrapper not object", `{"taskDefinition":"x"}`, deploy.Release{}, `"taskDefinition" must be an object`},
		{"no family", `{"containerDefinitions":[{"name":"a"}]}`, deploy.Release{}, `"family" is missing`},
		{"no containers", `{"family":"f","containerDefinitions":[]}`, deploy.Release{}, "non-empty array"},
		{"nameless container", `{"family":"f","containerDefinitions":[{"image":"x"}]}`, deploy.Release{}, "containerDefinitions[0] has no name"},
		{"null top level", `{"family":"f","taskRoleArn":null,"containerDefinitions":[{"name":"a"}]}`, deploy.Release{}, "taskRoleArn is null"},
		{"null nested", `{"family":"f","containerDefinitions":[{"name":"a","environment":[{"name":"X","value":null}]}]}`, deploy.Release{}, "containerDefinitions[0].environment[0].value is null"},
		{"null in list", `{"family":"f","containerDefinitions":[{"name":"a","command":["x",null]}]}`, deploy.Release{}, "containerDefinitions[0].command[1] is null"},
		{"wrong type", `{"family":"f","containerDefinitions":[{"name":"a","environment":{"X":"1"}}]}`, deploy.Release{}, "containerDefinitions[0].environment must be an array, not an object"},
		{"an array where a scalar belongs", `{"family":"f","cpu":["256"],"containerDefinitions":[{"name":"a"}]}`, deploy.Release{}, "cpu must be a single value, not an array"},
		{"an object where a scalar belongs", `{"family":"f","containerDefinitions":[{"name":"a","memory":{"hard":128}}]}`, deploy.Release{}, "containerDefinitions[0].memory must be a single value, not an object"},
		{"a scalar where an object belongs", `{"family":"f","runtimePlatform":"LINUX","containerDefinitions":[{"name":"a"}]}`, deploy.Release{}, "runtimePlatform must be an object, not a string"},
		{"unknown container", two, deploy.Release{Images: map[string]string{"c": "x:1"}}, `no container named "c"; the task definition has "a", "b"`},
		{"no match among several", two, deploy.Release{Images: map[string]string{"": "postgres:16"}}, `no container runs docker.io/library/postgres and there are 2 containers ("a", "b")`},
		{"ambiguous match", twins, deploy.Release{Images: map[string]string{"": "nginx:3"}}, `containers "a", "b" all run docker.io/library/nginx`},
		{"bad image", two, deploy.Release{Images: map[string]string{"a": "nginx:"}}, `tag ""`},
		{"env for unknown container", two, deploy.Release{Env: []deploy.EnvChange{{Container: "z", Name: "X"}}}, `no container named "z"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render([]byte(tc.doc), tc.rel, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if !errors.Is(err, deploy.ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
		})
	}
}

func TestRegisterInputRejectsWrongTypes(t *testing.T) {
	_, err := RegisterInput([]byte(`{"family":"f","cpu":256,"containerDefinitions":[{"name":"a"}]}`))
	if !errors.Is(err, deploy.ErrInvalid) || !strings.Contains(err.Error(), "cpu") {
		t.Errorf("err = %v, want ErrInvalid naming cpu", err)
	}
}

func FuzzRender(f *testing.F) {
	f.Add(readTestdata(f, "describe-full.json"), "app", ecr+"/web:x", "K", "v")
	f.Add(readTestdata(f, "bare-single.json"), "", "busybox:2", "QUEUE", "")
	f.Add([]byte(`{"family":"f","containerDefinitions":[{"name":"a","image":"x"}]}`), "", "y", "A", "\"\\u0000")
	f.Fuzz(func(t *testing.T, doc []byte, container, image, envName, envValue string) {
		rel := deploy.Release{Images: map[string]string{container: image},
			Env: []deploy.EnvChange{{Container: container, Name: envName, Value: envValue}}}
		out, err := Render(doc, rel, nil)
		if err != nil {
			if !errors.Is(err, deploy.ErrInvalid) {
				t.Fatalf("error without ErrInvalid: %v", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("rendered invalid JSON: %s", out)
		}
		// Rendering is idempotent: the output renders to itself.
		again, err := Render(out, rel, nil)
		if err != nil {
			t.Fatalf("rendering the output failed: %v\n%s", err, out)
		}
		if !bytes.Equal(out, again) {
			t.Fatalf("not idempotent:\n%s\n%s", out, again)
		}
		name := container
		if name == "" {
			// The chosen container is the one now running image.
			found := false
			for _, c := range gjson.GetBytes(out, "containerDefinitions").Array() {
				found = found || c.Get("image").Str == image
			}
			if !found {
				t.Fatalf("no container runs %q after rendering", image)
			}
			return
		}
		c := gjson.GetBytes(out, `containerDefinitions.#(name==`+jsonQuote(name)+`)`)
		if c.Get("image").Str != image {
			t.Fatalf("container %q runs %q, want %q", name, c.Get("image").Str, image)
		}
		if v := c.Get(`environment.#(name==` + jsonQuote(envName) + `).value`); v.Str != envValue {
			t.Fatalf("env %q = %q, want %q", envName, v.Str, envValue)
		}
	})
}

func jsonQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

func TestRenderNullWrapperTagsMeansNone(t *testing.T) {
	got, err := Render([]byte(`{"taskDefinition":{"family":"f","containerDefinitions":[{"name":"a","image":"x"}]},"tags":null}`), deploy.Release{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if gjson.GetBytes(got, "tags").Exists() {
		t.Errorf("null wrapper tags rendered as %s", got)
	}
}

// Keys match the register input's members whatever their case, as encoding/json matches them
// when the rendered document is decoded: a key in another case is kept, not dropped as unknown.
func TestRenderKeysMatchWhateverTheirCase(t *testing.T) {
	out, err := Render([]byte(`{"family":"f","containerDefinitions":[{"name":"a","image":"nginx:1","Memory":128,"MEMORYRESERVATION":64,"PortMappings":[{"ContainerPort":80}]}],"NetworkMode":"awsvpc"}`), deploy.Release{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := RegisterInput(out)
	if err != nil {
		t.Fatal(err)
	}
	c := in.ContainerDefinitions[0]
	if aws.ToInt32(c.Memory) != 128 || aws.ToInt32(c.MemoryReservation) != 64 || len(c.PortMappings) != 1 || aws.ToInt32(c.PortMappings[0].ContainerPort) != 80 || in.NetworkMode != "awsvpc" {
		t.Errorf("keys in other cases were dropped: %s", out)
	}
}
