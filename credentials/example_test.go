package credentials_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/credentials"
	"github.com/stevedore-dev/stevedore/deploy"
)

func ExampleParse() {
	for _, s := range []string{
		"arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf:password::",
		"/app/db/password:stable",
		"{{resolve:ssm:/app/db/password:3}}",
		"/aws/reference/secretsmanager/prod/db",
	} {
		r, err := credentials.Parse(s)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s id=%s key=%q version=%d label=%q\n", r.Source, r.ID, r.JSONKey, r.Version, r.Label)
	}
	_, err := credentials.Parse("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf::AWSCURRENT:EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE")
	fmt.Println(err)
	// Output:
	// secretsmanager id=arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf key="password" version=0 label=""
	// parameterstore id=/app/db/password key="" version=0 label="stable"
	// parameterstore id=/app/db/password key="" version=3 label=""
	// secretsmanager id=prod/db key="" version=0 label=""
	// parse secret reference: "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf::AWSCURRENT:EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE": both a version stage ("AWSCURRENT") and a version id ("EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE") are given; give one
}

func ExampleParseIn() {
	// A buildspec's env.secrets-manager entry: a bare name is a secret.
	r, _ := credentials.ParseIn(credentials.SourceSecretsManager, "prod/db:username")
	fmt.Println(r.Source, r.ID, r.JSONKey)
	// Output: secretsmanager prod/db username
}

func ExampleSecret() {
	s := credentials.NewSecret("hunter2")
	b, _ := json.Marshal(map[string]any{"password": s})
	fmt.Printf("%v %q %#v %s\n", s, s, s, b)
	fmt.Println(s.Reveal())
	// Output:
	// [redacted] [redacted] [redacted] {"password":"[redacted]"}
	// hunter2
}

func ExampleNewRedactor() {
	token := credentials.NewSecret("ghp_16C7e42F292c6912E7710c838347Ae178B4a")
	r := credentials.NewRedactor(os.Stdout, token)
	fmt.Fprint(r, "cloning with ghp_16C7e42F292c")
	fmt.Fprint(r, "6912E7710c838347Ae178B4a ... done\n")
	fmt.Fprintf(r, "json: %q\n", token.Reveal())
	r.Close()
	// Output:
	// cloning with [redacted] ... done
	// json: "[redacted]"
}

func ExampleEnviron() {
	env, err := credentials.Environ([]string{"PATH=/usr/bin"}, map[string]credentials.Secret{"DB_PASSWORD": credentials.NewSecret("s3cret")})
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `test -n "$DB_PASSWORD" && echo the step sees the password`)
	cmd.Env = env
	cmd.Stdout = os.Stdout
	_ = cmd.Run()
	// Output: the step sees the password
}

func ExampleMemoryStore() {
	ctx := context.Background()
	s := credentials.NewMemoryStore()
	s.Put(ctx, "/app/db", credentials.NewSecret(`{"username":"admin","password":"one"}`))
	s.Put(ctx, "/app/db", credentials.NewSecret(`{"username":"admin","password":"two"}`))
	cur, _ := s.Get(ctx, "/app/db", credentials.Version{})
	old, _ := s.Get(ctx, "/app/db", credentials.Version{ID: "1"})
	cf, _ := cur.Value.Fields()
	of, _ := old.Value.Fields()
	fmt.Println(cur.Version, cf["password"].Reveal(), old.Version, of["password"].Reveal())
	// Output: 2 two 1 one
}

func ExampleResolver_Resolve() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	r := credentials.NewResolver(secretsmanager.NewFromConfig(cfg), ssm.NewFromConfig(cfg), nil)
	var refs []credentials.Ref
	for _, s := range []string{"secretsmanager:prod/db:password", "/prod/api/key"} {
		ref, err := credentials.Parse(s)
		if err != nil {
			log.Fatal(err)
		}
		refs = append(refs, ref)
	}
	values, err := r.Resolve(ctx, refs...)
	if err != nil {
		log.Fatal(err) // names every reference that failed, never a value
	}
	fmt.Println(len(values), "values:", values[refs[0]]) // prints [redacted]
}

