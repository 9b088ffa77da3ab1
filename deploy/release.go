package deploy

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// Release says what ships: a version, images by container name, and environment changes.
// Targets apply the parts that mean something to them and reject the parts they cannot honour.
type Release struct {
	// Version names the release, typically a commit SHA such as CODEBUILD_RESOLVED_SOURCE_VERSION.
	Version string
	// Images maps a container name to the image it should run. The empty name means "the
	// container whose image repository matches this image's, else the only container".
	Images map[string]string
	// Env sets or unsets environment variables, in order.
	Env []EnvChange
	// Secrets adds environment variables whose values a target's runtime resolves itself
	// (for ECS, task-definition secrets with valueFrom), so no value sits in plain text.
	Secrets []SecretRef
}

// EnvChange sets or unsets one environment variable in one container, or in all of them when
// Container is empty.
type EnvChange struct {
	Container string
	Name      string
	Value     string
	Unset     bool
}

// SecretRef exposes a secret to a container as an environment variable: ValueFrom is a
// Secrets Manager ARN (optionally with :json-key:version-stage:version-id) or a Parameter Store
// name or ARN. An empty Container means every container.
type SecretRef struct {
	Container string
	Name      string
	ValueFrom string
}

// Validate reports the first thing in r that no target could apply. An empty release is
// valid: with a target's force option it restarts what runs.
func (r Release) Validate() error {
	for name, img := range r.Images {
		if strings.TrimSpace(img) == "" {
			return Errorf(ErrInvalid, "", "validate release", "image for container %q is empty", name)
		}
		if !utf8.ValidString(img) || !utf8.ValidString(name) {
			return Errorf(ErrInvalid, "", "validate release", "image for container %q is not valid UTF-8", name)
		}
	}
	for i, e := range r.Env {
		if !ValidEnvName(e.Name) {
			return Errorf(ErrInvalid, "", "validate release", "Env[%d]: %q is not a valid environment variable name", i, e.Name)
		}
		// The value may be secret: say which variable, never what it holds.
		if !utf8.ValidString(e.Value) || !utf8.ValidString(e.Container) {
			return Errorf(ErrInvalid, "", "validate release", "Env[%d] (%s): the value or container name is not valid UTF-8", i, e.Name)
		}
	}
	for i, s := range r.Secrets {
		if !ValidEnvName(s.Name) {
			return Errorf(ErrInvalid, "", "validate release", "Secrets[%d]: %q is not a valid environment variable name", i, s.Name)
		}
		if !utf8.ValidString(s.ValueFrom) || !utf8.ValidString(s.Container) {
			return Errorf(ErrInvalid, "", "validate release", "Secrets[%d] (%s): ValueFrom or the container name is not valid UTF-8", i, s.Name)
		}
		if s.ValueFrom == "" {
			return Errorf(ErrInvalid, "", "validate release", "Secrets[%d] (%s): ValueFrom is empty", i, s.Name)
		}
	}
	return nil
}

// ImageNames returns the container names of r.Images in a stable order.
func (r Release) ImageNames() []string {
	names := make([]string, 0, len(r.Images))
	for n := range r.Images {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// String describes the release briefly; it never includes environment values.
func (r Release) String() string {
	var b strings.Builder
	if r.Version != "" {
		fmt.Fprintf(&b, "version %s", r.Version)
	}
	for _, n := range r.ImageNames() {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		if n == "" {
			fmt.Fprintf(&b, "image %s", r.Images[n])
		} else {
			fmt.Fprintf(&b, "%s=%s", n, r.Images[n])
		}
	}
	if len(r.Env) > 0 {
		fmt.Fprintf(&b, ", %d env changes", len(r.Env))
	}
	if len(r.Secrets) > 0 {
		fmt.Fprintf(&b, ", %d secrets", len(r.Secrets))
	}
	return b.String()
}
