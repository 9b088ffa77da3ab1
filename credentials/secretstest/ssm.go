package secretstest

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

type param struct {
	name        string
	description string
	typ         string
	history     []*paramVersion // history[i] is version i+1
}

type paramVersion struct {
	value    string
	labels   []string
	modified time.Time
}

const refPrefix = "/aws/reference/secretsmanager/"

// PutParameter writes a SecureString parameter directly, for test setup; it returns the version.
func (s *Server) PutParameter(name, value string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.params[name]
	if !ok {
		p = &param{name: name, typ: "SecureString"}
		s.params[name] = p
	}
	p.history = append(p.history, &paramVersion{value: value, modified: time.Now()})
	return int64(len(p.history))
}

func paramARN(name string) string {
	return fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", Region, Account, strings.TrimPrefix(name, "/"))
}

// nameOf turns a parameter ARN into its name.
func (s *Server) nameOf(id string) string {
	if rest, ok := strings.CutPrefix(id, fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/", Region, Account)); ok {
		if _, ok := s.params["/"+rest]; ok || strings.Contains(rest, "/") {
			return "/" + rest
		}
		return rest
	}
	return id
}

type paramOut struct {
	Name             string
	Type             string
	Value            string
	Version          int64
	Selector         string `json:",omitempty"`
	ARN              string
	LastModifiedDate float64
	DataType         string
	SourceResult     string `json:",omitempty"`
}

// lookup reads "name", "name:version", "name:label" or an ARN with a selector; the bool is
// false when the parameter or version does not exist.
func (s *Server) lookup(req string, decrypt bool) (*paramOut, bool, error) {
	if id, ok := strings.CutPrefix(req, refPrefix); ok {
		if !decrypt {
			return nil, false, errf("ValidationException", "WithDecryption flag must be True for retrieving a Secret Manager secret.")
		}
		v, err := s.value(id, "", "")
		if err != nil {
			if e := err.(*apiError); e.Code == "ResourceNotFoundException" {
				return nil, false, nil
			}
			return nil, false, err
		}
		return &paramOut{Name: req, Type: "SecureString", Value: v.SecretString, ARN: paramARN(req), DataType: "text", SourceResult: "{}"}, true, nil
	}
	name, sel := req, ""
	if i := strings.LastIndexByte(req, ':'); i >= 0 && !strings.HasPrefix(req, "arn:") || strings.Count(req, ":") > 5 {
		i := strings.LastIndexByte(req, ':')
		name, sel = req[:i], req[i+1:]
	}
	name = s.nameOf(name)
	if s.denied[name] {
		return nil, false, errf("AccessDeniedException", "User is not authorized to perform ssm:GetParameters on resource %s", paramARN(name))
	}
	p, ok := s.params[name]
	if !ok {
		return nil, false, nil
	}
	n := len(p.history)
	if sel != "" {
		n = 0
		if v, err := strconv.Atoi(sel); err == nil {
			if v >= 1 && v <= len(p.history) {
				n = v
			}
		} else {
			for i, h := range p.history {
				if slices.Contains(h.labels, sel) {
					n = i + 1
				}
			}
		}
		if n == 0 {
			return nil, false, nil
		}
	}
	h := p.history[n-1]
	value := h.value
	if p.typ == "SecureString" && !decrypt {
		value = "kms-encrypted:" + fmt.Sprint(len(value))
	}
	out := &paramOut{Name: name, Type: p.typ, Value: value, Version: int64(n), ARN: paramARN(name), LastModifiedDate: epoch(h.modified), DataType: "text"}
	if sel != "" {
		out.Selector = ":" + sel
	}
	return out, true, nil
}

