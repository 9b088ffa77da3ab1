package credentials

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/stevedore-dev/stevedore/deploy"
)

// Source says which AWS service holds a referenced secret.
type Source int

const (
	// SourceSecretsManager: AWS Secrets Manager.
	SourceSecretsManager Source = iota + 1
	// SourceParameterStore: AWS Systems Manager Parameter Store.
	SourceParameterStore
)

func (s Source) String() string {
	switch s {
	case SourceSecretsManager:
		return "secretsmanager"
	case SourceParameterStore:
		return "parameterstore"
	}
	return "Source(" + strconv.Itoa(int(s)) + ")"
}

// Ref points at one secret value: which store, which secret, which version, which JSON key.
// Parse and ParseIn make one from any form users write; String gives it back in a form
// Parse accepts. Refs are comparable and serve as map keys.
type Ref struct {
	Source Source
	// ID is a Secrets Manager secret name or ARN, or a Parameter Store name or ARN.
	ID string
	// JSONKey selects one top-level key of a secret that holds a JSON object.
	JSONKey string
	// VersionStage and VersionID select a Secrets Manager version (at most one of them;
	// neither means AWSCURRENT).
	VersionStage string
	VersionID    string
	// Version and Label select a Parameter Store version (at most one of them; neither means
	// the latest).
	Version int64
	Label   string
	// ViaParameterStore is set for /aws/reference/secretsmanager/<id>: a Secrets Manager
	// secret read through Parameter Store (which needs only ssm:GetParameters permissions).
	ViaParameterStore bool
}

const refPrefix = "/aws/reference/secretsmanager/"

// Parse reads a reference in any of these forms:
//
//	arn:aws:secretsmanager:<region>:<account>:secret:<name>[:<json-key>[:<stage>[:<version-id>]]]  (ECS valueFrom)
//	arn:aws:ssm:<region>:<account>:parameter/<name>[:<version>|:<label>]
//	/app/db/password, /app/db/password:3, /app/db/password:stable  (Parameter Store, as ECS reads a bare name)
//	/aws/reference/secretsmanager/<secret-id>
//	secretsmanager:<secret-id>[:<json-key>[:<stage>[:<version-id>]]]  (the CodeBuild buildspec form, prefixed)
//	parameterstore:<name>[:<version>|:<label>]  (or ssm:<name>...)
//	{{resolve:secretsmanager:<secret-id>:SecretString:<json-key>:<stage>:<version-id>}}
//	{{resolve:ssm:<name>:<version>}}, {{resolve:ssm-secure:<name>:<version>}}
//
// A bare name is a Parameter Store name, as in an ECS valueFrom; use ParseIn for a
// buildspec's env.secrets-manager section, where a bare name is a secret. Errors say which
// part is wrong and are *deploy.Error values matching deploy.ErrInvalid.
func Parse(s string) (Ref, error) {
	r, err := parse(0, s)
	if err != nil {
		return Ref{}, deploy.Errorf(deploy.ErrInvalid, "", "parse secret reference", "%q: %s", s, err)
	}
	return r, nil
}

// ParseIn reads a reference whose store the context already says: the value of a buildspec's
// env.secrets-manager entry (`<secret-id>:<json-key>:<stage>:<version-id>`) with
// SourceSecretsManager, or env.parameter-store's with SourceParameterStore. Every form Parse knows is
// accepted too, as long as it names the same store.
func ParseIn(src Source, s string) (Ref, error) {
	r, err := parse(src, s)
	if err == nil && r.Source != src {
		err = fmt.Errorf("this is a %s reference where a %s one is expected", r.Source, src)
	}
	if err != nil {
		return Ref{}, deploy.Errorf(deploy.ErrInvalid, "", "parse secret reference", "%q: %s", s, err)
	}
	return r, nil
}

