package ec2

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
	"github.com/stevedore-dev/stevedore/internal/poll"
)

const (
	maxPollInterval = 15 * time.Second
	stderrLimit     = 8000 // what GetCommandInvocation returns of stderr at most
)

// command is one SendCommand: what runs, where, how many at once.
type command struct {
	kind     string // deploy, verify or rollback: for events and errors
	phase    string // the lifecycle phase it runs (ApplicationStop, Install, ...), if any
	document string
	params   map[string][]string
	ids      []string          // at most 50
	tags     map[string]string // instead of ids
	maxConc  string
	maxErrs  string
}

func (t *Target) shellParams(commands []string) map[string][]string {
	return t.shellParamsFor(commands, t.opts.ExecutionTimeout)
}

// shellParamsFor is AWS-RunShellScript's parameters for commands with an executionTimeout
// (zero: Options.ExecutionTimeout, or SSM's default).
func (t *Target) shellParamsFor(commands []string, timeout time.Duration) map[string][]string {
	p := map[string][]string{"commands": commands}
	if t.opts.WorkingDirectory != "" {
		p["workingDirectory"] = []string{t.opts.WorkingDirectory}
	}
	if timeout <= 0 {
		timeout = t.opts.ExecutionTimeout
	}
	if timeout > 0 {
		p["executionTimeout"] = []string{strconv.Itoa(int(timeout / time.Second))}
	}
	return p
}

func (t *Target) sendInput(c command) *ssm.SendCommandInput {
	in := &ssm.SendCommandInput{
		DocumentName:   aws.String(c.document),
		Parameters:     c.params,
		MaxConcurrency: aws.String(c.maxConc),
		MaxErrors:      aws.String(c.maxErrs),
		Comment:        aws.String(truncateComment("stevedore " + c.label() + " " + t.Name())),
	}
	if len(c.tags) > 0 {
		keys := make([]string, 0, len(c.tags))
		for k := range c.tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			in.Targets = append(in.Targets, ssmtypes.Target{Key: aws.String("tag:" + k), Values: []string{c.tags[k]}})
		}
	} else {
		in.InstanceIds = c.ids
	}
	if t.opts.DeliveryTimeout > 0 {
		in.TimeoutSeconds = aws.Int32(int32(t.opts.DeliveryTimeout / time.Second))
	}
	if t.opts.OutputS3Bucket != "" {
		in.OutputS3BucketName = aws.String(t.opts.OutputS3Bucket)
		if t.opts.OutputS3KeyPrefix != "" {
			in.OutputS3KeyPrefix = aws.String(t.opts.OutputS3KeyPrefix)
		}
	}
	if t.opts.CloudWatchLogGroup != "" {
		in.CloudWatchOutputConfig = &ssmtypes.CloudWatchOutputConfig{CloudWatchOutputEnabled: true, CloudWatchLogGroupName: aws.String(t.opts.CloudWatchLogGroup)}
	}
	return in
}

func truncateComment(s string) string {
	if len(s) > 100 {
		return s[:100]
	}
	return s
}

// label names a command in events: its lifecycle phase, or its kind.
func (c command) label() string {
	if c.phase != "" && c.phase != install {
		return c.kind + " " + c.phase
	}
	return c.kind
}

// sent is a command sent and not yet seen to end: what a snapshot keeps of it, so that a
// restored plan can wait on it or cancel it.
type sent struct {
	ID        string   `json:"id"`
	Kind      string   `json:"kind"`            // deploy, verify or rollback
	Phase     string   `json:"phase,omitempty"` // the lifecycle phase, if any
	Instances []string `json:"instances"`       // the ones it went to (for tags, the usable ones)
}

func (c sent) label() string { return command{kind: c.Kind, phase: c.Phase}.label() }

// run sends c and waits until every invocation has finished, reporting progress. When ctx
// ends first it cancels the command and returns ctx's error as ErrCanceled or ErrTimeout.
func (p *Plan) run(ctx context.Context, c command, emit deploy.EventFunc) (Summary, error) {
	s, err := p.send(ctx, c, emit)
	if err != nil {
		return Summary{}, err
	}
	return p.await(ctx, s, emit)
}

