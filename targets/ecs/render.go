package ecs

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/imageref"
)

// RenderOptions tune Render. The zero value is ready to use.
type RenderOptions struct {
	// Logger receives a debug record for every key dropped because RegisterTaskDefinition
	// does not accept it; nil discards them.
	Logger *slog.Logger
}

// Render applies r's images, environment and secrets to a task definition and returns the
// RegisterTaskDefinition input in the wire format (`aws ecs register-task-definition
// --cli-input-json` accepts it), so it can be diffed against a file kept in a repository.
//
// doc is what `aws ecs describe-task-definition --include TAGS` prints, with or without the
// outer "taskDefinition" key. Keys the register call does not accept are dropped at any depth
// (see the package documentation); tags are carried over, and omitted when there are none;
// empty strings are kept; a null value is an error naming its path.
func Render(doc []byte, r deploy.Release, opts *RenderOptions) ([]byte, error) {
	var log *slog.Logger
	if opts != nil {
		log = opts.Logger
	}
	return render(doc, r, log)
}

// RegisterInput decodes a rendered task definition into the SDK's register input.
func RegisterInput(rendered []byte) (*ecs.RegisterTaskDefinitionInput, error) {
	var in ecs.RegisterTaskDefinitionInput
	dec := json.NewDecoder(bytes.NewReader(rendered))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, deploy.Wrap(deploy.ErrInvalid, "", "decode task definition", err,
			"a value has a type RegisterTaskDefinition does not accept (numbers such as cpu and memory at the top level are strings)")
	}
	return &in, nil
}

// render returns the task definition as it will be registered.
func render(doc []byte, r deploy.Release, log *slog.Logger) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	td, tags, err := splitDocument(doc)
	if err != nil {
		return nil, err
	}
	names, err := containerNames(td)
	if err != nil {
		return nil, err
	}
	patched := td
	for _, name := range r.ImageNames() {
		if patched, err = setImage(patched, names, name, r.Images[name]); err != nil {
			return nil, err
		}
	}
	for _, e := range r.Env {
		if patched, err = setEnv(patched, names, e); err != nil {
			return nil, err
		}
	}
	for _, s := range r.Secrets {
		if patched, err = setSecret(patched, names, s); err != nil {
			return nil, err
		}
	}
	return clean(patched, tags, log)
}

// cleanDocument returns doc's task definition as a register input, unchanged otherwise.
func cleanDocument(doc []byte) ([]byte, error) {
	td, tags, err := splitDocument(doc)
	if err != nil {
		return nil, err
	}
	return clean(td, tags, nil)
}

// splitDocument returns the task definition object and the tags beside it, if any.
// It works on one string copy of doc: gjson's string API, unlike its []byte one, copies
// nothing per query.
func splitDocument(doc []byte) (string, gjson.Result, error) {
	js := string(doc)
	if !gjson.Valid(js) {
		return "", gjson.Result{}, invalid("the task definition is not valid JSON")
	}
	root := gjson.Parse(js)
	if !root.IsObject() {
		return "", gjson.Result{}, invalid("the task definition must be a JSON object, not %s", root.Type)
	}
	if w := root.Get("taskDefinition"); w.Exists() {
		if !w.IsObject() {
			return "", gjson.Result{}, invalid(`"taskDefinition" must be an object`)
		}
		tags := root.Get("tags")
		if tags.Type == gjson.Null {
			tags = gjson.Result{} // describe output with "tags": null has none
		}
		return w.Raw, tags, nil
	}
	return js, gjson.Result{}, nil
}

func containerNames(td string) ([]string, error) {
	if f := gjson.Get(td, "family"); f.Type != gjson.String || f.Str == "" {
		return nil, invalid(`"family" is missing or not a string`)
	}
	cds := gjson.Get(td, "containerDefinitions")
	if !cds.IsArray() || len(cds.Array()) == 0 {
		return nil, invalid(`"containerDefinitions" must be a non-empty array`)
	}
	var names []string
	for i, c := range cds.Array() {
		n := c.Get("name")
		if n.Type != gjson.String || n.Str == "" {
			return nil, invalid("containerDefinitions[%d] has no name", i)
		}
		names = append(names, n.Str)
	}
	return names, nil
}

