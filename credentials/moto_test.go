package credentials_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	cbtypes "github.com/aws/aws-sdk-go-v2/service/codebuild/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/google/go-cmp/cmp"

	"github.com/stevedore-dev/stevedore/credentials"
	"github.com/stevedore-dev/stevedore/credentials/credentialstest"
	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/mototest"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// runID keeps names from different test runs against one moto server apart.
var runID = fmt.Sprintf("run%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)

func motoSM(t testing.TB) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(mototest.Config(t))
}

func motoSSM(t testing.TB) *ssm.Client {
	return ssm.NewFromConfig(mototest.Config(t))
}

func TestSecretsManagerConformanceMoto(t *testing.T) {
	credentialstest.Run(t, func(t *testing.T) credentialstest.Harness {
		return credentialstest.Harness{
			Store:  credentials.NewSecretsManager(motoSM(t), &credentials.SecretsManagerOptions{ForceDelete: true}),
			Prefix: "/conformance/" + runID,
		}
	})
}

func TestParameterStoreConformanceMoto(t *testing.T) {
	credentialstest.Run(t, func(t *testing.T) credentialstest.Harness {
		return credentialstest.Harness{
			Store:                credentials.NewParameterStore(motoSSM(t), nil),
			Prefix:               "/conformance/" + runID,
			NoMultiFieldVersions: true,
		}
	})
}

// With a recovery window, a deleted secret lingers as "scheduled for deletion"; the store
// still reports it as not found.
func TestSecretsManagerConformanceMotoRecoveryWindow(t *testing.T) {
	credentialstest.Run(t, func(t *testing.T) credentialstest.Harness {
		return credentialstest.Harness{
			Store:  credentials.NewSecretsManager(motoSM(t), &credentials.SecretsManagerOptions{RecoveryWindowDays: 7}),
			Prefix: "/conformance-window/" + runID,
		}
	})
}

// The fake answers the stores as moto does; the suite keeps it honest.
func TestSecretsManagerConformanceFake(t *testing.T) {
	credentialstest.Run(t, func(t *testing.T) credentialstest.Harness {
		f := newFake()
		return credentialstest.Harness{Store: credentials.NewSecretsManager(f.sm, &credentials.SecretsManagerOptions{ForceDelete: true}), Prefix: "/fake"}
	})
}

func TestParameterStoreConformanceFake(t *testing.T) {
	credentialstest.Run(t, func(t *testing.T) credentialstest.Harness {
		f := newFake()
		return credentialstest.Harness{Store: credentials.NewParameterStore(f.ps, nil), Prefix: "/fake", NoMultiFieldVersions: true}
	})
}

// The resolver against moto: batches, versions, stages, labels, ARNs, /aws/reference paths,
// multi-field paths and failures.
func TestResolveMoto(t *testing.T) {
	ctx := context.Background()
	sm, ps := motoSM(t), motoSSM(t)
	smStore := credentials.NewSecretsManager(sm, &credentials.SecretsManagerOptions{ForceDelete: true})
	psStore := credentials.NewParameterStore(ps, nil)
	base := fmt.Sprintf("/resolve/%s-%d", runID, time.Now().UnixNano()%1e9) // fresh under -count too
	first, err := smStore.Put(ctx, base+"/db", credentials.NewSecret(`{"username":"admin","password":"old"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := smStore.Put(ctx, base+"/db", credentials.NewSecret(`{"username":"admin","password":"new"}`)); err != nil {
		t.Fatal(err)
	}
	var refs []credentials.Ref
	want := map[string]string{}
	for i := range 25 {
		n := fmt.Sprintf("%s/p%02d", base, i)
		if _, err := psStore.Put(ctx, n, credentials.NewSecret("v"+n)); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, credentials.Ref{Source: credentials.SourceParameterStore, ID: n})
		want[n] = "v" + n
	}
	for i := range 22 {
		n := fmt.Sprintf("%s/s%02d", base, i)
		if _, err := smStore.Put(ctx, n, credentials.NewSecret(fmt.Sprintf(`{"k":"s%d"}`, i))); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, mustParse(t, "secretsmanager:"+n+":k"))
		want["secretsmanager:"+n+":k"] = fmt.Sprintf("s%d", i)
	}
	psStore.Put(ctx, base+"/p00", credentials.NewSecret("second"))
	if err := psStore.Label(ctx, base+"/p00", "1", "stable"); err != nil {
		t.Fatal(err)
	}
	if _, err := psStore.Put(ctx, base+"/multi", credentials.NewSecret(`{"a":"1","b":"2"}`)); err != nil {
		t.Fatal(err)
	}
	want[base+"/p00"] = "second"
	extra := map[string]string{
		"secretsmanager:" + base + "/db:password":                   "new",
		"secretsmanager:" + base + "/db:password:AWSPREVIOUS":       "old",
		"secretsmanager:" + base + "/db:username::" + first.Version: "admin",
		base + "/p00:1":      "v" + base + "/p00",
		base + "/p00:stable": "v" + base + "/p00",
		"arn:aws:ssm:us-east-1:123456789012:parameter" + base + "/p01": "v" + base + "/p01",
		"/aws/reference/secretsmanager/" + base + "/db":                `{"username":"admin","password":"new"}`,
		base + "/multi": `{"a":"1","b":"2"}`,
	}
	for s, v := range extra {
		refs = append(refs, mustParse(t, s))
		want[s] = v
	}
	got, err := credentials.NewResolver(sm, ps, nil).Resolve(ctx, refs...)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, reveal(got)); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}

	_, err = credentials.NewResolver(sm, ps, nil).Resolve(ctx, mustParse(t, base+"/nope"), mustParse(t, "secretsmanager:"+base+"/nope"), mustParse(t, base+"/p00:9"))
	var re *credentials.ResolveError
	if !errors.As(err, &re) || len(re.Failures) != 3 || !errors.Is(err, deploy.ErrNotFound) {
		t.Errorf("three missing references: %v", err)
	}
}

// The Secrets Manager half of ImportViaSecretsManager and the DescribeSecret of ECSSecrets
// against moto; CodeBuild, which moto lacks, is the in-process fake.
func TestSecretsManagerCallsOfCodeBuildAndECSMoto(t *testing.T) {
	ctx := context.Background()
	sm := motoSM(t)
	f := newFake()
	name := "codebuild/" + runID
	secretARN, _, err := credentials.NewSourceCredentials(f.cb, sm).ImportViaSecretsManager(ctx, name,
		credentials.SourceCredential{ServerType: cbtypes.ServerTypeGithubEnterprise, Token: credentials.NewSecret("ghp_x")})
	if err != nil {
		t.Fatal(err)
	}
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &name})
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{}
	for _, tg := range d.Tags {
		tags[*tg.Key] = *tg.Value
	}
	if d := cmp.Diff(map[string]string{"codebuild:source": "", "codebuild:source:type": "personal_access_token", "codebuild:source:provider": "github_enterprise"}, tags); d != "" {
		t.Errorf("tags (-want +got)\n%s", d)
	}
	if f.srv.SourceCredentialToken("GITHUB_ENTERPRISE") != secretARN {
		t.Errorf("CodeBuild was not given the secret's ARN %s", secretARN)
	}

	got, err := credentials.NewResolver(sm, nil, nil).ECSSecrets(ctx, "app", map[string]credentials.Ref{"TOKEN": mustParse(t, "secretsmanager:"+name+":Token")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ValueFrom != secretARN+":Token::" {
		t.Errorf("ECSSecrets = %+v, want valueFrom %s:Token::", got, secretARN)
	}
}
