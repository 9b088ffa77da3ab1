package imageref

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	const ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
	dig := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		in   string
		want Ref
	}{
		{"nginx", Ref{Registry: "docker.io", Repository: "library/nginx"}},
		{"nginx:1.27", Ref{Registry: "docker.io", Repository: "library/nginx", Tag: "1.27"}},
		{"bitnami/redis:7", Ref{Registry: "docker.io", Repository: "bitnami/redis", Tag: "7"}},
		{ecr + "/app:abc123", Ref{Registry: ecr, Repository: "app", Tag: "abc123"}},
		{ecr + "/team/app@" + dig, Ref{Registry: ecr, Repository: "team/app", Digest: dig}},
		{ecr + "/app:v1@" + dig, Ref{Registry: ecr, Repository: "app", Tag: "v1", Digest: dig}},
		{"localhost:5000/app:dev", Ref{Registry: "localhost:5000", Repository: "app", Tag: "dev"}},
		{"localhost/app", Ref{Registry: "localhost", Repository: "app"}},
		{"public.ecr.aws/nginx/nginx:stable-alpine", Ref{Registry: "public.ecr.aws", Repository: "nginx/nginx", Tag: "stable-alpine"}},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestParseErrorsNameThePart(t *testing.T) {
	tests := []struct{ in, wantPart string }{
		{"", "empty"},
		{"app:", `tag ""`},
		{"app:-x", `tag "-x"`},
		{"App:1", `repository part "App"`},
		{"repo//app", `repository part ""`},
		{"app@sha256", "digest"},
		{"app@sha256:zz", "digest"},
		{"my host/app", "whitespace"},
		{":1", "no repository"},
		{"reg:port/app", `registry "reg:port"`},
	}
	for _, tc := range tests {
		_, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) = nil error, want one naming %s", tc.in, tc.wantPart)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantPart) {
			t.Errorf("Parse(%q) = %q, want it to name %s", tc.in, err, tc.wantPart)
		}
	}
}

func TestSameName(t *testing.T) {
	a, _ := Parse("nginx:1")
	b, _ := Parse("docker.io/library/nginx:2")
	if a.Name() != b.Name() {
		t.Errorf("%s != %s", a.Name(), b.Name())
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"nginx", "a/b:c", "localhost:5000/x@sha256:00", "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1", "x:", "@", "A/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		// A parsed reference prints back to one that parses to the same thing.
		out := r.Name()
		if r.Tag != "" {
			out += ":" + r.Tag
		}
		if r.Digest != "" {
			out += "@" + r.Digest
		}
		r2, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its normal form %q does not parse: %v", s, out, err)
		}
		if r2 != r {
			t.Fatalf("round trip of %q: %+v != %+v", s, r2, r)
		}
	})
}
