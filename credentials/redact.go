package credentials

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"sync"
)

// MinDerivedLength is the shortest field value or line of a secret a Redactor masks on its
// own (a whole value is masked whatever its length): masking every "1" or "{" in a log
// would hide the log, not the secret.
const MinDerivedLength = 4

// Redactor is an io.Writer that masks secret values in a stream before passing it on: each
// value raw, JSON-escaped and base64-encoded (standard and URL alphabets, with and without
// padding), each string field of a JSON-object value, and each line of a multi-line value.
// Values split across writes are masked too: bytes that might begin a value are held back
// until the next write tells, at most the longest pattern's length less one. Flush (or Close)
// writes what is held at the end. Safe for concurrent use.
type Redactor struct {
	mu       sync.Mutex
	w        io.Writer
	patterns [][]byte
	byFirst  [256][]int       // indexes into patterns, by first byte
	byTwo    map[uint16][]int // indexes of patterns of two bytes or more, by their first two
	single   [256]bool        // one-byte patterns
	maxLen   int
	out      []byte // reused output buffer
	buf      []byte
	mask     []byte
}

// NewRedactor returns a Redactor writing to w that masks secrets.
func NewRedactor(w io.Writer, secrets ...Secret) *Redactor {
	r := &Redactor{w: w, mask: []byte(Redacted), byTwo: map[uint16][]int{}}
	r.Add(secrets...)
	return r
}

// Add masks more secrets from now on.
func (r *Redactor) Add(secrets ...Secret) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, p := range r.patterns {
		seen[string(p)] = true
	}
	add := func(s string, min int) {
		if len(s) < min || seen[s] {
			return
		}
		seen[s] = true
		r.byFirst[s[0]] = append(r.byFirst[s[0]], len(r.patterns))
		if len(s) == 1 {
			r.single[s[0]] = true
		} else {
			k := uint16(s[0])<<8 | uint16(s[1])
			r.byTwo[k] = append(r.byTwo[k], len(r.patterns))
		}
		r.patterns = append(r.patterns, []byte(s))
		r.maxLen = max(r.maxLen, len(s))
	}
	forms := func(v string, min int) {
		add(v, min)
		add(jsonEscaped(v, true), min)
		add(jsonEscaped(v, false), min)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			add(enc.EncodeToString([]byte(v)), min)
		}
	}
	for _, s := range secrets {
		v := s.Reveal()
		if v == "" {
			continue
		}
		forms(v, 1)
		if fields, ok := s.Fields(); ok {
			for _, f := range fields {
				forms(f.Reveal(), MinDerivedLength)
			}
		}
		if strings.ContainsAny(v, "\r\n") {
			for _, line := range strings.FieldsFunc(v, func(c rune) bool { return c == '\n' || c == '\r' }) {
				forms(strings.TrimSpace(line), MinDerivedLength)
			}
		}
	}
}

func jsonEscaped(v string, html bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	_ = enc.Encode(v)
	out := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	return string(out[1 : len(out)-1])
}

// Write masks what it can decide on and passes it on. It reports len(p) when the
// underlying write succeeds, even if some bytes are held back for the next write.
func (r *Redactor) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, p...)
	if err := r.emit(false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush masks and writes everything held back.
func (r *Redactor) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.emit(true)
}

// Close flushes. It does not close the underlying writer.
func (r *Redactor) Close() error { return r.Flush() }

// emit writes out the masked part of r.buf that no later write can change.
func (r *Redactor) emit(final bool) error {
	out := r.out[:0]
	i := 0
	for {
		pos, n := r.find(i)
		hold := len(r.buf)
		if !final {
			hold = r.partial(i)
		}
		if pos >= 0 && pos < hold {
			out = append(append(out, r.buf[i:pos]...), r.mask...)
			i = pos + n
			continue
		}
		out = append(out, r.buf[i:hold]...)
		r.buf = append(r.buf[:0], r.buf[hold:]...)
		break
	}
	r.out = out
	if len(out) == 0 {
		return nil
	}
	_, err := r.w.Write(out)
	return err
}

// find returns the leftmost, then longest, whole pattern in r.buf[i:], or -1.
func (r *Redactor) find(i int) (pos, n int) {
	buf := r.buf
	for j := i; j < len(buf); j++ {
		b := buf[j]
		if len(r.byFirst[b]) == 0 {
			continue
		}
		if r.single[b] {
			n = 1
		}
		if j+1 < len(buf) {
			for _, k := range r.byTwo[uint16(b)<<8|uint16(buf[j+1])] {
				if p := r.patterns[k]; len(p) > n && bytes.HasPrefix(buf[j:], p) {
					n = len(p)
				}
			}
		}
		if n > 0 {
			return j, n
		}
	}
	return -1, 0
}

// partial returns the first position at or after i from which the rest of r.buf is a
// proper prefix of some pattern: a value that may be completed by the next write.
func (r *Redactor) partial(i int) int {
	for p := max(i, len(r.buf)-r.maxLen+1); p < len(r.buf); p++ {
		tail := r.buf[p:]
		for _, k := range r.byFirst[tail[0]] {
			if pat := r.patterns[k]; len(tail) < len(pat) && bytes.HasPrefix(pat, tail) {
				return p
			}
		}
	}
	return len(r.buf)
}
