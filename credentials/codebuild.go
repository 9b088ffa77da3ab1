package credentials

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	cbtypes "github.com/aws/aws-sdk-go-v2/service/codebuild/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
)

// CodeBuildAPI is the part of *codebuild.Client this package calls.
type CodeBuildAPI interface {
	ImportSourceCredentials(context.Context, *codebuild.ImportSourceCredentialsInput, ...func(*codebuild.Options)) (*codebuild.ImportSourceCredentialsOutput, error)
	ListSourceCredentials(context.Context, *codebuild.ListSourceCredentialsInput, ...func(*codebuild.Options)) (*codebuild.ListSourceCredentialsOutput, error)
	DeleteSourceCredentials(context.Context, *codebuild.DeleteSourceCredentialsInput, ...func(*codebuild.Options)) (*codebuild.DeleteSourceCredentialsOutput, error)
}

// SourceCredential is a token CodeBuild uses to read a source repository, as the
// aws_codebuild_source_credential Terraform resource describes one.
type SourceCredential struct {
	// ServerType: GITHUB, GITHUB_ENTERPRISE, BITBUCKET, GITLAB or GITLAB_SELF_MANAGED.
	ServerType cbtypes.ServerType
	// AuthType: PERSONAL_ACCESS_TOKEN (the default), BASIC_AUTH (Bitbucket, with Username),
	// CODECONNECTIONS or SECRETS_MANAGER (Token is then a secret's ARN). OAUTH cannot be set
	// through the API.
	AuthType cbtypes.AuthType
	Username string
	Token    Secret
	// KeepExisting refuses to replace a credential already imported for ServerType; by
	// default it is replaced (CodeBuild keeps one per server type and region).
	KeepExisting bool
}

// SourceCredentialInfo is an imported credential as CodeBuild lists it (never the token).
type SourceCredentialInfo struct {
	ARN        string
	ServerType cbtypes.ServerType
	AuthType   cbtypes.AuthType
	// Resource is the secret or connection ARN for SECRETS_MANAGER and CODECONNECTIONS.
	Resource string
}

// SourceCredentials imports, lists and deletes CodeBuild source credentials.
type SourceCredentials struct {
	cb CodeBuildAPI
	sm SecretsManagerAPI
}

// NewSourceCredentials returns a SourceCredentials over cb; sm is needed only by
// ImportViaSecretsManager and may be nil.
func NewSourceCredentials(cb CodeBuildAPI, sm SecretsManagerAPI) *SourceCredentials {
	return &SourceCredentials{cb: cb, sm: sm}
}

func cbTarget(t cbtypes.ServerType) string {
	return "codebuild:source-credential/" + strings.ToLower(string(t))
}

func (c SourceCredential) check() error {
	target := cbTarget(c.ServerType)
	if !knownValue(c.ServerType, cbtypes.ServerType("").Values()) {
		return deploy.Errorf(deploy.ErrInvalid, target, "import source credential", "server type %q is not one of GITHUB, GITHUB_ENTERPRISE, BITBUCKET, GITLAB, GITLAB_SELF_MANAGED", c.ServerType)
	}
	switch {
	case c.AuthType == cbtypes.AuthTypeOauth:
		return deploy.Errorf(deploy.ErrInvalid, target, "import source credential", "OAUTH credentials cannot be imported through the API; connect in the CodeBuild console, or use a personal access token")
	case !knownValue(c.AuthType, cbtypes.AuthType("").Values()):
		return deploy.Errorf(deploy.ErrInvalid, target, "import source credential", "auth type %q is not one of PERSONAL_ACCESS_TOKEN, BASIC_AUTH, CODECONNECTIONS, SECRETS_MANAGER", c.AuthType)
	case c.Token.IsZero():
		return deploy.Errorf(deploy.ErrInvalid, target, "import source credential", "the token is empty")
	case c.AuthType == cbtypes.AuthTypeBasicAuth && c.Username == "":
		return deploy.Errorf(deploy.ErrInvalid, target, "import source credential", "BASIC_AUTH needs a username (the Bitbucket user of the app password)")
	case c.AuthType == cbtypes.AuthTypeSecretsManager && !strings.HasPrefix(c.Token.Reveal(), "arn:"):
		return deploy.Errorf(deploy.ErrInvalid, target, "import source credential", "with SECRETS_MANAGER the token is the secret's ARN; use ImportViaSecretsManager to create the secret")
	}
	return nil
}

func knownValue[T ~string](v T, known []T) bool {
	for _, k := range known {
		if v == k {
			return true
		}
	}
	return false
}

func (c SourceCredential) withDefaults() SourceCredential {
	if c.AuthType == "" {
		c.AuthType = cbtypes.AuthTypePersonalAccessToken
	}
	return c
}

// Import imports c into CodeBuild and returns the credential's ARN.
func (s *SourceCredentials) Import(ctx context.Context, c SourceCredential) (string, error) {
	c = c.withDefaults()
	if err := c.check(); err != nil {
		return "", err
	}
	in := &codebuild.ImportSourceCredentialsInput{
		ServerType:      c.ServerType,
		AuthType:        c.AuthType,
		Token:           aws.String(c.Token.Reveal()),
		ShouldOverwrite: aws.Bool(!c.KeepExisting),
	}
	if c.Username != "" {
		in.Username = aws.String(c.Username)
	}
	out, err := s.cb.ImportSourceCredentials(ctx, in)
	if err != nil {
		return "", cbErr(cbTarget(c.ServerType), "import source credential", err)
	}
	return aws.ToString(out.Arn), nil
}

