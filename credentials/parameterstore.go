package credentials

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
)

// ParameterStoreAPI is the part of *ssm.Client this package calls.
type ParameterStoreAPI interface {
	GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	GetParameters(context.Context, *ssm.GetParametersInput, ...func(*ssm.Options)) (*ssm.GetParametersOutput, error)
	GetParametersByPath(context.Context, *ssm.GetParametersByPathInput, ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error)
	PutParameter(context.Context, *ssm.PutParameterInput, ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
	DeleteParameter(context.Context, *ssm.DeleteParameterInput, ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error)
	DeleteParameters(context.Context, *ssm.DeleteParametersInput, ...func(*ssm.Options)) (*ssm.DeleteParametersOutput, error)
	DescribeParameters(context.Context, *ssm.DescribeParametersInput, ...func(*ssm.Options)) (*ssm.DescribeParametersOutput, error)
	LabelParameterVersion(context.Context, *ssm.LabelParameterVersionInput, ...func(*ssm.Options)) (*ssm.LabelParameterVersionOutput, error)
}

// ParameterStoreOptions tunes a ParameterStore. The zero value is ready.
type ParameterStoreOptions struct {
	// KMSKeyID encrypts the SecureString parameters the store writes; empty means alias/aws/ssm.
	KMSKeyID string
	// Tier is the tier of parameters the store writes; empty means Standard (free, 4 KB).
	// Advanced (8 KB) and Intelligent-Tiering cost money.
	Tier ssmtypes.ParameterTier
}

// ParameterStore is a Store and Labeler over AWS Systems Manager Parameter Store. Values are
// SecureString parameters. A multi-field secret named /app/db becomes one parameter per field,
// /app/db/username and /app/db/password, marked as fields in their description; reading
// /app/db gives the object back. Versions are parameter version numbers; labels are
// parameter labels. Names start with "/" when they have more than one level.
type ParameterStore struct {
	api  ParameterStoreAPI
	opts ParameterStoreOptions
}

// NewParameterStore returns a store over api; opts may be nil.
func NewParameterStore(api ParameterStoreAPI, opts *ParameterStoreOptions) *ParameterStore {
	s := &ParameterStore{api: api}
	if opts != nil {
		s.opts = *opts
	}
	return s
}

// fieldMarker is the description of the parameters that hold a multi-field secret's fields.
const fieldMarker = "stevedore: one field of a multi-field secret"

func psTarget(name string) string { return "parameterstore:" + name }

func psErr(name, op string, err error) error {
	kind := awserr.Kind(err)
	detail := ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch code := ae.ErrorCode(); {
		case code == "ParameterNotFound" || code == "ParameterVersionNotFound" || code == "ParameterVersionLabelNotFound":
			kind, detail = deploy.ErrNotFound, "no such parameter or version in this account and region; check the name, the region and the version or label"
		case strings.HasPrefix(code, "ParameterLimitExceeded") || code == "ParameterMaxVersionLimitExceeded":
			kind, detail = deploy.ErrInvalid, "a Parameter Store limit was reached (10,000 standard parameters, 100 versions kept)"
		case code == "ParameterPatternMismatchException" || code == "ValidationException" || code == "HierarchyLevelLimitExceededException":
			kind = deploy.ErrInvalid
		case code == "InvalidKeyId":
			kind, detail = deploy.ErrInvalid, "the KMS key is not usable for SecureString parameters; check ParameterStoreOptions.KMSKeyID"
		case kind == deploy.ErrAccessDenied:
			detail = "the credentials lack a Parameter Store permission (ssm:GetParameter*, PutParameter, DeleteParameter*, DescribeParameters, LabelParameterVersion) or kms:Decrypt on the key"
		}
	}
	return deploy.Wrap(kind, psTarget(name), op, err, detail)
}

func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && slices.Contains(codes, ae.ErrorCode())
}

// Get implements Store. Version.ID is a version number, Version.Label a parameter label. A
// name that is not a parameter but has parameters directly under it reads as a multi-field
// secret of those (versions do not apply then).
func (s *ParameterStore) Get(ctx context.Context, name string, v Version) (Entry, error) {
	sel := name
	switch {
	case v.ID != "" && v.Label != "":
		return Entry{}, deploy.Errorf(deploy.ErrInvalid, psTarget(name), "get secret", "both a version and a label are given; give one")
	case v.ID != "":
		if n, err := strconv.ParseInt(v.ID, 10, 64); err != nil || n < 1 {
			return Entry{}, deploy.Errorf(deploy.ErrInvalid, psTarget(name), "get secret", "the version %q is not a parameter version number", v.ID)
		}
		sel += ":" + v.ID
	case v.Label != "":
		sel += ":" + v.Label
	}
	out, err := s.api.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(sel), WithDecryption: aws.Bool(true)})
	if err == nil {
		e := Entry{Name: name, Value: NewSecret(aws.ToString(out.Parameter.Value)), Version: strconv.FormatInt(out.Parameter.Version, 10)}
		if v.Label != "" {
			e.Labels = []string{v.Label}
		}
		return e, nil
	}
	if !isCode(err, "ParameterNotFound") || v != (Version{}) {
		return Entry{}, psErr(name, "get secret", err)
	}
	fields, ferr := s.fields(ctx, name, true)
	if ferr != nil {
		return Entry{}, ferr
	}
	if len(fields) == 0 {
		return Entry{}, psErr(name, "get secret", err)
	}
	m := map[string]Secret{}
	for _, p := range fields {
		m[path(aws.ToString(p.Name))] = NewSecret(aws.ToString(p.Value))
	}
	return Entry{Name: name, Value: FromFields(m)}, nil
}

