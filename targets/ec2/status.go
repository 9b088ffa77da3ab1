package ec2

import (
	"fmt"
	"sort"
	"strings"
)

// Result is one instance's outcome of one command.
type Result struct {
	Instance string
	Status   string // Pending, InProgress, Success, Failed, TimedOut, Cancelled, ...
	Details  string // StatusDetails: Success, Undeliverable, DeliveryTimedOut, ExecutionTimedOut, Terminated, ...
	// Why is filled in for failures: the exit code and the tail of stderr, when known.
	Why string
}

// Succeeded reports whether the command really ran and succeeded on the instance. Only
// Success counts: Undeliverable, Terminated, DeliveryTimedOut, TimedOut, Failed and Cancelled
// are failures whatever the command-level status says.
func (r Result) Succeeded() bool {
	return r.Status == "Success" && (r.Details == "" || r.Details == "Success")
}

// Done reports whether the invocation has reached a final status.
func (r Result) Done() bool {
	switch r.Status {
	case "Pending", "InProgress", "Delayed", "Cancelling", "":
		return false
	}
	return true
}

// Touched reports whether the command may have changed the instance: it was delivered and
// started, or may have (a cancelled invocation may have been running).
func (r Result) Touched() bool {
	switch r.Details {
	case "Pending", "Undeliverable", "DeliveryTimedOut", "Terminated", "InvalidPlatform", "AccessDenied", "":
		return false
	}
	return r.Status != "Pending" && r.Status != "Delayed"
}

// Summary counts a command's results.
type Summary struct {
	Pending, InProgress, Succeeded, Failed int
	Results                                []Result
}

// Summarize counts results; it is a pure function of what SSM reported.
func Summarize(results []Result) Summary {
	s := Summary{Results: results}
	for _, r := range results {
		switch {
		case !r.Done() && r.Status == "InProgress":
			s.InProgress++
		case !r.Done():
			s.Pending++
		case r.Succeeded():
			s.Succeeded++
		default:
			s.Failed++
		}
	}
	return s
}

// Failures returns the failed results, by instance.
func (s Summary) Failures() []Result {
	var out []Result
	for _, r := range s.Results {
		if r.Done() && !r.Succeeded() {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Instance < out[j].Instance })
	return out
}

// describe says what went wrong on the first few failed instances.
func describeFailures(fs []Result, most int) string {
	var parts []string
	for i, f := range fs {
		if i == most {
			parts = append(parts, fmt.Sprintf("and %d more", len(fs)-most))
			break
		}
		what := f.Details
		if what == "" || what == f.Status {
			what = f.Status
		}
		switch f.Details {
		case "Undeliverable":
			what += " (the agent could not be reached)"
		case "DeliveryTimedOut":
			what += " (not delivered before the delivery timeout)"
		case "Terminated":
			what += " (not run: too many instances had failed)"
		case "ExecutionTimedOut":
			what += " (ran past the execution timeout)"
		}
		if f.Why != "" {
			what += ": " + f.Why
		}
		parts = append(parts, f.Instance+" "+what)
	}
	return strings.Join(parts, "; ")
}

// tail returns the last lines of out, at most max bytes, on one line.
func tail(out string, lines, max int) string {
	out = strings.TrimRight(out, "\n")
	ls := strings.Split(out, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	t := strings.Join(ls, " | ")
	if len(t) > max {
		t = "..." + t[len(t)-max:]
	}
	return t
}
