package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// File is a release file: what ships (a version, and per target images, environment and
// secrets by reference), where, in which stages, behind which gates, with which lock and
// journal, within which timeouts. release.schema.json describes the same shape for editors;
// a test keeps the two in step.
type File struct {
	Schema string `json:"$schema,omitempty"`
	// Version names the release; "${IMAGE_TAG}" is the usual value.
	Version string `json:"version"`
	// Region is the AWS region; empty means the environment's.
	Region string `json:"region,omitempty"`
	// Store keeps the leases and the journal: s3://bucket/prefix, dynamodb://table or
	// file://directory (journal only).
	Store string `json:"store,omitempty"`
	// Lock says what to do when a target is held by another release.
	Lock *Lock `json:"lock,omitempty"`
	// Timeout bounds the release, RollbackTimeout a rollback.
	Timeout         Duration `json:"timeout,omitempty"`
	RollbackTimeout Duration `json:"rollbackTimeout,omitempty"`
	// Concurrency is how many targets of a stage do API work at once.
	Concurrency int     `json:"concurrency,omitempty"`
	Stages      []Stage `json:"stages"`
}

// Lock is the lease policy.
type Lock struct {
	Policy string   `json:"policy,omitempty"` // wait (default), fail or supersede
	Wait   Duration `json:"wait,omitempty"`
}

// Stage is one step of the release.
type Stage struct {
	Name    string   `json:"name"`
	Targets []Target `json:"targets"`
	Gates   []Gate   `json:"gates,omitempty"`
}

// Target is one target, of exactly one kind.
type Target struct {
	ECS *ECSTarget `json:"ecs,omitempty"`
	EKS *EKSTarget `json:"eks,omitempty"`
	EC2 *EC2Target `json:"ec2,omitempty"`
}

// Parts is what a target is given: images by container name ("" for the only one),
// environment changes and secrets by reference.
type Parts struct {
	Images  map[string]string `json:"images,omitempty"`
	Env     []EnvVar          `json:"env,omitempty"`
	Secrets []SecretRef       `json:"secrets,omitempty"`
}

// EnvVar sets (or, with unset, removes) a variable in a container (all when empty).
type EnvVar struct {
	Container string `json:"container,omitempty"`
	Name      string `json:"name"`
	Value     string `json:"value,omitempty"`
	Unset     bool   `json:"unset,omitempty"`
}

// SecretRef exposes a Secrets Manager secret or Parameter Store parameter to a container.
type SecretRef struct {
	Container string `json:"container,omitempty"`
	Name      string `json:"name"`
	ValueFrom string `json:"valueFrom"`
}

// ECSTarget is an ECS service.
type ECSTarget struct {
	Parts
	Cluster string `json:"cluster"`
	Service string `json:"service"`
	// TaskDefinition is the family or ARN to start from; empty means the service's.
	TaskDefinition string `json:"taskDefinition,omitempty"`
	// WaitUntil is deployed (the default), started, or a lifecycle stage.
	WaitUntil            string `json:"waitUntil,omitempty"`
	DeregisterOnRollback bool   `json:"deregisterOnRollback,omitempty"`
	ForceNewDeployment   bool   `json:"forceNewDeployment,omitempty"`
}

// EKSTarget is a Kubernetes workload, on EKS (cluster) or reached by a kubeconfig.
type EKSTarget struct {
	Images map[string]string `json:"images"`
	// Cluster is the EKS cluster's name; or Kubeconfig (and Context) reach any cluster.
	Cluster    string `json:"cluster,omitempty"`
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Context    string `json:"context,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	Kind       string `json:"kind,omitempty"` // deployment (default), statefulset or daemonset
	Name       string `json:"name"`
}

// EC2Target is a fleet reached with SSM Run Command.
type EC2Target struct {
	Image            string            `json:"image,omitempty"`
	Env              []EnvVar          `json:"env,omitempty"`
	Instances        []string          `json:"instances,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
	Commands         []string          `json:"commands"`
	RollbackCommands []string          `json:"rollbackCommands,omitempty"`
	VerifyCommands   []string          `json:"verifyCommands,omitempty"`
	Strategy         string            `json:"strategy,omitempty"`   // one-at-a-time, half-at-a-time, all-at-once, N or N%
	MinHealthy       string            `json:"minHealthy,omitempty"` // N or N%
	TargetGroups     []string          `json:"targetGroups,omitempty"`
	ByZone           bool              `json:"byZone,omitempty"`
	AutoScaling      string            `json:"autoScaling,omitempty"` // off (default), suspend or follow
	Hooks            *EC2Hooks         `json:"hooks,omitempty"`
	RecordParameter  string            `json:"recordParameterPrefix,omitempty"`
	SkipUnavailable  bool              `json:"skipUnavailable,omitempty"`
}

