// Command secrets reads, writes and uses secrets from Secrets Manager and Parameter Store
// through the stevedore credentials package. AWS settings come from the usual places
// (environment, profile, AWS_ENDPOINT_URL).
//
//	secrets get [-reveal] REF...
//	secrets put [-store secretsmanager|parameterstore] NAME   < value (one trailing newline dropped)
//	secrets exec -e NAME=REF [-e NAME=REF ...] -- CMD [ARGS...]
//	secrets import-source-credential -server github [-auth personal-access-token] [-username U]
//	        [-token-ref REF] [-secret NAME]   (token on stdin without -token-ref)
//
// REF is any reference form credentials.Parse reads: a Parameter Store name or ARN (with
// :version or :label), a Secrets Manager ARN with :json-key:stage:version-id,
// secretsmanager:<id>:<json-key>, /aws/reference/secretsmanager/<id>, {{resolve:...}}.
// A bare name (no leading /, no prefix) is looked for in Parameter Store, then in Secrets
// Manager, so that `put NAME` then `get NAME` works with either store. Values are printed only
// with get -reveal; exec passes CMD's output through one redactor for stdout and stderr
// together. On failure the exit status is 1 (2 for usage) with a one-line reason on stderr;
// exec passes SIGINT and SIGTERM to CMD and exits with CMD's status.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	cbtypes "github.com/aws/aws-sdk-go-v2/service/codebuild/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/credentials"
	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/cli"
)

func main() {
	in := cli.OnInterrupt("secrets", "cancelling", os.Stderr)
	code := run(in.Context(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	in.Stop()
	os.Exit(in.Code(code))
}

const usage = `usage:
  secrets get [-reveal] REF...
  secrets put [-store secretsmanager|parameterstore] NAME   (value on stdin; a JSON object is a multi-field secret)
  secrets exec -e NAME=REF [-e NAME=REF ...] -- CMD [ARGS...]
  secrets import-source-credential -server github|github-enterprise|bitbucket|gitlab|gitlab-self-managed
          [-auth personal-access-token|basic-auth] [-username USER] [-token-ref REF] [-secret NAME]`

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(stdout, usage)
		return 0
	}
	cmds := map[string]func(context.Context, []string, io.Reader, io.Writer, io.Writer) (int, error){
		"get": get, "put": put, "exec": execCmd, "import-source-credential": importSourceCredential,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "secrets: unknown command %q\n%s\n", args[0], usage)
		return 2
	}
	code, err := cmd(ctx, args[1:], stdin, stdout, stderr)
	var ue usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintln(stdout, usage)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "secrets %s: %s\n%s\n", args[0], ue.msg, usage)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "secrets %s: %s\n", args[0], oneLine(err.Error()))
		return 1
	}
	return code
}

// oneLine folds a multi-line error (a ResolveError lists one failure per line) into one.
func oneLine(s string) string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, " ")
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}

type clients struct {
	sm *secretsmanager.Client
	ps *ssm.Client
	cb *codebuild.Client
}

func awsClients(ctx context.Context) (clients, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return clients{}, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return clients{}, errors.New("no AWS region is set; set AWS_REGION")
	}
	return clients{secretsmanager.NewFromConfig(cfg), ssm.NewFromConfig(cfg), codebuild.NewFromConfig(cfg)}, nil
}

// resolve reads refs in as few calls as the services take. A bare name that Parameter Store
// does not have is looked for in Secrets Manager too, where `put` keeps it by default.
func resolve(ctx context.Context, refs []credentials.Ref, bare map[credentials.Ref]bool) (map[credentials.Ref]credentials.Secret, error) {
	c, err := awsClients(ctx)
	if err != nil {
		return nil, err
	}
	r := credentials.NewResolver(c.sm, c.ps, nil)
	vals, err := r.Resolve(ctx, refs...)
	var re *credentials.ResolveError
	if err == nil || !errors.As(err, &re) {
		return vals, err
	}
	if vals == nil {
		vals = map[credentials.Ref]credentials.Secret{}
	}
	again := map[credentials.Ref]credentials.Ref{} // Secrets Manager ref -> the bare one
	for _, f := range re.Failures {
		if bare[f.Ref] && (errors.Is(f.Err, deploy.ErrNotFound) || errors.Is(f.Err, deploy.ErrInvalid)) {
			if sm, err := credentials.Parse("secretsmanager:" + f.Ref.ID); err == nil {
				again[sm] = f.Ref
			}
		}
	}
	if len(again) == 0 {
		return nil, err
	}
	var smRefs []credentials.Ref
	for sm := range again {
		smRefs = append(smRefs, sm)
	}
	found, smErr := r.Resolve(ctx, smRefs...)
	var smRE *credentials.ResolveError
	if smErr != nil && !errors.As(smErr, &smRE) {
		return nil, smErr
	}
	for sm, orig := range again {
		if v, ok := found[sm]; ok {
			vals[orig] = v
		}
	}
	var left []credentials.RefError
	for _, f := range re.Failures {
		if _, ok := vals[f.Ref]; ok {
			continue
		}
		if bare[f.Ref] {
			f.Err = fmt.Errorf("%s is in neither Parameter Store nor Secrets Manager (write /NAME or secretsmanager:NAME to say which): %w", f.Ref.ID, f.Err)
		}
		left = append(left, f)
	}
	if len(left) > 0 {
		return nil, &credentials.ResolveError{Failures: left}
	}
	return vals, nil
}