func parse(src Source, s string) (Ref, error) {
	switch {
	case s == "":
		return Ref{}, fmt.Errorf("the reference is empty")
	case strings.TrimSpace(s) != s:
		return Ref{}, fmt.Errorf("leading or trailing white space")
	case strings.HasPrefix(s, "{{resolve:"):
		return parseResolve(s)
	case strings.HasPrefix(s, "arn:"):
		return parseARN(s)
	case strings.HasPrefix(s, refPrefix):
		id := s[len(refPrefix):]
		r := Ref{Source: SourceSecretsManager, ID: id, ViaParameterStore: true}
		if strings.HasPrefix(id, "arn:") {
			arn, rest, err := splitSecretARN(id)
			if err != nil {
				return Ref{}, err
			}
			if rest != "" {
				return Ref{}, fmt.Errorf("%s<id> takes no json key, stage or version after the ARN (%q)", refPrefix, rest)
			}
			r.ID = arn
		} else if err := checkSecretName(id); err != nil {
			return Ref{}, err
		}
		return r, nil
	case strings.HasPrefix(s, "secretsmanager:"):
		return parseSecretSpec(s[len("secretsmanager:"):])
	case strings.HasPrefix(s, "parameterstore:"):
		return parseParameter(s[len("parameterstore:"):])
	case strings.HasPrefix(s, "ssm:"):
		return parseParameter(s[len("ssm:"):])
	case src == SourceSecretsManager:
		return parseSecretSpec(s)
	}
	return parseParameter(s)
}

// parseSecretSpec reads <secret-id>[:<json-key>[:<stage>[:<version-id>]]], where secret-id
// is a name or an ARN.
func parseSecretSpec(s string) (Ref, error) {
	var id, rest string
	if strings.HasPrefix(s, "arn:") {
		var err error
		if id, rest, err = splitSecretARN(s); err != nil {
			return Ref{}, err
		}
	} else {
		var tail string
		var hasTail bool
		id, tail, hasTail = strings.Cut(s, ":")
		if err := checkSecretName(id); err != nil {
			return Ref{}, err
		}
		if hasTail {
			rest = ":" + tail
		}
	}
	return secretRef(id, rest)
}

// secretRef fills in the json key, stage and version id from rest (":key:stage:id" or "").
func secretRef(id, rest string) (Ref, error) {
	r := Ref{Source: SourceSecretsManager, ID: id}
	if rest == "" {
		return r, nil
	}
	parts := strings.Split(rest[1:], ":")
	if len(parts) > 3 {
		return Ref{}, fmt.Errorf("after the secret id come at most three parts, json-key:version-stage:version-id; found %d (%q)", len(parts), rest[1:])
	}
	parts = append(parts, "", "", "")[:3]
	r.JSONKey, r.VersionStage, r.VersionID = parts[0], parts[1], parts[2]
	return r, checkSecretVersion(r)
}

func checkSecretVersion(r Ref) error {
	if r.VersionStage != "" && r.VersionID != "" {
		return fmt.Errorf("both a version stage (%q) and a version id (%q) are given; give one", r.VersionStage, r.VersionID)
	}
	if strings.TrimSpace(r.JSONKey) != r.JSONKey || strings.IndexFunc(r.JSONKey, unicode.IsControl) >= 0 {
		return fmt.Errorf("the json key %q has leading or trailing white space or a control character", r.JSONKey)
	}
	if strings.IndexFunc(r.VersionStage, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) >= 0 {
		return fmt.Errorf("the version stage %q has white space or a control character", r.VersionStage)
	}
	if n := len(r.VersionStage); n > 256 {
		return fmt.Errorf("the version stage is %d characters; at most 256", n)
	}
	if n := len(r.VersionID); n != 0 && (n < 32 || n > 64) {
		return fmt.Errorf("the version id %q is %d characters; Secrets Manager version ids have 32 to 64", r.VersionID, n)
	}
	for _, c := range r.VersionID {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
			return fmt.Errorf("the version id %q has a character (%q) a version id cannot have", r.VersionID, c)
		}
	}
	return nil
}

// splitSecretARN splits a Secrets Manager ARN with an optional ":key:stage:id" tail.
func splitSecretARN(s string) (arn, rest string, err error) {
	f := strings.SplitN(s, ":", 8)
	if len(f) < 7 {
		return "", "", fmt.Errorf("a Secrets Manager ARN has the form arn:<partition>:secretsmanager:<region>:<account>:secret:<name>")
	}
	if err := checkARN(f[:6], "secretsmanager"); err != nil {
		return "", "", err
	}
	if f[5] != "secret" {
		return "", "", fmt.Errorf("the ARN's resource type is %q; a Secrets Manager secret's is \"secret\"", f[5])
	}
	if err := checkSecretName(f[6]); err != nil {
		return "", "", err
	}
	arn = strings.Join(f[:7], ":")
	if len(f) == 8 {
		rest = ":" + f[7]
	}
	return arn, rest, nil
}

