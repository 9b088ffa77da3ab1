package ec2test

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stevedore-dev/stevedore/internal/awsfake"
)

type command struct {
	id, doc       string
	comment       string
	params        map[string][]string
	requested     time.Time
	maxConc       int
	maxErrors     int
	maxConcRaw    string
	maxErrorsRaw  string
	timeout       time.Duration
	invs          []*invocation
	cancelled     time.Time
	instanceIDs   []string
	targets       []target
	outputS3      string
	cloudWatchLog string
}

type target struct {
	Key    string
	Values []string
}

type invocation struct {
	instance string
	outcome  Outcome
	start    time.Time // when it runs; zero: never
	end      time.Time // when it reaches its final status
	status   string    // final Status
	details  string    // final StatusDetails
}

var ssmHandlers = map[string]func(*Server, []byte) (any, error){
	"SendCommand":                 (*Server).sendCommand,
	"ListCommands":                (*Server).listCommands,
	"ListCommandInvocations":      (*Server).listCommandInvocations,
	"GetCommandInvocation":        (*Server).getCommandInvocation,
	"CancelCommand":               (*Server).cancelCommand,
	"DescribeInstanceInformation": (*Server).describeInstanceInformation,
}

var decode = awsfake.Decode

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// limit reads "N" or "N%" of total; at least 1 for concurrency.
func limit(raw string, total, def int) (int, error) {
	if raw == "" {
		return def, nil
	}
	if p, ok := strings.CutSuffix(raw, "%"); ok {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 100 {
			return 0, errf("ValidationException", "%q is not a percentage", raw)
		}
		return total * n / 100, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return 0, errf("ValidationException", "%q is not a number or a percentage", raw)
	}
	return n, nil
}

