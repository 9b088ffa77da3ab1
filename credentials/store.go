package credentials

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/stevedore-dev/stevedore/deploy"
)

// Store keeps secrets by name. A value that is a JSON object is a multi-field secret
// (username and password, say); every store reads it back as the same object, whatever it
// keeps underneath. Implementations are safe for concurrent use and return *deploy.Error
// values: deploy.ErrNotFound for a missing secret or version, deploy.ErrInvalid for a name or
// value the store cannot take, deploy.ErrAccessDenied, deploy.ErrThrottled.
type Store interface {
	// Get reads a secret; the zero Version means the current one.
	Get(ctx context.Context, name string, v Version) (Entry, error)
	// Put writes a new version of a secret, creating it if needed.
	Put(ctx context.Context, name string, value Secret) (Entry, error)
	// Delete removes a secret and all its versions.
	Delete(ctx context.Context, name string) error
	// List returns the names of the secrets whose names start with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
}

// Labeler is implemented by stores that can point a label at a version: a Secrets Manager
// staging label, a Parameter Store parameter label. A label names one version at a time;
// labelling another version moves it.
type Labeler interface {
	Label(ctx context.Context, name, version, label string) error
}

// Version selects one stored version of a secret: by ID (a Secrets Manager version id, a
// Parameter Store version number in decimal) or by Label (a staging label such as
// AWSPREVIOUS, a parameter label). The zero Version is the current one.
type Version struct {
	ID    string
	Label string
}

// Entry is one version of a stored secret.
type Entry struct {
	Name  string
	Value Secret
	// Version identifies this version for Get; empty where the store has no single version
	// (a multi-field secret in Parameter Store, whose fields are versioned one by one).
	Version string
	// Labels are the labels on this version, where the store reports them.
	Labels []string
}

// checkPut rejects what no store takes, naming the secret, never printing the value.
func checkPut(target, name string, value Secret) error {
	switch {
	case name == "":
		return deploy.Errorf(deploy.ErrInvalid, target, "put secret", "the name is empty")
	case value.IsZero():
		return deploy.Errorf(deploy.ErrInvalid, target, "put secret", "the value is empty; delete the secret instead")
	case !utf8.ValidString(value.Reveal()):
		return deploy.Errorf(deploy.ErrInvalid, target, "put secret", "the value is not valid UTF-8 (%d bytes); encode binary values, with base64 say", value.Len())
	case strings.TrimSpace(name) != name:
		return deploy.Errorf(deploy.ErrInvalid, target, "put secret", "the name has leading or trailing white space")
	}
	return nil
}