// path returns the last segment of a parameter name.
func path(name string) string { return name[strings.LastIndexByte(name, '/')+1:] }

// fields returns the parameters directly under name, page by page.
func (s *ParameterStore) fields(ctx context.Context, name string, decrypt bool) ([]ssmtypes.Parameter, error) {
	var out []ssmtypes.Parameter
	p := ssm.NewGetParametersByPathPaginator(s.api, &ssm.GetParametersByPathInput{Path: aws.String(name), WithDecryption: aws.Bool(decrypt)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, psErr(name, "get secret fields", err)
		}
		out = append(out, page.Parameters...)
	}
	return out, nil
}

// markedFields returns the names of the parameters under name that hold its fields.
func (s *ParameterStore) markedFields(ctx context.Context, name string) ([]string, error) {
	var names []string
	p := ssm.NewDescribeParametersPaginator(s.api, &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{
		{Key: aws.String("Name"), Option: aws.String("BeginsWith"), Values: []string{name + "/"}},
	}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, psErr(name, "list secret fields", err)
		}
		for _, m := range page.Parameters {
			if n := aws.ToString(m.Name); aws.ToString(m.Description) == fieldMarker && strings.HasPrefix(n, name+"/") && !strings.Contains(n[len(name)+1:], "/") {
				names = append(names, n)
			}
		}
	}
	return names, nil
}

// Put implements Store. A JSON object of string fields is written as one parameter per
// field; anything else as one parameter. The previous shape is removed after the new one is
// written, so a reader never finds neither.
func (s *ParameterStore) Put(ctx context.Context, name string, value Secret) (Entry, error) {
	target := psTarget(name)
	if err := checkPut(target, name, value); err != nil {
		return Entry{}, err
	}
	if err := checkParameterName(name); err != nil {
		return Entry{}, deploy.Errorf(deploy.ErrInvalid, target, "put secret", "%s", err)
	}
	if low := strings.ToLower(strings.TrimPrefix(name, "/")); strings.HasPrefix(low, "aws") || strings.HasPrefix(low, "ssm") {
		return Entry{}, deploy.Errorf(deploy.ErrInvalid, target, "put secret", "parameter names cannot start with aws or ssm")
	}
	old, err := s.markedFields(ctx, name)
	if err != nil {
		return Entry{}, err
	}
	fields, multi := value.Fields()
	if !multi {
		if err := s.fits(target, "the value", value.Reveal()); err != nil {
			return Entry{}, err
		}
		out, err := s.put(ctx, name, value.Reveal(), "")
		if err != nil {
			return Entry{}, psErr(name, "put secret", err)
		}
		if err := s.deleteNames(ctx, name, old); err != nil {
			return Entry{}, err
		}
		return Entry{Name: name, Value: NewSecret(value.Reveal()), Version: strconv.FormatInt(out.Version, 10)}, nil
	}
	obj := gjson.Parse(value.Reveal())
	var bad error
	obj.ForEach(func(k, v gjson.Result) bool {
		switch key := k.String(); {
		case key == "" || strings.Trim(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != "":
			bad = deploy.Errorf(deploy.ErrInvalid, target, "put secret", "field %q cannot be a parameter name segment (letters, digits and _.- only)", key)
		case v.Type != gjson.String:
			bad = deploy.Errorf(deploy.ErrInvalid, target, "put secret", "field %q is a %s, not a string; Parameter Store keeps text, so quote it", key, v.Type)
		case v.Str == "":
			bad = deploy.Errorf(deploy.ErrInvalid, target, "put secret", "field %q is empty; Parameter Store cannot keep empty values", key)
		default:
			bad = s.fits(target, "field "+key, v.Str)
		}
		return bad == nil
	})
	if bad != nil {
		return Entry{}, bad
	}
	var written []string
	for _, k := range sortedKeys(fields) {
		if _, err := s.put(ctx, name+"/"+k, fields[k].Reveal(), fieldMarker); err != nil {
			return Entry{}, deploy.Wrap(awserr.Kind(err), target, "put secret", err,
				"field "+k+" failed after fields ["+strings.Join(written, " ")+"] were written; put the secret again")
		}
		written = append(written, k)
	}
	var stale []string
	for _, n := range old {
		if _, ok := fields[path(n)]; !ok {
			stale = append(stale, n)
		}
	}
	if err := s.deleteNames(ctx, name, stale); err != nil {
		return Entry{}, err
	}
	if _, err := s.api.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(name)}); err != nil && !isCode(err, "ParameterNotFound") {
		return Entry{}, psErr(name, "put secret (remove the single-value parameter it replaces)", err)
	}
	return Entry{Name: name, Value: NewSecret(value.Reveal())}, nil
}

