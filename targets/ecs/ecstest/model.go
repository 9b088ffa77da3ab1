package ecstest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

type taskDef struct {
	arn, family string
	revision    int
	status      string
	body        map[string]any // the register input, without tags
	tags        []any
	registered  time.Time
}

func (td *taskDef) wire() map[string]any {
	out := map[string]any{}
	for k, v := range td.body {
		out[k] = v
	}
	// What real ECS adds, and what a register call must not send back.
	out["taskDefinitionArn"] = td.arn
	out["revision"] = td.revision
	out["status"] = td.status
	out["compatibilities"] = []string{"EC2", "FARGATE"}
	out["requiresAttributes"] = []map[string]string{{"name": "com.amazonaws.ecs.capability.ecr-auth"}}
	out["registeredAt"] = epoch(td.registered)
	out["registeredBy"] = "arn:aws:sts::" + Account + ":assumed-role/deployer/session"
	if td.status == "INACTIVE" {
		out["deregisteredAt"] = epoch(td.registered)
	}
	return out
}

// images returns the images of the task definition's containers.
func (td *taskDef) images() []string {
	var imgs []string
	cds, _ := td.body["containerDefinitions"].([]any)
	for _, c := range cds {
		if m, ok := c.(map[string]any); ok {
			if img, ok := m["image"].(string); ok {
				imgs = append(imgs, img)
			}
		}
	}
	return imgs
}

func (td *taskDef) containerNames() []string {
	var names []string
	cds, _ := td.body["containerDefinitions"].([]any)
	for _, c := range cds {
		if m, ok := c.(map[string]any); ok {
			n, _ := m["name"].(string)
			names = append(names, n)
		}
	}
	return names
}

type cluster struct {
	name, arn string
	services  map[string]*service
	tasks     []*task
}

type service struct {
	name, arn, clusterArn string
	status                string
	desired               int
	taskDef               string
	config                map[string]any // deploymentConfiguration, as the wire has it
	controller            string
	deployments           []*deployment  // PRIMARY first
	current               *svcDeployment // the latest service deployment
	revisions             int            // service revisions made so far
	events                []event        // newest first
	lastStep              time.Time
	network               map[string]any
	launchType            string
}

type deployment struct {
	id, status, taskDef string
	desired             int
	running, pending    int
	failed              int
	rolloutState        string
	rolloutReason       string
	created, updated    time.Time
	rev                 *revision // the service revision it runs
	settling            bool      // every task replaced; completes at the next step
}

type event struct {
	id, message string
	at          time.Time
}

type task struct {
	arn, taskDef, group, startedBy string
	lastStatus, desiredStatus      string
	stoppedReason                  string
	containers                     []container
	created, stopped               time.Time
	stopAt                         time.Time // for run tasks: when it stops by itself
	overrides                      any
}

type container struct {
	name, reason string
	exitCode     *int
}

func (s *Server) resolveTaskDef(ref string) (*taskDef, error) {
	if td, ok := s.taskDefs[ref]; ok {
		return td, nil
	}
	name := ref
	if i := strings.LastIndex(ref, "task-definition/"); i >= 0 {
		name = ref[i+len("task-definition/"):]
	}
	family, rev, hasRev := strings.Cut(name, ":")
	if !hasRev {
		// The latest ACTIVE revision.
		for r := s.latest[family]; r > 0; r-- {
			if td := s.taskDefs[s.tdArn(family, r)]; td != nil && td.status == "ACTIVE" {
				return td, nil
			}
		}
		return nil, clientErr("Unable to describe task definition.")
	}
	n, err := strconv.Atoi(rev)
	if err != nil {
		return nil, clientErr("Invalid revision number. Number: %s", rev)
	}
	if td := s.taskDefs[s.tdArn(family, n)]; td != nil {
		return td, nil
	}
	return nil, clientErr("Unable to describe task definition.")
}

func (s *Server) tdArn(family string, rev int) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/%s:%d", Region, Account, family, rev)
}

