package credentials

import (
	"slices"
	"strings"

	"github.com/stevedore-dev/stevedore/deploy"
)

// Environ returns base (os.Environ(), say) with vars set, for exec.Cmd.Env: a child process,
// such as a CI runner's build step, gets the values without them passing through a command
// line, a file or a log. Entries of base with the same names are replaced. Names must be
// valid environment variable names; values must not hold NUL bytes, which no environment
// can carry.
func Environ(base []string, vars map[string]Secret) ([]string, error) {
	names := sortedKeys(vars)
	for _, n := range names {
		if !deploy.ValidEnvName(n) {
			return nil, deploy.Errorf(deploy.ErrInvalid, "", "set environment", "%q is not a valid environment variable name (letters, digits and _, not starting with a digit)", n)
		}
		if strings.IndexByte(vars[n].Reveal(), 0) >= 0 {
			return nil, deploy.Errorf(deploy.ErrInvalid, "", "set environment", "the value of %s holds a NUL byte, which an environment cannot carry; encode it (base64, say)", n)
		}
	}
	out := make([]string, 0, len(base)+len(vars))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := vars[name]; !ok {
			out = append(out, kv)
		}
	}
	for _, n := range names {
		out = append(out, n+"="+vars[n].Reveal())
	}
	return slices.Clip(out), nil
}
