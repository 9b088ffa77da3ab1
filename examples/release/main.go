// Command release runs a release file: stages of ECS services, EKS workloads and EC2
// fleets, with gates between stages, a lock and a journal, from a CodeBuild build or
// anywhere else.
//
//	release [plan|deploy|status|wait|rollback|render|verify|revisions|prune|recover] [-f release.json] [flags]
//
//	plan       show each target's change, changing nothing
//	deploy     finish what a killed run left (from the journal), then roll the release out;
//	           any failure rolls every started target back, the latest stage first
//	status     what each target runs now, and any rollout in progress on it
//	wait       wait for the rollout each target is in (whoever started it) to end
//	rollback   put every target back to what ran before: with a store, to before the latest
//	           release that deployed, from the journal; without, each by its own history
//	           (an ECS service's previous task definition revision, a Deployment's previous
//	           revision)
//	render     the task definition (ECS) or pod template (EKS) each target would get
//	verify     preflight: every target can be planned, and what an ECS task definition
//	           names (images, roles, log groups, secrets) exists
//	revisions  each ECS target's task definition family, newest first, marking what runs
//	prune      deregister each ECS target's old task definition revisions (-keep N)
//	recover    roll back (or -resume) a release a killed run left in the journal
//
// The release file is JSON (release.schema.json describes it); string values may name
// environment variables as ${VAR}. Besides the environment, ${IMAGE_TAG} is the build's
// commit (CODEBUILD_RESOLVED_SOURCE_VERSION; -image-tag short-sha or build-number for the
// others), ${AWS_REGION} the configured region and ${AWS_ACCOUNT_ID} the caller's (STS).
//
// Progress goes to stderr: on a terminal, a line per target updating in place; in CI (no
// terminal, CI or CODEBUILD_BUILD_ID set, NO_COLOR, or -plain), timestamped lines. deploy
// ends with the release report (-json FILE writes it as JSON) and, with -artifacts DIR,
// writes CodePipeline's imagedefinitions.json and imageDetail.json.
//
// Exit status: 0 done; 1 failed, everything rolled back (or nothing changed); 2 a mistake
// in the command line or the release file; 3 failed and some target is left changed (its
// rollback failed); 4 a target is held by another release (lock policy fail). SIGINT or
// SIGTERM cancels and rolls back (130 or 143); a second one exits at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/cli"
)

// Exit statuses.
const (
	exitOK          = 0
	exitFailed      = 1
	exitInvalid     = 2
	exitLeftChanged = 3
	exitLocked      = 4
)