func (s *Server) register(body map[string]any) (*taskDef, error) {
	family, _ := body["family"].(string)
	if family == "" {
		return nil, clientErr("Family is required.")
	}
	if _, ok := body["containerDefinitions"].([]any); !ok {
		return nil, clientErr("Container definitions are required.")
	}
	for _, k := range []string{"taskDefinitionArn", "revision", "status", "registeredAt", "registeredBy", "compatibilities", "requiresAttributes"} {
		if _, ok := body[k]; ok {
			return nil, &apiError{"SerializationException", "Unknown parameter " + k}
		}
	}
	tags, _ := body["tags"].([]any)
	if _, ok := body["tags"]; ok && len(tags) == 0 {
		return nil, &apiError{"InvalidParameterException", "Tags cannot be empty."}
	}
	if tags == nil {
		tags = []any{} // DescribeTaskDefinition with TAGS answers [] when there are none
	}
	delete(body, "tags")
	s.latest[family]++
	td := &taskDef{arn: s.tdArn(family, s.latest[family]), family: family, revision: s.latest[family],
		status: "ACTIVE", body: body, tags: tags, registered: s.now()}
	s.taskDefs[td.arn] = td
	return td, nil
}

// CreateCluster adds a cluster.
func (s *Server) CreateCluster(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clusters[name] = &cluster{name: name, arn: fmt.Sprintf("arn:aws:ecs:%s:%s:cluster/%s", Region, Account, name), services: map[string]*service{}}
}

// RegisterTaskDefinition registers doc (register input JSON) and returns its ARN.
func (s *Server) RegisterTaskDefinition(doc string) (string, error) {
	var body map[string]any
	if err := json.Unmarshal([]byte(doc), &body); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	td, err := s.register(body)
	if err != nil {
		return "", err
	}
	return td.arn, nil
}

// ServiceSpec describes a service to create; it starts settled on TaskDefinition.
type ServiceSpec struct {
	Cluster, Name, TaskDefinition string
	DesiredCount                  int
	CircuitBreaker, Rollback      bool
	Controller                    string // ECS (default), CODE_DEPLOY or EXTERNAL
	// DeploymentConfiguration is more of the service's deploymentConfiguration as wire JSON
	// (say {"strategy":"BLUE_GREEN","bakeTimeInMinutes":5}); its keys win over the above.
	DeploymentConfiguration string
}

// CreateService adds a settled service.
func (s *Server) CreateService(spec ServiceSpec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clusters[spec.Cluster]
	if c == nil {
		return fmt.Errorf("no cluster %s", spec.Cluster)
	}
	td, err := s.resolveTaskDef(spec.TaskDefinition)
	if err != nil {
		return err
	}
	if spec.Controller == "" {
		spec.Controller = "ECS"
	}
	config := map[string]any{
		"deploymentCircuitBreaker": map[string]any{"enable": spec.CircuitBreaker, "rollback": spec.Rollback},
		"maximumPercent":           200, "minimumHealthyPercent": 100, "strategy": "ROLLING",
	}
	if spec.DeploymentConfiguration != "" {
		if err := json.Unmarshal([]byte(spec.DeploymentConfiguration), &config); err != nil {
			return err
		}
	}
	now := s.now()
	svc := &service{name: spec.Name, arn: fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", Region, Account, c.name, spec.Name),
		clusterArn: c.arn, status: "ACTIVE", desired: spec.DesiredCount, taskDef: td.arn,
		config: config, controller: spec.Controller, lastStep: now,
		launchType: "FARGATE", network: map[string]any{"awsvpcConfiguration": map[string]any{"subnets": []string{"subnet-0a1b2c3d"}, "assignPublicIp": "DISABLED"}}}
	d := &deployment{id: "ecs-svc/" + s.nextID(), status: "PRIMARY", taskDef: td.arn, desired: spec.DesiredCount,
		running: spec.DesiredCount, rolloutState: "COMPLETED", rolloutReason: "ECS deployment completed.", created: now, updated: now}
	svc.deployments = []*deployment{d}
	sd := s.newServiceDeployment(svc, d, now)
	sd.status, sd.started, sd.finished, sd.stage = "SUCCESSFUL", now, now, ""
	sd.reason = "Service deployment completed successfully."

	for i := 0; i < spec.DesiredCount; i++ {
		s.startTask(c, svc, d, td, now)
	}
	svc.addEvent(now, fmt.Sprintf("(service %s) has reached a steady state.", svc.name))
	c.services[spec.Name] = svc
	return nil
}

