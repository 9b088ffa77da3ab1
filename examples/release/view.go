package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/stevedore-dev/stevedore/deploy"
)

// view shows a release's progress: plain timestamped lines, one per change (CI logs, pipes,
// NO_COLOR, -plain), or on a terminal one line per target that updates in place.
type view interface {
	event(deploy.Event)
	// done ends the live part; what follows is printed below it.
	done()
}

// plainOutput decides between the two for w (see plain).
func plainOutput(w io.Writer, asked bool, getenv func(string) string) bool {
	f, ok := w.(*os.File)
	return plain(ok && term.IsTerminal(int(f.Fd())), asked, getenv)
}

// plain says whether progress is plain lines: unless it goes to a terminal, and it is not
// asked for (-plain), and neither CI, NO_COLOR nor CodeBuild's build ID is set.
func plain(terminal, asked bool, getenv func(string) string) bool {
	return !terminal || asked || getenv("CI") != "" || getenv("NO_COLOR") != "" || getenv("CODEBUILD_BUILD_ID") != ""
}

func newView(w io.Writer, plain bool, stages []string) view {
	if plain {
		return &lines{w: w}
	}
	return &live{w: w, stages: stages, rows: map[string]*row{}, start: time.Now()}
}

// lines writes one timestamped line per event.
type lines struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lines) event(e deploy.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	stage := e.ReleaseStage
	if stage == "" {
		stage = "-"
	}
	who := e.Target
	if who == "" {
		who = "release"
	}
	fmt.Fprintf(l.w, "%s %-8s %-8s %s: %s\n", e.Time.UTC().Format("15:04:05"), stage, e.Phase, who, e.Message)
}

func (l *lines) done() {}

// live keeps one line per target and redraws them all, at most ten times a second.
type live struct {
	mu     sync.Mutex
	w      io.Writer
	stages []string
	order  []string
	rows   map[string]*row
	drawn  int // lines on screen
	last   time.Time
	start  time.Time
	gate   string // the last gate line
}

type row struct {
	stage, target string
	phase         deploy.Phase
	counts        deploy.Counts
	msg           string
	began, ended  time.Time
}

func (v *live) event(e deploy.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e.Target == "" { // the release's own: a gate's progress
		if e.Phase == deploy.PhaseGate {
			v.gate = e.Message
		}
		v.draw(false)
		return
	}
	r := v.rows[e.Target]
	if r == nil {
		r = &row{stage: e.ReleaseStage, target: e.Target, began: e.Time}
		v.rows[e.Target] = r
		v.order = append(v.order, e.Target)
	}
	r.phase, r.msg = e.Phase, e.Message
	if e.Counts != (deploy.Counts{}) {
		r.counts = e.Counts
	}
	switch e.Phase {
	case deploy.PhaseDone, deploy.PhaseFailed:
		r.ended = e.Time
	case deploy.PhaseRollback:
		r.ended = time.Time{}
	}
	v.draw(false)
}

func (v *live) done() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.draw(true)
}

// draw rewrites the target lines in place (unless the last draw was under 100 ms ago).
func (v *live) draw(force bool) {
	now := time.Now()
	if !force && now.Sub(v.last) < 100*time.Millisecond {
		return
	}
	v.last = now
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", v.drawn) // back to the first line drawn
	}
	n := 0
	for _, t := range v.order {
		r := v.rows[t]
		took := now.Sub(r.began)
		if !r.ended.IsZero() {
			took = r.ended.Sub(r.began)
		}
		counts := ""
		if c := r.counts; c.Desired > 0 {
			counts = fmt.Sprintf("%d/%d", c.Updated, c.Desired)
			if c.Failed > 0 {
				counts += fmt.Sprintf(" %d failed", c.Failed)
			}
		}
		msg := r.msg
		if len(msg) > 80 {
			msg = msg[:77] + "..."
		}
		fmt.Fprintf(&b, "\x1b[2K%-10s %-36s %-8s %-12s %6s  %s\n", r.stage, r.target, r.phase, counts, took.Round(time.Second), msg)
		n++
	}
	if v.gate != "" {
		fmt.Fprintf(&b, "\x1b[2K%s\n", v.gate)
		n++
	}
	for i := n; i < v.drawn; i++ { // clear what a longer draw left
		b.WriteString("\x1b[2K\n")
	}
	if n < v.drawn {
		fmt.Fprintf(&b, "\x1b[%dA", v.drawn-n)
	}
	v.drawn = n
	_, _ = io.WriteString(v.w, b.String())
}

// now is time.Now, for events made here rather than by a target.
var now = time.Now
