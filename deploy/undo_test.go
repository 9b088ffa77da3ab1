package deploy_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/deploytest"
	"github.com/stevedore-dev/stevedore/deploy/store"
)

// Undo goes back one release: v3 undone leaves v2 (a release that failed, rolled back
// already, is passed over); asked again, it says the latest was undone already; with no
// release at all it says there is none.
func TestUndoGoesBackOneReleaseAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := deploytest.NewMemory("repo/app:v1", journalServices...)
		j := store.NewMemory()
		world := func() string {
			var parts []string
			for _, s := range journalServices {
				parts = append(parts, s+"="+w.Image(s)[strings.LastIndexByte(w.Image(s), ':')+1:])
			}
			return strings.Join(parts, " ")
		}
		release := func(tag string) {
			_, _ = deploy.RunStages(t.Context(), deploy.Release{Version: tag, Images: map[string]string{"": "repo/app:" + tag}}, journalStages(w), &deploy.Options{Journal: j})
		}
		release("v2")
		release("v3")
		release("v4-crash") // fails and is rolled back: nothing to undo there
		if got := world(); got != "db=v3 web=v3 api=v3" {
			t.Fatalf("before undo: %s", got)
		}
		res, err := deploy.Undo(t.Context(), j, journalTargets(w), nil)
		if err != nil || res.Outcome() != deploy.OutcomeRolledBack {
			t.Fatalf("undo: %v, %v", res, err)
		}
		if got := world(); got != "db=v2 web=v2 api=v2" {
			t.Errorf("after undo: %s, want v2 everywhere", got)
		}
		for _, st := range res.Report(nil).Stages {
			for _, tg := range st.Targets {
				if tg.Duration <= 0 || tg.Duration > time.Minute {
					t.Errorf("%s took %v in the report; want its rollback's time", tg.Name, tg.Duration)
				}
			}
		}
		if _, err := deploy.Undo(t.Context(), j, journalTargets(w), nil); !errors.Is(err, deploy.ErrNotFound) || !strings.Contains(err.Error(), "was undone already by undo-") {
			t.Errorf("undoing again: %v", err)
		}
		if got := world(); got != "db=v2 web=v2 api=v2" {
			t.Errorf("after the refused undo: %s", got)
		}
		if _, err := deploy.Undo(t.Context(), store.NewMemory(), journalTargets(w), nil); !errors.Is(err, deploy.ErrNotFound) {
			t.Errorf("with no release: %v", err)
		}
		var undone, undos int
		for _, r := range j.Records() {
			if r.UndoneBy != "" {
				undone++
			}
			if strings.HasPrefix(r.Release, "undo of ") && r.Done && r.Outcome == deploy.OutcomeRolledBack {
				undos++
			}
		}
		if undone != 1 || undos != 1 {
			t.Errorf("the journal has %d releases marked undone and %d undo releases; want 1 and 1", undone, undos)
		}
	})
}

// Undo leaves alone a release of targets it was not given.
func TestUndoNeedsEveryTarget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := deploytest.NewMemory("repo/app:v1", journalServices...)
		j := store.NewMemory()
		_, _ = deploy.RunStages(t.Context(), deploy.Release{Version: "v2", Images: map[string]string{"": "repo/app:v2"}}, journalStages(w), &deploy.Options{Journal: j})
		if _, err := deploy.Undo(t.Context(), j, journalTargets(w)[:2], nil); !errors.Is(err, deploy.ErrNotFound) {
			t.Errorf("undo with one target missing: %v", err)
		}
		if w.Image("api") != "repo/app:v2" {
			t.Errorf("api runs %s", w.Image("api"))
		}
	})
}

// holders records who takes leases.
type holders struct {
	*store.Memory
	mu  sync.Mutex
	ids []string
}

func (h *holders) Lock(ctx context.Context, key string, who deploy.Holder) (deploy.Lease, error) {
	h.mu.Lock()
	h.ids = append(h.ids, who.ID)
	h.mu.Unlock()
	return h.Memory.Lock(ctx, key, who)
}

// With a lock, Undo leases every target as release undo-<id> before it changes anything.
func TestUndoLeasesItsTargets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := deploytest.NewMemory("repo/app:v1", journalServices...)
		j := &holders{Memory: store.NewMemory()}
		_, _ = deploy.RunStages(t.Context(), deploy.Release{Version: "v2", Images: map[string]string{"": "repo/app:v2"}}, journalStages(w), &deploy.Options{Journal: j})
		res, err := deploy.Undo(t.Context(), j, journalTargets(w), &deploy.UndoOptions{Lock: &deploy.LockOptions{Locker: j}})
		if err != nil || res.Outcome() != deploy.OutcomeRolledBack {
			t.Fatalf("undo: %v", err)
		}
		if len(j.ids) != 3 || !strings.HasPrefix(j.ids[0], "undo-") || j.ids[0] != j.ids[2] {
			t.Errorf("leases taken by %v; want the three by one undo-<id>", j.ids)
		}
	})
}
