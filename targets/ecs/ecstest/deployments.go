package ecstest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Service deployments, as ECS reports them since 2024: every UpdateService that starts a
// deployment makes one, which walks the lifecycle stages of its strategy (ROLLING,
// BLUE_GREEN, LINEAR or CANARY) one step at a time, runs lifecycle hooks, watches alarms and
// the circuit breaker, and ends SUCCESSFUL, STOPPED or rolled back.

// HookScript scripts what an AWS_LAMBDA lifecycle hook answers.
type HookScript struct {
	Status string        // SUCCEEDED (the default) or FAILED
	After  time.Duration // how long the hook answers IN_PROGRESS first
}

// SetHook scripts the Lambda hook whose function ARN is target.
func (s *Server) SetHook(target string, h HookScript) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks[target] = h
}

// FireAlarm puts the CloudWatch alarm name into ALARM from at on; a zero at clears it.
func (s *Server) FireAlarm(name string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alarms[name] = at
}

type revision struct {
	arn, serviceArn, clusterArn, taskDef string
	created                              time.Time
}

type hookConfig struct {
	HookTargetArn        string
	TargetType           string
	LifecycleStages      []string
	TimeoutConfiguration *struct {
		TimeoutInMinutes int
		Action           string
	}
}

// deployConfig is the part of deploymentConfiguration the fake acts on.
type deployConfig struct {
	Strategy            string
	BakeTimeInMinutes   int
	LinearConfiguration *struct {
		StepPercent           float64
		StepBakeTimeInMinutes int
	}
	CanaryConfiguration *struct {
		CanaryPercent           float64
		CanaryBakeTimeInMinutes int
	}
	Alarms *struct {
		AlarmNames       []string
		Enable, Rollback bool
	}
	DeploymentCircuitBreaker *struct {
		Enable, Rollback       bool
		ThresholdConfiguration *struct {
			Type  string
			Value float64
		}
	}
	EarlySuccessCriteria *struct {
		Enable                       bool
		HealthyPercent               float64
		SourceServiceRevisionCleanup string
	}
	LifecycleHooks []hookConfig
}

func parseConfig(m map[string]any) (deployConfig, error) {
	var c deployConfig
	b, err := json.Marshal(m)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if c.Strategy == "" {
		c.Strategy = "ROLLING"
	}
	return c, err
}

type hookRun struct {
	id, stage, status string
	hook              hookConfig
	started, expires  time.Time
}

func (h *hookRun) timeoutAction() string {
	if t := h.hook.TimeoutConfiguration; t != nil && t.Action != "" {
		return t.Action
	}
	return "ROLLBACK"
}

type svcDeployment struct {
	arn                  string
	svc                  *service
	cfg                  deployConfig
	raw                  map[string]any
	status, stage        string
	reason               string
	target               *deployment
	source               []*deployment
	created, updated     time.Time
	started, finished    time.Time
	stopped, stageStart  time.Time
	stepEnds             time.Time // linear and canary: when the current step's bake ends
	traffic, testTraffic float64
	threshold            int
	cbTripped            bool
	triggered            []string
	hooks                []*hookRun // the current stage's
	rollbackReason       string
	rollbackAt           time.Time
	rollbackTo           *revision
}

func (sd *svcDeployment) inFlight() bool {
	switch sd.status {
	case "PENDING", "IN_PROGRESS", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "STOP_REQUESTED":
		return true
	}
	return false
}

