package ekstest

import (
	"encoding/json"
	"strings"
	"testing"
)

// One operation per row, on {"a":{"b":1,"x/y":2,"m~n":3},"l":[1,2,3]}.
func TestApplyPatch(t *testing.T) {
	const doc = `{"a":{"b":1,"x/y":2,"m~n":3},"l":[1,2,3]}`
	for _, c := range []struct{ name, patch, want, err string }{
		{"replace a member", `[{"op":"replace","path":"/a/b","value":9}]`, `{"a":{"b":9,"m~n":3,"x/y":2},"l":[1,2,3]}`, ""},
		{"replace needs the member", `[{"op":"replace","path":"/a/c","value":9}]`, "", `no member "c"`},
		{"add a member", `[{"op":"add","path":"/a/c","value":9}]`, `{"a":{"b":1,"c":9,"m~n":3,"x/y":2},"l":[1,2,3]}`, ""},
		{"add inserts into an array", `[{"op":"add","path":"/l/1","value":9}]`, `{"a":{"b":1,"m~n":3,"x/y":2},"l":[1,9,2,3]}`, ""},
		{"add at the array's end", `[{"op":"add","path":"/l/3","value":9}]`, `{"a":{"b":1,"m~n":3,"x/y":2},"l":[1,2,3,9]}`, ""},
		{"add with - appends", `[{"op":"add","path":"/l/-","value":9}]`, `{"a":{"b":1,"m~n":3,"x/y":2},"l":[1,2,3,9]}`, ""},
		{"add past the end", `[{"op":"add","path":"/l/4","value":9}]`, "", `index "4" is out of range`},
		{"replace an element", `[{"op":"replace","path":"/l/2","value":9}]`, `{"a":{"b":1,"m~n":3,"x/y":2},"l":[1,2,9]}`, ""},
		{"replace past the end", `[{"op":"replace","path":"/l/3","value":9}]`, "", `index "3" is out of range`},
		{"leading zero index", `[{"op":"replace","path":"/l/01","value":9}]`, "", `index "01" is out of range`},
		{"remove a member", `[{"op":"remove","path":"/a/b"}]`, `{"a":{"m~n":3,"x/y":2},"l":[1,2,3]}`, ""},
		{"remove an element", `[{"op":"remove","path":"/l/0"}]`, `{"a":{"b":1,"m~n":3,"x/y":2},"l":[2,3]}`, ""},
		{"remove needs the member", `[{"op":"remove","path":"/a/c"}]`, "", `no member "c"`},
		{"~1 is a slash", `[{"op":"replace","path":"/a/x~1y","value":9}]`, `{"a":{"b":1,"m~n":3,"x/y":9},"l":[1,2,3]}`, ""},
		{"~0 is a tilde", `[{"op":"replace","path":"/a/m~0n","value":9}]`, `{"a":{"b":1,"m~n":9,"x/y":2},"l":[1,2,3]}`, ""},
		{"a missing parent", `[{"op":"add","path":"/z/b","value":9}]`, "", `no member "z"`},
		{"through a scalar", `[{"op":"add","path":"/a/b/c","value":9}]`, "", "is not in an object or array"},
		{"the whole document", `[{"op":"replace","path":"","value":{"k":1}}]`, `{"k":1}`, ""},
		{"test passes", `[{"op":"test","path":"/a/b","value":1},{"op":"replace","path":"/a/b","value":2}]`, `{"a":{"b":2,"m~n":3,"x/y":2},"l":[1,2,3]}`, ""},
		{"test fails", `[{"op":"test","path":"/a/b","value":2}]`, "", "test of /a/b failed"},
		{"operations in order", `[{"op":"add","path":"/c","value":{}},{"op":"add","path":"/c/d","value":1}]`, `{"a":{"b":1,"m~n":3,"x/y":2},"c":{"d":1},"l":[1,2,3]}`, ""},
		{"no path", `[{"op":"add","value":1}]`, "", "has no path"},
		{"no value", `[{"op":"add","path":"/c"}]`, "", "has no value"},
		{"a path without /", `[{"op":"add","path":"c","value":1}]`, "", "does not start with /"},
		{"move is refused", `[{"op":"move","from":"/a","path":"/b"}]`, "", `"move" is not an operation`},
		{"not a patch", `{"op":"add"}`, "", "not a JSON Patch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var v any
			_ = json.Unmarshal([]byte(doc), &v)
			out, err := applyPatch(v, []byte(c.patch))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := json.Marshal(out); string(got) != c.want {
				t.Errorf("got %s\nwant %s", got, c.want)
			}
		})
	}
}

// One selector per row.
func TestParseSelector(t *testing.T) {
	for _, c := range []struct {
		in   string
		want map[string]string
		ok   bool
	}{
		{"", map[string]string{}, true},
		{"app=web", map[string]string{"app": "web"}, true},
		{"app==web", map[string]string{"app": "web"}, true},
		{"app=web,pod-template-hash=abc", map[string]string{"app": "web", "pod-template-hash": "abc"}, true},
		{"app=", map[string]string{"app": ""}, true},
		{"app!=web", nil, false},
		{"app in (web)", nil, false},
		{"app", nil, false},
		{"=web", nil, false},
	} {
		got, err := parseSelector(c.in)
		if (err == nil) != c.ok || (c.ok && !jsonEqual(got, c.want)) {
			t.Errorf("parseSelector(%q) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

// Patching never panics, and a patch that applies leaves a document that encodes.
func FuzzApplyPatch(f *testing.F) {
	f.Add(`{"a":{"b":[1,2]}}`, `[{"op":"add","path":"/a/b/-","value":3}]`)
	f.Add(`{"a":1}`, `[{"op":"remove","path":"/a"},{"op":"test","path":"","value":{}}]`)
	f.Add(`[1,2]`, `[{"op":"replace","path":"/1","value":null}]`)
	f.Fuzz(func(t *testing.T, doc, patch string) {
		var v any
		if json.Unmarshal([]byte(doc), &v) != nil {
			return
		}
		out, err := applyPatch(v, []byte(patch))
		if err == nil {
			if _, err := json.Marshal(out); err != nil {
				t.Fatalf("the patched document does not encode: %v", err)
			}
		}
	})
}

// A selector that parses selects exactly what it names.
func FuzzParseSelector(f *testing.F) {
	f.Add("app=web,pod-template-hash=abc")
	f.Add("a==b")
	f.Fuzz(func(t *testing.T, in string) {
		sel, err := parseSelector(in)
		if err != nil {
			return
		}
		if !matches(sel, sel) {
			t.Fatalf("%q does not select its own labels %v", in, sel)
		}
		for k, v := range sel {
			other := map[string]string{}
			for k2, v2 := range sel {
				other[k2] = v2
			}
			other[k] = v + "x"
			if matches(sel, other) {
				t.Fatalf("%q selects %v", in, other)
			}
		}
	})
}
