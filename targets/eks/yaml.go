package eks

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// parseYAML reads the YAML that kubeconfig files use (block mappings and sequences, plain
// and quoted scalars, one-line flow mappings and sequences, comments) into JSON. It is not a
// general YAML parser: anchors, tags, block scalars and multi-line flow collections are
// errors naming the line. JSON input is returned as it is.
func parseYAML(data []byte) ([]byte, error) {
	text := strings.TrimSpace(string(data))
	if strings.HasPrefix(text, "{") {
		if !json.Valid(data) {
			return nil, fmt.Errorf("the file starts like JSON but is not valid JSON")
		}
		return data, nil
	}
	p := &yamlParser{}
	for i, raw := range strings.Split(string(data), "\n") {
		line := stripComment(strings.TrimRight(raw, " \t\r"))
		if strings.TrimSpace(line) == "" || strings.TrimSpace(line) == "---" {
			continue
		}
		if strings.Contains(line, "\t") && strings.TrimLeft(line, " \t") != strings.TrimLeft(line, " ") {
			return nil, fmt.Errorf("line %d: tabs cannot indent YAML", i+1)
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		p.lines = append(p.lines, yamlLine{n: i + 1, indent: indent, text: line[indent:]})
	}
	if len(p.lines) == 0 {
		return []byte("{}"), nil
	}
	v, err := p.block(p.lines[0].indent)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.lines) {
		return nil, fmt.Errorf("line %d: unexpected indentation", p.lines[p.pos].n)
	}
	return json.Marshal(v)
}

type yamlLine struct {
	n, indent int
	text      string
}

type yamlParser struct {
	lines []yamlLine
	pos   int
}

func stripComment(s string) string {
	inS, inD := false, false
	for i, c := range s {
		switch {
		case c == '\'' && !inD:
			inS = !inS
		case c == '"' && !inS:
			inD = !inD
		case c == '#' && !inS && !inD && (i == 0 || s[i-1] == ' '):
			return strings.TrimRight(s[:i], " ")
		}
	}
	return s
}

// block parses the mapping or sequence whose lines start at indent.
func (p *yamlParser) block(indent int) (any, error) {
	first := p.lines[p.pos]
	if first.indent != indent {
		return nil, fmt.Errorf("line %d: unexpected indentation", first.n)
	}
	if strings.HasPrefix(first.text, "- ") || first.text == "-" {
		return p.sequence(indent)
	}
	return p.mapping(indent)
}

func (p *yamlParser) sequence(indent int) (any, error) {
	out := []any{}
	for p.pos < len(p.lines) {
		l := p.lines[p.pos]
		if l.indent < indent {
			break
		}
		if l.indent > indent {
			return nil, fmt.Errorf("line %d: expected a sequence item", l.n)
		}
		if !strings.HasPrefix(l.text, "- ") && l.text != "-" {
			break // the enclosing mapping goes on
		}
		rest := strings.TrimSpace(strings.TrimPrefix(l.text, "-"))
		if rest == "" {
			p.pos++
			if p.pos < len(p.lines) && p.lines[p.pos].indent > indent {
				v, err := p.block(p.lines[p.pos].indent)
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			} else {
				out = append(out, nil)
			}
			continue
		}
		if k, _, isMap := splitKey(rest); isMap && k != "" {
			// "- key: value" starts a mapping whose other keys sit under "key".
			inner := indent + len(l.text) - len(strings.TrimLeft(strings.TrimPrefix(l.text, "-"), " "))
			p.lines[p.pos] = yamlLine{n: l.n, indent: inner, text: rest}
			v, err := p.mapping(inner)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			continue
		}
		v, err := scalar(rest, l.n)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.pos++
	}
	return out, nil
}

