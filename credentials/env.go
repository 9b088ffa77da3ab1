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
		if !validEnvName(n) {
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

func validEnvName(n string) bool {
	if n == "" || n[0] >= '0' && n[0] <= '9' {
		return false
	}
	for _, c := range n {
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
