package deploy

import (
	"bytes"
	"context"
	"sync"
	"time"
)

// journaler writes a release's Record to Options.Journal.
type journaler struct {
	j   Journal
	mu  sync.Mutex
	rec Record
	pos [][2]int // by target: its stage and its place in the stage's record
}

// startJournal makes the release's record after planning: every target planned, with its
// plan's snapshot, and writes it. Nothing has changed yet; a failure stops the release.
func (d *run) startJournal(ctx context.Context) error {
	if d.o.Journal == nil {
		return nil
	}
	jr := &journaler{j: d.o.Journal, rec: Record{Version: RecordVersion, ID: d.o.ReleaseID, Release: d.desc, Who: d.who(),
		Started: time.Now(), Step: "apply"}}
	for si, st := range d.stages {
		jr.rec.Stages = append(jr.rec.Stages, RecordStage{Name: st.Name})
		_ = si
	}
	for i, tr := range d.res.Targets {
		si := d.stageOf[i]
		rt := RecordTarget{Name: tr.Target, State: StatePlanned, Snapshot: snapshotOf(tr.Plan)}
		jr.pos = append(jr.pos, [2]int{si, len(jr.rec.Stages[si].Targets)})
		jr.rec.Stages[si].Targets = append(jr.rec.Stages[si].Targets, rt)
	}
	d.jr = jr
	return d.journal(ctx, "", nil)
}

// snapshotOf is p's snapshot, or nil when it makes none (or fails to).
func snapshotOf(p Plan) []byte {
	s, ok := p.(Snapshotter)
	if !ok {
		return nil
	}
	b, err := s.Snapshot()
	if err != nil {
		return nil
	}
	return b
}

// journal applies change to the record, sets its step (when not ""), and writes it. Without
// a journal it does nothing.
func (d *run) journal(ctx context.Context, step string, change func(r *Record)) error {
	jr := d.jr
	if jr == nil {
		return nil
	}
	jr.mu.Lock()
	defer jr.mu.Unlock()
	if jr.rec.Done {
		return nil // finished: nothing more to record
	}
	if change != nil {
		change(&jr.rec)
	}
	if step != "" {
		jr.rec.Step = step
	}
	jr.rec.Updated = time.Now()
	// On a context of its own: the release's may have ended (a rollback is written too).
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := jr.j.Write(wctx, &jr.rec); err != nil {
		return Wrap(ErrUnavailable, "", "write the journal", err, "the release stops before its next change")
	}
	return nil
}

// journalTarget sets target i's state (and its snapshot, taken now) and writes the record.
func (d *run) journalTarget(ctx context.Context, i int, state TargetState, step string, err error) error {
	if d.jr == nil {
		return nil
	}
	snap := snapshotOf(d.res.Targets[i].Plan)
	return d.journal(ctx, step, func(r *Record) {
		p := d.jr.pos[i]
		t := &r.Stages[p[0]].Targets[p[1]]
		t.State = state
		if snap != nil {
			t.Snapshot = snap
		}
		t.Error = ""
		if err != nil {
			t.Error = err.Error()
		}
	})
}

// journalSnapshot writes the record when target i's snapshot changed since it was last
// written: a target reports an event before each change it makes, so the change is on record
// before it is made. A failed write is logged; the next one tries again.
func (d *run) journalSnapshot(ctx context.Context, i int) {
	if d.jr == nil || d.isClosed() {
		return
	}
	snap := snapshotOf(d.res.Targets[i].Plan)
	if snap == nil {
		return
	}
	d.jr.mu.Lock()
	p := d.jr.pos[i]
	same := bytes.Equal(d.jr.rec.Stages[p[0]].Targets[p[1]].Snapshot, snap)
	d.jr.mu.Unlock()
	if same {
		return
	}
	err := d.journal(ctx, "", func(r *Record) { r.Stages[p[0]].Targets[p[1]].Snapshot = snap })
	if err != nil {
		d.o.Logger.WarnContext(ctx, "could not write the journal; will try again", "target", d.res.Targets[i].Target, "err", err)
	}
}
