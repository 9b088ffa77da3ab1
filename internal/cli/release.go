package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/store"
)

// ReleaseFlags are the flags the example commands share for leases, the journal, recovering
// what a killed run left, and the report.
type ReleaseFlags struct {
	state, journal, recover, report *string
	staleAfter                      *time.Duration
}

// AddReleaseFlags defines -state, -journal, -recover and -report on fs.
func AddReleaseFlags(fs *flag.FlagSet) *ReleaseFlags {
	return &ReleaseFlags{
		state:      fs.String("state", "", "s3://bucket/prefix: lease the target there for the release's length, and journal\nthe release there; a release a killed run left is recovered first"),
		journal:    fs.String("journal", "", "a directory to journal the release in (no lease); a release a killed run left\nthere, unwritten for 10 minutes, is recovered first"),
		recover:    fs.String("recover", "rollback", "what to do with a release a killed run left: rollback, or resume its wait"),
		report:     fs.String("report", "", "write the release's report as JSON to this path"),
		staleAfter: fs.Duration("stale-after", 10*time.Minute, "with -journal, how long a release must have gone unwritten to count as\nleft by a killed run"),
	}
}

// Check reports a usage error in the flags.
func (f *ReleaseFlags) Check() error {
	switch {
	case *f.state != "" && !strings.HasPrefix(*f.state, "s3://"):
		return UsageError("-state must be s3://bucket/prefix")
	case *f.state != "" && *f.journal != "":
		return UsageError("give -state or -journal, not both")
	case *f.recover != "rollback" && *f.recover != "resume":
		return UsageError("-recover must be rollback or resume")
	}
	if err := CheckWritable(*f.report); err != nil {
		return fmt.Errorf("%v; nothing was changed", err)
	}
	return nil
}

// Prepare sets opts' lease and journal as the flags say and first recovers the releases of
// targets a killed run left unfinished, saying what it did on log. cfg, for -state, is
// loaded from the environment when nil.
func (f *ReleaseFlags) Prepare(ctx context.Context, cfg *aws.Config, targets []deploy.Target, opts *deploy.Options, log io.Writer) error {
	var j deploy.Journal
	var ropts deploy.RecoverOptions
	switch {
	case *f.state != "":
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(*f.state, "s3://"), "/")
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		if cfg == nil {
			c, err := config.LoadDefaultConfig(ctx)
			if err != nil {
				return fmt.Errorf("loading the AWS configuration: %w", err)
			}
			cfg = &c
		}
		st := store.NewS3(s3.NewFromConfig(*cfg), bucket, prefix)
		opts.Lock = &deploy.LockOptions{Locker: st}
		ropts.Lock = opts.Lock
		j = st
	case *f.journal != "":
		j = store.NewFile(*f.journal)
		ropts.StaleAfter = *f.staleAfter
	default:
		return nil
	}
	opts.Journal = j
	ropts.Policy = deploy.RecoverPolicy(*f.recover)
	ropts.OnEvent = opts.OnEvent
	got, err := deploy.Recover(ctx, j, targets, &ropts)
	if err != nil {
		return err
	}
	for _, r := range got {
		switch {
		case r.Result == nil:
			fmt.Fprintf(log, "left release %s alone: %v\n", r.Record.ID, r.Err)
		case r.Err != nil:
			fmt.Fprintf(log, "recovered release %s (%s), begun by %s: %s: %v\n", r.Record.ID, r.Record.Release, r.Record.Who, r.Result.Outcome(), r.Err)
		default:
			fmt.Fprintf(log, "recovered release %s (%s), begun by %s: %s\n", r.Record.ID, r.Record.Release, r.Record.Who, r.Result.Outcome())
		}
	}
	return nil
}

// Finish prints the release's report as a table on w and writes it as JSON if asked.
func (f *ReleaseFlags) Finish(res *deploy.Result, err error, w io.Writer) error {
	if res == nil || len(res.Targets) == 0 {
		return nil
	}
	rep := res.Report(err)
	if werr := rep.WriteTable(w); werr != nil {
		return werr
	}
	if *f.report == "" {
		return nil
	}
	b, jerr := json.MarshalIndent(rep, "", "  ")
	if jerr != nil {
		return jerr
	}
	return os.WriteFile(*f.report, append(b, '\n'), 0o644)
}

// CheckWritable reports whether path can be written, without changing it: an existing file
// is opened for writing, a new one is tried as a temporary file beside it; "" is fine.
func CheckWritable(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	f, err = os.CreateTemp(filepath.Dir(path), ".stevedore-check-*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