func checkARN(f []string, service string) error {
	if f[1] == "" || strings.Trim(f[1], "abcdefghijklmnopqrstuvwxyz-") != "" {
		return fmt.Errorf("the ARN's partition %q is not one (aws, aws-cn, aws-us-gov, ...)", f[1])
	}
	if f[2] != service {
		return fmt.Errorf("the ARN's service is %q, not %s", f[2], service)
	}
	if f[3] == "" || strings.Trim(f[3], "abcdefghijklmnopqrstuvwxyz-0123456789") != "" {
		return fmt.Errorf("the ARN's region %q is not a region name like us-east-1", f[3])
	}
	if len(f[4]) != 12 || strings.Trim(f[4], "0123456789") != "" {
		return fmt.Errorf("the ARN's account %q is not 12 digits", f[4])
	}
	return nil
}

func checkSecretName(n string) error {
	if n == "" {
		return fmt.Errorf("the secret name or id is empty")
	}
	if len(n) > 512 {
		return fmt.Errorf("the secret name is %d characters; at most 512", len(n))
	}
	for _, c := range n {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.ContainsRune("/_+=.@-", c)) {
			return fmt.Errorf("the secret name %q has a character (%q) secret names cannot have (letters, digits and /_+=.@- only)", n, c)
		}
	}
	return nil
}

func parseARN(s string) (Ref, error) {
	f := strings.SplitN(s, ":", 6)
	if len(f) < 6 {
		return Ref{}, fmt.Errorf("an ARN has at least six colon-separated fields, arn:<partition>:<service>:<region>:<account>:<resource>")
	}
	switch f[2] {
	case "secretsmanager":
		arn, rest, err := splitSecretARN(s)
		if err != nil {
			return Ref{}, err
		}
		return secretRef(arn, rest)
	case "ssm":
		return parseParameter(s)
	}
	return Ref{}, fmt.Errorf("the ARN's service is %q; references point at secretsmanager or ssm", f[2])
}

// parseParameter reads a Parameter Store name or ARN with an optional :version or :label.
func parseParameter(s string) (Ref, error) {
	r := Ref{Source: SourceParameterStore}
	name := s
	if strings.HasPrefix(s, "arn:") {
		f := strings.SplitN(s, ":", 7)
		if len(f) < 6 {
			return Ref{}, fmt.Errorf("a Parameter Store ARN has the form arn:<partition>:ssm:<region>:<account>:parameter/<name>")
		}
		if err := checkARN(f[:6], "ssm"); err != nil {
			return Ref{}, err
		}
		p, ok := strings.CutPrefix(f[5], "parameter/")
		if !ok || p == "" {
			return Ref{}, fmt.Errorf("the ARN's resource %q is not parameter/<name>", f[5])
		}
		name = p
		if strings.Contains(p, "/") {
			name = "/" + p
		}
		r.ID = strings.Join(f[:6], ":")
		if len(f) == 7 {
			if err := parseSelector(&r, f[6]); err != nil {
				return Ref{}, err
			}
		}
	} else {
		var sel string
		var hasSel bool
		name, sel, hasSel = strings.Cut(s, ":")
		r.ID = name
		if hasSel {
			if err := parseSelector(&r, sel); err != nil {
				return Ref{}, err
			}
		}
	}
	return r, checkParameterName(name)
}

func parseSelector(r *Ref, sel string) error {
	switch {
	case sel == "":
		return fmt.Errorf("the ':' after the parameter name is followed by nothing; give a version number or a label, or drop it")
	case strings.Contains(sel, ":"):
		return fmt.Errorf("a parameter takes one selector, a version or a label; found %q", sel)
	case sel[0] >= '0' && sel[0] <= '9':
		v, err := strconv.ParseInt(sel, 10, 64)
		if err != nil || v < 1 {
			return fmt.Errorf("the parameter version %q is not a positive whole number (labels cannot start with a digit)", sel)
		}
		r.Version = v
	default:
		if len(sel) > 100 {
			return fmt.Errorf("the label is %d characters; at most 100", len(sel))
		}
		low := strings.ToLower(sel)
		if strings.HasPrefix(low, "aws") || strings.HasPrefix(low, "ssm") {
			return fmt.Errorf("the label %q starts with aws or ssm, which labels cannot", sel)
		}
		for _, c := range sel {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '-' || c == '_') {
				return fmt.Errorf("the label %q has a character (%q) labels cannot have (letters, digits, '.', '-', '_')", sel, c)
			}
		}
		r.Label = sel
	}
	return nil
}

