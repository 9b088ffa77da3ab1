package ec2

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseStrategyAndLimits(t *testing.T) {
	tests := []struct {
		strategy, minHealthy string
		total                int
		want                 limits
	}{
		{"one-at-a-time", "", 10, limits{10, 1, 0}},
		{"half-at-a-time", "", 10, limits{10, 5, 0}},
		{"half-at-a-time", "", 3, limits{3, 1, 0}},
		{"all-at-once", "", 7, limits{7, 7, 0}},
		{"3", "", 10, limits{10, 3, 0}},
		{"3", "", 2, limits{2, 2, 0}},
		{"10%", "", 1000, limits{1000, 100, 0}},
		{"10%", "", 5, limits{5, 1, 0}},
		{"one-at-a-time", "8", 10, limits{10, 1, 2}},
		{"one-at-a-time", "90%", 10, limits{10, 1, 1}},
		{"one-at-a-time", "0", 4, limits{4, 1, 4}},
		{"one-at-a-time", "20", 4, limits{4, 1, 0}},
	}
	for _, tc := range tests {
		s, err := ParseStrategy(tc.strategy)
		if err != nil {
			t.Fatal(err)
		}
		var mh *Count
		if tc.minHealthy != "" {
			c, err := ParseCount(tc.minHealthy)
			if err != nil {
				t.Fatal(err)
			}
			mh = &c
		}
		if got := rolloutLimits(tc.total, s, mh); got != tc.want {
			t.Errorf("%s, min %q, %d instances: %+v, want %+v", tc.strategy, tc.minHealthy, tc.total, got, tc.want)
		}
	}
	for _, bad := range []string{"", "0", "0%", "-1", "101%", "half", "1.5", "x%"} {
		if _, err := ParseStrategy(bad); err == nil {
			t.Errorf("ParseStrategy(%q) accepted", bad)
		}
	}
	if s := HalfAtATime.String(); s != "50%" {
		t.Errorf("HalfAtATime as MaxConcurrency = %q", s)
	}
}

func TestResultRules(t *testing.T) {
	tests := []struct {
		r                        Result
		done, succeeded, touched bool
	}{
		{Result{Status: "Success", Details: "Success"}, true, true, true},
		{Result{Status: "Pending", Details: "Pending"}, false, false, false},
		{Result{Status: "InProgress", Details: "InProgress"}, false, false, true},
		{Result{Status: "Failed", Details: "Failed"}, true, false, true},
		{Result{Status: "Failed", Details: "Undeliverable"}, true, false, false},
		{Result{Status: "TimedOut", Details: "DeliveryTimedOut"}, true, false, false},
		{Result{Status: "TimedOut", Details: "ExecutionTimedOut"}, true, false, true},
		{Result{Status: "Cancelled", Details: "Terminated"}, true, false, false},
		{Result{Status: "Cancelled", Details: "Cancelled"}, true, false, true},
		{Result{Status: "Success", Details: "InvalidPlatform"}, true, false, false},
		{Result{Status: "Failed", Details: "AccessDenied"}, true, false, false},
		{Result{Status: "Delayed", Details: "Delayed"}, false, false, false},
	}
	for _, tc := range tests {
		if tc.r.Done() != tc.done || tc.r.Succeeded() != tc.succeeded || tc.r.Touched() != tc.touched {
			t.Errorf("%+v: done %v succeeded %v touched %v; want %v %v %v", tc.r, tc.r.Done(), tc.r.Succeeded(), tc.r.Touched(), tc.done, tc.succeeded, tc.touched)
		}
	}
	s := Summarize([]Result{{"a", "Success", "Success", ""}, {"b", "Failed", "Undeliverable", ""}, {"c", "InProgress", "InProgress", ""}, {"d", "Pending", "Pending", ""}, {"e", "Cancelled", "Terminated", ""}})
	if got := [4]int{s.Pending, s.InProgress, s.Succeeded, s.Failed}; got != [4]int{1, 1, 1, 2} {
		t.Errorf("Summarize counts %v", got)
	}
	if d := cmp.Diff([]string{"b", "e"}, []string{s.Failures()[0].Instance, s.Failures()[1].Instance}); d != "" {
		t.Error(d)
	}
}

func TestTail(t *testing.T) {
	if got := tail("a\nb\nc\nd\ne\nf\ng\n", 3, 100); got != "e | f | g" {
		t.Errorf("tail = %q", got)
	}
	if got := tail("0123456789", 5, 4); got != "...6789" {
		t.Errorf("tail = %q", got)
	}
}
