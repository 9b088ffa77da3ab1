package credentials

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
)

// SecretsManagerAPI is the part of *secretsmanager.Client this package calls.
type SecretsManagerAPI interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	BatchGetSecretValue(context.Context, *secretsmanager.BatchGetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.BatchGetSecretValueOutput, error)
	DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	CreateSecret(context.Context, *secretsmanager.CreateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	PutSecretValue(context.Context, *secretsmanager.PutSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	DeleteSecret(context.Context, *secretsmanager.DeleteSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
	ListSecrets(context.Context, *secretsmanager.ListSecretsInput, ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
	UpdateSecretVersionStage(context.Context, *secretsmanager.UpdateSecretVersionStageInput, ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

// SecretsManagerOptions tunes a SecretsManager. The zero value is ready.
type SecretsManagerOptions struct {
	// KMSKeyID encrypts secrets the store creates; empty means aws/secretsmanager.
	KMSKeyID string
	// Tags go on secrets the store creates.
	Tags map[string]string
	// ForceDelete deletes at once, without the recovery window during which a deleted secret
	// can be restored (and its name cannot be reused).
	ForceDelete bool
	// RecoveryWindowDays is the recovery window of a delete without ForceDelete, 7 to 30;
	// zero means Secrets Manager's default of 30.
	RecoveryWindowDays int64
}

// SecretsManager is a Store and Labeler over AWS Secrets Manager: one secret per name;
// a multi-field secret is one JSON SecretString. Versions are version ids; labels are
// staging labels (AWSCURRENT, AWSPREVIOUS and your own).
type SecretsManager struct {
	api  SecretsManagerAPI
	opts SecretsManagerOptions
}

// NewSecretsManager returns a store over api; opts may be nil.
func NewSecretsManager(api SecretsManagerAPI, opts *SecretsManagerOptions) *SecretsManager {
	s := &SecretsManager{api: api}
	if opts != nil {
		s.opts = *opts
	}
	return s
}

func smTarget(name string) string { return "secretsmanager:" + name }

// smErr wraps a Secrets Manager error once, saying what to do about the common ones.
func smErr(name, op string, err error) error {
	kind := awserr.Kind(err)
	detail := ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch code, msg := ae.ErrorCode(), strings.ToLower(ae.ErrorMessage()); {
		case code == "ResourceNotFoundException":
			kind, detail = deploy.ErrNotFound, "no such secret or version in this account and region; check the name, the region and, for a version, its id or stage"
		case code == "InvalidRequestException" && strings.Contains(msg, "delet"):
			kind, detail = deploy.ErrNotFound, "the secret is scheduled for deletion; restore it with RestoreSecret or wait out the recovery window"
		case code == "DecryptionFailure":
			kind, detail = deploy.ErrAccessDenied, "the KMS key that encrypts this secret cannot be used with these credentials; grant kms:Decrypt on it"
		case kind == deploy.ErrAccessDenied:
			detail = "the credentials lack a Secrets Manager permission (secretsmanager:" + op2action(op) + ") on this secret"
		case code == "InvalidRequestException" || code == "InvalidParameterException":
			kind = deploy.ErrInvalid
		}
	}
	return deploy.Wrap(kind, smTarget(name), op, err, detail)
}

func op2action(op string) string {
	switch op {
	case "get secret":
		return "GetSecretValue"
	case "put secret":
		return "PutSecretValue or CreateSecret"
	case "delete secret":
		return "DeleteSecret"
	case "list secrets":
		return "ListSecrets"
	case "label secret version":
		return "UpdateSecretVersionStage"
	}
	return "..."
}

// Get implements Store. Version.ID is a version id, Version.Label a staging label.
func (s *SecretsManager) Get(ctx context.Context, name string, v Version) (Entry, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}
	if v.ID != "" {
		in.VersionId = aws.String(v.ID)
	}
	if v.Label != "" {
		in.VersionStage = aws.String(v.Label)
	}
	out, err := s.api.GetSecretValue(ctx, in)
	if err != nil {
		return Entry{}, smErr(name, "get secret", err)
	}
	if out.SecretString == nil {
		return Entry{}, deploy.Errorf(deploy.ErrInvalid, smTarget(name), "get secret", "the secret holds binary data (SecretBinary), which this package does not read; store text")
	}
	return Entry{Name: name, Value: NewSecret(*out.SecretString), Version: aws.ToString(out.VersionId), Labels: sorted(out.VersionStages)}, nil
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// MaxSecretsManagerValue is the most a Secrets Manager secret value holds, in bytes.
const MaxSecretsManagerValue = 65536

// Put implements Store: PutSecretValue, or CreateSecret the first time. A value over
// MaxSecretsManagerValue is refused before anything is written.
func (s *SecretsManager) Put(ctx context.Context, name string, value Secret) (Entry, error) {
	if err := checkPut(smTarget(name), name, value); err != nil {
		return Entry{}, err
	}
	if err := checkSecretName(name); err != nil {
		return Entry{}, deploy.Errorf(deploy.ErrInvalid, smTarget(name), "put secret", "%s", err)
	}
	if n := len(value.Reveal()); n > MaxSecretsManagerValue {
		return Entry{}, deploy.Errorf(deploy.ErrInvalid, smTarget(name), "put secret",
			"the value is %d bytes; Secrets Manager holds at most %d; nothing was written", n, MaxSecretsManagerValue)
	}
	out, err := s.api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(value.Reveal())})
	if err == nil {
		return Entry{Name: name, Value: NewSecret(value.Reveal()), Version: aws.ToString(out.VersionId), Labels: sorted(out.VersionStages)}, nil
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ResourceNotFoundException" {
		return Entry{}, smErr(name, "put secret", err)
	}
	in := &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value.Reveal())}
	if s.opts.KMSKeyID != "" {
		in.KmsKeyId = aws.String(s.opts.KMSKeyID)
	}
	for _, k := range sortedKeys(s.opts.Tags) {
		in.Tags = append(in.Tags, smtypes.Tag{Key: aws.String(k), Value: aws.String(s.opts.Tags[k])})
	}
	created, err := s.api.CreateSecret(ctx, in)
	if err != nil {
		return Entry{}, smErr(name, "put secret", err)
	}
	return Entry{Name: name, Value: NewSecret(value.Reveal()), Version: aws.ToString(created.VersionId), Labels: []string{"AWSCURRENT"}}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Delete implements Store, with the recovery window the options say.
func (s *SecretsManager) Delete(ctx context.Context, name string) error {
	in := &secretsmanager.DeleteSecretInput{SecretId: aws.String(name)}
	if s.opts.ForceDelete {
		// A forced delete of a secret that does not exist succeeds quietly; ask first, so a
		// typo in the name is reported as it is without ForceDelete.
		if _, err := s.api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)}); err != nil {
			return smErr(name, "delete secret", err)
		}
		in.ForceDeleteWithoutRecovery = aws.Bool(true)
	} else if s.opts.RecoveryWindowDays != 0 {
		in.RecoveryWindowInDays = aws.Int64(s.opts.RecoveryWindowDays)
	}
	if _, err := s.api.DeleteSecret(ctx, in); err != nil {
		return smErr(name, "delete secret", err)
	}
	return nil
}

