package store

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stevedore-dev/stevedore/deploy"
)

// File is a journal in a local directory: <dir>/<id>.json while a release runs, moved to
// <dir>/finished/<id>.json when it ends. Each write replaces the file whole (written aside,
// then renamed), so a crash leaves the last record or the one before, never half of one.
// It takes no leases: a directory is one machine's, where a CI runner's workspace or a
// mounted volume keeps it between runs.
type File struct{ dir string }

// NewFile returns a journal in dir, made if need be.
func NewFile(dir string) *File { return &File{dir: dir} }

func (f *File) path(id string, done bool) string {
	name := url.PathEscape(id) + ".json"
	if done {
		return filepath.Join(f.dir, "finished", name)
	}
	return filepath.Join(f.dir, name)
}

// Write implements deploy.Journal.
func (f *File) Write(ctx context.Context, r *deploy.Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	dst := f.path(r.ID, r.Done)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return deploy.Wrap(deploy.ErrUnavailable, "", "write the journal", err, "")
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".record-*")
	if err != nil {
		return deploy.Wrap(deploy.ErrUnavailable, "", "write the journal", err, "")
	}
	_, werr := tmp.Write(b)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return deploy.Wrap(deploy.ErrUnavailable, "", "write the journal", err, "")
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		os.Remove(tmp.Name())
		return deploy.Wrap(deploy.ErrUnavailable, "", "write the journal", err, "")
	}
	if r.Done {
		if err := os.Remove(f.path(r.ID, false)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return deploy.Wrap(deploy.ErrUnavailable, "", "write the journal", err, "")
		}
	}
	return nil
}

// Unfinished implements deploy.Journal.
func (f *File) Unfinished(ctx context.Context) ([]*deploy.Record, error) {
	out, err := readRecords(f.dir)
	out = slices.DeleteFunc(out, func(r *deploy.Record) bool { return r.Done }) // finished ones live in finished/
	sortRecords(out)
	return out, err
}

// Finished implements deploy.History: the records in the directory's finished/.
func (f *File) Finished(ctx context.Context, n int) ([]*deploy.Record, error) {
	out, err := readRecords(filepath.Join(f.dir, "finished"))
	return latest(out, n), err
}

// readRecords reads the records in dir (none when it does not exist).
func readRecords(dir string) ([]*deploy.Record, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, deploy.Wrap(deploy.ErrUnavailable, "", "read the journal", err, "")
	}
	var out []*deploy.Record
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, deploy.Wrap(deploy.ErrUnavailable, "", "read the journal", err, "")
		}
		r, err := decodeRecord(b)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

var _ deploy.Journal = (*File)(nil)

var _ deploy.History = (*File)(nil)
