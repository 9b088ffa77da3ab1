package credentials

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"
	"sync"
)

// MinDerivedLength is the shortest field value or line of a secret a Redactor masks on its
// own (a whole value is masked whatever its length): masking every "1" or "{" in a log
// would hide the log, not the secret.
const MinDerivedLength = 4

// minEmbedded is the shortest run of base64 characters a Redactor masks as part of a longer
// encoding (a value base64-encoded after other bytes, as in HTTP Basic auth's "user:value"):
// shorter runs match ordinary text too often.
const minEmbedded = 8

// Redactor is an io.Writer that masks secret values in a stream before passing it on. Each
// value is masked in every form a log shows it in: raw; JSON-escaped; base64 in the standard
// and URL alphabets, with and without padding, alone or inside a longer encoding (an HTTP
// Basic auth header of "user:" and the value, say), and wrapped across lines (MIME's 76
// columns, PEM's 64); hex in either case; URL-encoded. So are each string field of a
// JSON-object value and each line of a multi-line value. Where two values match at one
// place, the longer is masked whole.
//
// Values split across writes are masked too: bytes that might begin a value are held back
// until a later write tells. Writers made with Writer share the stream, so a value split
// across a process's stdout and stderr is masked as well. Flush (or Close) writes what is
// held at the end. Safe for concurrent use.
type Redactor struct {
	mu       sync.Mutex
	outs     []io.Writer
	patterns []pattern
	byFirst  [256][]int       // indexes into patterns, by first byte
	byTwo    map[uint16][]int // indexes of patterns of two bytes or more, by their first two
	// find looks plain patterns of four bytes or more up by their first four (many values
	// share two: every hex form of "secret-..." starts with 73), the rest by their first two.
	byFour  map[uint32][]int
	twoFind map[uint16][]int
	byPct   [256][]int      // indexes of pct patterns, by each byte their encoding may start with
	hasTwo  [1 << 10]uint64 // the keys of byTwo, as a bitset: most bytes are rejected here
	single  [256]bool       // one-byte patterns
	starts  [256]bool       // some pattern, or a URL encoding of one, starts with this byte
	anyFlex bool
	long    [256]bool // some pattern of two bytes or more starts with this byte
	maxLen  int       // the longest pattern
	maxFlex int       // the longest pattern that may run across lines
	maxPct  int       // the longest URL-encodable value
	buf     []byte
	owners  []run // which writer each byte of buf came through, run by run
	out     []segment
	outBuf  []byte // what out's segments hold, reused
	mask    []byte
}

// pattern is one form of one secret. A flex pattern (base64) may be broken across lines: a
// "\n" or "\r\n" may come between any two of its bytes. A pct pattern is a value as any URL
// encoder writes it: each byte itself, or %XX in either case, or + for a space.
type pattern struct {
	b    []byte
	flex bool
	pct  bool
}

// run is n bytes of the buffer written through outs[w].
type run struct{ w, n int }

// segment is outBuf[from:to], bound for outs[w].
type segment struct{ w, from, to int }

// NewRedactor returns a Redactor writing to w that masks secrets.
func NewRedactor(w io.Writer, secrets ...Secret) *Redactor {
	r := &Redactor{outs: []io.Writer{w}, mask: []byte(Redacted), byTwo: map[uint16][]int{}, byFour: map[uint32][]int{}, twoFind: map[uint16][]int{}}
	r.Add(secrets...)
	return r
}

// Writer returns a writer to w that joins r's stream: what it is given is masked with what r
// and r's other writers are given, in the order it arrives, so a value cut between two
// outputs shown in one log is caught. Flushing r flushes it too.
func (r *Redactor) Writer(w io.Writer) io.Writer {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outs = append(r.outs, w)
	return &streamWriter{r: r, w: len(r.outs) - 1}
}

type streamWriter struct {
	r *Redactor
	w int
}

func (s *streamWriter) Write(p []byte) (int, error) { return s.r.write(s.w, p) }

