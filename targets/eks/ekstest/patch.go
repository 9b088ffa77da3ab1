package ekstest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// applyPatch applies a JSON Patch (RFC 6902: add, remove, replace and test) to doc, a
// decoded JSON value, and returns the result. move and copy are refused: the API clients
// this simulator serves do not send them.
func applyPatch(doc any, patch []byte) (any, error) {
	var ops []struct {
		Op    string          `json:"op"`
		Path  *string         `json:"path"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(patch, &ops); err != nil {
		return nil, fmt.Errorf("not a JSON Patch: %w", err)
	}
	for i, op := range ops {
		if op.Path == nil {
			return nil, fmt.Errorf("operation %d has no path", i)
		}
		path, err := pointer(*op.Path)
		if err != nil {
			return nil, fmt.Errorf("operation %d: %w", i, err)
		}
		var value any
		switch op.Op {
		case "add", "replace", "test":
			if op.Value == nil {
				return nil, fmt.Errorf("operation %d (%s %s) has no value", i, op.Op, *op.Path)
			}
			if err := json.Unmarshal(op.Value, &value); err != nil {
				return nil, fmt.Errorf("operation %d: %w", i, err)
			}
		case "remove":
		default:
			return nil, fmt.Errorf("operation %d: %q is not an operation ekstest applies (add, remove, replace, test)", i, op.Op)
		}
		if op.Op == "test" {
			got, err := at(doc, path)
			if err != nil {
				return nil, fmt.Errorf("operation %d: %w", i, err)
			}
			if !jsonEqual(got, value) {
				return nil, fmt.Errorf("operation %d: test of %s failed", i, *op.Path)
			}
			continue
		}
		if doc, err = patchAt(doc, path, op.Op, value); err != nil {
			return nil, fmt.Errorf("operation %d (%s %s): %w", i, op.Op, *op.Path, err)
		}
	}
	return doc, nil
}

// pointer splits a JSON Pointer (RFC 6901) into its unescaped tokens.
func pointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("path %q does not start with /", p)
	}
	tokens := strings.Split(p[1:], "/")
	for i, t := range tokens {
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return tokens, nil
}

// at returns the value at path.
func at(node any, path []string) (any, error) {
	for _, key := range path {
		switch n := node.(type) {
		case map[string]any:
			v, ok := n[key]
			if !ok {
				return nil, fmt.Errorf("no member %q", key)
			}
			node = v
		case []any:
			i, err := index(key, len(n)-1)
			if err != nil {
				return nil, err
			}
			node = n[i]
		default:
			return nil, fmt.Errorf("%q is not in an object or array", key)
		}
	}
	return node, nil
}

// index reads an array index between 0 and top.
func index(key string, top int) (int, error) {
	i, err := strconv.Atoi(key)
	if err != nil || i < 0 || i > top || (len(key) > 1 && key[0] == '0') {
		return 0, fmt.Errorf("index %q is out of range", key)
	}
	return i, nil
}

// patchAt applies one add, remove or replace at path below node and returns node changed.
func patchAt(node any, path []string, op string, value any) (any, error) {
	if len(path) == 0 {
		if op == "remove" {
			return nil, fmt.Errorf("cannot remove the whole document")
		}
		return value, nil
	}
	key, last := path[0], len(path) == 1
	switch n := node.(type) {
	case map[string]any:
		child, exists := n[key]
		switch {
		case !last && !exists:
			return nil, fmt.Errorf("no member %q", key)
		case !last:
			c, err := patchAt(child, path[1:], op, value)
			n[key] = c
			return n, err
		case op != "add" && !exists:
			return nil, fmt.Errorf("no member %q", key)
		case op == "remove":
			delete(n, key)
		default:
			n[key] = value
		}
		return n, nil
	case []any:
		if last && op == "add" && key == "-" {
			return append(n, value), nil
		}
		top := len(n) - 1
		if last && op == "add" {
			top = len(n)
		}
		i, err := index(key, top)
		if err != nil {
			return nil, err
		}
		switch {
		case !last:
			c, err := patchAt(n[i], path[1:], op, value)
			n[i] = c
			return n, err
		case op == "add":
			return append(n[:i], append([]any{value}, n[i:]...)...), nil
		case op == "remove":
			return append(n[:i], n[i+1:]...), nil
		default:
			n[i] = value
			return n, nil
		}
	}
	return nil, fmt.Errorf("%q is not in an object or array", key)
}
