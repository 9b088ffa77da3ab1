// Package jsondiff reports the differences between two values as a change list keyed by
// JSON path, one line per change, the same bytes on every run. go-cmp does the comparison;
// its own report varies its whitespace on purpose (it is for people, not for diffing
// outputs), so a reporter of ours formats the result.
package jsondiff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/google/go-cmp/cmp"
)

// Diff compares a and b, typically values decoded from JSON (maps, slices, strings, numbers,
// booleans, nil) or plain structs, and returns "" when they are equal. Otherwise the title
// line, then one line per difference in the order go-cmp visits them (map keys sorted):
//
//	~ .containerDefinitions[0].image: "web:1" -> "web:2"
//	+ .containerDefinitions[0].environment[1]: {"name":"MODE","value":"blue"}
//	- .tags[2]: {"key":"old","value":"x"}
func Diff(title string, a, b any) string {
	var r reporter
	if cmp.Equal(a, b, cmp.Reporter(&r)) {
		return ""
	}
	var sb strings.Builder
	sb.WriteString(title)
	sb.WriteString(" (- before, + after, ~ changed):\n")
	for _, l := range r.lines {
		sb.WriteString(l)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// reporter collects one line per unequal leaf go-cmp reports.
type reporter struct {
	path  cmp.Path
	lines []string
}

func (r *reporter) PushStep(ps cmp.PathStep) { r.path = append(r.path, ps) }
func (r *reporter) PopStep()                 { r.path = r.path[:len(r.path)-1] }

func (r *reporter) Report(rs cmp.Result) {
	if rs.Equal() {
		return
	}
	vx, vy := r.path.Last().Values()
	p := Path(r.path)
	switch {
	case !vx.IsValid():
		r.lines = append(r.lines, "+ "+p+": "+value(vy))
	case !vy.IsValid():
		r.lines = append(r.lines, "- "+p+": "+value(vx))
	default:
		r.lines = append(r.lines, "~ "+p+": "+value(vx)+" -> "+value(vy))
	}
}

// Path formats a go-cmp path the way jq writes paths: .key, ["odd key"], [index].
func Path(path cmp.Path) string {
	var b strings.Builder
	for _, s := range path {
		switch s := s.(type) {
		case cmp.MapIndex:
			k := s.Key()
			if k.Kind() == reflect.String {
				writeKey(&b, k.String())
			} else {
				fmt.Fprintf(&b, "[%v]", k.Interface())
			}
		case cmp.SliceIndex:
			i := s.Key()
			if i < 0 { // an insertion or a deletion: the index on the side that has it
				ix, iy := s.SplitKeys()
				i = max(ix, iy)
			}
			fmt.Fprintf(&b, "[%d]", i)
		case cmp.StructField:
			writeKey(&b, s.Name())
		}
	}
	if b.Len() == 0 {
		return "."
	}
	return b.String()
}

func writeKey(b *strings.Builder, k string) {
	if k != "" && strings.IndexFunc(k, func(c rune) bool {
		return !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9')
	}) < 0 && (k[0] < '0' || k[0] > '9') {
		b.WriteString("." + k)
		return
	}
	b.WriteString("[" + strconv.Quote(k) + "]")
}

// value is v as compact JSON, without HTML escaping; what JSON cannot hold is printed as Go.
func value(v reflect.Value) string {
	if !v.CanInterface() {
		return v.String()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v.Interface()); err != nil {
		return fmt.Sprintf("%#v", v.Interface())
	}
	return strings.TrimSuffix(buf.String(), "\n")
}