func (s *Server) sendCommand(body []byte) (any, error) {
	var in struct {
		Comment                string
		DocumentName           string
		InstanceIds            []string
		Targets                []target
		Parameters             map[string][]string
		MaxConcurrency         string
		MaxErrors              string
		TimeoutSeconds         int
		OutputS3BucketName     string
		CloudWatchOutputConfig *struct{ CloudWatchLogGroupName string }
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.DocumentName == "" {
		return nil, errf("ValidationException", "DocumentName is required")
	}
	if len(in.InstanceIds) > 50 {
		// What SSM really answers for more than 50 ids (botocore#993).
		return nil, errf("ThrottlingException", "Rate exceeded")
	}
	if (len(in.InstanceIds) == 0) == (len(in.Targets) == 0) {
		return nil, errf("ValidationException", "give InstanceIds or Targets")
	}
	if in.DocumentName == "AWS-RunShellScript" && len(in.Parameters["commands"]) == 0 {
		return nil, errf("InvalidParameters", "commands is required for AWS-RunShellScript")
	}
	var ids []string
	for _, id := range in.InstanceIds {
		inst, ok := s.instances[id]
		if !ok || inst.Agent == Unmanaged {
			return nil, errf("InvalidInstanceId", "Instances [[%s]] not in a valid state for account 123456789012", id)
		}
		ids = append(ids, id)
	}
	if len(in.Targets) > 0 {
		for _, id := range s.order {
			inst := s.instances[id]
			if inst.Agent == Unmanaged || inst.State == "terminated" {
				continue
			}
			ok := true
			for _, t := range in.Targets {
				switch {
				case strings.HasPrefix(t.Key, "tag:"):
					v, has := inst.Tags[t.Key[4:]]
					ok = ok && has && slices.Contains(t.Values, v)
				case t.Key == "InstanceIds":
					ok = ok && slices.Contains(t.Values, id)
				default:
					return nil, errf("ValidationException", "ec2test does not target by %s", t.Key)
				}
			}
			if ok {
				ids = append(ids, id)
			}
		}
	}
	s.seq++
	c := &command{id: fmt.Sprintf("%08x-0000-4000-8000-%012d", s.seq, s.seq), doc: in.DocumentName, comment: in.Comment, params: in.Parameters,
		requested: s.now(), instanceIDs: in.InstanceIds, targets: in.Targets, outputS3: in.OutputS3BucketName,
		maxConcRaw: in.MaxConcurrency, maxErrorsRaw: in.MaxErrors, timeout: time.Duration(in.TimeoutSeconds) * time.Second}
	if in.CloudWatchOutputConfig != nil {
		c.cloudWatchLog = in.CloudWatchOutputConfig.CloudWatchLogGroupName
	}
	if c.maxConcRaw == "" {
		c.maxConcRaw = "50"
	}
	if c.maxErrorsRaw == "" {
		c.maxErrorsRaw = "0"
	}
	if c.timeout == 0 {
		c.timeout = time.Hour
	}
	var err error
	if c.maxConc, err = limit(c.maxConcRaw, len(ids), 50); err != nil {
		return nil, err
	}
	c.maxConc = max(c.maxConc, 1)
	if c.maxErrors, err = limit(c.maxErrorsRaw, len(ids), 0); err != nil {
		return nil, err
	}
	for _, id := range ids {
		o := s.script(Invocation{InstanceID: id, Document: in.DocumentName, Commands: in.Parameters["commands"], Parameters: in.Parameters})
		if s.instances[id].Agent == ConnectionLost && o.Status == "" {
			o.Status = "DeliveryTimedOut"
		}
		if s.instances[id].State != "running" { // stopped or terminated since: nothing runs there
			o.Status = "Undeliverable"
		}
		if o.Status == "" {
			o.Status = "Success"
		}
		if o.Duration == 0 {
			o.Duration = 10 * time.Second
		}
		c.invs = append(c.invs, &invocation{instance: id, outcome: o})
	}
	s.schedule(c)
	s.commands[c.id] = c
	s.cmdOrder = append(s.cmdOrder, c.id)
	return map[string]any{"Command": s.commandOut(c)}, nil
}

// schedule works out when each invocation runs and ends: in order, MaxConcurrency at a
// time, and none started once more than MaxErrors have failed.
func (s *Server) schedule(c *command) {
	slots := make([]time.Time, c.maxConc)
	for i := range slots {
		slots[i] = c.requested
	}
	var errEnds []time.Time
	for _, inv := range c.invs {
		sort.Slice(slots, func(i, j int) bool { return slots[i].Before(slots[j]) })
		free := slots[0]
		start := free.Add(s.DeliveryDelay)
		sort.Slice(errEnds, func(i, j int) bool { return errEnds[i].Before(errEnds[j]) })
		if len(errEnds) > c.maxErrors && errEnds[c.maxErrors].Before(start) {
			inv.end, inv.status, inv.details = errEnds[c.maxErrors], "Cancelled", "Terminated"
			continue
		}
		o := inv.outcome
		switch o.Status {
		case "Undeliverable":
			inv.end, inv.status, inv.details = start, "Failed", "Undeliverable"
			slots[0] = start
		case "DeliveryTimedOut":
			inv.end, inv.status, inv.details = c.requested.Add(c.timeout), "TimedOut", "DeliveryTimedOut"
		case "TimedOut":
			inv.start, inv.end, inv.status, inv.details = start, start.Add(o.Duration), "TimedOut", "ExecutionTimedOut"
			slots[0] = inv.end
		case "Failed":
			inv.start, inv.end, inv.status, inv.details = start, start.Add(o.Duration), "Failed", "Failed"
			slots[0] = inv.end
		default:
			inv.start, inv.end, inv.status, inv.details = start, start.Add(o.Duration), "Success", "Success"
			slots[0] = inv.end
		}
		if inv.status != "Success" {
			errEnds = append(errEnds, inv.end)
		}
	}
}

// state is an invocation's Status and StatusDetails at now.
func (inv *invocation) state(c *command, now time.Time) (string, string) {
	if !c.cancelled.IsZero() && !now.Before(c.cancelled) && c.cancelled.Before(inv.end) {
		return "Cancelled", "Cancelled"
	}
	switch {
	case !now.Before(inv.end):
		return inv.status, inv.details
	case !inv.start.IsZero() && !now.Before(inv.start):
		return "InProgress", "InProgress"
	}
	return "Pending", "Pending"
}

func terminal(status string) bool {
	return status != "Pending" && status != "InProgress" && status != "Delayed" && status != "Cancelling"
}

func (s *Server) commandOut(c *command) map[string]any {
	now := s.now()
	completed, errs, dto := 0, 0, 0
	status := "Success"
	pending := true
	for _, inv := range c.invs {
		st, det := inv.state(c, now)
		if st != "Pending" {
			pending = false
		}
		if !terminal(st) {
			status = "InProgress"
			continue
		}
		completed++
		if st != "Success" {
			errs++
		}
		if det == "DeliveryTimedOut" {
			dto++
		}
	}
	if status != "InProgress" {
		// The command-level status hides undeliverable invocations: only execution failures,
		// timeouts and cancellation show (the trap the EC2 target must not fall into).
		for _, inv := range c.invs {
			st, det := inv.state(c, now)
			switch {
			case st == "Cancelled" && det == "Cancelled":
				status = "Cancelled"
			case det == "Failed" && status == "Success":
				status = "Failed"
			case det == "ExecutionTimedOut" && status == "Success":
				status = "TimedOut"
			}
		}
	} else if pending {
		status = "Pending"
	}
	out := map[string]any{
		"CommandId": c.id, "DocumentName": c.doc, "Comment": c.comment, "Status": status, "Parameters": c.params,
		"RequestedDateTime": epoch(c.requested), "TargetCount": len(c.invs), "CompletedCount": completed,
		"ErrorCount": errs, "DeliveryTimedOutCount": dto, "MaxConcurrency": c.maxConcRaw, "MaxErrors": c.maxErrorsRaw,
		"TimeoutSeconds": int(c.timeout / time.Second), "InstanceIds": c.instanceIDs, "Targets": c.targets,
	}
	if c.outputS3 != "" {
		out["OutputS3BucketName"] = c.outputS3
	}
	if c.cloudWatchLog != "" {
		out["CloudWatchOutputConfig"] = map[string]any{"CloudWatchLogGroupName": c.cloudWatchLog, "CloudWatchOutputEnabled": true}
	}
	return out
}

func (s *Server) listCommands(body []byte) (any, error) {
	var in struct {
		CommandId  string
		Filters    []struct{ Key, Value string }
		MaxResults int
		NextToken  string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.CommandId != "" {
		c, ok := s.commands[in.CommandId]
		if !ok {
			return nil, errf("InvalidCommandId", "")
		}
		return map[string]any{"Commands": []any{s.commandOut(c)}}, nil
	}
	var out []map[string]any
	for _, id := range slices.Backward(s.cmdOrder) { // newest first, as SSM lists them
		c := s.commandOut(s.commands[id])
		keep := true
		for _, f := range in.Filters {
			if f.Key != "Status" {
				return nil, errf("InvalidFilterKey", "ec2test filters commands by Status only")
			}
			keep = keep && c["Status"] == f.Value
		}
		if keep {
			out = append(out, c)
		}
	}
	page, next, err := awsfake.Page(out, in.NextToken, in.MaxResults, 50)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Commands": page, "NextToken": next}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func (s *Server) invocationOut(c *command, inv *invocation, details bool) map[string]any {
	st, det := inv.state(c, s.now())
	out := map[string]any{"CommandId": c.id, "InstanceId": inv.instance, "DocumentName": c.doc, "Status": st,
		"StatusDetails": det, "RequestedDateTime": epoch(c.requested)}
	if details {
		plugin := map[string]any{"Name": "aws:runShellScript", "Status": st, "StatusDetails": det}
		if terminal(st) && !inv.start.IsZero() {
			o := inv.outcome.Stdout + inv.outcome.Stderr
			if len(o) > 2500 {
				o = o[:2500] + "\n---Output truncated---"
			}
			plugin["Output"], plugin["ResponseCode"] = o, inv.outcome.Exit
		}
		out["CommandPlugins"] = []any{plugin}
	}
	return out
}

func (s *Server) listCommandInvocations(body []byte) (any, error) {
	var in struct {
		CommandId  string
		Details    bool
		MaxResults int
		NextToken  string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	c, ok := s.commands[in.CommandId]
	if !ok {
		return nil, errf("InvalidCommandId", "")
	}
	if s.now().Before(c.requested.Add(s.NotYetVisible)) {
		return map[string]any{"CommandInvocations": []any{}}, nil
	}
	if in.MaxResults > 50 {
		return nil, errf("ValidationException", "MaxResults is at most 50")
	}
	pg, next, err := awsfake.Page(c.invs, in.NextToken, in.MaxResults, s.PageSize)
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, inv := range pg {
		out = append(out, s.invocationOut(c, inv, in.Details))
	}
	return map[string]any{"CommandInvocations": out, "NextToken": next}, nil
}

func (s *Server) getCommandInvocation(body []byte) (any, error) {
	var in struct{ CommandId, InstanceId string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	c, ok := s.commands[in.CommandId]
	if !ok || s.now().Before(c.requested.Add(s.NotYetVisible)) {
		return nil, errf("InvocationDoesNotExist", "")
	}
	for _, inv := range c.invs {
		if inv.instance != in.InstanceId {
			continue
		}
		st, det := inv.state(c, s.now())
		out := map[string]any{"CommandId": c.id, "InstanceId": inv.instance, "DocumentName": c.doc, "Status": st,
			"StatusDetails": det, "PluginName": "aws:runShellScript", "ResponseCode": -1}
		if terminal(st) && !inv.start.IsZero() {
			out["ResponseCode"] = inv.outcome.Exit
			out["StandardOutputContent"] = truncate(inv.outcome.Stdout, 24000)
			out["StandardErrorContent"] = truncate(inv.outcome.Stderr, 8000)
		}
		return out, nil
	}
	return nil, errf("InvocationDoesNotExist", "")
}

func (s *Server) cancelCommand(body []byte) (any, error) {
	var in struct{ CommandId string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	c, ok := s.commands[in.CommandId]
	if !ok {
		return nil, errf("InvalidCommandId", "")
	}
	if c.cancelled.IsZero() {
		c.cancelled = s.now()
	}
	return map[string]any{}, nil
}

func (s *Server) describeInstanceInformation(body []byte) (any, error) {
	var in struct {
		Filters []struct {
			Key    string
			Values []string
		}
		MaxResults int
		NextToken  string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var ids []string
	for _, f := range in.Filters {
		if f.Key != "InstanceIds" {
			return nil, errf("InvalidFilterKey", "ec2test filters by InstanceIds only")
		}
		ids = append(ids, f.Values...)
	}
	var list []any
	for _, id := range s.order {
		inst := s.instances[id]
		if inst.Agent == Unmanaged || len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		ping := "Online"
		if inst.Agent == ConnectionLost {
			ping = "ConnectionLost"
		}
		list = append(list, map[string]any{"InstanceId": id, "PingStatus": ping, "PlatformType": "Linux", "ResourceType": "EC2Instance"})
	}
	pg, next, err := awsfake.Page(list, in.NextToken, in.MaxResults, s.PageSize)
	if err != nil {
		return nil, err
	}
	return map[string]any{"InstanceInformationList": pg, "NextToken": next}, nil
}
