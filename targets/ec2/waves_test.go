package ec2

import (
	"fmt"
	"strings"
	"testing"
)

// One rule per row: how instances a-f (zones 1 and 2 alternating) split into waves.
func TestPlanWaves(t *testing.T) {
	ids := []string{"a", "b", "c", "d", "e", "f"}
	zoneOf := map[string]string{"a": "z1", "b": "z2", "c": "z1", "d": "z2", "e": "z1", "f": "z2"}
	group := func(name string, states map[string]string) *tgroup {
		return &tgroup{ARN: "arn:" + name, Name: name, Members: states}
	}
	all := func(ids ...string) map[string]string {
		m := map[string]string{}
		for _, id := range ids {
			m[id] = "healthy"
		}
		return m
	}
	pct := func(n int) *Count { return &Count{N: n, Percent: true} }
	for _, c := range []struct {
		name       string
		byZone     bool
		batch      int
		minHealthy *Count
		groups     []*tgroup
		want, err  string
	}{
		{"the batch alone", false, 2, nil, nil, "[a b] [c d] [e f]", ""},
		{"one at a time", false, 1, nil, nil, "[a] [b] [c] [d] [e] [f]", ""},
		{"all at once", false, 6, nil, nil, "[a b c d e f]", ""},
		{"zone by zone, in zone order", true, 2, nil, nil, "z1[a c] z1[e] z2[b d] z2[f]", ""},
		{"a target group's minimum caps the wave", false, 6, pct(50), []*tgroup{group("web", all(ids...))}, "[a b c] [d e f]", ""},
		{"targets outside the fleet count in the group", false, 6, pct(50), []*tgroup{group("web", all("a", "b", "c", "d", "e", "f", "x", "y"))}, "[a b c d] [e f]", ""},
		{"an unhealthy target costs nothing", false, 6, pct(50), []*tgroup{group("web", map[string]string{"a": "unhealthy", "b": "healthy", "c": "healthy", "d": "healthy", "e": "healthy", "f": "healthy"})},
			"[a b c] [d e] [f]", ""},
		{"an unhealthy target lowers the budget", false, 6, &Count{N: 4}, []*tgroup{group("web", map[string]string{"a": "unhealthy", "b": "healthy", "c": "healthy", "d": "healthy", "e": "healthy", "f": "healthy"})},
			"[a b] [c] [d] [e] [f]", ""},
		{"instances outside the group are free", false, 6, pct(50), []*tgroup{group("web", all("a", "b"))}, "[a] [b c d e f]", ""},
		{"the tightest of two groups", false, 6, pct(50), []*tgroup{group("web", all(ids...)), group("api", all("a", "b", "c", "d"))}, "[a b] [c d e] [f]", ""},
		{"zone by zone with a zone minimum", true, 6, &Count{N: 1}, nil, "z1[a c] z1[e] z2[b d] z2[f]", ""},
		{"no room in a group", false, 2, pct(100), []*tgroup{group("web", all(ids...))}, "",
			"instance a cannot be taken out of service: target group web has 6 healthy of 6 targets and MinHealthy 100% keeps 6 in service"},
		{"no room in a zone", true, 2, pct(100), nil, "", "instance a cannot be taken out of service: zone z1 has 3 instances and MinHealthy 100% keeps 3 in service"},
	} {
		t.Run(c.name, func(t *testing.T) {
			waves, err := planWaves(ids, zoneOf, c.byZone, c.batch, c.minHealthy, c.groups)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range waves {
				got = append(got, w.Zone+fmt.Sprint(w.IDs))
			}
			if strings.Join(got, " ") != c.want {
				t.Errorf("waves %s, want %s", strings.Join(got, " "), c.want)
			}
		})
	}
}
