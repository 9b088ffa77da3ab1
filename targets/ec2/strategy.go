package ec2

import (
	"fmt"
	"strconv"
	"strings"
)

// Count is a number of instances, absolute ("3") or a percentage of the fleet ("25%").
type Count struct {
	N       int
	Percent bool
}

// The strategies CodeDeploy users know, as batch sizes.
var (
	OneAtATime  = Count{N: 1}
	HalfAtATime = Count{N: 50, Percent: true}
	AllAtOnce   = Count{N: 100, Percent: true}
)

// ParseStrategy reads one-at-a-time, half-at-a-time, all-at-once, N or N%.
func ParseStrategy(s string) (Count, error) {
	switch s {
	case "one-at-a-time":
		return OneAtATime, nil
	case "half-at-a-time":
		return HalfAtATime, nil
	case "all-at-once":
		return AllAtOnce, nil
	}
	c, err := ParseCount(s)
	if err == nil && c.N == 0 {
		err = fmt.Errorf("a batch of %s instances makes no progress; give at least 1 or 1%%", s)
	}
	return c, err
}

// ParseCount reads N or N% (0 to 100).
func ParseCount(s string) (Count, error) {
	num, pct := strings.CutSuffix(s, "%")
	n, err := strconv.Atoi(num)
	switch {
	case err != nil || n < 0:
		return Count{}, fmt.Errorf("%q is not a number of instances (N) or a percentage (N%%)", s)
	case pct && n > 100:
		return Count{}, fmt.Errorf("%q is more than 100%%", s)
	}
	return Count{N: n, Percent: pct}, nil
}

// Of returns the count for a fleet of total instances; a percentage rounds down, but a
// non-zero percentage of a non-empty fleet is at least 1.
func (c Count) Of(total int) int {
	if !c.Percent {
		return min(c.N, total)
	}
	n := total * c.N / 100
	if n == 0 && c.N > 0 && total > 0 {
		n = 1
	}
	return n
}

// String gives the count as SSM's MaxConcurrency and MaxErrors take it.
func (c Count) String() string {
	if c.Percent {
		return strconv.Itoa(c.N) + "%"
	}
	return strconv.Itoa(c.N)
}

// limits is how a rollout over total instances runs: batch instances at once, and the
// rollout fails once more than allowed have failed.
type limits struct {
	total, batch, allowed int
}

// rolloutLimits applies a strategy and a minimum of healthy instances (nil: all of them).
func rolloutLimits(total int, strategy Count, minHealthy *Count) limits {
	l := limits{total: total, batch: max(strategy.Of(total), 1)}
	if minHealthy != nil {
		l.allowed = max(total-minHealthy.Of(total), 0)
	}
	return l
}
