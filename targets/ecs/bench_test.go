package ecs

import (
	"encoding/json"
	"testing"

	"github.com/stevedore-dev/stevedore/deploy"
)

var benchRelease = deploy.Release{
	Images: map[string]string{"app": ecr + "/web:abc123"},
	Env:    []deploy.EnvChange{{Container: "app", Name: "RELEASE", Value: "abc123"}},
}

// BenchmarkRender renders the two-container describe output (tags, secrets, health check,
// read-only and unknown keys) with an image and an env change: gjson/sjson plus the
// allow-list walk.
func BenchmarkRender(b *testing.B) {
	doc := readTestdata(b, "describe-full.json")
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(doc, benchRelease, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONRoundTrip does what the script's jq line does to the same document with
// encoding/json: decode into maps, set the image and an env var, delete the read-only keys,
// encode. It keeps unknown keys and checks nothing, so it does less than Render.
func BenchmarkJSONRoundTrip(b *testing.B) {
	doc := readTestdata(b, "describe-full.json")
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(doc, &m); err != nil {
			b.Fatal(err)
		}
		td := m["taskDefinition"].(map[string]any)
		for _, k := range []string{"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
			"registeredAt", "registeredBy", "deregisteredAt", "deleteRequestedAt"} {
			delete(td, k)
		}
		app := td["containerDefinitions"].([]any)[1].(map[string]any)
		app["image"] = ecr + "/web:abc123"
		app["environment"] = append(app["environment"].([]any), map[string]any{"name": "RELEASE", "value": "abc123"})
		td["tags"] = m["tags"]
		if _, err := json.Marshal(td); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRegisterInput decodes a rendered task definition into the SDK's register input,
// the step between Render and the RegisterTaskDefinition call.
func BenchmarkRegisterInput(b *testing.B) {
	out, err := Render(readTestdata(b, "describe-full.json"), benchRelease, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := RegisterInput(out); err != nil {
			b.Fatal(err)
		}
	}
}
