// Package ec2test is an EC2 and SSM Run Command simulator for tests, in the style of
// net/http/httptest; [Server.Config] hands out an aws.Config for the real SDK clients. It is
// an in-process EC2 (DescribeInstances and CreateTags, in the EC2 query protocol), SSM Run
// Command (JSON 1.1), Elastic Load Balancing v2 target groups and Auto Scaling groups (both
// awsquery), so the EC2 target can be tested with the real SDK clients: a fleet of instances
// with tags, zones, states and SSM agents (online, offline, missing),
// commands whose invocations run on a clock with MaxConcurrency and MaxErrors, per-instance
// outcomes a test scripts (success, failure, undeliverable, delivery and execution
// timeouts), cancellation, output truncation and the InvocationDoesNotExist window right
// after SendCommand; target groups whose targets drain for the deregistration delay, pass
// health checks after a while or fail them as a test scripts; Auto Scaling groups whose
// processes can be suspended, and that launch and terminate instances when a test says.
// Parameter Store calls go to an embedded secretstest.Server.
package ec2test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stevedore-dev/stevedore/credentials/secretstest"
	"github.com/stevedore-dev/stevedore/internal/awsfake"
)

// Fault is an error the server answers instead of doing the call.
type Fault = awsfake.Fault

// Agent is the state of an instance's SSM agent.
type Agent int

const (
	Online         Agent = iota // registered and reachable
	ConnectionLost              // registered, not reachable: commands are not delivered
	Unmanaged                   // not registered with SSM at all
)

// Instance is one EC2 instance of the fleet.
type Instance struct {
	ID    string
	State string // running (default), stopped, terminated, ...
	Tags  map[string]string
	Agent Agent
	// Zone is its availability zone; empty means us-east-1a, b and c in turn, in the order
	// instances are added.
	Zone string
}

// zones are the availability zones instances are spread over.
var zones = []string{"us-east-1a", "us-east-1b", "us-east-1c"}

// Invocation is what the script decides on: one command on one instance.
type Invocation struct {
	InstanceID string
	Document   string
	Commands   []string // the commands parameter, for AWS-RunShellScript
	Parameters map[string][]string
}

// Outcome is how an invocation ends.
type Outcome struct {
	// Status: Success (default), Failed, TimedOut (ExecutionTimedOut), Undeliverable,
	// DeliveryTimedOut.
	Status   string
	Duration time.Duration // running time; 0 means 10 s
	Exit     int
	Stdout   string
	Stderr   string
}

// Server is the fake. Its zero value is not usable; call New.
type Server struct {
	// DeliveryDelay is how long an invocation stays Pending before it runs; New sets 1 s.
	DeliveryDelay time.Duration
	// NotYetVisible is how long after SendCommand GetCommandInvocation answers
	// InvocationDoesNotExist and ListCommandInvocations answers empty; New sets 2 s.
	NotYetVisible time.Duration
	// PageSize is the most a paginated call returns at once; New sets 50.
	PageSize int
	// PS answers Parameter Store calls.
	PS *secretstest.Server

	log awsfake.Log

	mu        sync.Mutex
	now       func() time.Time
	instances map[string]*Instance
	order     []string
	commands  map[string]*command
	cmdOrder  []string
	script    func(Invocation) Outcome
	seq       int

	groups      []*targetGroup // ELBv2 target groups, in creation order
	healthCheck func(instanceID string) string
	asgs        []*asg // Auto Scaling groups, in creation order
}

// New returns an empty fleet; now is its clock (time.Now if nil).
func New(now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	return &Server{
		DeliveryDelay: time.Second,
		NotYetVisible: 2 * time.Second,
		PageSize:      50,
		PS:            secretstest.New(),
		now:           now,
		instances:     map[string]*Instance{},
		commands:      map[string]*command{},
		script:        func(Invocation) Outcome { return Outcome{} },
	}
}

// AddInstances adds instances to the fleet.
func (s *Server) AddInstances(insts ...Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range insts {
		in := in
		if in.State == "" {
			in.State = "running"
		}
		if in.Tags == nil {
			in.Tags = map[string]string{}
		}
		if in.Zone == "" {
			in.Zone = zones[len(s.order)%len(zones)]
			if old := s.instances[in.ID]; old != nil {
				in.Zone = old.Zone
			}
		}
		if _, ok := s.instances[in.ID]; !ok {
			s.order = append(s.order, in.ID)
		}
		s.instances[in.ID] = &in
	}
}

