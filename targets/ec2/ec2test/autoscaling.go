package ec2test

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"
)

// AutoScalingGroup is a simulated Auto Scaling group.
type AutoScalingGroup struct {
	Name string
	// Instances are in service in the group from the start.
	Instances []string
	// TargetGroups are the ARNs of the target groups the group registers its new instances
	// with.
	TargetGroups []string
	// Tags are the tags the group's new instances get.
	Tags map[string]string
}

type asg struct {
	AutoScalingGroup
	created   time.Time
	suspended map[string]string // process -> reason
}

// scalingProcesses are Auto Scaling's processes, in its documentation's order.
var scalingProcesses = []string{"Launch", "Terminate", "AddToLoadBalancer", "AlarmNotification", "AZRebalance",
	"HealthCheck", "InstanceRefresh", "ReplaceUnhealthy", "ScheduledActions"}

// ErrSuspended is what Launch and Terminate return when the group's process is suspended.
var ErrSuspended = errors.New("ec2test: the process is suspended")

// CreateAutoScalingGroup adds a group.
func (s *Server) CreateAutoScalingGroup(g AutoScalingGroup) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g.Instances = slices.Clone(g.Instances)
	s.asgs = append(s.asgs, &asg{AutoScalingGroup: g, created: s.now(), suspended: map[string]string{}})
}

