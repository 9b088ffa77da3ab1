package ec2test

import (
	"fmt"
	"net/url"
	"slices"
	"time"
)

// TargetGroup is a simulated Elastic Load Balancing v2 target group of instances.
type TargetGroup struct {
	Name string
	// DeregistrationDelay is how long a deregistered target drains; zero means 300 s,
	// ELB's default.
	DeregistrationDelay time.Duration
	// HealthyAfter is how long a registered target takes to pass its health checks (the
	// interval times the healthy threshold); zero means 30 s.
	HealthyAfter time.Duration
	// Instances are registered, and healthy, from the start.
	Instances []string
}

type targetGroup struct {
	TargetGroup
	arn     string
	targets map[string]*registration // by instance
}

// registration is one instance's registration in a group.
type registration struct {
	registered   time.Time // when it was last registered
	deregistered time.Time // when it began draining; zero while registered
}

// CreateTargetGroup adds a target group (HTTP, port 80, targets by instance ID) and returns
// its ARN.
func (s *Server) CreateTargetGroup(tg TargetGroup) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tg.DeregistrationDelay == 0 {
		tg.DeregistrationDelay = 300 * time.Second
	}
	if tg.HealthyAfter == 0 {
		tg.HealthyAfter = 30 * time.Second
	}
	s.seq++
	g := &targetGroup{TargetGroup: tg, targets: map[string]*registration{},
		arn: fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/%s/%016x", tg.Name, s.seq)}
	long := s.now().Add(-tg.HealthyAfter) // registered long enough ago to be healthy
	for _, id := range tg.Instances {
		g.targets[id] = &registration{registered: long}
	}
	s.groups = append(s.groups, g)
	return g.arn
}

// SetHealthCheck sets how registered targets answer their health checks once HealthyAfter
// has passed: check returns "" for healthy, or the reason they fail (Target.ResponseCodeMismatch,
// Target.Timeout, Target.FailedHealthChecks). Every target is healthy until it is set.
func (s *Server) SetHealthCheck(check func(instanceID string) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.healthCheck = check
}

// TargetHealth returns the state of an instance in a target group, and the reason for it, as
// DescribeTargetHealth would.
func (s *Server) TargetHealth(arn, instanceID string) (state, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.groups {
		if g.arn == arn {
			return s.health(g, instanceID)
		}
	}
	return "", "no such target group"
}

var healthDescriptions = map[string]string{
	"Elb.InitialHealthChecking":       "Initial health checks in progress",
	"Target.DeregistrationInProgress": "Target deregistration is in progress",
	"Target.NotRegistered":            "Target is not registered to the target group",
	"Target.InvalidState":             "Target is in the stopped state",
	"Target.ResponseCodeMismatch":     "Health checks failed with these codes: [502]",
	"Target.Timeout":                  "Request timed out",
	"Target.FailedHealthChecks":       "Health checks failed",
}

// health is the state of instance id in g now.
func (s *Server) health(g *targetGroup, id string) (state, reason string) {
	t, now := g.targets[id], s.now()
	switch {
	case t == nil:
		return "unused", "Target.NotRegistered"
	case !t.deregistered.IsZero() && now.Before(t.deregistered.Add(g.DeregistrationDelay)):
		return "draining", "Target.DeregistrationInProgress"
	case !t.deregistered.IsZero():
		delete(g.targets, id) // drained
		return "unused", "Target.NotRegistered"
	case s.instances[id] == nil || s.instances[id].State != "running":
		return "unused", "Target.InvalidState"
	case now.Before(t.registered.Add(g.HealthyAfter)):
		return "initial", "Elb.InitialHealthChecking"
	}
	if s.healthCheck != nil {
		if why := s.healthCheck(id); why != "" {
			return "unhealthy", why
		}
	}
	return "healthy", ""
}

// register puts instance id into g, or back into it while it drains.
func (s *Server) register(g *targetGroup, id string) {
	if t := g.targets[id]; t != nil && t.deregistered.IsZero() {
		return // already registered
	}
	g.targets[id] = &registration{registered: s.now()}
}

func (s *Server) group(arn string) (*targetGroup, error) {
	for _, g := range s.groups {
		if g.arn == arn {
			return g, nil
		}
	}
	return nil, queryErr(400, "TargetGroupNotFound", "Target groups '%s' not found", arn)
}

