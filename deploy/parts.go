package deploy

import (
	"context"
	"errors"
	"log/slog"
	"strings"
)

// Parts is a set of the parts of a Release: what a release sets, or what a target honours.
type Parts uint8

const (
	Images  Parts = 1 << iota // Release.Images
	Env                       // Release.Env
	Secrets                   // Release.Secrets, by reference
	Version                   // Release.Version
)

// AllParts is every part; a target that does not say otherwise honours it.
const AllParts = Images | Env | Secrets | Version

func (p Parts) String() string {
	var names []string
	for _, n := range []struct {
		part Parts
		name string
	}{{Images, "images"}, {Env, "env"}, {Secrets, "secrets"}, {Version, "version"}} {
		if p&n.part != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "nothing"
	}
	return strings.Join(names, ", ")
}

// Honourer is implemented by a target that says which parts of a Release it honours, found
// by a type assertion as database/sql/driver finds optional driver interfaces. Run rejects a
// release that sets a part some target does not honour, for every such target at once and
// before planning any. A target without it is taken to honour every part.
type Honourer interface {
	Honours() Parts
}

// Parts returns the parts r sets.
func (r Release) Parts() Parts {
	var p Parts
	if len(r.Images) > 0 {
		p |= Images
	}
	if len(r.Env) > 0 {
		p |= Env
	}
	if len(r.Secrets) > 0 {
		p |= Secrets
	}
	if r.Version != "" {
		p |= Version
	}
	return p
}

// unhonoured returns an ErrInvalid error for each target (by index, named by names) that
// does not honour a part r sets, joined; nil when every target honours them all.
func unhonoured(ctx context.Context, log *slog.Logger, r Release, targets []Target, names []string) (map[int]error, error) {
	sets := r.Parts()
	errs := map[int]error{}
	var all []error
	for i, t := range targets {
		h, ok := t.(Honourer)
		if !ok {
			continue
		}
		honours, err := guarded(ctx, log, names[i], "honours", func() (Parts, error) { return h.Honours(), nil })
		if err == nil {
			if missing := sets &^ honours; missing != 0 {
				err = Errorf(ErrInvalid, names[i], "check release", "the release sets %s, which this target does not honour (it honours %s)", missing, honours)
			}
		}
		if err != nil {
			errs[i] = err
			all = append(all, err)
		}
	}
	return errs, errors.Join(all...)
}