func (s *Server) asgNamed(name string) *asg {
	for _, g := range s.asgs {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// Launch scales group out by one instance, as Auto Scaling would: a new running instance
// with an online agent and the group's tags, in the zone the group has fewest in, registered
// with the group's target groups (healthy once their HealthyAfter passes). It returns the
// new instance's ID, or ErrSuspended when the group's Launch process is suspended.
func (s *Server) Launch(group string) (string, error) {
	s.mu.Lock()
	g := s.asgNamed(group)
	switch {
	case g == nil:
		s.mu.Unlock()
		return "", fmt.Errorf("ec2test: no Auto Scaling group %q", group)
	case g.suspended["Launch"] != "":
		s.mu.Unlock()
		return "", fmt.Errorf("launch in group %s: %w", group, ErrSuspended)
	}
	perZone := map[string]int{}
	for _, id := range g.Instances {
		perZone[s.instances[id].Zone]++
	}
	zone := zones[0]
	for _, z := range zones {
		if perZone[z] < perZone[zone] {
			zone = z
		}
	}
	tags := map[string]string{"aws:autoscaling:groupName": group}
	for k, v := range g.Tags {
		tags[k] = v
	}
	id := fmt.Sprintf("i-%017x", len(s.order)+1)
	s.mu.Unlock()
	s.AddInstances(Instance{ID: id, Tags: tags, Zone: zone})
	s.mu.Lock()
	defer s.mu.Unlock()
	g.Instances = append(g.Instances, id)
	for _, arn := range g.TargetGroups {
		if tg, err := s.group(arn); err == nil {
			s.register(tg, id)
		}
	}
	return id, nil
}

// Terminate scales an instance's group in by that instance: it is terminated and leaves the
// group and its target groups (draining first). It returns ErrSuspended when the group's
// Terminate process is suspended.
func (s *Server) Terminate(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.asgs {
		i := slices.Index(g.Instances, id)
		if i < 0 {
			continue
		}
		if g.suspended["Terminate"] != "" {
			return fmt.Errorf("terminate %s in group %s: %w", id, g.Name, ErrSuspended)
		}
		g.Instances = slices.Delete(g.Instances, i, i+1)
		for _, tg := range s.groups {
			if t := tg.targets[id]; t != nil && t.deregistered.IsZero() {
				t.deregistered = s.now()
			}
		}
		s.instances[id].State = "terminated"
		return nil
	}
	return fmt.Errorf("ec2test: %s is in no Auto Scaling group", id)
}

// Suspended returns the processes suspended in group, in Auto Scaling's order.
func (s *Server) Suspended(group string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if g := s.asgNamed(group); g != nil {
		for _, p := range scalingProcesses {
			if g.suspended[p] != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

type xmlASGInstance struct {
	InstanceId           string
	AutoScalingGroupName string `xml:",omitempty"`
	AvailabilityZone     string
	LifecycleState       string
	HealthStatus         string
	ProtectedFromScaleIn bool
}

func (s *Server) asgInstance(id string) xmlASGInstance {
	return xmlASGInstance{InstanceId: id, AvailabilityZone: s.instances[id].Zone, LifecycleState: "InService", HealthStatus: "HEALTHY"}
}

func (s *Server) describeAutoScalingInstances(form url.Values) (any, error) {
	ids := members(form, "InstanceIds")
	if len(ids) > 50 {
		return nil, queryErr(400, "ValidationError", "The number of instance ids that may be passed in is limited to 50")
	}
	var out struct {
		AutoScalingInstances []xmlASGInstance `xml:"AutoScalingInstances>member"`
	}
	for _, g := range s.asgs {
		for _, id := range g.Instances {
			if len(ids) == 0 || slices.Contains(ids, id) {
				in := s.asgInstance(id)
				in.AutoScalingGroupName = g.Name
				out.AutoScalingInstances = append(out.AutoScalingInstances, in)
			}
		}
	}
	return out, nil
}

func (s *Server) describeAutoScalingGroups(form url.Values) (any, error) {
	names := members(form, "AutoScalingGroupNames")
	type process struct{ ProcessName, SuspensionReason string }
	type group struct {
		AutoScalingGroupName string
		AutoScalingGroupARN  string
		MinSize              int
		MaxSize              int
		DesiredCapacity      int
		DefaultCooldown      int
		AvailabilityZones    []string `xml:"AvailabilityZones>member"`
		HealthCheckType      string
		CreatedTime          string
		Instances            []xmlASGInstance `xml:"Instances>member"`
		SuspendedProcesses   []process        `xml:"SuspendedProcesses>member"`
		TargetGroupARNs      []string         `xml:"TargetGroupARNs>member"`
	}
	var out struct {
		AutoScalingGroups []group `xml:"AutoScalingGroups>member"`
	}
	for _, g := range s.asgs {
		if len(names) > 0 && !slices.Contains(names, g.Name) {
			continue
		}
		x := group{AutoScalingGroupName: g.Name, MinSize: 0, MaxSize: 1000, DesiredCapacity: len(g.Instances), DefaultCooldown: 300,
			AutoScalingGroupARN: "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/" + g.Name,
			AvailabilityZones:   zones, HealthCheckType: "EC2", CreatedTime: g.created.UTC().Format(time.RFC3339), TargetGroupARNs: g.TargetGroups}
		for _, id := range g.Instances {
			x.Instances = append(x.Instances, s.asgInstance(id))
		}
		for _, p := range scalingProcesses {
			if r := g.suspended[p]; r != "" {
				x.SuspendedProcesses = append(x.SuspendedProcesses, process{p, r})
			}
		}
		out.AutoScalingGroups = append(out.AutoScalingGroups, x)
	}
	return out, nil
}

// processesOf reads AutoScalingGroupName and ScalingProcesses (none: all of them).
func (s *Server) processesOf(form url.Values) (*asg, []string, error) {
	g := s.asgNamed(form.Get("AutoScalingGroupName"))
	if g == nil {
		return nil, nil, queryErr(400, "ValidationError", "AutoScalingGroup name not found - no such group: %s", form.Get("AutoScalingGroupName"))
	}
	procs := members(form, "ScalingProcesses")
	for _, p := range procs {
		if !slices.Contains(scalingProcesses, p) {
			return nil, nil, queryErr(400, "ValidationError", "Unknown scaling process: %s", p)
		}
	}
	if len(procs) == 0 {
		procs = scalingProcesses
	}
	return g, procs, nil
}

func (s *Server) suspendProcesses(form url.Values) (any, error) {
	g, procs, err := s.processesOf(form)
	if err != nil {
		return nil, err
	}
	for _, p := range procs {
		g.suspended[p] = fmt.Sprintf("User suspended at %s", s.now().UTC().Format(time.RFC3339))
	}
	return nil, nil
}

func (s *Server) resumeProcesses(form url.Values) (any, error) {
	g, procs, err := s.processesOf(form)
	if err != nil {
		return nil, err
	}
	for _, p := range procs {
		delete(g.suspended, p)
	}
	return nil, nil
}