func cbErr(target, op string, err error) error {
	kind, detail := awserr.Kind(err), ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ResourceAlreadyExistsException":
			kind, detail = deploy.ErrInvalid, "a credential for this server type exists; import without KeepExisting to replace it"
		case "InvalidInputException":
			kind, detail = deploy.ErrInvalid, "CodeBuild refused the credential; check the server type, auth type and, for Bitbucket, the username"
		case "ResourceNotFoundException":
			kind, detail = deploy.ErrNotFound, "no such source credential; List shows the ARNs there are"
		}
	}
	return deploy.Wrap(kind, target, op, err, detail)
}

// List returns the imported credentials.
func (s *SourceCredentials) List(ctx context.Context) ([]SourceCredentialInfo, error) {
	out, err := s.cb.ListSourceCredentials(ctx, &codebuild.ListSourceCredentialsInput{})
	if err != nil {
		return nil, deploy.Wrap(awserr.Kind(err), "codebuild", "list source credentials", err, "")
	}
	infos := make([]SourceCredentialInfo, 0, len(out.SourceCredentialsInfos))
	for _, i := range out.SourceCredentialsInfos {
		infos = append(infos, SourceCredentialInfo{ARN: aws.ToString(i.Arn), ServerType: i.ServerType, AuthType: i.AuthType, Resource: aws.ToString(i.Resource)})
	}
	return infos, nil
}

// Delete deletes the credential with this ARN.
func (s *SourceCredentials) Delete(ctx context.Context, arn string) error {
	if _, err := s.cb.DeleteSourceCredentials(ctx, &codebuild.DeleteSourceCredentialsInput{Arn: aws.String(arn)}); err != nil {
		return cbErr(arn, "delete source credential", err)
	}
	return nil
}

// ImportViaSecretsManager keeps the token in a Secrets Manager secret in the form CodeBuild
// reads ({"ServerType","AuthType","Token"}, tagged codebuild:source, codebuild:source:type and
// codebuild:source:provider), creating or updating secretName, and imports the secret's ARN
// with AuthType SECRETS_MANAGER. It returns the secret's and the credential's ARNs.
func (s *SourceCredentials) ImportViaSecretsManager(ctx context.Context, secretName string, c SourceCredential) (secretARN, credentialARN string, err error) {
	if s.sm == nil {
		return "", "", deploy.Errorf(deploy.ErrInvalid, cbTarget(c.ServerType), "import source credential", "no Secrets Manager client was given to NewSourceCredentials")
	}
	c = c.withDefaults()
	if c.AuthType == cbtypes.AuthTypeSecretsManager || c.AuthType == cbtypes.AuthTypeCodeconnections {
		return "", "", deploy.Errorf(deploy.ErrInvalid, cbTarget(c.ServerType), "import source credential", "the secret holds a token: use PERSONAL_ACCESS_TOKEN or BASIC_AUTH, not %s", c.AuthType)
	}
	if err := c.check(); err != nil {
		return "", "", err
	}
	fields := map[string]Secret{"ServerType": NewSecret(string(c.ServerType)), "AuthType": NewSecret(string(c.AuthType)), "Token": c.Token}
	if c.Username != "" {
		fields["Username"] = NewSecret(c.Username)
	}
	// An existing secret made without the tags is not one CodeBuild takes: refuse before
	// writing over it.
	d, err := s.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretName)})
	switch {
	case err == nil && !hasTag(d.Tags, "codebuild:source"):
		return aws.ToString(d.ARN), "", deploy.Errorf(deploy.ErrInvalid, smTarget(secretName), "import source credential",
			"the secret exists without the codebuild:source tags and is left as it was; tag it or use a new name")
	case err != nil && !isCode(err, "ResourceNotFoundException"):
		return "", "", smErr(secretName, "describe secret", err)
	}
	store := NewSecretsManager(s.sm, &SecretsManagerOptions{Tags: map[string]string{
		"codebuild:source":          "",
		"codebuild:source:type":     strings.ToLower(string(c.AuthType)),
		"codebuild:source:provider": strings.ToLower(string(c.ServerType)),
	}})
	if _, err := store.Put(ctx, secretName, FromFields(fields)); err != nil {
		return "", "", err
	}
	if d == nil || d.ARN == nil {
		if d, err = s.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretName)}); err != nil {
			return "", "", smErr(secretName, "describe secret", err)
		}
	}
	secretARN = aws.ToString(d.ARN)
	credentialARN, err = s.Import(ctx, SourceCredential{ServerType: c.ServerType, AuthType: cbtypes.AuthTypeSecretsManager, Token: NewSecret(secretARN), KeepExisting: c.KeepExisting})
	return secretARN, credentialARN, err
}

func hasTag(tags []smtypes.Tag, key string) bool {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return true
		}
	}
	return false
}