// List implements Store with ListSecrets, page by page.
func (s *SecretsManager) List(ctx context.Context, prefix string) ([]string, error) {
	in := &secretsmanager.ListSecretsInput{}
	if prefix != "" {
		in.Filters = []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{prefix}}}
	}
	var names []string
	p := secretsmanager.NewListSecretsPaginator(s.api, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, smErr(prefix+"*", "list secrets", err)
		}
		for _, e := range page.SecretList {
			// The name filter also matches words inside names; keep true prefixes only.
			if n := aws.ToString(e.Name); strings.HasPrefix(n, prefix) && e.DeletedDate == nil {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// Label implements Labeler: it moves the staging label to version.
func (s *SecretsManager) Label(ctx context.Context, name, version, label string) error {
	d, err := s.api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		return smErr(name, "label secret version", err)
	}
	in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(name), VersionStage: aws.String(label), MoveToVersionId: aws.String(version)}
	if _, ok := d.VersionIdsToStages[version]; !ok {
		return deploy.Errorf(deploy.ErrNotFound, smTarget(name), "label secret version", "the secret has no version %q", version)
	}
	for id, stages := range d.VersionIdsToStages {
		if id != version && slices.Contains(stages, label) {
			in.RemoveFromVersionId = aws.String(id)
		}
	}
	if _, err := s.api.UpdateSecretVersionStage(ctx, in); err != nil {
		return smErr(name, "label secret version", err)
	}
	return nil
}