// EC2Hooks are CodeDeploy's lifecycle hooks.
type EC2Hooks struct {
	ApplicationStop               *Hook `json:"applicationStop,omitempty"`
	BeforeInstall                 *Hook `json:"beforeInstall,omitempty"`
	AfterInstall                  *Hook `json:"afterInstall,omitempty"`
	ApplicationStart              *Hook `json:"applicationStart,omitempty"`
	ValidateService               *Hook `json:"validateService,omitempty"`
	IgnoreApplicationStopFailures bool  `json:"ignoreApplicationStopFailures,omitempty"`
}

// Hook is one lifecycle hook's commands.
type Hook struct {
	Commands []string `json:"commands"`
	Timeout  Duration `json:"timeout,omitempty"`
}

// Gate is a check run after a stage: exactly one of alarms, metric and http, with Argo
// Rollouts' analysis settings.
type Gate struct {
	Alarms             []string    `json:"alarms,omitempty"`
	Metric             *MetricGate `json:"metric,omitempty"`
	HTTP               *HTTPGate   `json:"http,omitempty"`
	Interval           Duration    `json:"interval,omitempty"`
	Count              int         `json:"count,omitempty"`
	FailureLimit       int         `json:"failureLimit,omitempty"`
	InconclusiveLimit  int         `json:"inconclusiveLimit,omitempty"`
	WaitOnInconclusive bool        `json:"waitOnInconclusive,omitempty"`
}

// MetricGate compares a CloudWatch metric (or a metric math expression) with a threshold.
type MetricGate struct {
	Namespace  string            `json:"namespace,omitempty"`
	Name       string            `json:"name,omitempty"`
	Dimensions map[string]string `json:"dimensions,omitempty"`
	Stat       string            `json:"stat,omitempty"`
	Expression string            `json:"expression,omitempty"`
	Period     Duration          `json:"period,omitempty"`
	Window     Duration          `json:"window,omitempty"`
	Above      *float64          `json:"above,omitempty"`
	Below      *float64          `json:"below,omitempty"`
}

// HTTPGate expects an answer from a URL.
type HTTPGate struct {
	URL    string `json:"url"`
	Status int    `json:"status,omitempty"` // 0: any 2xx
	Body   string `json:"body,omitempty"`   // a regular expression the body must match
}

// Duration is a time.Duration written as "30s", "5m", "1h30m".
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("write a duration as a string such as \"30s\" or \"5m\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a duration such as \"30s\" or \"5m\"", s)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// PathError is a mistake in the release file, at a path such as stages[0].targets[1].ecs.service.
type PathError struct {
	Path string
	Msg  string
}

func (e *PathError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// InvalidFile is every mistake found in a release file.
type InvalidFile struct {
	Name   string
	Errors []*PathError
}

func (e *InvalidFile) Error() string {
	msgs := make([]string, len(e.Errors))
	for i, pe := range e.Errors {
		msgs[i] = pe.Error()
	}
	return fmt.Sprintf("%s is not a valid release file: %s", e.Name, strings.Join(msgs, "; "))
}

// Load reads the release file at path: JSON, whose string values may name environment
// variables as ${VAR} or ${VAR:-default} (lookup finds them; $$ is a dollar sign), checked
// against the file's shape, every mistake named by its path.
func Load(path string, lookup func(string) (string, bool)) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, lookup)
}

// Parse is Load for data already read; name says where it came from.
func Parse(name string, data []byte, lookup func(string) (string, bool)) (*File, error) {
	var tree any
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return nil, &InvalidFile{name, []*PathError{{"", "not JSON: " + err.Error()}}}
	}
	if dec.More() {
		return nil, &InvalidFile{name, []*PathError{{"", "more than one JSON value"}}}
	}
	var errs []*PathError
	tree = expand(tree, "", lookup, &errs)
	check(tree, reflect.TypeFor[File](), "", &errs)
	if len(errs) > 0 {
		return nil, &InvalidFile{name, errs}
	}
	expanded, _ := json.Marshal(tree)
	var f File
	if err := json.Unmarshal(expanded, &f); err != nil { // what check let through decodes
		return nil, &InvalidFile{name, []*PathError{{"", err.Error()}}}
	}
	if errs := f.validate(); len(errs) > 0 {
		return nil, &InvalidFile{name, errs}
	}
	return &f, nil
}