// parseRefs parses references and notes the bare names among them: no leading slash, no
// prefix, no ARN, which could be in either store.
func parseRefs(args []string) ([]credentials.Ref, map[credentials.Ref]bool, error) {
	var refs []credentials.Ref
	bare := map[credentials.Ref]bool{}
	var errs []string
	for _, a := range args {
		r, err := credentials.Parse(a)
		if err != nil && !strings.HasPrefix(a, "/") && !strings.Contains(a, ":") {
			// Not a parameter name (app/db has a slash but does not start with one): a
			// Secrets Manager name, as put keeps it.
			if sm, smErr := credentials.Parse("secretsmanager:" + a); smErr == nil {
				r, err = sm, nil
			}
		}
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		refs = append(refs, r)
		if r.Source == credentials.SourceParameterStore && !strings.HasPrefix(a, "/") && !strings.Contains(a, ":") {
			bare[r] = true
		}
	}
	if len(errs) > 0 {
		return nil, nil, errors.New(strings.Join(errs, "; "))
	}
	return refs, bare, nil
}

func get(ctx context.Context, args []string, _ io.Reader, stdout, _ io.Writer) (int, error) {
	fs := newFlags("get")
	reveal := fs.Bool("reveal", false, "print the values")
	if err := parseFlags(fs, args); err != nil {
		return 0, err
	}
	if fs.NArg() == 0 {
		return 0, usageError{"give at least one reference"}
	}
	refs, bare, err := parseRefs(fs.Args())
	if err != nil {
		return 0, err
	}
	vals, err := resolve(ctx, refs, bare)
	if err != nil {
		return 0, err
	}
	for i, r := range refs {
		v := vals[r]
		if *reveal {
			fmt.Fprintf(stdout, "%s\t%s\n", fs.Arg(i), printable(v.Reveal()))
		} else {
			fmt.Fprintf(stdout, "%s\t%v (%d bytes)\n", fs.Arg(i), v, v.Len())
		}
	}
	return 0, nil
}