func (s *Server) putParameter(body []byte) (any, error) {
	var in struct {
		Name, Value, Type, Description, Tier string
		Overwrite                            bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Value == "" {
		return nil, errf("ValidationException", "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	tier := "Standard"
	if in.Tier == "Advanced" || in.Tier == "Intelligent-Tiering" && len(in.Value) > 4096 {
		tier = "Advanced"
	}
	switch {
	case tier == "Standard" && len(in.Value) > 4096:
		return nil, errf("ValidationException", "Standard tier parameters support a maximum parameter value of 4096 characters.")
	case len(in.Value) > 8192:
		return nil, errf("ValidationException", "Advanced tier parameters support a maximum parameter value of 8192 characters.")
	}
	p, ok := s.params[in.Name]
	if ok && !in.Overwrite {
		return nil, errf("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
	}
	if !ok {
		p = &param{name: in.Name}
		s.params[in.Name] = p
	}
	p.typ, p.description = in.Type, in.Description
	p.history = append(p.history, &paramVersion{value: in.Value, modified: time.Now()})
	return map[string]any{"Version": len(p.history), "Tier": tier}, nil
}

func (s *Server) getParameter(body []byte) (any, error) {
	var in struct {
		Name           string
		WithDecryption bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	p, ok, err := s.lookup(in.Name, in.WithDecryption)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errf("ParameterNotFound", "Parameter %s not found.", in.Name)
	}
	return map[string]any{"Parameter": p}, nil
}

func (s *Server) getParameters(body []byte) (any, error) {
	var in struct {
		Names          []string
		WithDecryption bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Names) == 0 || len(in.Names) > 10 {
		return nil, errf("ValidationException", "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10")
	}
	found := []*paramOut{}
	invalid := []string{}
	for _, n := range in.Names {
		p, ok, err := s.lookup(n, in.WithDecryption)
		if err != nil {
			return nil, err // one denied name fails the whole call, as in AWS
		}
		if !ok {
			invalid = append(invalid, n)
			continue
		}
		found = append(found, p)
	}
	return map[string]any{"Parameters": found, "InvalidParameters": invalid}, nil
}

func (s *Server) getParametersByPath(body []byte) (any, error) {
	var in struct {
		Path           string
		Recursive      bool
		WithDecryption bool
		MaxResults     int
		NextToken      string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	prefix := strings.TrimSuffix(in.Path, "/") + "/"
	var names []string
	for n := range s.params {
		if rest, ok := strings.CutPrefix(n, prefix); ok && (in.Recursive || !strings.Contains(rest, "/")) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	pg, next, err := page(s, names, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	out := []*paramOut{}
	for _, n := range pg {
		p, _, err := s.lookup(n, in.WithDecryption)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return map[string]any{"Parameters": out, "NextToken": next}, nil
}

func (s *Server) deleteParameter(body []byte) (any, error) {
	var in struct{ Name string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if _, ok := s.params[in.Name]; !ok {
		return nil, errf("ParameterNotFound", "Parameter %s not found.", in.Name)
	}
	delete(s.params, in.Name)
	return map[string]any{}, nil
}

func (s *Server) deleteParameters(body []byte) (any, error) {
	var in struct{ Names []string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Names) == 0 || len(in.Names) > 10 {
		return nil, errf("ValidationException", "Names takes 1 to 10 names; got %d", len(in.Names))
	}
	deleted, invalid := []string{}, []string{}
	for _, n := range in.Names {
		if _, ok := s.params[n]; ok {
			delete(s.params, n)
			deleted = append(deleted, n)
		} else {
			invalid = append(invalid, n)
		}
	}
	return map[string]any{"DeletedParameters": deleted, "InvalidParameters": invalid}, nil
}

func (s *Server) describeParameters(body []byte) (any, error) {
	var in struct {
		ParameterFilters []struct {
			Key, Option string
			Values      []string
		}
		MaxResults int
		NextToken  string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var names []string
	for n := range s.params {
		keep := true
		for _, f := range in.ParameterFilters {
			if f.Key != "Name" || f.Option != "BeginsWith" {
				return nil, errf("InvalidFilterKey", "secretstest filters only by Name BeginsWith")
			}
			keep = keep && slices.ContainsFunc(f.Values, func(v string) bool { return strings.HasPrefix(n, v) })
		}
		if keep {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	pg, next, err := page(s, names, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, n := range pg {
		p := s.params[n]
		out = append(out, map[string]any{"Name": n, "Type": p.typ, "Description": p.description, "Version": len(p.history)})
	}
	return map[string]any{"Parameters": out, "NextToken": next}, nil
}

func (s *Server) labelParameterVersion(body []byte) (any, error) {
	var in struct {
		Name             string
		ParameterVersion int
		Labels           []string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	p, ok := s.params[in.Name]
	if !ok {
		return nil, errf("ParameterNotFound", "Parameter %s not found.", in.Name)
	}
	if in.ParameterVersion < 1 || in.ParameterVersion > len(p.history) {
		return nil, errf("ParameterVersionNotFound", "Systems Manager could not find version %d of %s.", in.ParameterVersion, in.Name)
	}
	var invalid []string
	for _, l := range in.Labels {
		if l == "" || l[0] >= '0' && l[0] <= '9' || strings.HasPrefix(strings.ToLower(l), "aws") || strings.HasPrefix(strings.ToLower(l), "ssm") {
			invalid = append(invalid, l)
			continue
		}
		for _, h := range p.history {
			h.labels = slices.DeleteFunc(h.labels, func(x string) bool { return x == l })
		}
		h := p.history[in.ParameterVersion-1]
		h.labels = append(h.labels, l)
	}
	return map[string]any{"InvalidLabels": invalid, "ParameterVersion": in.ParameterVersion}, nil
}