func main() {
	in := cli.OnInterrupt("release", "cancelling and rolling back", os.Stderr)
	code := run(in.Context(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	in.Stop()
	os.Exit(in.Code(code))
}

// command is one subcommand.
type command struct {
	name  string
	flags func(fs *flag.FlagSet) func(ctx context.Context, a *app) error
}

var commands = []command{
	{"plan", planCommand},
	{"deploy", deployCommand},
	{"status", statusCommand},
	{"wait", waitCommand},
	{"rollback", rollbackCommand},
	{"render", renderCommand},
	{"verify", verifyCommand},
	{"revisions", revisionsCommand},
	{"prune", pruneCommand},
	{"recover", recoverCommand},
}

// app is what every subcommand works with.
type app struct {
	built   *built
	clients *clients
	build   buildInfo
	vars    *variables
	stdout  io.Writer
	stderr  io.Writer
	plain   bool
	getenv  func(string) string
	only    []string // -target filters
	poll    time.Duration
	res     *deploy.Result
}

// run runs one subcommand and returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	name := "deploy"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	var cmd *command
	for i := range commands {
		if commands[i].name == name {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		var names []string
		for _, c := range commands {
			names = append(names, c.name)
		}
		fmt.Fprintf(stderr, "release: no subcommand %q: use %s\n", name, strings.Join(names, ", "))
		return exitInvalid
	}
	fs := flag.NewFlagSet("release "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("f", "release.json", "the release file")
	plain := fs.Bool("plain", false, "timestamped lines, even on a terminal")
	tagFormat := fs.String("image-tag", "full-sha", "what ${IMAGE_TAG} is: full-sha, short-sha or build-number")
	poll := fs.Duration("poll-interval", 0, "the first wait between status polls (default: each target's own)")
	var only cli.List
	fs.Var(&only, "target", "only this target (its name, as events show it; repeatable)")
	do := cmd.flags(fs)
	if err := cli.Parse(fs, args); err != nil {
		return exitFor(nil, err, stderr)
	}
	a := &app{stdout: stdout, stderr: stderr, getenv: getenv, only: only, build: readBuild(getenv), poll: *poll}
	a.plain = plainOutput(stderr, *plain, getenv)
	err := a.load(ctx, *path, *tagFormat, *poll)
	if err == nil {
		if s := a.build.String(); s != "" {
			fmt.Fprintln(stderr, s)
		}
		err = do(ctx, a)
	}
	return exitFor(a.res, err, stderr)
}

// load reads the release file and builds its targets.
func (a *app) load(ctx context.Context, path, tagFormat string, poll time.Duration) error {
	tag, err := a.build.imageTag(tagFormat)
	if err != nil {
		return cli.UsageError(err.Error())
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("loading the AWS configuration: %w", err)
	}
	a.vars = &variables{getenv: func(k string) (string, bool) { v := a.getenv(k); return v, v != "" }, tag: tag, region: cfg.Region, sts: callerAccount(cfg), ctx: ctx}
	f, err := Load(path, a.vars.lookup)
	if err != nil {
		var inv *InvalidFile
		if errors.As(err, &inv) && a.vars.stsErr != nil {
			return fmt.Errorf("%w (AWS_ACCOUNT_ID: %v)", err, a.vars.stsErr)
		}
		return err
	}
	if f.Region != "" {
		cfg.Region = f.Region
	}
	if a.clients == nil {
		a.clients = newClients(cfg)
	}
	a.built, err = build(ctx, f, a.clients, poll)
	if err != nil {
		return err
	}
	if len(a.only) > 0 {
		return a.filter()
	}
	return nil
}

// filter keeps the targets -target names, and fails naming one that matches none.
func (a *app) filter() error {
	keep := map[string]bool{}
	for _, name := range a.only {
		found := false
		for _, e := range a.built.targets {
			if e.target.Name() == name {
				keep[name], found = true, true
			}
		}
		if !found {
			var names []string
			for _, e := range a.built.targets {
				names = append(names, e.target.Name())
			}
			return cli.UsageError(fmt.Sprintf("-target %q is none of the file's targets: %s", name, strings.Join(names, ", ")))
		}
	}
	var entries []*entry
	for _, e := range a.built.targets {
		if keep[e.target.Name()] {
			entries = append(entries, e)
		}
	}
	a.built.targets = entries
	var stages []deploy.Stage
	for _, st := range a.built.stages {
		var ts []deploy.Target
		for _, t := range st.Targets {
			if keep[t.Name()] {
				ts = append(ts, t)
			}
		}
		if len(ts) > 0 {
			st.Targets = ts
			stages = append(stages, st)
		}
	}
	a.built.stages = stages
	return nil
}

// options are the deploy options with the progress view attached.
func (a *app) options(v view) *deploy.Options {
	o := a.built.opts
	o.OnEvent = v.event
	return &o
}

func (a *app) stageNames() []string {
	var names []string
	for _, st := range a.built.stages {
		names = append(names, st.Name)
	}
	return names
}

// exitFor prints err in one line (when there is one) and returns the exit status.
func exitFor(res *deploy.Result, err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var usage cli.UsageError
	var inv *InvalidFile
	code := exitFailed
	switch {
	case errors.As(err, &usage), errors.As(err, &inv), errors.Is(err, deploy.ErrInvalid):
		code = exitInvalid
	case errors.Is(err, deploy.ErrLocked):
		code = exitLocked
	case res != nil && res.Outcome() == deploy.OutcomePartial:
		code = exitLeftChanged
	}
	fmt.Fprintf(stderr, "release: %v\n", err)
	return code
}