func (p *yamlParser) mapping(indent int) (any, error) {
	out := map[string]any{}
	for p.pos < len(p.lines) {
		l := p.lines[p.pos]
		if l.indent < indent {
			break
		}
		if l.indent > indent {
			return nil, fmt.Errorf("line %d: unexpected indentation", l.n)
		}
		if strings.HasPrefix(l.text, "- ") {
			break
		}
		k, v, ok := splitKey(l.text)
		if !ok {
			return nil, fmt.Errorf("line %d: expected key: value", l.n)
		}
		key, err := scalar(k, l.n)
		if err != nil {
			return nil, err
		}
		ks, _ := key.(string)
		p.pos++
		if v != "" {
			val, err := scalar(v, l.n)
			if err != nil {
				return nil, err
			}
			out[ks] = val
			continue
		}
		if p.pos < len(p.lines) && (p.lines[p.pos].indent > indent ||
			p.lines[p.pos].indent == indent && strings.HasPrefix(p.lines[p.pos].text, "- ")) {
			val, err := p.block(p.lines[p.pos].indent)
			if err != nil {
				return nil, err
			}
			out[ks] = val
			continue
		}
		out[ks] = nil
	}
	return out, nil
}

// splitKey splits "key: value" at the first ": " (or a trailing ":") outside quotes.
func splitKey(s string) (key, value string, ok bool) {
	inS, inD := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'' && !inD:
			inS = !inS
		case c == '"' && !inS:
			inD = !inD
		case c == ':' && !inS && !inD && (i == len(s)-1 || s[i+1] == ' '):
			return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:]), true
		case (c == '{' || c == '[') && i == 0:
			return "", "", false
		}
	}
	return "", "", false
}

func scalar(s string, line int) (any, error) {
	switch {
	case s == "" || s == "~" || s == "null":
		return nil, nil
	case strings.HasPrefix(s, `"`):
		v, err := strconv.Unquote(s)
		if err != nil {
			return nil, fmt.Errorf("line %d: bad double-quoted string", line)
		}
		return v, nil
	case strings.HasPrefix(s, "'"):
		if len(s) < 2 || !strings.HasSuffix(s, "'") {
			return nil, fmt.Errorf("line %d: unterminated single-quoted string", line)
		}
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	case strings.HasPrefix(s, "{"):
		return flow(s, line, '{', '}')
	case strings.HasPrefix(s, "["):
		return flow(s, line, '[', ']')
	case strings.HasPrefix(s, "&") || strings.HasPrefix(s, "*") || strings.HasPrefix(s, "!") || s == "|" || s == ">" || strings.HasPrefix(s, "|") || strings.HasPrefix(s, ">"):
		return nil, fmt.Errorf("line %d: anchors, aliases, tags and block scalars are not supported in kubeconfig files here", line)
	}
	return s, nil
}

// flow parses a one-line {a: b, c: d} or [a, b].
func flow(s string, line int, open, close byte) (any, error) {
	if s[len(s)-1] != close {
		return nil, fmt.Errorf("line %d: a flow collection must end on its line", line)
	}
	var items []string
	depth, start, inS, inD := 0, 1, false, false
	for i := 1; i < len(s)-1; i++ {
		switch c := s[i]; {
		case c == '\'' && !inD:
			inS = !inS
		case c == '"' && !inS:
			inD = !inD
		case (c == '{' || c == '[') && !inS && !inD:
			depth++
		case (c == '}' || c == ']') && !inS && !inD:
			depth--
		case c == ',' && depth == 0 && !inS && !inD:
			items = append(items, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	if last := strings.TrimSpace(s[start : len(s)-1]); last != "" {
		items = append(items, last)
	}
	if open == '[' {
		out := []any{}
		for _, it := range items {
			v, err := scalar(it, line)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	out := map[string]any{}
	for _, it := range items {
		k, v, ok := splitKey(it)
		if !ok {
			if strings.HasSuffix(it, ":") {
				k, v, ok = strings.TrimSuffix(it, ":"), "", true
			} else {
				return nil, fmt.Errorf("line %d: expected key: value in %q", line, it)
			}
		}
		key, err := scalar(k, line)
		if err != nil {
			return nil, err
		}
		val, err := scalar(v, line)
		if err != nil {
			return nil, err
		}
		ks, _ := key.(string)
		out[ks] = val
	}
	return out, nil
}