type xmlTargetGroup struct {
	TargetGroupArn             string
	TargetGroupName            string
	Protocol                   string
	Port                       int
	VpcId                      string
	TargetType                 string
	HealthCheckProtocol        string
	HealthCheckPath            string
	HealthCheckIntervalSeconds int
	HealthyThresholdCount      int
	UnhealthyThresholdCount    int
}

func (s *Server) describeTargetGroups(form url.Values) (any, error) {
	arns, names := members(form, "TargetGroupArns"), members(form, "Names")
	var out struct {
		TargetGroups []xmlTargetGroup `xml:"TargetGroups>member"`
	}
	for _, g := range s.groups {
		if (len(arns) > 0 || len(names) > 0) && !slices.Contains(arns, g.arn) && !slices.Contains(names, g.Name) {
			continue
		}
		out.TargetGroups = append(out.TargetGroups, xmlTargetGroup{TargetGroupArn: g.arn, TargetGroupName: g.Name, Protocol: "HTTP", Port: 80,
			VpcId: "vpc-0123456789abcdef0", TargetType: "instance", HealthCheckProtocol: "HTTP", HealthCheckPath: "/health",
			HealthCheckIntervalSeconds: 30, HealthyThresholdCount: 5, UnhealthyThresholdCount: 2})
	}
	if n := len(arns) + len(names); n > 0 && len(out.TargetGroups) < n {
		return nil, queryErr(400, "TargetGroupNotFound", "One or more target groups not found")
	}
	return out, nil
}

func (s *Server) describeTargetGroupAttributes(form url.Values) (any, error) {
	g, err := s.group(form.Get("TargetGroupArn"))
	if err != nil {
		return nil, err
	}
	type attribute struct{ Key, Value string }
	return struct {
		Attributes []attribute `xml:"Attributes>member"`
	}{[]attribute{
		{"deregistration_delay.timeout_seconds", fmt.Sprint(int(g.DeregistrationDelay / time.Second))},
		{"stickiness.enabled", "false"},
		{"load_balancing.algorithm.type", "round_robin"},
	}}, nil
}

type xmlTarget struct {
	Id   string
	Port int `xml:",omitempty"`
}

// groupTargets reads TargetGroupArn and Targets.member.N.Id.
func (s *Server) groupTargets(form url.Values) (*targetGroup, []string, error) {
	g, err := s.group(form.Get("TargetGroupArn"))
	if err != nil {
		return nil, nil, err
	}
	ids, err := s.targetsOf(form)
	return g, ids, err
}

// targetsOf reads Targets.member.N.Id, checking that each is an instance.
func (s *Server) targetsOf(form url.Values) ([]string, error) {
	var ids []string
	for i := 1; ; i++ {
		id := form.Get(fmt.Sprintf("Targets.member.%d.Id", i))
		if id == "" {
			return ids, nil
		}
		if s.instances[id] == nil {
			return nil, queryErr(400, "InvalidTarget", "The following targets are not valid instances: '%s'", id)
		}
		ids = append(ids, id)
	}
}

func (s *Server) describeTargetHealth(form url.Values) (any, error) {
	g, ids, err := s.groupTargets(form)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 { // every target registered or draining
		for _, id := range s.order {
			if g.targets[id] != nil {
				ids = append(ids, id)
			}
		}
	}
	type health struct {
		State       string
		Reason      string `xml:",omitempty"`
		Description string `xml:",omitempty"`
	}
	type description struct {
		Target          xmlTarget
		HealthCheckPort string
		TargetHealth    health
	}
	var out struct {
		TargetHealthDescriptions []description `xml:"TargetHealthDescriptions>member"`
	}
	for _, id := range ids {
		state, reason := s.health(g, id)
		out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, description{Target: xmlTarget{Id: id, Port: 80}, HealthCheckPort: "80",
			TargetHealth: health{State: state, Reason: reason, Description: healthDescriptions[reason]}})
	}
	return out, nil
}

func (s *Server) registerTargets(form url.Values) (any, error) {
	g, ids, err := s.groupTargets(form)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if st := s.instances[id].State; st != "running" {
			return nil, queryErr(400, "InvalidTarget", "The following targets are not in a running state and cannot be registered: '%s'", id)
		}
	}
	for _, id := range ids {
		s.register(g, id)
	}
	return struct{}{}, nil
}

func (s *Server) deregisterTargets(form url.Values) (any, error) {
	g, ids, err := s.groupTargets(form)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if t := g.targets[id]; t != nil && t.deregistered.IsZero() {
			t.deregistered = s.now()
		}
	}
	return struct{}{}, nil
}