// fits refuses a value longer than a parameter of the store's tier holds (4,096 bytes for
// Standard, 8,192 for Advanced and Intelligent-Tiering), before anything is written: AWS would
// refuse it, and a command that cut it to fit would store a different secret.
func (s *ParameterStore) fits(target, what, value string) error {
	limit, tier := 4096, "a Standard"
	if s.opts.Tier == ssmtypes.ParameterTierAdvanced || s.opts.Tier == ssmtypes.ParameterTierIntelligentTiering {
		limit, tier = 8192, "an "+string(s.opts.Tier)
	}
	if len(value) <= limit {
		return nil
	}
	return deploy.Errorf(deploy.ErrInvalid, target, "put secret", "%s is %d bytes; %s parameter holds at most %d "+
		"(the Advanced tier holds 8,192; Secrets Manager 65,536); nothing was written", what, len(value), tier, limit)
}

func (s *ParameterStore) put(ctx context.Context, name, value, description string) (*ssm.PutParameterOutput, error) {
	in := &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value), Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true)}
	if description != "" {
		in.Description = aws.String(description)
	}
	if s.opts.KMSKeyID != "" {
		in.KeyId = aws.String(s.opts.KMSKeyID)
	}
	if s.opts.Tier != "" {
		in.Tier = s.opts.Tier
	}
	return s.api.PutParameter(ctx, in)
}

// deleteNames deletes parameters ten at a time, as DeleteParameters takes them.
func (s *ParameterStore) deleteNames(ctx context.Context, name string, names []string) error {
	for chunk := range slices.Chunk(names, 10) {
		if _, err := s.api.DeleteParameters(ctx, &ssm.DeleteParametersInput{Names: chunk}); err != nil {
			return psErr(name, "delete secret fields", err)
		}
	}
	return nil
}

// Delete implements Store: the parameter, or every field parameter of a multi-field secret.
func (s *ParameterStore) Delete(ctx context.Context, name string) error {
	_, err := s.api.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(name)})
	if err == nil || !isCode(err, "ParameterNotFound") {
		if err != nil {
			return psErr(name, "delete secret", err)
		}
		return nil
	}
	fields, ferr := s.markedFields(ctx, name)
	if ferr != nil {
		return ferr
	}
	if len(fields) == 0 {
		return psErr(name, "delete secret", err)
	}
	return s.deleteNames(ctx, name, fields)
}

// List implements Store with DescribeParameters; a multi-field secret is listed once, by
// its own name.
func (s *ParameterStore) List(ctx context.Context, prefix string) ([]string, error) {
	in := &ssm.DescribeParametersInput{}
	if prefix != "" {
		in.ParameterFilters = []ssmtypes.ParameterStringFilter{{Key: aws.String("Name"), Option: aws.String("BeginsWith"), Values: []string{prefix}}}
	}
	var names []string
	p := ssm.NewDescribeParametersPaginator(s.api, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, psErr(prefix+"*", "list secrets", err)
		}
		for _, m := range page.Parameters {
			n := aws.ToString(m.Name)
			if aws.ToString(m.Description) == fieldMarker {
				n = n[:strings.LastIndexByte(n, '/')]
			}
			if strings.HasPrefix(n, prefix) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// Label implements Labeler with LabelParameterVersion.
func (s *ParameterStore) Label(ctx context.Context, name, version, label string) error {
	n, err := strconv.ParseInt(version, 10, 64)
	if err != nil || n < 1 {
		return deploy.Errorf(deploy.ErrInvalid, psTarget(name), "label secret version", "the version %q is not a parameter version number", version)
	}
	out, err := s.api.LabelParameterVersion(ctx, &ssm.LabelParameterVersionInput{Name: aws.String(name), ParameterVersion: aws.Int64(n), Labels: []string{label}})
	if err != nil {
		return psErr(name, "label secret version", err)
	}
	if len(out.InvalidLabels) > 0 {
		return deploy.Errorf(deploy.ErrInvalid, psTarget(name), "label secret version", "Parameter Store refused the label %q: labels have letters, digits, '.', '-' and '_', do not start with a digit, aws or ssm, and have at most 100 characters", label)
	}
	return nil
}