// setImage sets the image of the named container, or, for the empty name, of the container
// whose image repository matches, else of the only container.
func setImage(td string, names []string, name, image string) (string, error) {
	ref, err := imageref.Parse(image)
	if err != nil {
		return "", invalid("%v", err)
	}
	i := slices.Index(names, name)
	if name == "" {
		i, err = matchContainer(td, names, ref)
		if err != nil {
			return "", err
		}
	} else if i < 0 {
		return "", invalid("no container named %q; the task definition has %s", name, quoteList(names))
	}
	return sjson.Set(td, "containerDefinitions."+strconv.Itoa(i)+".image", image)
}

func matchContainer(td string, names []string, ref imageref.Ref) (int, error) {
	var matches []int
	for i, c := range gjson.Get(td, "containerDefinitions.#.image").Array() {
		if cur, err := imageref.Parse(c.Str); err == nil && cur.Name() == ref.Name() {
			matches = append(matches, i)
		}
	}
	switch {
	case len(matches) == 1:
		return matches[0], nil
	case len(matches) > 1:
		var ms []string
		for _, i := range matches {
			ms = append(ms, names[i])
		}
		return 0, invalid("containers %s all run %s; name the one to update", quoteList(ms), ref.Name())
	case len(names) == 1:
		return 0, nil
	}
	return 0, invalid("no container runs %s and there are %d containers (%s); name the one to update", ref.Name(), len(names), quoteList(names))
}

// containersFor returns the indexes a change applies to: the named container, or all.
func containersFor(names []string, container string) ([]int, error) {
	if container == "" {
		idx := make([]int, len(names))
		for i := range idx {
			idx[i] = i
		}
		return idx, nil
	}
	i := slices.Index(names, container)
	if i < 0 {
		return nil, invalid("no container named %q; the task definition has %s", container, quoteList(names))
	}
	return []int{i}, nil
}

// setEnv sets or unsets one variable. A variable is either plain or a secret, so setting
// one removes the other of the same name.
func setEnv(td string, names []string, e deploy.EnvChange) (string, error) {
	idx, err := containersFor(names, e.Container)
	if err != nil {
		return "", err
	}
	for _, i := range idx {
		base := "containerDefinitions." + strconv.Itoa(i)
		if td, err = removeNamed(td, base+".secrets", e.Name); err != nil {
			return "", err
		}
		if e.Unset {
			if td, err = removeNamed(td, base+".environment", e.Name); err != nil {
				return "", err
			}
			continue
		}
		if td, err = upsertNamed(td, base+".environment", e.Name, "value", e.Value); err != nil {
			return "", err
		}
	}
	return td, nil
}

func setSecret(td string, names []string, s deploy.SecretRef) (string, error) {
	idx, err := containersFor(names, s.Container)
	if err != nil {
		return "", err
	}
	for _, i := range idx {
		base := "containerDefinitions." + strconv.Itoa(i)
		if td, err = removeNamed(td, base+".environment", s.Name); err != nil {
			return "", err
		}
		if td, err = upsertNamed(td, base+".secrets", s.Name, "valueFrom", s.ValueFrom); err != nil {
			return "", err
		}
	}
	return td, nil
}

// upsertNamed sets field of the {"name": name} entry of the array at path, appending one if
// there is none (and creating the array if needed).
func upsertNamed(td, path, name, field, value string) (string, error) {
	for j, n := range gjson.Get(td, path+".#.name").Array() {
		if n.Str == name {
			return sjson.Set(td, path+"."+strconv.Itoa(j)+"."+field, value)
		}
	}
	// Built with sjson, not encoding/json, so that a new entry is escaped exactly as an
	// updated one is (encoding/json writes & as \u0026) and rendering stays idempotent.
	entry, err := sjson.Set(`{"name":""}`, "name", name)
	if err == nil {
		entry, err = sjson.Set(entry, field, value)
	}
	if err != nil {
		return "", err
	}
	return sjson.SetRaw(td, path+".-1", entry)
}

// removeNamed removes every {"name": name} entry of the array at path.
func removeNamed(td, path, name string) (string, error) {
	entries := gjson.Get(td, path+".#.name").Array()
	var err error
	for j := len(entries) - 1; j >= 0; j-- {
		if entries[j].Str == name {
			if td, err = sjson.Delete(td, path+"."+strconv.Itoa(j)); err != nil {
				return "", err
			}
		}
	}
	return td, nil
}

