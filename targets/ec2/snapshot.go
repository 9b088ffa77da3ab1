package ec2

import (
	"context"
	"encoding/json"
	"maps"
	"slices"

	"github.com/stevedore-dev/stevedore/deploy"
)

// snapshotVersion is the version of the snapshots plans write; Restore reads only it.
const snapshotVersion = 1

// snapshot is what a plan observed and changed: the release's version and image (never its
// environment values), the instances it goes to, what each ran before, which ones a deploy
// command may have changed, the release's outcome on each so far, and the commands in flight.
type snapshot struct {
	Version        int                  `json:"version"`
	Target         string               `json:"target"`
	Release        recorded             `json:"release"`
	Instances      []string             `json:"instances"`
	Previous       map[string]*recorded `json:"previous"`
	Touched        []string             `json:"touched"`
	Done           []string             `json:"done"`
	Failed         []failure            `json:"failed,omitempty"`
	Commands       []sent               `json:"commands,omitempty"`
	Sending        []string             `json:"sending,omitempty"` // a deploy command's instances, as it was sent
	RolledBack     bool                 `json:"rolledBack,omitempty"`
	Groups         []*tgroup            `json:"targetGroups,omitempty"` // with LoadBalancing
	Waves          []wave               `json:"waves,omitempty"`        // with LoadBalancing: a rollback goes back in them
	Out            map[string][]string  `json:"out,omitempty"`          // instances out of target groups (ARNs)
	ASGOf          map[string]string    `json:"autoScalingGroups,omitempty"`
	Suspended      map[string][]string  `json:"suspended,omitempty"`      // processes suspended for the rollout, by group
	GroupPrev      map[string]*recorded `json:"groupRecords,omitempty"`   // each group's record as found
	GroupsRecorded []string             `json:"groupsRecorded,omitempty"` // groups whose record the rollout wrote
}

// failure is a Result as a snapshot keeps it: without Why, which quotes the command's stderr.
type failure struct {
	Instance string `json:"instance"`
	Status   string `json:"status"`
	Details  string `json:"details,omitempty"`
}

// Snapshot implements deploy.Snapshotter.
func (p *Plan) Snapshot() ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := snapshot{Version: snapshotVersion, Target: p.t.Name(), Release: recorded{Version: p.rel.version, Image: p.rel.image},
		Instances: slices.Clone(p.usable), Previous: p.previous, Done: slices.Clone(p.done), Commands: p.inFlight(), Sending: slices.Clone(p.sending), RolledBack: p.rolledBack,
		Groups: p.groups, Out: maps.Clone(p.out), ASGOf: p.asgOf, Suspended: maps.Clone(p.suspended), GroupPrev: p.groupPrev,
		GroupsRecorded: slices.Clone(p.groupsRecorded)}
	if len(p.groups) > 0 {
		s.Waves = p.waves
	}
	for _, r := range p.failed {
		s.Failed = append(s.Failed, failure{Instance: r.Instance, Status: r.Status, Details: r.Details})
	}
	for id := range p.touched {
		s.Touched = append(s.Touched, id)
	}
	slices.Sort(s.Touched)
	return json.Marshal(s)
}

// Restore implements deploy.Restorer: the restored plan rolls back the instances the
// original may have changed, to what each ran before, first cancelling the deploy commands
// it left running. Its Apply resumes: it waits on those commands and finishes the rollout if
// they were its last; it sends nothing (the snapshot holds none of the release's
// environment), so a rollout that had instances left to reach must be planned again.
func (t *Target) Restore(ctx context.Context, snap []byte) (deploy.Plan, error) {
	var s snapshot
	if err := deploy.DecodeSnapshot(t.Name(), snap, snapshotVersion, &s); err != nil {
		return nil, err
	}
	if s.Target != t.Name() {
		return nil, deploy.Errorf(deploy.ErrInvalid, t.Name(), "restore", "the snapshot is of %s", s.Target)
	}
	p := &Plan{t: t, rel: release{version: s.Release.Version, image: s.Release.Image}, usable: s.Instances,
		previous: s.Previous, touched: map[string]bool{}, inflight: map[string]sent{}, done: s.Done, restored: true, rolledBack: s.RolledBack,
		groups: s.Groups, waves: s.Waves, out: s.Out, asgOf: s.ASGOf, suspended: s.Suspended, groupPrev: s.GroupPrev, groupsRecorded: s.GroupsRecorded,
		zoneOf: map[string]string{}}
	if p.out == nil {
		p.out = map[string][]string{}
	}
	if p.asgOf == nil {
		p.asgOf = map[string]string{}
	}
	if p.suspended == nil {
		p.suspended = map[string][]string{}
	}
	for _, f := range s.Failed {
		p.failed = append(p.failed, Result{Instance: f.Instance, Status: f.Status, Details: f.Details})
	}
	slices.Sort(p.done)
	for _, c := range s.Commands {
		p.inflight[c.ID] = c
	}
	if p.previous == nil {
		p.previous = map[string]*recorded{}
	}
	for _, id := range slices.Concat(s.Touched, s.Sending) { // a command being sent may have reached them
		p.touched[id] = true
	}
	for _, id := range s.Instances {
		p.instances = append(p.instances, Instance{ID: id, PreviousVersion: p.previous[id].version()})
	}
	p.limits = rolloutLimits(len(p.usable), t.opts.Strategy, t.opts.MinHealthy)
	return p, nil
}

func (r *recorded) version() string {
	if r == nil {
		return ""
	}
	return r.Version
}

var (
	_ deploy.Snapshotter = (*Plan)(nil)
	_ deploy.Restorer    = (*Target)(nil)
)
