package ecsfake

import (
	"encoding/json"
	"strings"
)

type handler func(s *Server, body []byte) (any, error)

var handlers = map[string]handler{
	"DescribeTaskDefinition":   (*Server).describeTaskDefinition,
	"RegisterTaskDefinition":   (*Server).registerTaskDefinition,
	"DeregisterTaskDefinition": (*Server).deregisterTaskDefinition,
	"DescribeServices":         (*Server).describeServices,
	"UpdateService":            (*Server).updateService,
	"ListTasks":                (*Server).listTasks,
	"DescribeTasks":            (*Server).describeTasks,
	"RunTask":                  (*Server).runTask,
}

func (s *Server) cluster(ref string) (*cluster, error) {
	if ref == "" {
		ref = "default"
	}
	if i := strings.LastIndex(ref, "cluster/"); i >= 0 {
		ref = ref[i+len("cluster/"):]
	}
	c := s.clusters[ref]
	if c == nil {
		return nil, &apiError{"ClusterNotFoundException", "Cluster not found."}
	}
	return c, nil
}

func serviceName(ref string) string { return ref[strings.LastIndex(ref, "/")+1:] }

func (s *Server) describeTaskDefinition(body []byte) (any, error) {
	var in struct {
		TaskDefinition string
		Include        []string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	td, err := s.resolveTaskDef(in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"taskDefinition": td.wire()}
	for _, inc := range in.Include {
		if inc == "TAGS" {
			out["tags"] = td.tags
		}
	}
	return out, nil
}

func (s *Server) registerTaskDefinition(body []byte) (any, error) {
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	td, err := s.register(in)
	if err != nil {
		return nil, err
	}
	return map[string]any{"taskDefinition": td.wire(), "tags": td.tags}, nil
}

func (s *Server) deregisterTaskDefinition(body []byte) (any, error) {
	var in struct{ TaskDefinition string }
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if !strings.Contains(in.TaskDefinition, ":") {
		return nil, clientErr("A revision must be specified to deregister a task definition.")
	}
	td, err := s.resolveTaskDef(in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	td.status = "INACTIVE"
	return map[string]any{"taskDefinition": td.wire()}, nil
}

func (s *Server) describeServices(body []byte) (any, error) {
	var in struct {
		Cluster  string
		Services []string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if len(in.Services) == 0 || len(in.Services) > 10 {
		return nil, &apiError{"InvalidParameterException", "services must hold 1 to 10 names"}
	}
	c, err := s.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	services, failures := []any{}, []any{}
	for _, ref := range in.Services {
		svc := c.services[serviceName(ref)]
		if svc == nil {
			failures = append(failures, map[string]any{"arn": "arn:aws:ecs:" + Region + ":" + Account + ":service/" + c.name + "/" + serviceName(ref), "reason": "MISSING"})
			continue
		}
		s.advance(c, svc)
		services = append(services, svc.wire())
	}
	return map[string]any{"services": services, "failures": failures}, nil
}

func (s *Server) updateService(body []byte) (any, error) {
	var in struct {
		Cluster, Service, TaskDefinition string
		DesiredCount                     *int
		ForceNewDeployment               bool
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	c, err := s.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	svc := c.services[serviceName(in.Service)]
	if svc == nil {
		return nil, &apiError{"ServiceNotFoundException", "Service not found."}
	}
	s.advance(c, svc)
	if svc.controller != "ECS" && in.TaskDefinition != "" {
		return nil, &apiError{"InvalidParameterException", "Unable to update task definition on services with a CODE_DEPLOY deployment controller. Use AWS CodeDeploy to trigger a new deployment."}
	}
	now := s.now()
	newTD := svc.taskDef
	if in.TaskDefinition != "" {
		td, err := s.resolveTaskDef(in.TaskDefinition)
		if err != nil {
			return nil, err
		}
		if td.status != "ACTIVE" {
			return nil, clientErr("TaskDefinition is inactive")
		}
		newTD = td.arn
	}
	if in.DesiredCount != nil {
		svc.desired = *in.DesiredCount
		for _, d := range svc.deployments[:1] {
			d.desired = svc.desired
		}
	}
	if newTD != svc.taskDef || in.ForceNewDeployment {
		for _, d := range svc.deployments {
			d.status = "ACTIVE"
		}
		d := &deployment{id: "ecs-svc/" + s.nextID(), status: "PRIMARY", taskDef: newTD, desired: svc.desired,
			rolloutState: "IN_PROGRESS", rolloutReason: "ECS deployment in progress.", created: now, updated: now}
		svc.deployments = append([]*deployment{d}, svc.deployments...)
		svc.taskDef = newTD
		svc.lastStep = now
	}
	return map[string]any{"service": svc.wire()}, nil
}

func (s *Server) listTasks(body []byte) (any, error) {
	var in struct {
		Cluster, ServiceName, DesiredStatus, Family, StartedBy string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	c, err := s.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.ServiceName != "" {
		if svc := c.services[in.ServiceName]; svc != nil {
			s.advance(c, svc)
		} else {
			return nil, &apiError{"ServiceNotFoundException", "Service not found."}
		}
	}
	s.advanceRunTasks(c)
	want := in.DesiredStatus
	if want == "" {
		want = "RUNNING"
	}
	arns := []string{}
	for i := len(c.tasks) - 1; i >= 0; i-- { // newest first
		t := c.tasks[i]
		if t.desiredStatus != want || (in.ServiceName != "" && t.group != "service:"+in.ServiceName) ||
			(in.StartedBy != "" && t.startedBy != in.StartedBy) {
			continue
		}
		arns = append(arns, t.arn)
		if len(arns) == 100 {
			break
		}
	}
	return map[string]any{"taskArns": arns}, nil
}

func (s *Server) describeTasks(body []byte) (any, error) {
	var in struct {
		Cluster string
		Tasks   []string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if len(in.Tasks) > 100 {
		return nil, &apiError{"InvalidParameterException", "at most 100 tasks"}
	}
	c, err := s.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	s.advanceRunTasks(c)
	tasks, failures := []any{}, []any{}
	for _, ref := range in.Tasks {
		var found *task
		for _, t := range c.tasks {
			if t.arn == ref || strings.HasSuffix(t.arn, "/"+ref) {
				found = t
			}
		}
		if found == nil {
			failures = append(failures, map[string]any{"arn": ref, "reason": "MISSING"})
			continue
		}
		tasks = append(tasks, found.wire())
	}
	return map[string]any{"tasks": tasks, "failures": failures}, nil
}

func (s *Server) runTask(body []byte) (any, error) {
	var in struct {
		Cluster, TaskDefinition, StartedBy, LaunchType string
		Count                                          int
		Overrides                                      map[string]any
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	c, err := s.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	td, err := s.resolveTaskDef(in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	now := s.now()
	b := s.behaviorOf(td)
	step := b.StartEvery
	if step <= 0 {
		step = s.StepInterval
	}
	t := &task{arn: "arn:aws:ecs:" + Region + ":" + Account + ":task/" + c.name + "/" + s.nextID(), taskDef: td.arn,
		group: "family:" + td.family, startedBy: in.StartedBy, lastStatus: "PROVISIONING", desiredStatus: "RUNNING",
		created: now, stopAt: now.Add(step), overrides: in.Overrides}
	for _, n := range td.containerNames() {
		t.containers = append(t.containers, container{name: n})
	}
	c.tasks = append(c.tasks, t)
	return map[string]any{"tasks": []any{t.wire()}, "failures": []any{}}, nil
}

// advanceRunTasks stops one-off tasks whose time has come: with exit code 0, or as the
// image's Behavior says.
func (s *Server) advanceRunTasks(c *cluster) {
	now := s.now()
	for _, t := range c.tasks {
		if t.stopAt.IsZero() || t.lastStatus == "STOPPED" {
			continue
		}
		if now.Before(t.stopAt) {
			t.lastStatus = "RUNNING"
			continue
		}
		b := s.behaviorOf(s.taskDefs[t.taskDef])
		zero := 0
		reason := "Essential container in task exited"
		imgs := s.taskDefs[t.taskDef].images()
		for i := range t.containers {
			if b.Fail && i < len(imgs) && s.behaviors[imgs[i]].Fail {
				t.containers[i].exitCode = b.ExitCode
				t.containers[i].reason = b.ContainerReason
				if b.StoppedReason != "" {
					reason = b.StoppedReason
				}
			} else {
				t.containers[i].exitCode = &zero
			}
		}
		stopTask(t, t.stopAt, reason)
	}
}
