package main

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

const minimal = `{"version": "v1", "stages": [{"name": "app", "targets": [{"ecs": {"cluster": "prod", "service": "web", "images": {"web": "r/web:v1"}}}]}]}`

// Every example release file in testdata loads, with the variables CodeBuild would set.
func TestExamplesLoad(t *testing.T) {
	vars := env(map[string]string{"IMAGE_TAG": "0123abc", "AWS_ACCOUNT_ID": "123456789012", "AWS_REGION": "us-east-1", "ECS_CLUSTER": "prod", "SERVICE_NAME": "web"})
	files, _ := os.ReadDir("testdata")
	n := 0
	for _, e := range files {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), "bad-") {
			continue
		}
		n++
		if _, err := Load("testdata/"+e.Name(), vars); err != nil {
			t.Errorf("%s: %v", e.Name(), err)
		}
	}
	if n == 0 {
		t.Fatal("no example release files")
	}
}

// One mistake per row, each named by its path.
func TestParseErrors(t *testing.T) {
	vars := env(map[string]string{"TAG": "v1"})
	for _, c := range []struct{ name, file, want string }{
		{"not JSON", `{"version":`, "not JSON"},
		{"an unset variable", `{"version": "${NOPE}", "stages": []}`, "version: ${NOPE} is not set"},
		{"a malformed reference", `{"version": "${1X}", "stages": []}`, `version: "${1X}" is not a variable reference`},
		{"an unknown field, with a guess", strings.Replace(minimal, `"service"`, `"servce"`, 1), `stages[0].targets[0].ecs: unknown field "servce" (did you mean "service"?)`},
		{"a missing required field", strings.Replace(minimal, `"service": "web", `, ``, 1), "stages[0].targets[0].ecs.service: required"},
		{"a wrong kind", strings.Replace(minimal, `"cluster": "prod"`, `"cluster": 7`, 1), "stages[0].targets[0].ecs.cluster: want a string, not a number"},
		{"a bad duration", strings.Replace(minimal, `"version": "v1"`, `"version": "v1", "timeout": "soon"`, 1), `timeout: "soon" is not a duration`},
		{"a negative count", strings.Replace(minimal, `"version": "v1"`, `"version": "v1", "concurrency": -1`, 1), "concurrency: want a number of 0 or more"},
		{"no stages", `{"version": "v1", "stages": []}`, "stages: empty"},
		{"two kinds in a target", strings.Replace(minimal, `"ecs": {`, `"eks": {"name": "web", "images": {}, "cluster": "c"}, "ecs": {`, 1), "stages[0].targets[0]: give exactly one of ecs, eks and ec2"},
		{"a target given twice", strings.Replace(minimal, `}]}]}`, `}, {"ecs": {"cluster": "prod", "service": "web"}}]}]}`, 1), "stages[0].targets[1]: ECS service prod/web is also stages[0].targets[0]"},
		{"two stages named alike", strings.Replace(minimal, `]}]}`, `]}, {"name": "app", "targets": [{"ecs": {"cluster": "prod", "service": "api"}}]}]}`, 1), `stages[1].name: "app" is also stages[0]'s name`},
		{"a bad store", strings.Replace(minimal, `"version": "v1"`, `"version": "v1", "store": "ftp://x"`, 1), `store: "ftp://x": use s3://`},
		{"a bad lock policy", strings.Replace(minimal, `"version": "v1"`, `"version": "v1", "lock": {"policy": "maybe"}`, 1), `lock.policy: "maybe": use wait, fail or supersede`},
		{"an eks target with cluster and kubeconfig", strings.Replace(minimal, `"ecs": {"cluster": "prod", "service": "web", "images": {"web": "r/web:v1"}}`, `"eks": {"cluster": "c", "kubeconfig": "k", "name": "web", "images": {"web": "r/web:v1"}}`, 1), "stages[0].targets[0].eks: give cluster"},
		{"an ec2 target with no fleet", strings.Replace(minimal, `"ecs": {"cluster": "prod", "service": "web", "images": {"web": "r/web:v1"}}`, `"ec2": {"commands": ["x"]}`, 1), "stages[0].targets[0].ec2: give instances or tags"},
		{"a gate with two checks", strings.Replace(minimal, `]}]}`, `], "gates": [{"alarms": ["a"], "http": {"url": "http://x"}}]}]}`, 1), "stages[0].gates[0]: give exactly one of alarms, metric and http"},
		{"a metric gate without a threshold", strings.Replace(minimal, `]}]}`, `], "gates": [{"metric": {"expression": "m1"}}]}]}`, 1), "stages[0].gates[0].metric: give above or below"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("release.json", []byte(c.file), vars)
			var inv *InvalidFile
			if !errors.As(err, &inv) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}

// Variables expand in values only; $$ is a dollar sign.
func TestExpand(t *testing.T) {
	f, err := Parse("r.json", []byte(strings.Replace(minimal, `"r/web:v1"`, `"${REPO}/web:${TAG}$$x"`, 1)), env(map[string]string{"REPO": "123456789012.dkr.ecr.us-east-1.amazonaws.com", "TAG": "abc"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Stages[0].Targets[0].ECS.Images["web"]; got != "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:abc$x" {
		t.Errorf("image %q", got)
	}
	for _, c := range []struct {
		vars map[string]string
		want string
	}{
		{nil, "deployed"}, {map[string]string{"WAIT": ""}, "deployed"}, {map[string]string{"WAIT": "started"}, "started"},
	} {
		f, err := Parse("r.json", []byte(strings.Replace(minimal, `"service": "web"`, `"service": "web", "waitUntil": "${WAIT:-deployed}"`, 1)), env(c.vars))
		if err != nil || f.Stages[0].Targets[0].ECS.WaitUntil != c.want {
			t.Errorf("${WAIT:-deployed} with %v: %v, %v; want %s", c.vars, f, err, c.want)
		}
	}
	f, err = Parse("r.json", []byte(strings.Replace(minimal, `"version": "v1"`, `"version": "v1", "timeout": "45m", "lock": {"policy": "fail", "wait": "2m"}`, 1)), env(nil))
	if err != nil || time.Duration(f.Timeout) != 45*time.Minute || time.Duration(f.Lock.Wait) != 2*time.Minute {
		t.Errorf("durations: %+v %v", f, err)
	}
}

// The published JSON Schema and the Go types name the same fields, with the same required
// ones, at every depth.
func TestSchemaMatchesTheTypes(t *testing.T) {
	data, err := os.ReadFile("release.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	defs, _ := schema["$defs"].(map[string]any)
	resolve := func(s map[string]any) map[string]any {
		if ref, ok := s["$ref"].(string); ok {
			d, _ := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
			return d
		}
		return s
	}
	var walk func(s map[string]any, typ reflect.Type, path string)
	walk = func(s map[string]any, typ reflect.Type, path string) {
		s = resolve(s)
		if typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		switch {
		case typ == durationType:
			if s["type"] != "string" {
				t.Errorf("%s: a duration is a string in the schema", path)
			}
		case typ.Kind() == reflect.Struct:
			props, _ := s["properties"].(map[string]any)
			if s["additionalProperties"] != false {
				t.Errorf("%s: the schema allows unknown fields", path)
			}
			fields := jsonFields(typ)
			for name, f := range fields {
				p, ok := props[name].(map[string]any)
				if !ok {
					t.Errorf("%s.%s: in the Go type, not in the schema", path, name)
					continue
				}
				walk(p, f.typ, path+"."+name)
			}
			for name := range props {
				if _, ok := fields[name]; !ok {
					t.Errorf("%s.%s: in the schema, not in the Go type", path, name)
				}
			}
			required := map[string]bool{}
			for _, r := range s["required"].([]any) {
				required[r.(string)] = true
			}
			for name, f := range fields {
				if f.required != required[name] {
					t.Errorf("%s.%s: required %v in Go, %v in the schema", path, name, f.required, required[name])
				}
			}
		case typ.Kind() == reflect.Slice:
			items, _ := s["items"].(map[string]any)
			if s["type"] != "array" || items == nil {
				t.Errorf("%s: want an array of items in the schema", path)
				return
			}
			walk(items, typ.Elem(), path+"[]")
		case typ.Kind() == reflect.Map:
			add, _ := s["additionalProperties"].(map[string]any)
			if s["type"] != "object" || add == nil {
				t.Errorf("%s: want an object of values in the schema", path)
				return
			}
			walk(add, typ.Elem(), path+".*")
		default:
			want := map[reflect.Kind]string{reflect.String: "string", reflect.Bool: "boolean", reflect.Int: "integer", reflect.Float64: "number"}[typ.Kind()]
			if s["type"] != want {
				t.Errorf("%s: type %v in the schema, want %s", path, s["type"], want)
			}
		}
	}
	walk(schema, reflect.TypeFor[File](), "")
}