// Fleet adds n running, online instances i-0000..., tagged with tags, and returns their IDs.
func (s *Server) Fleet(n int, tags map[string]string) []string {
	var ids []string
	base := len(s.order)
	for i := range n {
		t := map[string]string{}
		for k, v := range tags {
			t[k] = v
		}
		id := fmt.Sprintf("i-%017x", base+i+1)
		s.AddInstances(Instance{ID: id, Tags: t})
		ids = append(ids, id)
	}
	return ids
}

// SetAgent changes an instance's SSM agent state.
func (s *Server) SetAgent(id string, a Agent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.instances[id].Agent = a
}

// SetState changes an instance's state (running, stopped, ...).
func (s *Server) SetState(id, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.instances[id].State = state
}

// Tags returns an instance's tags.
func (s *Server) Tags(id string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, v := range s.instances[id].Tags {
		out[k] = v
	}
	return out
}

// Script sets how invocations end.
func (s *Server) Script(f func(Invocation) Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = f
}

// Inject makes the next f.Times calls of op fail with f.
func (s *Server) Inject(op string, f Fault) { s.log.Inject(op, f) }

// Requests returns the bodies of the calls made to op (EC2 calls as form-encoded bodies).
func (s *Server) Requests(op string) []json.RawMessage { return s.log.Requests(op) }

// Call is one call made, as History reports it: its operation and request body.
type Call = awsfake.Call

// History returns the calls made (Parameter Store's aside), in order.
func (s *Server) History() []Call { return s.log.History() }

// Calls returns how many calls were made to op.
func (s *Server) Calls(op string) int { return s.log.Calls(op) }

// TotalCalls returns how many calls were made in all, Parameter Store's included.
func (s *Server) TotalCalls() int { return s.log.TotalCalls() + s.PS.TotalCalls() }

// Config returns an aws.Config whose EC2 and SSM clients reach the simulator in-process,
// with throwaway credentials, in region us-east-1.
func (s *Server) Config() aws.Config { return awsfake.Config(s, "us-east-1") }

// HTTPClient returns a client that hands requests straight to the server, with no sockets.
func (s *Server) HTTPClient() *http.Client { return awsfake.Client(s) }

// Ran returns, for each command sent, its commands parameter and the instances it reached
// (invocations that started running), in order.
func (s *Server) Ran() []Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var out []Run
	for _, id := range s.cmdOrder {
		c := s.commands[id]
		r := Run{CommandID: id, Commands: c.params["commands"]}
		for _, inv := range c.invs {
			if !inv.start.IsZero() && !inv.start.After(now) && inv.outcome.Status != "Undeliverable" && inv.outcome.Status != "DeliveryTimedOut" {
				r.Instances = append(r.Instances, inv.instance)
			}
		}
		sort.Strings(r.Instances)
		out = append(out, r)
	}
	return out
}

// Run is one command sent, as Ran reports it.
type Run struct {
	CommandID string
	Commands  []string
	Instances []string
}

// ServeHTTP answers an EC2 query call or an SSM JSON call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		awsfake.WriteError(w, 400, "SerializationException", err.Error())
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		op, ok := strings.CutPrefix(target, "AmazonSSM.")
		h, known := ssmHandlers[op]
		if !ok || !known {
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			s.PS.ServeHTTP(w, r) // Parameter Store
			return
		}
		f := s.log.Record(op, body)
		if f != nil && !f.Lost {
			f.Write(w)
			return
		}
		s.mu.Lock()
		out, err := h(s, body)
		s.mu.Unlock()
		if f != nil { // Lost: done, and the answer never arrives
			f.Write(w)
			return
		}
		awsfake.Answer(w, out, err)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		ec2Error(w, "InvalidParameterValue", err.Error())
		return
	}
	op := form.Get("Action")
	if f := s.log.Record(op, body); f != nil {
		if f.Reset || f.Lost {
			f.Write(w) // (a Lost EC2 call is not carried out either)
			return
		}
		st := f.Status
		if st == 0 {
			st = 400
		}
		w.WriteHeader(st)
		ec2ErrorBody(w, f.Code, "injected "+f.Code)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := queryHandlers[op]; ok { // Elastic Load Balancing v2, Auto Scaling
		out, err := h.do(s, form)
		answerQuery(w, op, h.namespace, out, err)
		return
	}
	switch op {
	case "DescribeInstances":
		s.describeInstances(w, form)
	case "CreateTags":
		s.createTags(w, form)
	default:
		ec2Error(w, "InvalidAction", "ec2test does not implement "+op)
	}
}

var errf = awsfake.Errorf