// send sends c and notes it in flight until await sees it end. A deploy command is on record
// (the plan's snapshot names its instances, and an event passes) before it is sent, so that a
// plan restored after a crash in between rolls them back; when the call fails in a way that
// leaves unknown whether SSM took it, its instances count as touched.
func (p *Plan) send(ctx context.Context, c command, emit deploy.EventFunc) (sent, error) {
	t := p.t
	to := c.ids
	if to == nil {
		to = p.usable // the tags reach the usable instances
	}
	if c.kind == "deploy" {
		p.mu.Lock()
		p.sending = slices.Clone(to)
		p.mu.Unlock()
		emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseApply, Counts: deploy.Counts{Desired: len(to)},
			Message: fmt.Sprintf("sending the %s command to %d instances", c.label(), len(to))})
	}
	out, err := t.ssm.SendCommand(ctx, t.sendInput(c))
	p.mu.Lock()
	p.sending = nil
	if err != nil && c.kind == "deploy" && awserr.Transient(err) {
		for _, id := range to {
			p.touched[id] = true
		}
	}
	p.mu.Unlock()
	if err != nil {
		return sent{}, awserr.WrapHints(t.Name(), "send "+c.kind+" command", err, awserr.Hints{
			deploy.ErrInvalid:      "check the document, its parameters and the instances' SSM agents",
			deploy.ErrNotFound:     "check the document name and the instance IDs",
			deploy.ErrAccessDenied: "the credentials need ssm:SendCommand on the document and the instances",
		})
	}
	s := sent{ID: aws.ToString(out.Command.CommandId), Kind: c.kind, Phase: c.phase, Instances: to}
	p.mu.Lock()
	p.inflight[s.ID] = s
	p.mu.Unlock()
	t.log.DebugContext(ctx, "sent command", "target", t.Name(), "kind", c.kind, "command", s.ID, "instances", len(c.ids), "max_concurrency", c.maxConc, "max_errors", c.maxErrs)
	return s, nil
}

// await waits until every invocation of the command c has finished, reporting progress, and
// explains the failures. When ctx ends first it cancels the command and returns ctx's error
// as ErrCanceled or ErrTimeout.
func (p *Plan) await(ctx context.Context, c sent, emit deploy.EventFunc) (Summary, error) {
	t, id := p.t, c.ID
	defer func() {
		p.mu.Lock()
		delete(p.inflight, id)
		p.mu.Unlock()
	}()
	emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseWait, Counts: deploy.Counts{Desired: len(c.Instances)},
		Message: fmt.Sprintf("%s command %s sent to %d instances", c.label(), id, len(c.Instances))})
	var (
		last    deploy.Counts
		summary Summary
	)
	look := func(ctx context.Context) (poll.Look, error) {
		lc, err := t.ssm.ListCommands(ctx, &ssm.ListCommandsInput{CommandId: aws.String(id)})
		if err != nil {
			return poll.Look{}, err
		}
		if len(lc.Commands) == 0 {
			return poll.Look{}, nil // not visible yet
		}
		cmd := lc.Commands[0]
		counts := deploy.Counts{Desired: int(cmd.TargetCount), Updated: int(cmd.CompletedCount - cmd.ErrorCount),
			Failed: int(cmd.ErrorCount), Pending: int(cmd.TargetCount - cmd.CompletedCount)}
		finished := terminalCommand(cmd.Status) && cmd.CompletedCount >= cmd.TargetCount
		var results []Result
		if finished || cmd.TargetCount <= 50 {
			// One page shows who is running; at the end every invocation is checked.
			if results, err = p.invocations(ctx, id, !finished); err != nil {
				return poll.Look{}, err
			}
			s := Summarize(results)
			counts.Pending, counts.Running = s.Pending, s.InProgress
		}
		if counts != last {
			last = counts
			emit.Emit(deploy.Event{Target: t.Name(), Phase: deploy.PhaseWait, Counts: counts,
				Message: fmt.Sprintf("%s: %d/%d succeeded, %d failed, %d running, %d pending", c.label(), counts.Updated, counts.Desired, counts.Failed, counts.Running, counts.Pending)})
		}
		if !finished || len(results) < int(cmd.TargetCount) {
			return poll.Look{}, nil // running, or the invocation list lags the counts for a moment
		}
		summary = Summarize(results)
		return poll.Look{Done: true}, nil
	}
	policy := poll.Policy{Interval: t.opts.PollInterval, Growth: 1, Max: maxPollInterval, Transient: poll.TransientFor(ctx, 8), Classify: awserr.Classify}
	err := poll.Until(ctx, policy, look, func(err error, attempt int) {
		t.log.DebugContext(ctx, "watching the command failed transiently; will look again", "target", t.Name(), "command", id, "err", err, "attempt", attempt)
	})
	switch {
	case ctx.Err() != nil:
		p.cancel(ctx, c)
		return Summary{}, t.ctxErr(ctx, c.Kind+" command "+id)
	case err != nil:
		p.cancel(ctx, c)
		var de *deploy.Error
		if errors.As(err, &de) {
			return Summary{}, err
		}
		return Summary{}, awserr.Wrap(t.Name(), "watch "+c.Kind+" command "+id, err, "the command was cancelled")
	}
	if c.Kind == "deploy" {
		p.markTouched(summary.Results)
	}
	p.explain(ctx, id, summary.Results)
	return summary, nil
}