// printable keeps a value on one line: one with a line break, tab or other control
// character is written as a JSON string.
func printable(v string) string {
	if strings.IndexFunc(v, func(c rune) bool { return c < ' ' || c == 0x7f }) < 0 {
		return v
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func put(ctx context.Context, args []string, stdin io.Reader, stdout, _ io.Writer) (int, error) {
	fs := newFlags("put")
	store := fs.String("store", "secretsmanager", "secretsmanager or parameterstore")
	if err := parseFlags(fs, args); err != nil {
		return 0, err
	}
	if fs.NArg() != 1 {
		return 0, usageError{"give exactly one NAME; the value comes on stdin"}
	}
	data, err := io.ReadAll(io.LimitReader(stdin, maxValue+1))
	if err != nil {
		return 0, fmt.Errorf("reading the value from stdin: %w", err)
	}
	if len(data) > maxValue {
		return 0, fmt.Errorf("the value on stdin is over %d bytes, more than any store holds; nothing was written", maxValue)
	}
	value := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	c, err := awsClients(ctx)
	if err != nil {
		return 0, err
	}
	var s credentials.Store
	switch *store {
	case "secretsmanager":
		s = credentials.NewSecretsManager(c.sm, nil)
	case "parameterstore":
		s = credentials.NewParameterStore(c.ps, nil)
	default:
		return 0, usageError{fmt.Sprintf("-store %q: use secretsmanager or parameterstore", *store)}
	}
	e, err := s.Put(ctx, fs.Arg(0), credentials.NewSecret(value))
	if err != nil {
		return 0, err
	}
	shape := "value"
	if f, ok := e.Value.Fields(); ok {
		shape = fmt.Sprintf("%d fields", len(f))
	}
	if e.Version != "" {
		fmt.Fprintf(stdout, "put %s (%s) in %s, version %s\n", fs.Arg(0), shape, *store, e.Version)
	} else {
		fmt.Fprintf(stdout, "put %s (%s) in %s\n", fs.Arg(0), shape, *store)
	}
	return 0, nil
}

// maxValue is what put reads of stdin at most: more than any store holds (the store then
// refuses what it cannot hold), never cut to fit.
const maxValue = 1 << 20

// envFlags collects repeated -e NAME=REF.
type envFlags []string

func (e *envFlags) String() string     { return strings.Join(*e, ",") }
func (e *envFlags) Set(v string) error { *e = append(*e, v); return nil }

func execCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	fs := newFlags("exec")
	var envs envFlags
	fs.Var(&envs, "e", "NAME=REF, repeatable")
	if err := parseFlags(fs, args); err != nil {
		return 0, err
	}
	if fs.NArg() == 0 {
		return 0, usageError{"give the command to run after --"}
	}
	names := map[string]credentials.Ref{}
	var refs []credentials.Ref
	bare := map[credentials.Ref]bool{}
	var errs []string
	for _, e := range envs {
		name, ref, ok := strings.Cut(e, "=")
		if !ok || name == "" {
			return 0, usageError{fmt.Sprintf("-e %q: write NAME=REF", e)}
		}
		rs, b, err := parseRefs([]string{ref})
		if err != nil {
			errs = append(errs, name+": "+err.Error())
			continue
		}
		names[name] = rs[0]
		refs = append(refs, rs[0])
		maps.Copy(bare, b)
	}
	if len(errs) > 0 {
		return 0, errors.New(strings.Join(errs, "; "))
	}
	vals, err := resolve(ctx, refs, bare)
	if err != nil {
		return 0, err
	}
	vars := map[string]credentials.Secret{}
	var all []credentials.Secret
	for n, r := range names {
		vars[n] = vals[r]
		all = append(all, vals[r])
	}
	env, err := credentials.Environ(os.Environ(), vars)
	if err != nil {
		return 0, err
	}
	// One stream for both outputs: a value the command splits between stdout and stderr
	// (both in one build log) is masked too.
	out := credentials.NewRedactor(stdout, all...)
	errOut := out.Writer(stderr)
	defer out.Close()
	// Not CommandContext: the command decides what a signal means to it (passed on below),
	// and this program exits with its status.
	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, stdin, out, errOut
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("running %s: %w", fs.Arg(0), err)
	}
	stop := cli.Forward(ctx, cmd.Process)
	err = cmd.Wait()
	stop()
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return 0, fmt.Errorf("running %s: %w", fs.Arg(0), err)
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil // as a shell reports a command a signal ended
		}
		return ee.ExitCode(), nil
	}
	return 0, nil
}

func importSourceCredential(ctx context.Context, args []string, stdin io.Reader, stdout, _ io.Writer) (int, error) {
	fs := newFlags("import-source-credential")
	server := fs.String("server", "", "github, github-enterprise, bitbucket, gitlab or gitlab-self-managed")
	auth := fs.String("auth", "personal-access-token", "personal-access-token or basic-auth (Bitbucket)")
	username := fs.String("username", "", "the user, for basic-auth")
	tokenRef := fs.String("token-ref", "", "a reference to the token; without it the token is read from stdin")
	secretName := fs.String("secret", "", "keep the token in this Secrets Manager secret and import the secret")
	if err := parseFlags(fs, args); err != nil {
		return 0, err
	}
	if fs.NArg() != 0 {
		return 0, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	st := cbtypes.ServerType(strings.ToUpper(strings.ReplaceAll(*server, "-", "_")))
	if *server == "" {
		return 0, usageError{"-server is required"}
	}
	c, err := awsClients(ctx)
	if err != nil {
		return 0, err
	}
	var token credentials.Secret
	if *tokenRef != "" {
		r, err := credentials.Parse(*tokenRef)
		if err != nil {
			return 0, err
		}
		vals, err := credentials.NewResolver(c.sm, c.ps, nil).Resolve(ctx, r)
		if err != nil {
			return 0, err
		}
		token = vals[r]
	} else {
		data, err := io.ReadAll(io.LimitReader(stdin, 64<<10+1))
		if err != nil {
			return 0, fmt.Errorf("reading the token from stdin: %w", err)
		}
		if len(data) > 64<<10 {
			return 0, errors.New("the token on stdin is over 64 KiB; nothing was imported")
		}
		token = credentials.NewSecret(strings.TrimSpace(string(data)))
	}
	cred := credentials.SourceCredential{
		ServerType: st,
		AuthType:   cbtypes.AuthType(strings.ToUpper(strings.ReplaceAll(*auth, "-", "_"))),
		Username:   *username,
		Token:      token,
	}
	sc := credentials.NewSourceCredentials(c.cb, c.sm)
	if *secretName != "" {
		secretARN, arn, err := sc.ImportViaSecretsManager(ctx, *secretName, cred)
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(stdout, "imported %s (token kept in %s)\n", arn, secretARN)
		return 0, nil
	}
	arn, err := sc.Import(ctx, cred)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(stdout, "imported %s\n", arn)
	return 0, nil
}
