package jsondiff

import (
	"encoding/json"
	"testing"
)

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// One kind of change per row.
func TestDiff(t *testing.T) {
	tests := []struct{ name, a, b, want string }{
		{"equal", `{"a":1}`, `{"a":1}`, ""},
		{"a scalar changed", `{"image":"web:1"}`, `{"image":"web:2"}`, "t (- before, + after, ~ changed):\n~ .image: \"web:1\" -> \"web:2\"\n"},
		{"a key added", `{}`, `{"mode":"blue"}`, "t (- before, + after, ~ changed):\n+ .mode: \"blue\"\n"},
		{"a key removed", `{"mode":"blue"}`, `{}`, "t (- before, + after, ~ changed):\n- .mode: \"blue\"\n"},
		{"nested in an array", `{"c":[{"image":"a:1"},{"image":"b:1"}]}`, `{"c":[{"image":"a:1"},{"image":"b:2"}]}`, "t (- before, + after, ~ changed):\n~ .c[1].image: \"b:1\" -> \"b:2\"\n"},
		{"an element appended", `{"env":[{"n":"A"}]}`, `{"env":[{"n":"A"},{"n":"B"}]}`, "t (- before, + after, ~ changed):\n+ .env[1]: {\"n\":\"B\"}\n"},
		{"an element removed", `{"env":[{"n":"A"},{"n":"B"}]}`, `{"env":[{"n":"B"}]}`, "t (- before, + after, ~ changed):\n- .env[0]: {\"n\":\"A\"}\n"},
		{"a key that is not an identifier", `{"metadata":{"annotations":{"kubernetes.io/change-cause":"x"}}}`, `{"metadata":{"annotations":{"kubernetes.io/change-cause":"y"}}}`,
			"t (- before, + after, ~ changed):\n~ .metadata.annotations[\"kubernetes.io/change-cause\"]: \"x\" -> \"y\"\n"},
		{"a type changed", `{"v":"1"}`, `{"v":1}`, "t (- before, + after, ~ changed):\n~ .v: \"1\" -> 1\n"},
		{"null to a value", `{"v":null}`, `{"v":[]}`, "t (- before, + after, ~ changed):\n~ .v: null -> []\n"},
		{"no HTML escaping", `{"td":"web:7"}`, `{"td":"web:<new revision>"}`, "t (- before, + after, ~ changed):\n~ .td: \"web:7\" -> \"web:<new revision>\"\n"},
		{"the root", `1`, `"x"`, "t (- before, + after, ~ changed):\n~ .: 1 -> \"x\"\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Diff("t", decode(t, tc.a), decode(t, tc.b)); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

type settings struct {
	TaskDefinition string
	DesiredCount   int32
}

func TestDiffStructs(t *testing.T) {
	got := Diff("service", settings{"web:7", 2}, settings{"web:<new revision>", 3})
	want := "service (- before, + after, ~ changed):\n~ .TaskDefinition: \"web:7\" -> \"web:<new revision>\"\n~ .DesiredCount: 2 -> 3\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// The same inputs give the same bytes every time (go-cmp's own report does not, on purpose).
func TestDiffIsStable(t *testing.T) {
	a := decode(t, `{"containerDefinitions":[{"name":"app","image":"web:1","environment":[{"name":"A","value":"1"}]},{"name":"side","image":"s:1"}],"cpu":"256","tags":[{"key":"k","value":"v"}]}`)
	b := decode(t, `{"containerDefinitions":[{"name":"app","image":"web:2","environment":[{"name":"A","value":"2"},{"name":"B","value":""}]},{"name":"side","image":"s:1"}],"cpu":"512"}`)
	first := Diff("td", a, b)
	for range 50 {
		if got := Diff("td", a, b); got != first {
			t.Fatalf("differs between runs:\n%s\n%s", first, got)
		}
	}
}
