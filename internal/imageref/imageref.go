// Package imageref parses container image references such as
// 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1 or nginx@sha256:...
package imageref

import (
	"fmt"
	"strings"
)

// Ref is a parsed image reference. Registry and Repository are normalised the way container
// runtimes do: "nginx" is docker.io/library/nginx.
type Ref struct {
	Registry   string
	Repository string
	Tag        string
	Digest     string
}

// Name is the registry and repository, the part two references must share to be "the same image".
func (r Ref) Name() string { return r.Registry + "/" + r.Repository }

// Parse parses s, saying which part is wrong when it cannot.
func Parse(s string) (Ref, error) {
	var r Ref
	if s == "" {
		return r, fmt.Errorf("image reference is empty")
	}
	if i := strings.IndexFunc(s, func(c rune) bool { return c <= ' ' || c == 0x7f }); i >= 0 {
		return r, fmt.Errorf("image reference %q contains whitespace or a control character at byte %d", s, i)
	}
	name := s
	if at := strings.IndexByte(name, '@'); at >= 0 {
		name, r.Digest = name[:at], name[at+1:]
		alg, enc, ok := strings.Cut(r.Digest, ":")
		if !ok || alg == "" || enc == "" || !isAlnum(alg) || !isHex(enc) {
			return Ref{}, fmt.Errorf("image reference %q: digest %q is not of the form algorithm:hex", s, r.Digest)
		}
	}
	if colon := strings.LastIndexByte(name, ':'); colon > strings.LastIndexByte(name, '/') {
		name, r.Tag = name[:colon], name[colon+1:]
		if !validTag(r.Tag) {
			return Ref{}, fmt.Errorf("image reference %q: tag %q must be 1-128 of [A-Za-z0-9_.-], not starting with . or -", s, r.Tag)
		}
	}
	if name == "" {
		return Ref{}, fmt.Errorf("image reference %q has no repository", s)
	}
	parts := strings.Split(name, "/")
	if len(parts) > 1 && (strings.ContainsAny(parts[0], ".:") || parts[0] == "localhost") {
		r.Registry = strings.ToLower(parts[0])
		if !validRegistry(r.Registry) {
			return Ref{}, fmt.Errorf("image reference %q: registry %q is not a host[:port]", s, parts[0])
		}
		parts = parts[1:]
	} else {
		r.Registry = "docker.io"
	}
	for _, p := range parts {
		if !validComponent(p) {
			return Ref{}, fmt.Errorf("image reference %q: repository part %q must be lowercase letters and digits, separated by '.', '_' or '-'", s, p)
		}
	}
	if r.Registry == "docker.io" && len(parts) == 1 {
		parts = []string{"library", parts[0]}
	}
	r.Repository = strings.Join(parts, "/")
	return r, nil
}

func validTag(t string) bool {
	if t == "" || len(t) > 128 || t[0] == '.' || t[0] == '-' {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(isAlnumByte(c) || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func validComponent(p string) bool {
	if p == "" || !isLowerAlnum(p[0]) || !isLowerAlnum(p[len(p)-1]) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(isLowerAlnum(c) || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validRegistry(h string) bool {
	host, port, hasPort := strings.Cut(h, ":")
	if host == "" || (hasPort && (port == "" || !isDigits(port))) {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(isLowerAlnum(c) || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
func isAlnumByte(c byte) bool  { return isLowerAlnum(c) || c >= 'A' && c <= 'Z' }

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnumByte(s[i]) {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
