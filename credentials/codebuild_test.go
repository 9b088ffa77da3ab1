package credentials_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	cbtypes "github.com/aws/aws-sdk-go-v2/service/codebuild/types"
	"github.com/google/go-cmp/cmp"

	"github.com/stevedore-dev/stevedore/credentials"
	"github.com/stevedore-dev/stevedore/deploy"
)

// moto has no ImportSourceCredentials; these run against the in-process fake.
func TestSourceCredentialsImportListDelete(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	sc := credentials.NewSourceCredentials(f.cb, f.sm)

	arn, err := sc.Import(ctx, credentials.SourceCredential{ServerType: cbtypes.ServerTypeGithub, Token: credentials.NewSecret("ghp_SENTINEL")})
	if err != nil {
		t.Fatal(err)
	}
	if arn != "arn:aws:codebuild:us-east-1:123456789012:token/github" {
		t.Errorf("ARN = %q", arn)
	}
	if f.srv.SourceCredentialToken("GITHUB") != "ghp_SENTINEL" {
		t.Errorf("CodeBuild did not get the token")
	}
	req := string(f.srv.Requests("ImportSourceCredentials")[0])
	for _, want := range []string{`"authType":"PERSONAL_ACCESS_TOKEN"`, `"serverType":"GITHUB"`, `"shouldOverwrite":true`} {
		if !strings.Contains(req, want) {
			t.Errorf("request %s lacks %s", req, want)
		}
	}
	if _, err := sc.Import(ctx, credentials.SourceCredential{ServerType: cbtypes.ServerTypeBitbucket, AuthType: cbtypes.AuthTypeBasicAuth, Username: "me", Token: credentials.NewSecret("app-pw")}); err != nil {
		t.Fatal(err)
	}
	_, err = sc.Import(ctx, credentials.SourceCredential{ServerType: cbtypes.ServerTypeGithub, Token: credentials.NewSecret("other"), KeepExisting: true})
	if !errors.Is(err, deploy.ErrInvalid) || !strings.Contains(err.Error(), "KeepExisting") {
		t.Errorf("KeepExisting over an existing credential: %v", err)
	}

	list, err := sc.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []credentials.SourceCredentialInfo{
		{ARN: "arn:aws:codebuild:us-east-1:123456789012:token/bitbucket", ServerType: "BITBUCKET", AuthType: "BASIC_AUTH"},
		{ARN: arn, ServerType: "GITHUB", AuthType: "PERSONAL_ACCESS_TOKEN"},
	}
	if d := cmp.Diff(want, list); d != "" {
		t.Errorf("List (-want +got)\n%s", d)
	}
	if err := sc.Delete(ctx, arn); err != nil {
		t.Fatal(err)
	}
	if err := sc.Delete(ctx, arn); !errors.Is(err, deploy.ErrNotFound) || !strings.Contains(err.Error(), arn) {
		t.Errorf("deleting twice: %v", err)
	}
}

func TestSourceCredentialsRejectsBeforeCalling(t *testing.T) {
	f := newFake()
	sc := credentials.NewSourceCredentials(f.cb, nil)
	for _, c := range []credentials.SourceCredential{
		{ServerType: "SVN", Token: credentials.NewSecret("SENTINEL")},
		{ServerType: cbtypes.ServerTypeGithub, AuthType: cbtypes.AuthTypeOauth, Token: credentials.NewSecret("SENTINEL")},
		{ServerType: cbtypes.ServerTypeGithub},
		{ServerType: cbtypes.ServerTypeBitbucket, AuthType: cbtypes.AuthTypeBasicAuth, Token: credentials.NewSecret("SENTINEL")},
		{ServerType: cbtypes.ServerTypeGithub, AuthType: cbtypes.AuthTypeSecretsManager, Token: credentials.NewSecret("SENTINEL")},
	} {
		_, err := sc.Import(context.Background(), c)
		if !errors.Is(err, deploy.ErrInvalid) || strings.Contains(err.Error(), "SENTINEL") {
			t.Errorf("%s/%s: %v", c.ServerType, c.AuthType, err)
		}
	}
	if n := f.srv.TotalCalls(); n != 0 {
		t.Errorf("%d calls made for credentials that could not work", n)
	}
}

func TestSourceCredentialsViaSecretsManager(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	sc := credentials.NewSourceCredentials(f.cb, f.sm)
	secretARN, credARN, err := sc.ImportViaSecretsManager(ctx, "codebuild/github", credentials.SourceCredential{ServerType: cbtypes.ServerTypeGithub, Token: credentials.NewSecret("ghp_abc")})
	if err != nil {
		t.Fatal(err)
	}
	if secretARN != f.srv.SecretARN("codebuild/github") || credARN == "" {
		t.Errorf("ARNs %q, %q", secretARN, credARN)
	}
	var body map[string]string
	v, _ := credentials.NewSecretsManager(f.sm, nil).Get(ctx, "codebuild/github", credentials.Version{})
	if err := json.Unmarshal([]byte(v.Value.Reveal()), &body); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]string{"ServerType": "GITHUB", "AuthType": "PERSONAL_ACCESS_TOKEN", "Token": "ghp_abc"}, body); d != "" {
		t.Errorf("secret (-want +got)\n%s", d)
	}
	wantTags := map[string]string{"codebuild:source": "", "codebuild:source:type": "personal_access_token", "codebuild:source:provider": "github"}
	if d := cmp.Diff(wantTags, f.srv.SecretTags("codebuild/github")); d != "" {
		t.Errorf("tags (-want +got)\n%s", d)
	}
	if got := f.srv.SourceCredentialToken("GITHUB"); got != secretARN {
		t.Errorf("CodeBuild holds %q, want the secret's ARN", got)
	}
	req := string(f.srv.Requests("ImportSourceCredentials")[0])
	if !strings.Contains(req, `"authType":"SECRETS_MANAGER"`) {
		t.Errorf("import request %s", req)
	}

	// Rotating the token updates the same secret.
	if _, _, err := sc.ImportViaSecretsManager(ctx, "codebuild/github", credentials.SourceCredential{ServerType: cbtypes.ServerTypeGithub, Token: credentials.NewSecret("ghp_new")}); err != nil {
		t.Fatal(err)
	}
	if n := f.srv.Calls("CreateSecret"); n != 1 {
		t.Errorf("CreateSecret calls = %d, want 1", n)
	}

	// A secret of that name made by hand, untagged, is not one CodeBuild takes.
	f.srv.PutSecret("handmade", "x")
	defer func() {
		if v, _ := credentials.NewSecretsManager(f.sm, nil).Get(ctx, "handmade", credentials.Version{}); v.Value.Reveal() != "x" {
			t.Errorf("the untagged secret was written over")
		}
	}()
	if _, _, err := sc.ImportViaSecretsManager(ctx, "handmade", credentials.SourceCredential{ServerType: cbtypes.ServerTypeGitlab, Token: credentials.NewSecret("t")}); !errors.Is(err, deploy.ErrInvalid) {
		t.Errorf("untagged secret: %v", err)
	}
}