var stagesOf = map[bool][]string{
	false: {"PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "BAKE_TIME", "CLEAN_UP"}, // ROLLING
	true: {"PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT",
		"PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP"},
}

func (sd *svcDeployment) shifts() bool { return sd.cfg.Strategy != "ROLLING" }

// newServiceDeployment starts the service deployment that takes svc to d.
func (s *Server) newServiceDeployment(svc *service, d *deployment, at time.Time) *svcDeployment {
	svc.revisions++
	cluster := svc.clusterArn[strings.LastIndex(svc.clusterArn, "/")+1:]
	rev := &revision{arn: fmt.Sprintf("arn:aws:ecs:%s:%s:service-revision/%s/%s/%d", Region, Account, cluster, svc.name, 4000000+svc.revisions),
		serviceArn: svc.arn, clusterArn: svc.clusterArn, taskDef: d.taskDef, created: at}
	s.revisions[rev.arn] = rev
	d.rev = rev
	raw := map[string]any{}
	for k, v := range svc.config {
		raw[k] = v
	}
	cfg, _ := parseConfig(raw)
	sd := &svcDeployment{arn: fmt.Sprintf("arn:aws:ecs:%s:%s:service-deployment/%s/%s/%s", Region, Account, cluster, svc.name, s.nextID()),
		svc: svc, cfg: cfg, raw: raw, status: "PENDING", target: d, created: at, updated: at}
	for _, old := range svc.deployments {
		if old != d && old.running > 0 {
			sd.source = append(sd.source, old)
		}
	}
	sd.threshold = threshold(cfg, svc.desired)
	if cur := svc.current; cur != nil && cur.inFlight() {
		cur.status, cur.stopped, cur.updated = "STOPPED", at, at
		cur.reason = "Service deployment stopped: superseded by service deployment " + sd.arn[strings.LastIndex(sd.arn, "/")+1:] + "."
	}
	svc.current = sd
	s.sdeps[sd.arn] = sd
	return sd
}

// start moves a new service deployment into its first stage.
func (s *Server) start(sd *svcDeployment, at time.Time) {
	sd.status, sd.started = "IN_PROGRESS", at
	s.enter(sd, stagesOf[sd.shifts()][0], at)
}

// threshold is the circuit breaker's failed-task count: 50% of desired, at least 3 and at most
// 200, unless thresholdConfiguration says otherwise.
func threshold(cfg deployConfig, desired int) int {
	pct, lo, hi := 50.0, 3, 200
	if cb := cfg.DeploymentCircuitBreaker; cb != nil && cb.ThresholdConfiguration != nil {
		switch tc := cb.ThresholdConfiguration; tc.Type {
		case "COUNT":
			return max(1, int(tc.Value))
		case "UNBOUNDED_PERCENT":
			pct, lo, hi = tc.Value, 1, 1<<30
		default:
			pct = tc.Value
		}
	}
	return max(lo, min(hi, int(float64(desired)*pct/100+0.999)))
}

func (s *Server) enter(sd *svcDeployment, stage string, at time.Time) {
	sd.stage, sd.stageStart, sd.hooks = stage, at, nil
	for _, h := range sd.cfg.LifecycleHooks {
		for _, st := range h.LifecycleStages {
			if st != stage {
				continue
			}
			run := &hookRun{id: s.nextID(), stage: stage, status: "IN_PROGRESS", hook: h, started: at, expires: at.Add(60 * s.Minute)}
			if t := h.TimeoutConfiguration; t != nil && t.TimeoutInMinutes > 0 {
				run.expires = at.Add(time.Duration(t.TimeoutInMinutes) * s.Minute)
			}
			if h.TargetType == "PAUSE" {
				run.status = "AWAITING_ACTION"
			}
			sd.hooks = append(sd.hooks, run)
		}
	}
	if stage == "PRODUCTION_TRAFFIC_SHIFT" {
		sd.stepEnds = at
	}
}

// busy reports whether svc still has work to do as time passes.
func busy(svc *service) bool {
	if sd := svc.current; sd != nil && sd.inFlight() {
		return true
	}
	p := svc.deployments[0]
	return (p.rolloutState == "IN_PROGRESS" || len(svc.deployments) > 1) && p.rolloutState != "FAILED"
}

// advance moves a service forward to now, one step at a time.
func (s *Server) advance(c *cluster, svc *service) {
	now := s.now()
	for busy(svc) {
		step := s.behaviorOf(s.taskDefs[svc.deployments[0].taskDef]).StartEvery
		if step <= 0 {
			step = s.StepInterval
		}
		next := svc.lastStep.Add(step)
		if next.After(now) {
			return
		}
		svc.lastStep = next
		s.tick(c, svc, next)
	}
	svc.lastStep = now
}

func (s *Server) tick(c *cluster, svc *service, at time.Time) {
	sd := svc.current
	if !sd.inFlight() {
		s.rollStep(c, svc, at) // old tasks left to drain after an early success
		return
	}
	sd.updated = at
	if sd.status == "ROLLBACK_IN_PROGRESS" {
		s.rollbackStep(c, svc, sd, at)
		return
	}
	if sd.status == "PENDING" {
		s.start(sd, at)
	}
	if s.alarmed(sd, at) {
		return
	}
	for sd.status == "IN_PROGRESS" && s.stageWork(c, svc, sd, at) && sd.status == "IN_PROGRESS" {
		stages := stagesOf[sd.shifts()]
		i := 0
		for i < len(stages) && stages[i] != sd.stage {
			i++
		}
		if i+1 >= len(stages) {
			s.succeed(sd, at)
			return
		}
		s.enter(sd, stages[i+1], at)
	}
}

// stageWork does one step of the current stage and reports whether the stage is over.
func (s *Server) stageWork(c *cluster, svc *service, sd *svcDeployment, at time.Time) bool {
	if !s.hooksPass(sd, at) {
		return false
	}
	switch sd.stage {
	case "SCALE_UP":
		p := sd.target
		if !sd.shifts() {
			s.rollStep(c, svc, at)
			if es := sd.cfg.EarlySuccessCriteria; es != nil && es.Enable && es.SourceServiceRevisionCleanup == "DEFERRED" &&
				float64(p.running)*100 >= es.HealthyPercent*float64(p.desired) && p.rolloutState != "FAILED" {
				s.succeed(sd, at) // old tasks drain later
				return false
			}
			return p.rolloutState == "COMPLETED"
		}
		if p.running < p.desired {
			s.startOne(c, svc, p, at)
		}
		return p.running >= p.desired
	case "TEST_TRAFFIC_SHIFT":
		sd.testTraffic = 100
	case "PRODUCTION_TRAFFIC_SHIFT":
		if at.Before(sd.stepEnds) {
			return false
		}
		switch cfg := sd.cfg; {
		case cfg.Strategy == "LINEAR" && cfg.LinearConfiguration != nil && sd.traffic < 100:
			sd.traffic = min(100, sd.traffic+cfg.LinearConfiguration.StepPercent)
			sd.stepEnds = at.Add(time.Duration(cfg.LinearConfiguration.StepBakeTimeInMinutes) * s.Minute)
		case cfg.Strategy == "CANARY" && cfg.CanaryConfiguration != nil && sd.traffic == 0:
			sd.traffic = cfg.CanaryConfiguration.CanaryPercent
			sd.stepEnds = at.Add(time.Duration(cfg.CanaryConfiguration.CanaryBakeTimeInMinutes) * s.Minute)
		default:
			sd.traffic = 100
		}
		svc.addEvent(at, fmt.Sprintf("(service %s) shifted %g%% of production traffic to service revision %s.", svc.name, sd.traffic, lastPart(sd.target.rev.arn)))
		return sd.traffic >= 100
	case "BAKE_TIME":
		return !at.Before(sd.stageStart.Add(time.Duration(sd.cfg.BakeTimeInMinutes) * s.Minute))
	case "CLEAN_UP":
		if sd.shifts() {
			s.drainAll(c, svc, sd.target, at)
		}
	}
	return true
}

// hooksPass moves the current stage's hooks on and reports whether all of them passed; a
// failed hook, or one that timed out with action ROLLBACK, rolls the deployment back.
func (s *Server) hooksPass(sd *svcDeployment, at time.Time) bool {
	pending := false
	for _, h := range sd.hooks {
		switch h.status {
		case "IN_PROGRESS":
			scr := s.hooks[h.hook.HookTargetArn]
			switch {
			case !at.Before(h.started.Add(scr.After)) && !h.started.Add(scr.After).After(h.expires):
				h.status = scr.Status
				if h.status == "" {
					h.status = "SUCCEEDED"
				}
			case !at.Before(h.expires):
				h.status = "TIMED_OUT"
			}
		case "AWAITING_ACTION":
			if !at.Before(h.expires) {
				h.status = "TIMED_OUT"
			}
		}
		switch {
		case h.status == "FAILED":
			s.rollback(sd, at, fmt.Sprintf("lifecycle hook %s failed in %s.", h.hook.HookTargetArn, h.stage))
			return false
		case h.status == "TIMED_OUT" && h.timeoutAction() == "ROLLBACK":
			s.rollback(sd, at, fmt.Sprintf("lifecycle hook %s timed out in %s.", h.hook.HookTargetArn, h.stage))
			return false
		case h.status == "IN_PROGRESS" || h.status == "AWAITING_ACTION":
			pending = true
		}
	}
	return !pending
}

// alarmed checks the deployment's alarms and fails it when one is in ALARM.
func (s *Server) alarmed(sd *svcDeployment, at time.Time) bool {
	a := sd.cfg.Alarms
	if a == nil || !a.Enable {
		return false
	}
	var fired []string
	for _, n := range a.AlarmNames {
		if t := s.alarms[n]; !t.IsZero() && !at.Before(t) {
			fired = append(fired, n)
		}
	}
	if len(fired) == 0 {
		return false
	}
	sd.triggered = fired
	s.fail(sd, at, fmt.Sprintf("CloudWatch alarm(s) %s went into ALARM.", strings.Join(fired, ", ")), a.Rollback)
	return true
}

// fail ends a deployment that went wrong: rolled back when rollback is on, else STOPPED.
func (s *Server) fail(sd *svcDeployment, at time.Time, reason string, rollback bool) {
	svc := sd.svc
	if rollback {
		s.rollback(sd, at, reason)
		return
	}
	sd.status, sd.stopped, sd.reason = "STOPPED", at, "Service deployment failed: "+reason
	sd.target.rolloutState, sd.target.rolloutReason = "FAILED", reason
	svc.addEvent(at, fmt.Sprintf("(service %s) (deployment %s) deployment failed: %s", svc.name, sd.target.id, eventReason(reason)))
}

// eventReason is how a service event words a failure: "tasks failed to start." for the
// circuit breaker.
func eventReason(reason string) string {
	return strings.TrimPrefix(reason, "ECS deployment circuit breaker: ")
}

const circuitBreakerReason = "ECS deployment circuit breaker: tasks failed to start."

// rollback returns the service to the last deployment that COMPLETED (which need not be the
// one this deployment replaced: that one may itself have been in progress).
func (s *Server) rollback(sd *svcDeployment, at time.Time, reason string) {
	svc := sd.svc
	p := sd.target
	p.rolloutState, p.rolloutReason = "FAILED", reason
	var prev *deployment
	for _, d := range svc.deployments {
		if d != p && d.rolloutState == "COMPLETED" {
			prev = d
			break
		}
	}
	sd.rollbackReason, sd.rollbackAt, sd.reason = reason, at, reason
	sd.traffic, sd.testTraffic = 0, 0 // the hooks stay listed as they ended
	if prev == nil {
		sd.status, sd.finished = "ROLLBACK_FAILED", at
		sd.reason += " No completed service revision to roll back to."
		return
	}
	sd.status, sd.rollbackTo = "ROLLBACK_IN_PROGRESS", prev.rev
	svc.addEvent(at, fmt.Sprintf("(service %s) (deployment %s) deployment failed: %s", svc.name, p.id, eventReason(reason)))
	svc.addEvent(at, fmt.Sprintf("(service %s) rolling back to deployment %s.", svc.name, prev.id))
	svc.taskDef = prev.taskDef
	p.status = "ACTIVE"
	if sd.shifts() { // blue still runs: it takes production back at once
		prev.status = "PRIMARY"
		rest := []*deployment{prev}
		for _, d := range svc.deployments {
			if d != prev {
				rest = append(rest, d)
			}
		}
		svc.deployments = rest
		return
	}
	running := 0
	for _, d := range svc.deployments {
		if d != p {
			running += d.running
			d.running = 0
		}
	}
	rb := &deployment{id: "ecs-svc/" + s.nextID(), status: "PRIMARY", taskDef: prev.taskDef, desired: svc.desired,
		running: min(running, svc.desired), rolloutState: "IN_PROGRESS", rolloutReason: "ECS deployment " + p.id + " rolling back.",
		created: at, updated: at, rev: prev.rev}
	svc.deployments = []*deployment{rb, p}
}

func (s *Server) rollbackStep(c *cluster, svc *service, sd *svcDeployment, at time.Time) {
	s.rollStep(c, svc, at)
	if len(svc.deployments) == 1 {
		sd.status, sd.finished = "ROLLBACK_SUCCESSFUL", at
	}
}

func (s *Server) succeed(sd *svcDeployment, at time.Time) {
	svc := sd.svc
	sd.status, sd.finished, sd.reason = "SUCCESSFUL", at, "Service deployment completed successfully."
	p := sd.target
	if len(svc.deployments) == 1 {
		p.rolloutState, p.rolloutReason = "COMPLETED", "ECS deployment "+p.id+" completed."
	}
	svc.addEvent(at, fmt.Sprintf("(service %s) (service deployment %s) completed successfully.", svc.name, lastPart(sd.arn)))
}

// startOne starts a task of deployment p; a task of a failing image stops at once and counts
// against the circuit breaker.
func (s *Server) startOne(c *cluster, svc *service, p *deployment, at time.Time) {
	p.updated = at
	td := s.taskDefs[p.taskDef]
	b := s.behaviorOf(td)
	t := s.startTask(c, svc, p, td, at)
	svc.addEvent(at, fmt.Sprintf("(service %s) has started 1 tasks: (task %s).", svc.name, lastPart(t.arn)))
	if !b.Fail {
		p.running++
		return
	}
	reason := b.StoppedReason
	if reason == "" {
		reason = "Essential container in task exited"
	}
	for i, img := range td.images() {
		if s.behaviors[img].Fail && i < len(t.containers) { // only the failing image's container is to blame
			t.containers[i].reason = b.ContainerReason
			t.containers[i].exitCode = b.ExitCode
		}
	}
	stopTask(t, at, reason)
	p.failed++
	sd := svc.current
	cb := sd.cfg.DeploymentCircuitBreaker
	if sd.target != p || !sd.inFlight() || sd.status == "ROLLBACK_IN_PROGRESS" || cb == nil || !cb.Enable || p.failed < sd.threshold {
		return
	}
	sd.cbTripped = true
	s.fail(sd, at, circuitBreakerReason, cb.Rollback)
}

// rollStep is one step of a rolling update: start one task of the PRIMARY deployment if it
// is short, stop one task of an older one, and complete the PRIMARY when it runs alone.
func (s *Server) rollStep(c *cluster, svc *service, at time.Time) {
	p := svc.deployments[0]
	if p.rolloutState == "FAILED" {
		return
	}
	if p.running < p.desired {
		s.startOne(c, svc, p, at)
		if p.rolloutState == "FAILED" || svc.deployments[0] != p {
			return
		}
	}
	for _, old := range svc.deployments[1:] {
		if old.running > 0 {
			s.stopOne(c, svc, old, p, at)
			break
		}
	}
	drained := true
	for _, old := range svc.deployments[1:] {
		drained = drained && old.running == 0
	}
	if p.running >= p.desired && drained && (p.rolloutState == "IN_PROGRESS" || len(svc.deployments) > 1) {
		if !p.settling { // ECS sees the new tasks healthy and the old ones gone for a step first
			p.settling = true
			return
		}
		svc.deployments = svc.deployments[:1]
		p.rolloutState, p.rolloutReason = "COMPLETED", "ECS deployment "+p.id+" completed."
		svc.addEvent(at, fmt.Sprintf("(service %s) (deployment %s) deployment completed.", svc.name, p.id))
		svc.addEvent(at, fmt.Sprintf("(service %s) has reached a steady state.", svc.name))
	}
}

func (s *Server) stopOne(c *cluster, svc *service, old, by *deployment, at time.Time) {
	old.running--
	for _, t := range c.tasks {
		if t.startedBy == old.id && t.lastStatus == "RUNNING" {
			stopTask(t, at, "Scaling activity initiated by (deployment "+by.id+")")
			break
		}
	}
	svc.addEvent(at, fmt.Sprintf("(service %s) has stopped 1 running tasks.", svc.name))
}

// drainAll stops every task not of deployment keep: a blue/green clean-up.
func (s *Server) drainAll(c *cluster, svc *service, keep *deployment, at time.Time) {
	for _, old := range svc.deployments {
		for old != keep && old.running > 0 {
			s.stopOne(c, svc, old, keep, at)
		}
	}
	svc.deployments = []*deployment{keep}
	keep.status = "PRIMARY"
	keep.rolloutState, keep.rolloutReason = "COMPLETED", "ECS deployment "+keep.id+" completed."
	svc.addEvent(at, fmt.Sprintf("(service %s) has reached a steady state.", svc.name))
}

func lastPart(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

func (s *Server) serviceDeploymentWire(sd *svcDeployment) map[string]any {
	weights := func(d *deployment, prod, test float64) map[string]any {
		m := map[string]any{"arn": d.rev.arn, "requestedTaskCount": d.desired, "runningTaskCount": d.running, "pendingTaskCount": d.pending}
		if sd.shifts() {
			m["requestedProductionTrafficWeight"], m["requestedTestTrafficWeight"] = prod, test
		}
		return m
	}
	out := map[string]any{
		"serviceDeploymentArn": sd.arn, "serviceArn": sd.svc.arn, "clusterArn": sd.svc.clusterArn,
		"createdAt": epoch(sd.created), "updatedAt": epoch(sd.updated), "status": sd.status,
		"deploymentConfiguration": sd.raw,
		"targetServiceRevision":   weights(sd.target, sd.traffic, sd.testTraffic),
	}
	var src []any
	for _, d := range sd.source {
		src = append(src, weights(d, 100-sd.traffic, 100-sd.testTraffic))
	}
	if src != nil {
		out["sourceServiceRevisions"] = src
	}
	if sd.stage != "" {
		out["lifecycleStage"] = sd.stage
	}
	if sd.reason != "" {
		out["statusReason"] = sd.reason
	}
	for k, t := range map[string]time.Time{"startedAt": sd.started, "finishedAt": sd.finished, "stoppedAt": sd.stopped} {
		if !t.IsZero() {
			out[k] = epoch(t)
		}
	}
	if !sd.rollbackAt.IsZero() {
		rb := map[string]any{"reason": sd.rollbackReason, "startedAt": epoch(sd.rollbackAt)}
		if sd.rollbackTo != nil {
			rb["serviceRevisionArn"] = sd.rollbackTo.arn
		}
		out["rollback"] = rb
	}
	monitor := func(enabled, tripped bool) string {
		switch {
		case !enabled:
			return "DISABLED"
		case tripped:
			return "TRIGGERED"
		case sd.inFlight():
			return "MONITORING"
		}
		return "MONITORING_COMPLETE"
	}
	cb := sd.cfg.DeploymentCircuitBreaker
	out["deploymentCircuitBreaker"] = map[string]any{"status": monitor(cb != nil && cb.Enable, sd.cbTripped),
		"failureCount": sd.target.failed, "threshold": sd.threshold}
	if a := sd.cfg.Alarms; a != nil {
		out["alarms"] = map[string]any{"status": monitor(a.Enable, len(sd.triggered) > 0), "alarmNames": a.AlarmNames,
			"triggeredAlarmNames": append([]string{}, sd.triggered...)}
	}
	var hooks []any
	for _, h := range sd.hooks {
		hooks = append(hooks, map[string]any{"hookId": h.id, "status": h.status, "targetArn": h.hook.HookTargetArn,
			"targetType": h.hook.TargetType, "timeoutAction": h.timeoutAction(), "expiresAt": epoch(h.expires)})
	}
	if hooks != nil {
		out["lifecycleHookDetails"] = hooks
	}
	return out
}

// ConfigureService merges deploymentConfiguration (wire JSON) into a service's, as an
// UpdateService that changes nothing else would.
func (s *Server) ConfigureService(cluster, name, deploymentConfiguration string) error {
	var dc map[string]any
	if err := json.Unmarshal([]byte(deploymentConfiguration), &dc); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	svc := s.clusters[cluster].services[name]
	for k, v := range dc {
		svc.config[k] = v
	}
	_, err := parseConfig(svc.config)
	return err
}
