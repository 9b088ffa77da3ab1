package ecstest

import (
	"fmt"
	"slices"

	"encoding/json"
	"github.com/stevedore-dev/stevedore/internal/awsfake"
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
	"ListTaskDefinitions":      (*Server).listTaskDefinitions,
	"DeleteTaskDefinitions":    (*Server).deleteTaskDefinitions,
	"ListServices":             (*Server).listServices,
	// The service-deployment API (see NoServiceDeployments).
	"DescribeServiceDeployments": (*Server).describeServiceDeployments,
	"ListServiceDeployments":     (*Server).listServiceDeployments,
	"DescribeServiceRevisions":   (*Server).describeServiceRevisions,
	"ContinueServiceDeployment":  (*Server).continueServiceDeployment,
	"StopServiceDeployment":      (*Server).stopServiceDeployment,
}

var deploymentOps = map[string]bool{"DescribeServiceDeployments": true, "ListServiceDeployments": true,
	"DescribeServiceRevisions": true, "ContinueServiceDeployment": true, "StopServiceDeployment": true}

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
		services = append(services, s.serviceWire(svc))
	}
	return map[string]any{"services": services, "failures": failures}, nil
}

func (s *Server) updateService(body []byte) (any, error) {
	var in struct {
		Cluster, Service, TaskDefinition string
		DesiredCount                     *int
		ForceNewDeployment               bool
		DeploymentConfiguration          map[string]any
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
	if dc := in.DeploymentConfiguration; dc != nil {
		merged := map[string]any{}
		for k, v := range svc.config {
			merged[k] = v
		}
		for k, v := range dc {
			merged[k] = v
		}
		cfg, err := parseConfig(merged)
		if err != nil {
			return nil, &apiError{"InvalidParameterException", "deploymentConfiguration: " + err.Error()}
		}
		switch cfg.Strategy {
		case "ROLLING", "BLUE_GREEN", "LINEAR", "CANARY":
		default:
			return nil, &apiError{"InvalidParameterException", "Invalid deployment strategy " + cfg.Strategy}
		}
		if cfg.Strategy == "LINEAR" && (cfg.LinearConfiguration == nil || cfg.LinearConfiguration.StepPercent < 3) ||
			cfg.Strategy == "CANARY" && (cfg.CanaryConfiguration == nil || cfg.CanaryConfiguration.CanaryPercent < 0.1) {
			return nil, &apiError{"InvalidParameterException", "a " + cfg.Strategy + " deployment needs its step configuration"}
		}
		svc.config = merged
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
		s.newServiceDeployment(svc, d, now)
	}
	return map[string]any{"service": s.serviceWire(svc)}, nil
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

func (s *Server) listTaskDefinitions(body []byte) (any, error) {
	var in struct {
		FamilyPrefix, Status, Sort, NextToken string
		MaxResults                            int
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if in.Status == "" {
		in.Status = "ACTIVE"
	}
	var tds []*taskDef
	for _, td := range s.taskDefs {
		if td.status == in.Status && strings.HasPrefix(td.family, in.FamilyPrefix) {
			tds = append(tds, td)
		}
	}
	slices.SortFunc(tds, func(a, b *taskDef) int {
		if c := strings.Compare(a.family, b.family); c != 0 {
			return c
		}
		return a.revision - b.revision
	})
	if in.Sort == "DESC" {
		slices.Reverse(tds)
	}
	arns := []string{}
	for _, td := range tds {
		arns = append(arns, td.arn)
	}
	page, next, err := awsfake.Page(arns, in.NextToken, in.MaxResults, 100)
	if err != nil {
		return nil, err
	}
	return map[string]any{"taskDefinitionArns": page, "nextToken": next}, nil
}

func (s *Server) deleteTaskDefinitions(body []byte) (any, error) {
	var in struct{ TaskDefinitions []string }
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if len(in.TaskDefinitions) == 0 || len(in.TaskDefinitions) > 10 {
		return nil, &apiError{"InvalidParameterException", "taskDefinitions must hold 1 to 10 revisions"}
	}
	done, failures := []any{}, []any{}
	for _, ref := range in.TaskDefinitions {
		td, err := s.resolveTaskDef(ref)
		switch {
		case err != nil:
			failures = append(failures, map[string]any{"arn": ref, "reason": "TASK_DEFINITION_NOT_FOUND"})
		case td.status == "ACTIVE":
			failures = append(failures, map[string]any{"arn": td.arn, "reason": "The specified task definition is still in ACTIVE status. Please deregister the target and try again."})
		default:
			td.status = "DELETE_IN_PROGRESS"
			done = append(done, td.wire())
		}
	}
	return map[string]any{"taskDefinitions": done, "failures": failures}, nil
}

func (s *Server) listServices(body []byte) (any, error) {
	var in struct {
		Cluster, NextToken string
		MaxResults         int
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	c, err := s.cluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	arns := []string{}
	for _, svc := range c.services {
		arns = append(arns, svc.arn)
	}
	slices.Sort(arns)
	page, next, err := awsfake.Page(arns, in.NextToken, in.MaxResults, 10)
	if err != nil {
		return nil, err
	}
	return map[string]any{"serviceArns": page, "nextToken": next}, nil
}

// serviceDeployment finds a service deployment by ARN and brings its service up to now.
func (s *Server) serviceDeployment(arn string) (*svcDeployment, error) {
	sd := s.sdeps[arn]
	if sd == nil {
		return nil, &apiError{"ServiceDeploymentNotFoundException", "Service deployment not found: " + arn}
	}
	for _, c := range s.clusters {
		if c.arn == sd.svc.clusterArn && c.services[sd.svc.name] == sd.svc {
			s.advance(c, sd.svc)
		}
	}
	return sd, nil
}

func (s *Server) describeServiceDeployments(body []byte) (any, error) {
	var in struct{ ServiceDeploymentArns []string }
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if len(in.ServiceDeploymentArns) == 0 || len(in.ServiceDeploymentArns) > 20 {
		return nil, &apiError{"InvalidParameterException", "serviceDeploymentArns must hold 1 to 20 ARNs"}
	}
	out, failures := []any{}, []any{}
	for _, arn := range in.ServiceDeploymentArns {
		sd, err := s.serviceDeployment(arn)
		if err != nil {
			failures = append(failures, map[string]any{"arn": arn, "reason": "MISSING"})
			continue
		}
		out = append(out, s.serviceDeploymentWire(sd))
	}
	return map[string]any{"serviceDeployments": out, "failures": failures}, nil
}

func (s *Server) listServiceDeployments(body []byte) (any, error) {
	var in struct {
		Cluster, Service, NextToken string
		Status                      []string
		MaxResults                  int
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
	var sds []*svcDeployment
	for _, sd := range s.sdeps {
		if sd.svc == svc && (len(in.Status) == 0 || slices.Contains(in.Status, sd.status)) {
			sds = append(sds, sd)
		}
	}
	slices.SortFunc(sds, func(a, b *svcDeployment) int { return b.created.Compare(a.created) }) // newest first
	var briefs []map[string]any
	for _, sd := range sds {
		b := map[string]any{"serviceDeploymentArn": sd.arn, "serviceArn": svc.arn, "clusterArn": svc.clusterArn,
			"status": sd.status, "targetServiceRevisionArn": sd.target.rev.arn, "createdAt": epoch(sd.created)}
		if sd.reason != "" {
			b["statusReason"] = sd.reason
		}
		briefs = append(briefs, b)
	}
	page, next, err := awsfake.Page(briefs, in.NextToken, in.MaxResults, 20)
	if err != nil {
		return nil, err
	}
	return map[string]any{"serviceDeployments": page, "nextToken": next}, nil
}

func (s *Server) describeServiceRevisions(body []byte) (any, error) {
	var in struct{ ServiceRevisionArns []string }
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if len(in.ServiceRevisionArns) == 0 || len(in.ServiceRevisionArns) > 20 {
		return nil, &apiError{"InvalidParameterException", "serviceRevisionArns must hold 1 to 20 ARNs"}
	}
	out, failures := []any{}, []any{}
	for _, arn := range in.ServiceRevisionArns {
		r := s.revisions[arn]
		if r == nil {
			failures = append(failures, map[string]any{"arn": arn, "reason": "MISSING"})
			continue
		}
		out = append(out, map[string]any{"serviceRevisionArn": r.arn, "serviceArn": r.serviceArn, "clusterArn": r.clusterArn,
			"taskDefinition": r.taskDef, "createdAt": epoch(r.created), "launchType": "FARGATE"})
	}
	return map[string]any{"serviceRevisions": out, "failures": failures}, nil
}

func (s *Server) continueServiceDeployment(body []byte) (any, error) {
	var in struct{ ServiceDeploymentArn, HookId, Action string }
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	sd, err := s.serviceDeployment(in.ServiceDeploymentArn)
	if err != nil {
		return nil, err
	}
	for _, h := range sd.hooks {
		if h.id != in.HookId {
			continue
		}
		if h.status != "AWAITING_ACTION" || sd.status != "IN_PROGRESS" {
			return nil, &apiError{"InvalidParameterException", "lifecycle hook " + in.HookId + " is " + h.status + ", not AWAITING_ACTION"}
		}
		switch in.Action {
		case "CONTINUE":
			h.status = "SUCCEEDED"
		case "ROLLBACK":
			h.status = "SUCCEEDED"
			s.rollback(sd, s.now(), fmt.Sprintf("rolled back by ContinueServiceDeployment at lifecycle hook %s in %s.", h.hook.HookTargetArn, h.stage))
		default:
			return nil, &apiError{"InvalidParameterException", "action must be CONTINUE or ROLLBACK"}
		}
		return map[string]any{"serviceDeploymentArn": sd.arn}, nil
	}
	return nil, &apiError{"InvalidParameterException", "no lifecycle hook " + in.HookId + " in the current stage of " + sd.arn}
}

func (s *Server) stopServiceDeployment(body []byte) (any, error) {
	var in struct{ ServiceDeploymentArn, StopType string }
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	sd, err := s.serviceDeployment(in.ServiceDeploymentArn)
	if err != nil {
		return nil, err
	}
	if sd.status != "IN_PROGRESS" && sd.status != "PENDING" {
		return nil, &apiError{"ConflictException", "The service deployment is " + sd.status + " and cannot be stopped."}
	}
	now := s.now()
	if in.StopType == "ABORT" {
		sd.status, sd.stopped, sd.reason = "STOPPED", now, "Service deployment stopped by StopServiceDeployment."
		return map[string]any{"serviceDeploymentArn": sd.arn}, nil
	}
	s.rollback(sd, now, "StopServiceDeployment requested a rollback.")
	return map[string]any{"serviceDeploymentArn": sd.arn}, nil
}