func ExampleCache() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	cache := credentials.NewCache(credentials.NewResolver(secretsmanager.NewFromConfig(cfg), ssm.NewFromConfig(cfg), nil), nil)
	ref, _ := credentials.Parse("secretsmanager:prod/db:password")
	pw, err := cache.Get(ctx, ref) // read once an hour at most
	if err != nil {
		log.Fatal(err)
	}
	_ = pw.Reveal()       // hand it to the database driver
	cache.Invalidate(ref) // after the login fails: the password was rotated
}

func ExampleResolver_ECSSecrets() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	r := credentials.NewResolver(secretsmanager.NewFromConfig(cfg), ssm.NewFromConfig(cfg), nil)
	pw, _ := credentials.Parse("secretsmanager:prod/db:password")
	key, _ := credentials.Parse("/prod/api/key")
	secrets, err := r.ECSSecrets(ctx, "web", map[string]credentials.Ref{"DB_PASSWORD": pw, "API_KEY": key})
	if err != nil {
		log.Fatal(err)
	}
	release := deploy.Release{Version: "v2", Images: map[string]string{"web": "web:v2"}, Secrets: secrets}
	_ = release // deploy.Run(ctx, release, []deploy.Target{ecsTarget}, nil)
}

func ExampleSourceCredentials_Import() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	r := credentials.NewResolver(secretsmanager.NewFromConfig(cfg), ssm.NewFromConfig(cfg), nil)
	ref, _ := credentials.Parse("/ci/github-token")
	vals, err := r.Resolve(ctx, ref)
	if err != nil {
		log.Fatal(err)
	}
	sc := credentials.NewSourceCredentials(codebuild.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg))
	arn, err := sc.Import(ctx, credentials.SourceCredential{ServerType: "GITHUB", Token: vals[ref]})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("imported", arn)
}

func ExampleNewParameterStore() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	store := credentials.NewParameterStore(ssm.NewFromConfig(cfg), nil)
	// Two SecureString parameters, /app/db/username and /app/db/password.
	if _, err := store.Put(ctx, "/app/db", credentials.NewSecret(`{"username":"admin","password":"s3cret"}`)); err != nil {
		log.Fatal(err)
	}
	e, err := store.Get(ctx, "/app/db", credentials.Version{})
	if err != nil {
		log.Fatal(err)
	}
	fields, _ := e.Value.Fields()
	fmt.Println(len(fields), "fields")
}

func ExampleNewSecretsManager() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	store := credentials.NewSecretsManager(secretsmanager.NewFromConfig(cfg), &credentials.SecretsManagerOptions{Tags: map[string]string{"team": "platform"}})
	e, err := store.Put(ctx, "prod/db", credentials.NewSecret(`{"username":"admin","password":"s3cret"}`))
	if err != nil {
		log.Fatal(err)
	}
	prev, err := store.Get(ctx, "prod/db", credentials.Version{Label: "AWSPREVIOUS"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("now", e.Version, "before", prev.Version)
}

// Writer joins a second output to the Redactor's stream: a command's stdout and stderr end in
// one log, so a value split between them is masked too, and each byte still goes where it
// was written.
func ExampleRedactor_Writer() {
	var stdout, stderr strings.Builder
	r := credentials.NewRedactor(&stdout, credentials.NewSecret("hunter2-prod"))
	errOut := r.Writer(&stderr)
	fmt.Fprint(r, "password: hunt")
	fmt.Fprint(errOut, "er2-pr")
	fmt.Fprint(r, "od\n")
	fmt.Fprint(errOut, "done\n")
	r.Close()
	fmt.Printf("stdout %q\nstderr %q\n", stdout.String(), stderr.String())
	// Output:
	// stdout "password: [redacted]\n"
	// stderr "done\n"
}