func checkParameterName(n string) error {
	if n == "" {
		return fmt.Errorf("the parameter name is empty")
	}
	if len(n) > 1011 {
		return fmt.Errorf("the parameter name is %d characters; at most 1011", len(n))
	}
	for _, c := range n {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.ContainsRune("_.-/", c)) {
			return fmt.Errorf("the parameter name %q has a character (%q) names cannot have (letters, digits and _.-/ only)", n, c)
		}
	}
	if strings.Contains(n, "/") && !strings.HasPrefix(n, "/") {
		return fmt.Errorf("the parameter name %q has a '/' but does not start with one; hierarchical names start with '/'", n)
	}
	if strings.Contains(n, "//") || (len(n) > 1 && strings.HasSuffix(n, "/")) || n == "/" {
		return fmt.Errorf("the parameter name %q has an empty path segment", n)
	}
	if levels := strings.Count(n, "/"); levels > 15 {
		return fmt.Errorf("the parameter name %q has %d levels; at most 15", n, levels)
	}
	return nil
}

// parseResolve reads the CloudFormation dynamic reference forms.
func parseResolve(s string) (Ref, error) {
	body, ok := strings.CutSuffix(strings.TrimPrefix(s, "{{resolve:"), "}}")
	if !ok {
		return Ref{}, fmt.Errorf("a {{resolve:...}} reference must end with }}")
	}
	svc, rest, _ := strings.Cut(body, ":")
	switch svc {
	case "secretsmanager":
		var id string
		if strings.HasPrefix(rest, "arn:") {
			var err error
			if id, rest, err = splitSecretARN(rest); err != nil {
				return Ref{}, err
			}
		} else {
			id, rest, _ = strings.Cut(rest, ":")
			if err := checkSecretName(id); err != nil {
				return Ref{}, err
			}
			if rest != "" {
				rest = ":" + rest
			}
		}
		if rest != "" {
			field, more, _ := strings.Cut(rest[1:], ":")
			if field != "SecretString" {
				return Ref{}, fmt.Errorf("after the secret id, {{resolve:secretsmanager}} takes SecretString, not %q", field)
			}
			rest = ""
			if more != "" {
				rest = ":" + more
			}
		}
		return secretRef(id, rest)
	case "ssm", "ssm-secure":
		if _, ver, hasVer := strings.Cut(rest, ":"); hasVer {
			if v, err := strconv.ParseInt(ver, 10, 64); err != nil || v < 1 {
				return Ref{}, fmt.Errorf("the version %q in {{resolve:%s}} is not a positive whole number", ver, svc)
			}
		}
		return parseParameter(rest)
	}
	return Ref{}, fmt.Errorf("{{resolve:%s:...}} is not a secret reference; use secretsmanager, ssm or ssm-secure", svc)
}

// String returns r in a form Parse reads back to r.
func (r Ref) String() string {
	switch r.Source {
	case SourceSecretsManager:
		if r.ViaParameterStore {
			return refPrefix + r.ID
		}
		s := r.ID
		if !strings.HasPrefix(s, "arn:") {
			s = "secretsmanager:" + s
		}
		return s + r.secretSuffix()
	case SourceParameterStore:
		switch {
		case r.Version > 0:
			return r.ID + ":" + strconv.FormatInt(r.Version, 10)
		case r.Label != "":
			return r.ID + ":" + r.Label
		}
		return r.ID
	}
	return "<invalid reference>"
}

// secretSuffix is ":key:stage:id" with empty trailing parts dropped.
func (r Ref) secretSuffix() string {
	parts := []string{r.JSONKey, r.VersionStage, r.VersionID}
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	if len(parts) == 0 {
		return ""
	}
	return ":" + strings.Join(parts, ":")
}

// Secret returns r without its JSON key: the reference to the whole stored value.
func (r Ref) Secret() Ref {
	r.JSONKey = ""
	return r
}