// Add masks more secrets from now on.
func (r *Redactor) Add(secrets ...Secret) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, p := range r.patterns {
		seen[string(p.b)] = true
	}
	add := func(s string, min int, flex bool) {
		if len(s) < min || seen[s] {
			return
		}
		seen[s] = true
		r.starts[s[0]] = true
		r.byFirst[s[0]] = append(r.byFirst[s[0]], len(r.patterns))
		if len(s) == 1 {
			r.single[s[0]] = true
		} else {
			k := uint16(s[0])<<8 | uint16(s[1])
			r.byTwo[k] = append(r.byTwo[k], len(r.patterns))
			r.hasTwo[k>>6] |= 1 << (k & 63)
			if !flex && len(s) >= 4 {
				k4 := uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3])
				r.byFour[k4] = append(r.byFour[k4], len(r.patterns))
			} else {
				r.twoFind[k] = append(r.twoFind[k], len(r.patterns))
			}
		}
		r.patterns = append(r.patterns, pattern{b: []byte(s), flex: flex})
		r.anyFlex = r.anyFlex || flex
		r.long[s[0]] = r.long[s[0]] || len(s) > 1
		r.maxLen = max(r.maxLen, len(s))
		if flex {
			r.maxFlex = max(r.maxFlex, len(s))
		}
	}
	addPct := func(v string, min int) {
		if len(v) < min || !strings.ContainsFunc(v, func(c rune) bool { return !isAlnum(c) }) {
			return // nothing an encoder would escape: the raw pattern covers it
		}
		k := len(r.patterns)
		r.patterns = append(r.patterns, pattern{b: []byte(v), pct: true})
		r.starts[v[0]], r.starts['%'] = true, true
		if v[0] == ' ' {
			r.starts['+'] = true
		}
		r.maxPct = max(r.maxPct, len(v))
		switch {
		case len(v) > 1 && isAlnum(rune(v[0])) && isAlnum(rune(v[1])):
			// No encoder escapes letters and digits: the encoding starts with these two.
			key := uint16(v[0])<<8 | uint16(v[1])
			r.byTwo[key] = append(r.byTwo[key], k)
			r.twoFind[key] = append(r.twoFind[key], k)
			r.hasTwo[key>>6] |= 1 << (key & 63)
			r.long[v[0]] = true
		case isAlnum(rune(v[0])):
			r.byPct[v[0]] = append(r.byPct[v[0]], k)
		default:
			r.byPct[v[0]] = append(r.byPct[v[0]], k)
			r.byPct['%'] = append(r.byPct['%'], k)
			if v[0] == ' ' {
				r.byPct['+'] = append(r.byPct['+'], k)
			}
		}
	}
	forms := func(v string, min int) {
		add(v, min, false)
		add(jsonEscaped(v, true), min, false)
		add(jsonEscaped(v, false), min, false)
		add(hex.EncodeToString([]byte(v)), min, false)
		add(strings.ToUpper(hex.EncodeToString([]byte(v))), min, false)
		addPct(v, min)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			add(enc.EncodeToString([]byte(v)), min, true)
		}
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			for offset := range 3 {
				add(embedded(enc, v, offset), max(min, minEmbedded), true)
			}
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

