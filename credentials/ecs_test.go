package credentials_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/credentials"
	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/ecs"
)

func TestECSSecretsIntoATaskDefinition(t *testing.T) {
	f := newFake()
	f.srv.PutSecret("prod/db", `{"username":"admin","password":"SENTINEL-db-7c2e"}`)
	arn := f.srv.SecretARN("prod/db")
	r := credentials.NewResolver(f.sm, f.ps, nil)
	refs := map[string]credentials.Ref{
		"DB_PASSWORD": mustParse(t, "secretsmanager:prod/db:password"),
		"DB_USER":     mustParse(t, arn+":username::"),
		"DB_PREVIOUS": mustParse(t, "secretsmanager:prod/db:password:AWSPREVIOUS"),
		"DB_ALL":      mustParse(t, "/aws/reference/secretsmanager/prod/db"),
		"API_KEY":     mustParse(t, "/app/api-key"),
	}
	got, err := r.ECSSecrets(context.Background(), "web", refs)
	if err != nil {
		t.Fatal(err)
	}
	want := []deploy.SecretRef{
		{Container: "web", Name: "API_KEY", ValueFrom: "/app/api-key"},
		{Container: "web", Name: "DB_ALL", ValueFrom: arn},
		{Container: "web", Name: "DB_PASSWORD", ValueFrom: arn + ":password::"},
		{Container: "web", Name: "DB_PREVIOUS", ValueFrom: arn + ":password:AWSPREVIOUS:"},
		{Container: "web", Name: "DB_USER", ValueFrom: arn + ":username::"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if n := f.srv.Calls("DescribeSecret"); n != 1 {
		t.Errorf("DescribeSecret calls = %d, want 1 for one secret", n)
	}
	// Each valueFrom parses back to the reference it came from.
	for _, s := range got {
		back, err := credentials.Parse(s.ValueFrom)
		if err != nil {
			t.Errorf("%s: %v", s.Name, err)
			continue
		}
		if orig := refs[s.Name]; back.JSONKey != orig.JSONKey || back.VersionStage != orig.VersionStage {
			t.Errorf("%s: %q parses to %+v, from %+v", s.Name, s.ValueFrom, back, orig)
		}
	}

	// The ECS target takes them: the task definition gets valueFrom entries, never the value.
	td := []byte(`{"family":"web","containerDefinitions":[{"name":"web","image":"nginx","secrets":[{"name":"OLD","valueFrom":"/old"}]}]}`)
	rendered, err := ecs.Render(td, deploy.Release{Secrets: got}, nil)
	if err != nil {
		t.Fatal(err)
	}
	secrets := gjson.GetBytes(rendered, "containerDefinitions.0.secrets")
	if n := len(secrets.Array()); n != 6 {
		t.Errorf("rendered %d secrets, want 6: %s", n, secrets.Raw)
	}
	if v := secrets.Get(`#(name=="DB_PASSWORD").valueFrom`).String(); v != arn+":password::" {
		t.Errorf("DB_PASSWORD valueFrom = %q", v)
	}
	if strings.Contains(string(rendered), "SENTINEL") {
		t.Errorf("the task definition holds a secret value")
	}
}

func TestECSSecretsReportsEveryProblem(t *testing.T) {
	f := newFake()
	r := credentials.NewResolver(f.sm, f.ps, nil)
	_, err := r.ECSSecrets(context.Background(), "", map[string]credentials.Ref{
		"MISSING":  mustParse(t, "secretsmanager:nope:k"),
		"PINNED":   mustParse(t, "/app/x:3"),
		"bad-name": mustParse(t, "/app/y"),
		"LABELLED": mustParse(t, "/app/x:stable"),
	})
	var re *credentials.ResolveError
	if !errors.As(err, &re) || len(re.Failures) != 4 {
		t.Fatalf("err = %v, want four failures", err)
	}
	if !errors.Is(err, deploy.ErrNotFound) || !errors.Is(err, deploy.ErrInvalid) {
		t.Errorf("kinds not reachable: %v", err)
	}
	for _, want := range []string{"secretsmanager:nope:k", "takes no :version or :label", `"bad-name" is not a valid`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%s", want, err)
		}
	}
}