var varRE = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}|\$\{[^}]*\}?`)

// expand replaces ${VAR} (or ${VAR:-default} for one that may be unset or empty) in every
// string value of tree (keys are left alone).
func expand(tree any, path string, lookup func(string) (string, bool), errs *[]*PathError) any {
	switch v := tree.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = expand(x, join(path, k), lookup, errs)
		}
	case []any:
		for i, x := range v {
			v[i] = expand(x, fmt.Sprintf("%s[%d]", path, i), lookup, errs)
		}
	case string:
		return varRE.ReplaceAllStringFunc(v, func(m string) string {
			if m == "$$" {
				return "$"
			}
			sub := varRE.FindStringSubmatch(m)
			if sub[1] == "" {
				*errs = append(*errs, &PathError{path, fmt.Sprintf("%q is not a variable reference: write ${NAME} (letters, digits and _), or $$ for a dollar sign", m)})
				return m
			}
			val, ok := lookup(sub[1])
			switch {
			case (!ok || val == "") && sub[2] != "":
				return sub[3]
			case !ok:
				*errs = append(*errs, &PathError{path, fmt.Sprintf("${%s} is not set (write ${%s:-default} for a default)", sub[1], sub[1])})
			}
			return val
		})
	}
	return tree
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var durationType = reflect.TypeFor[Duration]()

// check walks tree against t, the Go type it will decode into, and names by path each
// unknown field, missing required field, and value of the wrong kind.
func check(tree any, t reflect.Type, path string, errs *[]*PathError) {
	bad := func(format string, args ...any) {
		*errs = append(*errs, &PathError{path, fmt.Sprintf(format, args...)})
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		s, ok := tree.(string)
		if !ok {
			bad("want a duration such as \"30s\" or \"5m\"")
		} else if d, err := time.ParseDuration(s); err != nil || d < 0 {
			bad("%q is not a duration such as \"30s\" or \"5m\"", s)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := tree.(map[string]any)
		if !ok {
			bad("want an object, not %s", kindOf(tree))
			return
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(obj) {
			f, ok := fields[k]
			if !ok {
				msg := fmt.Sprintf("unknown field %q", k)
				if near := nearest(k, fields); near != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", near)
				}
				*errs = append(*errs, &PathError{path, msg})
				continue
			}
			check(obj[k], f.typ, join(path, k), errs)
		}
		for name, f := range fields {
			if _, ok := obj[name]; !ok && f.required {
				*errs = append(*errs, &PathError{join(path, name), "required"})
			}
		}
	case reflect.Slice:
		list, ok := tree.([]any)
		if !ok {
			bad("want a list, not %s", kindOf(tree))
			return
		}
		for i, x := range list {
			check(x, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case reflect.Map:
		obj, ok := tree.(map[string]any)
		if !ok {
			bad("want an object, not %s", kindOf(tree))
			return
		}
		for _, k := range sortedKeys(obj) {
			check(obj[k], t.Elem(), join(path, k), errs)
		}
	case reflect.String:
		if _, ok := tree.(string); !ok {
			bad("want a string, not %s", kindOf(tree))
		}
	case reflect.Bool:
		if _, ok := tree.(bool); !ok {
			bad("want true or false, not %s", kindOf(tree))
		}
	case reflect.Int:
		n, ok := tree.(json.Number)
		if _, err := n.Int64(); !ok || err != nil {
			bad("want a whole number, not %s", kindOf(tree))
		} else if v, _ := n.Int64(); v < 0 {
			bad("want a number of 0 or more")
		}
	case reflect.Float64:
		n, ok := tree.(json.Number)
		if _, err := n.Float64(); !ok || err != nil {
			bad("want a number, not %s", kindOf(tree))
		}
	}
}

type field struct {
	typ      reflect.Type
	required bool // no omitempty
}

// jsonFields maps t's JSON field names (embedded structs' included) to their types.
func jsonFields(t reflect.Type) map[string]field {
	out := map[string]field{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			maps := jsonFields(f.Type)
			for k, v := range maps {
				out[k] = v
			}
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out[name] = field{f.Type, !strings.Contains(opts, "omitempty")}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "true or false"
	case json.Number:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// nearest returns the field name closest to k (a typo of it), or "".
func nearest(k string, fields map[string]field) string {
	best, bestD := "", 3
	for name := range fields {
		if d := distance(strings.ToLower(k), strings.ToLower(name)); d < bestD || d == bestD && name < best {
			best, bestD = name, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// validate checks what the shape cannot say: one kind per target, one check per gate,
// names that must be unique, values from a fixed set.
func (f *File) validate() []*PathError {
	var errs []*PathError
	bad := func(path, format string, args ...any) {
		errs = append(errs, &PathError{path, fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(f.Version) == "" {
		bad("version", "empty: name the release (\"${IMAGE_TAG}\" is the usual value)")
	}
	if f.Store != "" && !strings.HasPrefix(f.Store, "s3://") && !strings.HasPrefix(f.Store, "dynamodb://") && !strings.HasPrefix(f.Store, "file://") {
		bad("store", "%q: use s3://bucket/prefix, dynamodb://table or file://directory", f.Store)
	}
	if f.Lock != nil && !slices.Contains([]string{"", "wait", "fail", "supersede"}, f.Lock.Policy) {
		bad("lock.policy", "%q: use wait, fail or supersede", f.Lock.Policy)
	}
	if len(f.Stages) == 0 {
		bad("stages", "empty: give at least one stage with a target")
	}
	seen := map[string]string{}
	for i, st := range f.Stages {
		sp := fmt.Sprintf("stages[%d]", i)
		if st.Name == "" {
			bad(sp+".name", "empty")
		} else if prev, dup := seen["stage "+st.Name]; dup {
			bad(sp+".name", "%q is also %s's name", st.Name, prev)
		} else {
			seen["stage "+st.Name] = sp
		}
		if len(st.Targets) == 0 {
			bad(sp+".targets", "empty: give at least one target")
		}
		for j, tg := range st.Targets {
			tp := fmt.Sprintf("%s.targets[%d]", sp, j)
			n := 0
			for _, set := range []bool{tg.ECS != nil, tg.EKS != nil, tg.EC2 != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				bad(tp, "give exactly one of ecs, eks and ec2")
				continue
			}
			key, what := tg.key()
			if prev, dup := seen[key]; dup {
				bad(tp, "%s is also %s", what, prev)
			} else {
				seen[key] = tp
			}
			switch {
			case tg.EKS != nil:
				e := tg.EKS
				if (e.Cluster == "") == (e.Kubeconfig == "") {
					bad(tp+".eks", "give cluster (an EKS cluster's name) or kubeconfig, not both")
				}
				if !slices.Contains([]string{"", "deployment", "statefulset", "daemonset"}, strings.ToLower(e.Kind)) {
					bad(tp+".eks.kind", "%q: use deployment, statefulset or daemonset", e.Kind)
				}
			case tg.EC2 != nil:
				e := tg.EC2
				if len(e.Instances) == 0 && len(e.Tags) == 0 {
					bad(tp+".ec2", "give instances or tags")
				}
				if !slices.Contains([]string{"", "off", "suspend", "follow"}, e.AutoScaling) {
					bad(tp+".ec2.autoScaling", "%q: use off, suspend or follow", e.AutoScaling)
				}
			case tg.ECS != nil:
				if w := tg.ECS.WaitUntil; w != "" && !slices.Contains([]string{"deployed", "started"}, w) && strings.ToUpper(w) != w {
					bad(tp+".ecs.waitUntil", "%q: use deployed, started or a lifecycle stage such as BAKE_TIME", w)
				}
			}
		}
		for j, g := range st.Gates {
			gp := fmt.Sprintf("%s.gates[%d]", sp, j)
			n := 0
			for _, set := range []bool{len(g.Alarms) > 0, g.Metric != nil, g.HTTP != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				bad(gp, "give exactly one of alarms, metric and http")
			}
			if m := g.Metric; m != nil {
				if (m.Above == nil) == (m.Below == nil) {
					bad(gp+".metric", "give above or below")
				}
				if (m.Expression == "") == (m.Name == "") {
					bad(gp+".metric", "give a metric (namespace and name) or an expression")
				}
			}
		}
	}
	return errs
}

// key identifies what a target deploys to, to catch one given twice.
func (t Target) key() (key, what string) {
	switch {
	case t.ECS != nil:
		return "ecs " + t.ECS.Cluster + "/" + t.ECS.Service, "ECS service " + t.ECS.Cluster + "/" + t.ECS.Service
	case t.EKS != nil:
		where := t.EKS.Cluster + t.EKS.Kubeconfig + "#" + t.EKS.Context
		return "eks " + where + "/" + t.EKS.Namespace + "/" + strings.ToLower(t.EKS.Kind) + "/" + t.EKS.Name, "workload " + t.EKS.Namespace + "/" + t.EKS.Name
	}
	tags := make([]string, 0, len(t.EC2.Tags))
	for k, v := range t.EC2.Tags {
		tags = append(tags, k+"="+v)
	}
	sort.Strings(tags)
	return "ec2 " + strings.Join(t.EC2.Instances, ",") + "|" + strings.Join(tags, ","), "the same fleet"
}