// embedded returns the base64 characters that encode v alone when v follows offset other
// bytes (mod 3) inside a longer encoding: the characters whose six bits all come from v.
func embedded(enc *base64.Encoding, v string, offset int) string {
	s := enc.EncodeToString(append(make([]byte, offset), v...))
	from := (8*offset + 5) / 6      // the first character starting at or after v's first bit
	to := 8 * (offset + len(v)) / 6 // the characters ending at or before v's last bit
	if from >= to {
		return ""
	}
	return s[from:to]
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
func (r *Redactor) Write(p []byte) (int, error) { return r.write(0, p) }

func (r *Redactor) write(w int, p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, p...)
	if n := len(r.owners); n > 0 && r.owners[n-1].w == w {
		r.owners[n-1].n += len(p)
	} else if len(p) > 0 {
		r.owners = append(r.owners, run{w, len(p)})
	}
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

// Close flushes. It does not close the underlying writers.
func (r *Redactor) Close() error { return r.Flush() }

// emit writes out the masked part of r.buf that no later write can change, each byte to the
// writer it came through (a mask to the writer of the value's first byte).
func (r *Redactor) emit(final bool) error {
	out, ob := r.out[:0], r.outBuf[:0]
	put := func(w int, b []byte) {
		if len(b) == 0 {
			return
		}
		ob = append(ob, b...)
		if n := len(out); n > 0 && out[n-1].w == w {
			out[n-1].to = len(ob)
			return
		}
		out = append(out, segment{w, len(ob) - len(b), len(ob)})
	}
	// copyOut passes buf[from:to] on, split where the writer changes.
	ri, rOff := 0, 0 // the run holding byte pos, and pos's offset in it
	pos := 0
	advance := func(to int) {
		for pos < to {
			ru := r.owners[ri]
			take := min(ru.n-rOff, to-pos)
			pos += take
			rOff += take
			if rOff == ru.n {
				ri, rOff = ri+1, 0
			}
		}
	}
	copyOut := func(from, to int) {
		advance(from)
		for pos < to {
			ru := r.owners[ri]
			take := min(ru.n-rOff, to-pos)
			put(ru.w, r.buf[pos:pos+take])
			advance(pos + take)
		}
	}
	i := 0
	for {
		at, n, flex := r.find(i)
		hold := len(r.buf)
		if !final {
			hold = r.partial(i)
		}
		if at >= 0 && at < hold {
			copyOut(i, at)
			advance(at)
			w := r.owners[ri].w
			put(w, r.mask)
			if flex { // keep the line breaks of an encoding wrapped across lines: the log keeps its lines
				for _, c := range r.buf[at : at+n] {
					if c == '\n' {
						put(w, []byte{'\n'})
					}
				}
			}
			i = at + n
			continue
		}
		copyOut(i, hold)
		advance(hold)
		r.buf = append(r.buf[:0], r.buf[hold:]...)
		rest := r.owners[ri:]
		if len(rest) > 0 {
			rest[0].n -= rOff
		}
		r.owners = append(r.owners[:0], rest...)
		break
	}
	r.out, r.outBuf = out, ob
	var first error
	for _, s := range out {
		if _, err := r.outs[s.w].Write(ob[s.from:s.to]); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func isAlnum(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// unhex is the value of a hex digit, or -1.
func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// pctByte reads one byte of a URL-encoded value at s[j:] standing for want: want itself,
// %XX, or + for a space. It returns how many bytes it took, 0 when they stand for something
// else, and -1 when s ends before it can tell.
func pctByte(s []byte, j int, want byte) int {
	switch {
	case j >= len(s):
		return -1
	case s[j] == want:
		return 1
	case s[j] == '+' && want == ' ':
		return 1
	case s[j] != '%':
		return 0
	case j+1 >= len(s):
		return -1
	case unhex(s[j+1]) < 0:
		return 0
	case j+2 >= len(s):
		return -1
	case unhex(s[j+2]) < 0 || byte(unhex(s[j+1])<<4|unhex(s[j+2])) != want:
		return 0
	}
	return 3
}

// skipBreak returns j moved past one line break ("\n" or "\r\n") at j, or j.
func skipBreak(b []byte, j int) int {
	switch {
	case j < len(b) && b[j] == '\n':
		return j + 1
	case j+1 < len(b) && b[j] == '\r' && b[j+1] == '\n':
		return j + 2
	}
	return j
}

// scan matches pattern k against the start of s: how many bytes of s it takes, 0 when s
// does not start with it, -1 when s ends while it still could (the next write may finish it).
func (r *Redactor) scan(s []byte, k int) int {
	p := r.patterns[k]
	switch {
	case p.pct:
		j := 0
		for _, c := range p.b {
			n := pctByte(s, j, c)
			if n <= 0 {
				return n
			}
			j += n
		}
		return j
	case p.flex:
		j := 0
		for i, c := range p.b {
			if i > 0 {
				if j = skipBreak(s, j); j == len(s)-1 && s[j] == '\r' {
					return -1 // the rest may come after the line break
				}
			}
			if j == len(s) {
				return -1
			}
			if s[j] != c {
				return 0
			}
			j++
		}
		return j
	case len(s) >= len(p.b):
		if bytes.HasPrefix(s, p.b) {
			return len(p.b)
		}
		return 0
	case bytes.HasPrefix(p.b, s):
		return -1
	}
	return 0
}

// match returns how many bytes of s pattern k matches from its start, or 0.
func (r *Redactor) match(s []byte, k int) int { return max(r.scan(s, k), 0) }

// isPrefix reports whether s could be the start of pattern k, completed by later bytes.
func (r *Redactor) isPrefix(s []byte, k int) bool { return r.scan(s, k) < 0 }

// find returns the leftmost, then longest, whole pattern in r.buf[i:] and whether it is an
// encoding that may run across lines, or -1.
func (r *Redactor) find(i int) (pos, n int, flex bool) {
	buf := r.buf
	last := len(buf) - 1
	for j := i; j <= last; j++ {
		b := buf[j]
		if !r.starts[b] {
			continue
		}
		if r.single[b] {
			n = 1
		}
		for _, k := range r.byPct[b] {
			if m := r.match(buf[j:], k); m > n {
				n, flex = m, false
			}
		}
		if j < last {
			if key := uint16(b)<<8 | uint16(buf[j+1]); r.hasTwo[key>>6]&(1<<(key&63)) != 0 {
				for _, k := range r.twoFind[key] {
					if m := r.match(buf[j:], k); m > n {
						n, flex = m, r.patterns[k].flex
					}
				}
				if j+3 <= last {
					k4 := uint32(key)<<16 | uint32(buf[j+2])<<8 | uint32(buf[j+3])
					for _, k := range r.byFour[k4] {
						if m := r.match(buf[j:], k); m > n {
							n, flex = m, false
						}
					}
				}
			}
			if c := buf[j+1]; (c == '\n' || c == '\r') && r.anyFlex && len(r.byFirst[b]) > 0 {
				if k2 := skipBreak(buf, j+1); k2 > j+1 && k2 < len(buf) {
					for _, k := range r.byTwo[uint16(b)<<8|uint16(buf[k2])] {
						if r.patterns[k].flex {
							if m := r.match(buf[j:], k); m > n {
								n, flex = m, true
							}
						}
					}
				}
			}
		}
		if n > 0 {
			return j, n, flex
		}
	}
	return -1, 0, false
}

// partial returns the first position at or after i from which the rest of r.buf could be
// the start of a pattern: a value that may be completed by the next write.
func (r *Redactor) partial(i int) int {
	// A pattern broken across lines takes up to three bytes per byte of it.
	span := max(r.maxLen, 3*r.maxFlex, 3*r.maxPct)
	buf := r.buf
	for p := max(i, len(buf)-span+1); p < len(buf); p++ {
		b := buf[p]
		for _, k := range r.byPct[b] {
			if r.isPrefix(buf[p:], k) {
				return p
			}
		}
		if !r.long[b] {
			continue
		}
		if p+1 == len(buf) {
			return p // one byte that starts a longer pattern
		}
		tail := buf[p:]
		if key := uint16(b)<<8 | uint16(buf[p+1]); r.hasTwo[key>>6]&(1<<(key&63)) != 0 {
			for _, k := range r.byTwo[key] {
				if r.isPrefix(tail, k) {
					return p
				}
			}
		}
		if c := buf[p+1]; r.anyFlex && (c == '\n' || c == '\r') {
			for _, k := range r.byFirst[b] { // rare: a byte of the value, then a line break
				if r.patterns[k].flex && r.isPrefix(tail, k) {
					return p
				}
			}
		}
	}
	return len(buf)
}