// SetServiceStatus sets a service's status (DRAINING, INACTIVE), or removes it when status
// is "" so that DescribeServices reports it MISSING.
func (s *Server) SetServiceStatus(cluster, name, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clusters[cluster]
	if status == "" {
		delete(c.services, name)
		return
	}
	c.services[name].status = status
}

func (svc *service) addEvent(at time.Time, msg string) {
	e := event{id: fmt.Sprintf("%s-%d", svc.name, len(svc.events)+1), message: msg, at: at}
	svc.events = append([]event{e}, svc.events...)
	if len(svc.events) > 100 {
		svc.events = svc.events[:100]
	}
}

func (s *Server) behaviorOf(td *taskDef) Behavior {
	var b Behavior
	for _, img := range td.images() {
		if bb, ok := s.behaviors[img]; ok {
			if bb.Fail || bb.StartEvery > b.StartEvery {
				b = bb
			}
			if bb.Fail {
				break
			}
		}
	}
	return b
}

func (s *Server) startTask(c *cluster, svc *service, d *deployment, td *taskDef, at time.Time) *task {
	t := &task{arn: fmt.Sprintf("arn:aws:ecs:%s:%s:task/%s/%s", Region, Account, c.name, s.nextID()),
		taskDef: td.arn, group: "service:" + svc.name, startedBy: d.id, lastStatus: "RUNNING", desiredStatus: "RUNNING", created: at}
	for _, n := range td.containerNames() {
		t.containers = append(t.containers, container{name: n})
	}
	c.tasks = append(c.tasks, t)
	return t
}

func stopTask(t *task, at time.Time, reason string) {
	t.lastStatus, t.desiredStatus, t.stoppedReason, t.stopped = "STOPPED", "STOPPED", reason, at
}

func (s *Server) serviceWire(svc *service) map[string]any {
	running, pending := 0, 0
	var deps []map[string]any
	for _, d := range svc.deployments {
		running += d.running
		pending += d.pending
		deps = append(deps, map[string]any{
			"id": d.id, "status": d.status, "taskDefinition": d.taskDef, "desiredCount": d.desired,
			"runningCount": d.running, "pendingCount": d.pending, "failedTasks": d.failed,
			"createdAt": epoch(d.created), "updatedAt": epoch(d.updated), "launchType": svc.launchType,
			"rolloutState": d.rolloutState, "rolloutStateReason": d.rolloutReason,
		})
	}
	var evs []map[string]any
	for _, e := range svc.events {
		evs = append(evs, map[string]any{"id": e.id, "createdAt": epoch(e.at), "message": e.message})
	}
	out := map[string]any{
		"serviceArn": svc.arn, "serviceName": svc.name, "clusterArn": svc.clusterArn, "status": svc.status,
		"desiredCount": svc.desired, "runningCount": running, "pendingCount": pending, "launchType": svc.launchType,
		"taskDefinition": svc.taskDef, "deployments": deps, "events": evs,
		"networkConfiguration":    svc.network,
		"deploymentController":    map[string]any{"type": svc.controller},
		"deploymentConfiguration": svc.config,
	}
	if svc.current != nil && !s.NoServiceDeployments {
		out["currentServiceDeployment"] = svc.current.arn
	}
	return out
}

func (t *task) wire() map[string]any {
	var cs []map[string]any
	for _, c := range t.containers {
		m := map[string]any{"name": c.name, "lastStatus": t.lastStatus, "taskArn": t.arn}
		if c.reason != "" {
			m["reason"] = c.reason
		}
		if c.exitCode != nil {
			m["exitCode"] = *c.exitCode
		}
		cs = append(cs, m)
	}
	out := map[string]any{"taskArn": t.arn, "taskDefinitionArn": t.taskDef, "group": t.group, "startedBy": t.startedBy,
		"lastStatus": t.lastStatus, "desiredStatus": t.desiredStatus, "containers": cs, "createdAt": epoch(t.created)}
	if t.lastStatus == "STOPPED" {
		out["stoppedReason"] = t.stoppedReason
		out["stoppedAt"] = epoch(t.stopped)
		out["stopCode"] = "EssentialContainerExited"
	}
	if t.overrides != nil {
		out["overrides"] = t.overrides
	}
	return out
}