func terminalCommand(s ssmtypes.CommandStatus) bool {
	switch s {
	case ssmtypes.CommandStatusSuccess, ssmtypes.CommandStatusFailed, ssmtypes.CommandStatusCancelled, ssmtypes.CommandStatusTimedOut:
		return true
	}
	return false
}

// invocations lists a command's invocations, page by page (one page if onePage).
func (p *Plan) invocations(ctx context.Context, id string, onePage bool) ([]Result, error) {
	var results []Result
	pg := ssm.NewListCommandInvocationsPaginator(p.t.ssm, &ssm.ListCommandInvocationsInput{CommandId: aws.String(id), MaxResults: aws.Int32(50)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, awserr.Wrap(p.t.Name(), "list invocations of command "+id, err, "")
		}
		for _, inv := range page.CommandInvocations {
			results = append(results, Result{Instance: aws.ToString(inv.InstanceId), Status: string(inv.Status), Details: aws.ToString(inv.StatusDetails)})
		}
		if onePage {
			break
		}
	}
	return results, nil
}

func (p *Plan) markTouched(results []Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range results {
		if r.Touched() {
			p.touched[r.Instance] = true
		}
	}
}

// cancel stops a command the caller gave up on. For a deploy command it first learns which
// instances the command reached (running or done): those are rolled back; pending ones are
// not. An invocation that starts between that listing and the cancellation is missed.
func (p *Plan) cancel(ctx context.Context, c sent) {
	id := c.ID
	// On a context of its own, since the caller's has usually ended, keeping its values.
	ctx, done := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer done()
	if c.Kind == "deploy" {
		results, err := p.invocations(ctx, id, false)
		if err != nil || len(results) == 0 {
			// Right after SendCommand the invocations are not listed yet, though the command
			// may already have reached the instances: roll them all back to be safe.
			p.t.log.WarnContext(ctx, "could not list what the cancelled command reached; treating every target as touched", "target", p.t.Name(), "command", id, "err", err)
			p.mu.Lock()
			for _, i := range c.Instances {
				p.touched[i] = true
			}
			p.mu.Unlock()
		}
		p.markTouched(results)
		if len(results) > 0 && !slices.ContainsFunc(results, func(r Result) bool { return !r.Done() }) {
			return // it had ended (a restored plan learns it here): nothing to cancel
		}
	}
	if _, err := p.t.ssm.CancelCommand(ctx, &ssm.CancelCommandInput{CommandId: aws.String(id)}); err != nil {
		p.t.log.WarnContext(ctx, "could not cancel the command", "target", p.t.Name(), "command", id, "err", err)
	}
}

// explain fills in the exit code and the tail of stderr of the first failed instances that ran.
func (p *Plan) explain(ctx context.Context, id string, results []Result) {
	n := 0
	for i := range results {
		r := &results[i]
		if !r.Done() || r.Succeeded() || r.Details == "Undeliverable" || r.Details == "DeliveryTimedOut" || r.Details == "Terminated" {
			continue
		}
		if n++; n > 5 {
			return
		}
		var out *ssm.GetCommandInvocationOutput
		look := func(ctx context.Context) (poll.Look, error) {
			var err error
			out, err = p.t.ssm.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: aws.String(id), InstanceId: aws.String(r.Instance)})
			return poll.Look{Done: err == nil}, err
		}
		notYetVisible := func(err error) (bool, bool) { // just sent: not visible yet
			var ae interface{ ErrorCode() string }
			return errors.As(err, &ae) && ae.ErrorCode() == "InvocationDoesNotExist", false
		}
		if poll.Until(ctx, poll.Policy{Interval: time.Second, Growth: 1, Transient: 2, Classify: notYetVisible}, look, nil) != nil {
			if ctx.Err() != nil {
				return
			}
			continue
		}
		stderr := aws.ToString(out.StandardErrorContent)
		why := fmt.Sprintf("exit %d", out.ResponseCode)
		if s := tail(stderr, 5, 400); s != "" {
			why += ", stderr: " + s
		}
		if len(stderr) >= stderrLimit {
			why += " (stderr cut by SSM at 8,000 characters"
			switch {
			case p.t.opts.OutputS3Bucket != "":
				why += "; full output in s3://" + p.t.opts.OutputS3Bucket + "/" + p.t.opts.OutputS3KeyPrefix + ")"
			case p.t.opts.CloudWatchLogGroup != "":
				why += "; full output in CloudWatch Logs " + p.t.opts.CloudWatchLogGroup + ")"
			default:
				why += "; set OutputS3Bucket or CloudWatchLogGroup for full output)"
			}
		}
		r.Why = why
	}
}

// ctxErr reports that ctx ended while op was under way.
func (t *Target) ctxErr(ctx context.Context, op string) error {
	return deploy.ContextError(ctx.Err(), t.Name(), op, "the command was cancelled")
}