// clean writes td keeping only what RegisterTaskDefinition accepts, plus tags when there are
// any. It rejects nulls and values of the wrong JSON type, naming their path.
func clean(td string, tags gjson.Result, log *slog.Logger) ([]byte, error) {
	c := cleaner{buf: make([]byte, 0, len(td)+64), log: log}
	root := gjson.Parse(td)
	s := registerShape()
	c.buf = append(c.buf, '{')
	first := true
	var err error
	root.ForEach(func(k, v gjson.Result) bool {
		child := s.field(k.Str)
		if child == nil {
			c.drop(k.Str)
			return true
		}
		if strings.EqualFold(k.Str, "tags") {
			if !tags.Exists() {
				tags = v
			}
			return true
		}
		first, err = c.member(first, k, v, child)
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if tags.Exists() && !(tags.IsArray() && len(tags.Array()) == 0) {
		k := gjson.Result{Type: gjson.String, Str: "tags", Raw: `"tags"`}
		if _, err = c.member(first, k, tags, s.field("tags")); err != nil {
			return nil, err
		}
	}
	c.buf = append(c.buf, '}')
	return c.buf, nil
}

type cleaner struct {
	buf  []byte
	log  *slog.Logger
	path []string // segments of the current key path, joined only to report a drop or an error
}

// at returns the current path with last appended, e.g. containerDefinitions[1].environment.
func (c *cleaner) at(last string) string {
	var b strings.Builder
	for _, seg := range c.path {
		if b.Len() > 0 && seg[0] != '[' {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	if last != "" {
		if b.Len() > 0 && last[0] != '[' {
			b.WriteByte('.')
		}
		b.WriteString(last)
	}
	return b.String()
}

func (c *cleaner) drop(key string) {
	if c.log != nil {
		c.log.Debug("dropping a key RegisterTaskDefinition does not accept", "key", c.at(key))
	}
}

func (c *cleaner) member(first bool, k, v gjson.Result, s *shape) (bool, error) {
	if v.Type == gjson.Null {
		return first, invalid("%s is null; remove the key or give it a value", c.at(k.Str))
	}
	if !first {
		c.buf = append(c.buf, ',')
	}
	c.buf = append(c.buf, k.Raw...)
	c.buf = append(c.buf, ':')
	c.path = append(c.path, k.Str)
	err := c.value(v, s)
	c.path = c.path[:len(c.path)-1]
	return false, err
}

func (c *cleaner) value(v gjson.Result, s *shape) error {
	var err error
	switch s.kind {
	case shapeObject, shapeMap:
		if !v.IsObject() {
			return invalid("%s must be an object, not %s", c.at(""), kindOf(v))
		}
		c.buf = append(c.buf, '{')
		first := true
		v.ForEach(func(k, val gjson.Result) bool {
			child := s.elem
			if s.kind == shapeObject {
				if child = s.field(k.Str); child == nil {
					c.drop(k.Str)
					return true
				}
			}
			first, err = c.member(first, k, val, child)
			return err == nil
		})
		c.buf = append(c.buf, '}')
	case shapeList:
		if !v.IsArray() {
			return invalid("%s must be an array, not %s", c.at(""), kindOf(v))
		}
		c.buf = append(c.buf, '[')
		i := 0
		v.ForEach(func(_, val gjson.Result) bool {
			c.path = append(c.path, "["+strconv.Itoa(i)+"]")
			defer func() { c.path = c.path[:len(c.path)-1] }()
			if val.Type == gjson.Null {
				err = invalid("%s is null; remove it or give it a value", c.at(""))
				return false
			}
			if i > 0 {
				c.buf = append(c.buf, ',')
			}
			i++
			err = c.value(val, s.elem)
			return err == nil
		})
		c.buf = append(c.buf, ']')
	default:
		if v.IsObject() || v.IsArray() {
			return invalid("%s must be a single value, not %s", c.at(""), kindOf(v))
		}
		c.buf = append(c.buf, v.Raw...)
	}
	return err
}

func (s *shape) field(name string) *shape {
	if f, ok := s.fields[name]; ok {
		return f
	}
	return s.fields[strings.ToLower(name)]
}

func kindOf(v gjson.Result) string {
	switch {
	case v.IsObject():
		return "an object"
	case v.IsArray():
		return "an array"
	}
	return "a " + strings.ToLower(v.Type.String())
}

func invalid(format string, args ...any) error {
	return deploy.Errorf(deploy.ErrInvalid, "", "render task definition", format, args...)
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}
