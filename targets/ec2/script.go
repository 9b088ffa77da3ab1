package ec2

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/imageref"
)

// The environment variables the release reaches the commands through.
const (
	EnvVersion         = "STEVEDORE_VERSION"
	EnvImage           = "STEVEDORE_IMAGE"
	EnvPreviousVersion = "STEVEDORE_PREVIOUS_VERSION"
	EnvPreviousImage   = "STEVEDORE_PREVIOUS_IMAGE"
)

var versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+=-]{0,127}$`)

// release is what one instance is asked to run.
type release struct {
	version string
	image   string
	env     map[string]string
}

// releaseOf checks r for the EC2 target and returns what the commands will see.
func releaseOf(target string, r deploy.Release) (release, error) {
	bad := func(format string, args ...any) (release, error) {
		return release{}, deploy.Errorf(deploy.ErrInvalid, target, "plan", format, args...)
	}
	rel := release{version: r.Version, env: map[string]string{}}
	if r.Version == "" {
		return bad("the release has no version; the EC2 target records and rolls back by version")
	}
	if !versionRE.MatchString(r.Version) {
		return bad("version %q: use 1 to 128 letters, digits and ._:/@+=- starting with a letter or digit", r.Version)
	}
	names := r.ImageNames()
	for _, n := range names {
		img := r.Images[n]
		if _, err := imageref.Parse(img); err != nil {
			return bad("image %q: %v", img, err)
		}
		switch {
		case n == "" || len(names) == 1:
			rel.image = img
		case deploy.ValidEnvName(strings.ToUpper(n)):
			rel.env[EnvImage+"_"+strings.ToUpper(n)] = img
		default:
			return bad("image name %q cannot be part of an environment variable name", n)
		}
	}
	for i, e := range r.Env {
		if e.Container != "" {
			return bad("Env[%d] (%s) names a container; an EC2 instance has none", i, e.Name)
		}
		if strings.HasPrefix(e.Name, "STEVEDORE_") {
			return bad("Env[%d]: %s is reserved for the values stevedore sets", i, e.Name)
		}
		if e.Unset {
			delete(rel.env, e.Name)
			continue
		}
		if strings.IndexByte(e.Value, 0) >= 0 || !utf8.ValidString(e.Value) {
			return bad("Env[%d] (%s): the value is not text without NUL bytes", i, e.Name)
		}
		rel.env[e.Name] = e.Value
	}
	if len(r.Secrets) > 0 {
		return bad("the EC2 target takes no secrets by reference; resolve them with the credentials package and keep them out of command text")
	}
	return rel, nil
}

// preamble returns shell lines that export vars. Values travel base64-encoded, so no value
// is ever pasted into shell text: whatever it holds, it cannot end a quote or start a command.
func preamble(vars map[string]string) []string {
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	lines := make([]string, 0, len(names))
	for _, n := range names {
		lines = append(lines, fmt.Sprintf(`export %s="$(printf '%%s' '%s' | base64 -d)"`, n, base64.StdEncoding.EncodeToString([]byte(vars[n]))))
	}
	return lines
}

// instanceIDRE is what an instance ID looks like (i-..., or mi-... for a managed instance):
// only such IDs are written into a case pattern.
var instanceIDRE = regexp.MustCompile(`^[a-z]+-[0-9a-f]+$`)

// previousPreamble returns shell lines that export STEVEDORE_PREVIOUS_VERSION and
// STEVEDORE_PREVIOUS_IMAGE on each of ids as recorded in prev: plain exports when they all ran
// the same recorded release, else a case on AWS_SSM_INSTANCE_ID, which the SSM agent sets for
// every command it runs. Instances with no record get neither variable.
func previousPreamble(prev map[string]*recorded, ids []string) []string {
	groups := map[recorded][]string{}
	unknown := 0
	for _, id := range ids {
		if r := prev[id]; r != nil && instanceIDRE.MatchString(id) {
			groups[*r] = append(groups[*r], id)
		} else {
			unknown++
		}
	}
	exports := func(r recorded) []string {
		v := map[string]string{EnvPreviousVersion: r.Version}
		if r.Image != "" {
			v[EnvPreviousImage] = r.Image
		}
		return preamble(v)
	}
	if len(groups) == 0 {
		return nil
	}
	if len(groups) == 1 && unknown == 0 {
		for r := range groups {
			return exports(r)
		}
	}
	keys := make([]recorded, 0, len(groups))
	for r := range groups {
		keys = append(keys, r)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Version != keys[j].Version {
			return keys[i].Version < keys[j].Version
		}
		return keys[i].Image < keys[j].Image
	})
	lines := []string{`case "${AWS_SSM_INSTANCE_ID:-}" in`}
	for _, r := range keys {
		lines = append(lines, strings.Join(groups[r], "|")+")")
		lines = append(lines, exports(r)...)
		lines = append(lines, ";;")
	}
	return append(lines, "esac")
}

// vars is what the commands see for a release on an instance that ran prev (if known).
func (r release) vars(prev *recorded) map[string]string {
	v := map[string]string{EnvVersion: r.version}
	for k, val := range r.env {
		v[k] = val
	}
	if r.image != "" {
		v[EnvImage] = r.image
	}
	if prev != nil {
		v[EnvPreviousVersion] = prev.Version
		if prev.Image != "" {
			v[EnvPreviousImage] = prev.Image
		}
	}
	return v
}
