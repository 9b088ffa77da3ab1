package eks

import (
	"context"
	"encoding/json"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/stevedore-dev/stevedore/deploy"
)

// snapshotVersion is the version of the snapshots plans write; Restore reads only it.
const snapshotVersion = 1

// snapshot is what a plan observed and changed: the pod template and revision it found,
// the change-cause annotation, the selector (to find stuck pods), and what Apply wrote.
type snapshot struct {
	Version    int             `json:"version"`
	Target     string          `json:"target"`
	Template   json.RawMessage `json:"template"`
	Desired    json.RawMessage `json:"desired"`
	Revision   string          `json:"revision,omitempty"`
	Cause      string          `json:"changeCause,omitempty"`
	Selector   json.RawMessage `json:"selector,omitempty"`
	Changed    bool            `json:"changed"`
	Applied    bool            `json:"applied"`
	Generation int64           `json:"writtenGeneration,omitempty"`
	Written    json.RawMessage `json:"writtenTemplate,omitempty"`
	Superseded bool            `json:"superseded,omitempty"`
	RolledBack bool            `json:"rolledBack,omitempty"`
}

// Snapshot implements deploy.Snapshotter.
func (p *Plan) Snapshot() ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := snapshot{Version: snapshotVersion, Target: p.t.Name(), Template: raw(p.template), Desired: raw(p.desired),
		Revision: p.revision, Cause: p.cause, Changed: p.changed, Applied: p.applied,
		Generation: p.written.generation, Written: raw(p.written.template), Superseded: p.superseded, RolledBack: p.rolledBack}
	if sel := gjson.GetBytes(p.observed, "spec.selector"); sel.Exists() {
		s.Selector = json.RawMessage(sel.Raw)
	}
	return json.Marshal(s)
}

func raw(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// Restore implements deploy.Restorer: the restored plan rolls back as the original would
// (undoing a Deployment to the observed revision, or restoring the observed template), and
// its Apply resumes the wait on what the original wrote. A plan snapshotted before it wrote
// anything must be made again.
func (t *Target) Restore(ctx context.Context, snap []byte) (deploy.Plan, error) {
	var s snapshot
	if err := deploy.DecodeSnapshot(t.Name(), snap, snapshotVersion, &s); err != nil {
		return nil, err
	}
	if s.Target != t.Name() {
		return nil, deploy.Errorf(deploy.ErrInvalid, t.Name(), "restore", "the snapshot is of %s", s.Target)
	}
	observed := []byte(`{}`)
	if len(s.Selector) > 0 {
		var err error
		if observed, err = sjson.SetRawBytes(observed, "spec.selector", s.Selector); err != nil {
			return nil, deploy.Wrap(deploy.ErrInvalid, t.Name(), "restore", err, "the selector")
		}
	}
	return &Plan{t: t, observed: observed, template: string(s.Template), desired: string(s.Desired), revision: s.Revision,
		cause: s.Cause, changed: s.Changed, applied: s.Applied, written: pin{generation: s.Generation, template: string(s.Written)},
		superseded: s.Superseded, rolledBack: s.RolledBack, restored: true}, nil
}

var (
	_ deploy.Snapshotter = (*Plan)(nil)
	_ deploy.Restorer    = (*Target)(nil)
)
