package credentials

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"

	"github.com/tidwall/gjson"
)

// Redacted is what a Secret prints instead of its value, whatever way it is printed.
const Redacted = "[redacted]"

// Secret holds a secret value. It prints, formats, logs and marshals as Redacted; only
// Reveal returns the value. The zero Secret is empty.
//
// The value sits behind a pointer so that even a Secret inside an unexported struct field,
// which fmt prints by reflection without calling its methods, shows an address, not the value.
type Secret struct {
	v *string
}

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: &s} }

// Reveal returns the value. Call it only where the value must leave the process: an
// environment variable, an API call, a file the user asked for.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsZero reports whether s is empty.
func (s Secret) IsZero() bool { return s.v == nil || *s.v == "" }

// Len returns the length of the value in bytes, which is not secret.
func (s Secret) Len() int { return len(s.Reveal()) }

// Equal reports whether s and o hold the same value.
func (s Secret) Equal(o Secret) bool { return s.Reveal() == o.Reveal() }

// String returns Redacted.
func (s Secret) String() string { return Redacted }

// GoString returns Redacted, for %#v.
func (s Secret) GoString() string { return Redacted }

// Format prints Redacted for every verb and flag, %q and %x included.
func (s Secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(Redacted)) }

// MarshalJSON writes Redacted as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText returns Redacted, for encoders that prefer text (XML, map keys, flag values).
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue makes slog print Redacted.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// Fields returns the top-level string fields of a value that is a JSON object, as a
// multi-field secret holds them. ok is false when the value is not a JSON object. A field
// whose value is not a string keeps its JSON text (a number 5432 becomes "5432").
func (s Secret) Fields() (fields map[string]Secret, ok bool) {
	v := s.Reveal()
	if !gjson.Valid(v) {
		return nil, false
	}
	obj := gjson.Parse(v)
	if !obj.IsObject() {
		return nil, false
	}
	fields = map[string]Secret{}
	obj.ForEach(func(k, val gjson.Result) bool {
		if val.Type == gjson.String {
			fields[k.String()] = NewSecret(val.String())
		} else {
			fields[k.String()] = NewSecret(val.Raw)
		}
		return true
	})
	return fields, true
}

// FromFields returns a multi-field secret: a JSON object of the fields, keys sorted.
func FromFields(fields map[string]Secret) Secret {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	buf := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(fields[k].Reveal())
		buf = append(append(append(buf, kb...), ':'), vb...)
	}
	return NewSecret(string(append(buf, '}')))
}
