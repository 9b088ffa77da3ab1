package deploy

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// State is what a target runs, as far as its plan knows: a revision (an ECS task definition,
// a Deployment's revision), images by container, a version.
type State struct {
	Revision string            `json:"revision,omitempty"`
	Images   map[string]string `json:"images,omitempty"`
	Version  string            `json:"version,omitempty"`
}

func (s State) String() string {
	var parts []string
	if s.Revision != "" {
		parts = append(parts, s.Revision)
	}
	for _, c := range slices.Sorted(maps.Keys(s.Images)) {
		if c == "" {
			parts = append(parts, s.Images[c])
		} else {
			parts = append(parts, c+"="+s.Images[c])
		}
	}
	if s.Version != "" {
		parts = append(parts, "version "+s.Version)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// brief is s for the table: its revision, the images that differ from other's, each by the
// last element of its path (digests cut to 12 hex digits; the JSON report keeps them whole),
// and its version.
func (s State) brief(other State) string {
	b := State{Revision: s.Revision, Version: s.Version, Images: map[string]string{}}
	for c, img := range s.Images {
		if other.Images[c] != img {
			b.Images[c] = shortImage(img)
		}
	}
	if len(b.Images) == 0 && b.Revision == "" && b.Version == "" {
		for c, img := range s.Images { // nothing differs: say what runs
			b.Images[c] = shortImage(img)
		}
	}
	return b.String()
}

// shortImage is an image reference without its registry and path, its digest cut short.
func shortImage(ref string) string {
	name, digest, hasDigest := strings.Cut(ref, "@")
	name = name[strings.LastIndexByte(name, '/')+1:]
	if !hasDigest {
		return name
	}
	algo, hex, _ := strings.Cut(digest, ":")
	return name + "@" + algo + ":" + hex[:min(len(hex), 12)]
}

// Describer is implemented by a plan that can say, for the release report, what its target
// ran when planned and what the plan puts in its place.
type Describer interface {
	Describe() (before, after State)
}

// ReportVersion is the version of the Report schema: fields may be added within a version,
// never removed or changed in meaning.
const ReportVersion = 1

// Report is what a release did, stage by stage and target by target, for people
// (WriteTable) and programs (encoding/json; the schema is this type's, versioned by
// ReportVersion). It holds no secret values: release parts are described as Release.String
// does, and errors and evidence as the targets and gates word them.
type Report struct {
	Version  int           `json:"version"`
	ID       string        `json:"id"`
	Release  string        `json:"release"`
	Started  time.Time     `json:"started"`
	Finished time.Time     `json:"finished"`
	Outcome  Outcome       `json:"outcome"`
	Error    string        `json:"error,omitempty"`
	Calls    int64         `json:"calls"` // every target's, added up
	Stages   []ReportStage `json:"stages"`
}

// ReportStage is one stage of a Report.
type ReportStage struct {
	Name    string         `json:"name"`
	Started bool           `json:"started"`
	Targets []ReportTarget `json:"targets"`
	Gates   []ReportGate   `json:"gates,omitempty"`
}

// ReportTarget is one target of a Report.
type ReportTarget struct {
	Name string `json:"name"`
	// Outcome is deployed, unchanged, rolled back, failed (left changed), not started.
	Outcome  string        `json:"outcome"`
	Before   *State        `json:"before,omitempty"`
	After    *State        `json:"after,omitempty"`
	Started  time.Time     `json:"started,omitzero"`
	Duration time.Duration `json:"durationNs"`
	Calls    int64         `json:"calls"`
	Error    string        `json:"error,omitempty"`
	Events   []ReportEvent `json:"events,omitempty"`
}

// ReportEvent is one progress event of a target.
type ReportEvent struct {
	Time    time.Time `json:"time"`
	Phase   Phase     `json:"phase"`
	Message string    `json:"message"`
}

// ReportGate is one gate of a Report, with every measurement and its evidence.
type ReportGate struct {
	Name         string              `json:"name"`
	Verdict      Verdict             `json:"verdict,omitempty"`
	Error        string              `json:"error,omitempty"`
	Measurements []ReportMeasurement `json:"measurements"`
}

// ReportMeasurement is one measurement of a gate.
type ReportMeasurement struct {
	Time     time.Time `json:"time"`
	Verdict  Verdict   `json:"verdict,omitempty"`
	Evidence string    `json:"evidence,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// Report returns what the release did. err is what RunStages returned with r.
func (r *Result) Report(err error) *Report {
	rep := &Report{Version: ReportVersion, ID: r.ID, Release: r.Release, Started: r.Started, Finished: r.Finished, Outcome: r.Outcome()}
	if err != nil {
		rep.Error = err.Error()
	}
	for _, st := range r.Stages {
		rep.Stages = append(rep.Stages, ReportStage{Name: st.Name, Started: st.Started})
	}
	if len(rep.Stages) == 0 {
		rep.Stages = []ReportStage{{Started: true}}
	}
	stageOf := map[string]int{}
	for i, st := range rep.Stages {
		stageOf[st.Name] = i
	}
	for _, tr := range r.Targets {
		rt := ReportTarget{Name: tr.Target, Outcome: targetOutcome(tr), Started: tr.began, Calls: tr.Calls}
		if !tr.ended.IsZero() {
			rt.Duration = tr.ended.Sub(tr.began)
		}
		if d, ok := tr.Plan.(Describer); ok {
			before, after := d.Describe()
			rt.Before, rt.After = &before, &after
		}
		if tr.Err != nil {
			rt.Error = tr.Err.Error()
		}
		for _, e := range tr.events {
			rt.Events = append(rt.Events, ReportEvent{Time: e.Time, Phase: e.Phase, Message: e.Message})
		}
		rep.Calls += tr.Calls
		s := &rep.Stages[stageOf[tr.Stage]]
		s.Targets = append(s.Targets, rt)
	}
	for i, st := range r.Stages {
		for _, g := range st.Gates {
			rg := ReportGate{Name: g.Name, Verdict: g.Verdict}
			if g.Err != nil {
				rg.Error = g.Err.Error()
			}
			for _, m := range g.Measurements {
				rm := ReportMeasurement{Time: m.Time, Verdict: m.Verdict, Evidence: m.Evidence}
				if m.Err != nil {
					rm.Error, rm.Verdict = m.Err.Error(), ""
				}
				rg.Measurements = append(rg.Measurements, rm)
			}
			rep.Stages[i].Gates = append(rep.Stages[i].Gates, rg)
		}
	}
	return rep
}

// targetOutcome words where one target ended.
func targetOutcome(tr TargetResult) string {
	switch {
	case tr.Applied && tr.Err == nil && !tr.Changed:
		return "unchanged"
	case tr.Applied && tr.Err == nil:
		return "deployed"
	case tr.RolledBack:
		return "rolled back"
	case !tr.Started:
		return "not started"
	case !tr.Changed:
		return "unchanged"
	}
	return "failed"
}

// WriteTable writes the report for people: a line for the release, a table of the targets
// stage by stage (before and after, as what changed: revision, images by their last path
// element, version; then outcome, time, calls), each gate's verdict and last evidence, and
// the errors.
func (rep *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	took := rep.Finished.Sub(rep.Started).Round(100 * time.Millisecond)
	fmt.Fprintf(&b, "release %s (%s): %s in %s, %d API calls\n", rep.ID, rep.Release, rep.Outcome, took, rep.Calls)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tTARGET\tBEFORE\tAFTER\tOUTCOME\tTIME\tCALLS")
	for _, st := range rep.Stages {
		name := st.Name
		if name == "" {
			name = "-"
		}
		for _, t := range st.Targets {
			before, after := "-", "-"
			var b, a State
			if t.Before != nil {
				b = *t.Before
			}
			if t.After != nil {
				a = *t.After
			}
			if t.Before != nil {
				before = b.brief(a)
			}
			if t.After != nil {
				after = a.brief(b)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", name, t.Name, before, after, t.Outcome, t.Duration.Round(100*time.Millisecond), t.Calls)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, st := range rep.Stages {
		for _, g := range st.Gates {
			verdict := string(g.Verdict)
			if verdict == "" {
				verdict = "no verdict"
			}
			fmt.Fprintf(&b, "gate %s after %s: %s, %d measurements", g.Name, st.Name, verdict, len(g.Measurements))
			if n := len(g.Measurements); n > 0 && g.Measurements[n-1].Evidence != "" {
				fmt.Fprintf(&b, "; last: %s", g.Measurements[n-1].Evidence)
			}
			b.WriteString("\n")
		}
	}
	for _, st := range rep.Stages {
		for _, t := range st.Targets {
			if t.Error != "" && t.Outcome != "not started" {
				fmt.Fprintln(&b, t.Error) // it names the target
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
