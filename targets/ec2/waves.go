package ec2

import (
	"fmt"
	"slices"
)

// wave is a batch of instances replaced together. Zone names their zone in a rollout that
// goes zone by zone.
type wave struct {
	Zone string   `json:"zone,omitempty"`
	IDs  []string `json:"ids"`
}

// planWaves splits ids (in order) into waves of at most batch instances, zone by zone in
// zone order when byZone, so that taking a wave out of service never leaves a target group
// with fewer healthy targets than minHealthy of its targets, nor, zone by zone, a zone with
// fewer healthy instances than minHealthy of its instances. Earlier waves are back in
// service, and healthy, before the next starts. Without minHealthy only the batch bounds a
// wave. It fails when not even one instance can be taken out. It is a pure function.
func planWaves(ids []string, zoneOf map[string]string, byZone bool, batch int, minHealthy *Count, groups []*tgroup) ([]wave, error) {
	batch = max(batch, 1)
	isHealthy := func(id string) bool { // in service in every group it is in
		for _, g := range groups {
			if st, ok := g.Members[id]; ok && st != "healthy" {
				return false
			}
		}
		return true
	}
	floor := func(n int) int {
		if minHealthy == nil {
			return 0
		}
		return minHealthy.Of(n)
	}
	budget := map[*tgroup]int{}
	for _, g := range groups {
		budget[g] = g.healthy() - floor(len(g.Members))
	}
	zones := []string{""}
	if byZone {
		zones = nil
		for _, id := range ids {
			if z := zoneOf[id]; !slices.Contains(zones, z) {
				zones = append(zones, z)
			}
		}
		slices.Sort(zones)
	}
	var waves []wave
	for _, z := range zones {
		var in []string
		for _, id := range ids {
			if !byZone || zoneOf[id] == z {
				in = append(in, id)
			}
		}
		zoneBudget := len(in) // no limit unless the rollout goes zone by zone with a minimum
		if byZone && minHealthy != nil {
			healthyHere := 0
			for _, id := range in {
				if isHealthy(id) {
					healthyHere++
				}
			}
			zoneBudget = healthyHere - floor(len(in))
		}
		var cur []string
		used, usedZone := map[*tgroup]int{}, 0
		// fits says whether id can join the current wave, or what keeps it out of any wave.
		fits := func(id string) (bool, string) {
			if len(cur) >= batch {
				return false, ""
			}
			for _, g := range groups {
				if g.Members[id] == "healthy" && used[g]+1 > budget[g] {
					return false, fmt.Sprintf("target group %s has %d healthy of %d targets and MinHealthy %s keeps %d in service",
						g.Name, g.healthy(), len(g.Members), minHealthy, floor(len(g.Members)))
				}
			}
			if isHealthy(id) && usedZone+1 > zoneBudget {
				return false, fmt.Sprintf("zone %s has %d instances and MinHealthy %s keeps %d in service", z, len(in), minHealthy, floor(len(in)))
			}
			return true, ""
		}
		for _, id := range ids {
			if byZone && zoneOf[id] != z {
				continue
			}
			if ok, _ := fits(id); !ok && len(cur) > 0 {
				waves = append(waves, wave{Zone: z, IDs: cur})
				cur, used, usedZone = nil, map[*tgroup]int{}, 0
			}
			if ok, why := fits(id); !ok {
				return nil, fmt.Errorf("instance %s cannot be taken out of service: %s; lower MinHealthy or add instances", id, why)
			}
			cur = append(cur, id)
			for _, g := range groups {
				if g.Members[id] == "healthy" {
					used[g]++
				}
			}
			if isHealthy(id) {
				usedZone++
			}
		}
		if len(cur) > 0 {
			waves = append(waves, wave{Zone: z, IDs: cur})
		}
	}
	return waves, nil
}
