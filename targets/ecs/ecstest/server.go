// Package ecstest is an ECS simulator for tests, in the style of net/http/httptest: an
// in-process ECS that speaks the service's JSON 1.1 wire protocol, so the real SDK client
// (built from [Server.Config]) can be tested against it with no AWS account and no sockets.
// Deployments progress with time (the caller's clock, so testing/synctest drives it), as
// service deployments of every strategy (ROLLING, BLUE_GREEN, LINEAR, CANARY): lifecycle
// stages, bakes, traffic shifts, the circuit breaker and its threshold, alarms
// ([Server.FireAlarm]), Lambda and PAUSE lifecycle hooks ([Server.SetHook]),
// ContinueServiceDeployment and StopServiceDeployment. Images given a failing [Behavior] make
// tasks stop with reasons; [Server.Inject] answers calls with faults. With
// NoServiceDeployments it is an ECS without the service-deployment API, as moto is.
package ecstest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stevedore-dev/stevedore/internal/awsfake"
)

const (
	targetPrefix = "AmazonEC2ContainerServiceV20141113."
	Region       = "us-east-1"
	Account      = "123456789012"
)

// Behavior scripts what tasks running an image do.
type Behavior struct {
	// StartEvery is how long each task takes to start; 0 means the server's StepInterval.
	StartEvery time.Duration
	// Fail makes every task stop right after it starts.
	Fail bool
	// StoppedReason, ContainerReason and ExitCode describe a failed task; a nil ExitCode
	// means the container never ran (say, the image could not be pulled).
	StoppedReason   string
	ContainerReason string
	ExitCode        *int
}

// Fault is an error the server answers instead of doing the call.
type Fault = awsfake.Fault

// Server is the fake. Its zero value is not usable; call New.
type Server struct {
	// StepInterval is how often a deployment makes progress; New sets 10s.
	StepInterval time.Duration
	// Minute is how long a minute of a deployment's bake times and hook timeouts lasts; New
	// sets time.Minute, and a demo may shorten it.
	Minute time.Duration
	// NoServiceDeployments makes the fake an ECS without the service-deployment API (older
	// regions, moto): services have no currentServiceDeployment and the
	// *ServiceDeployment(s) and DescribeServiceRevisions operations are unknown.
	NoServiceDeployments bool

	mu        sync.Mutex
	now       func() time.Time
	taskDefs  map[string]*taskDef // by ARN
	latest    map[string]int      // family -> highest revision
	clusters  map[string]*cluster
	behaviors map[string]Behavior   // by image
	hooks     map[string]HookScript // by hook target ARN
	alarms    map[string]time.Time  // alarm name -> when it goes into ALARM
	revisions map[string]*revision  // service revisions by ARN
	sdeps     map[string]*svcDeployment
	log       awsfake.Log
	seq       int
}

// New returns a fake ECS whose clock is now (time.Now if nil).
func New(now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	return &Server{
		StepInterval: 10 * time.Second,
		Minute:       time.Minute,
		now:          now,
		taskDefs:     map[string]*taskDef{},
		latest:       map[string]int{},
		clusters:     map[string]*cluster{},
		behaviors:    map[string]Behavior{},
		hooks:        map[string]HookScript{},
		alarms:       map[string]time.Time{},
		revisions:    map[string]*revision{},
		sdeps:        map[string]*svcDeployment{},
	}
}

// SetBehavior scripts the tasks that run image.
func (s *Server) SetBehavior(image string, b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.behaviors[image] = b
}

// Inject makes the next f.Times calls of op (e.g. "DescribeServices") fail with f.
func (s *Server) Inject(op string, f Fault) { s.log.Inject(op, f) }

// Requests returns the bodies of the calls made to op, including those answered with a fault.
func (s *Server) Requests(op string) []json.RawMessage { return s.log.Requests(op) }

// Calls returns how many calls were made to op.
func (s *Server) Calls(op string) int { return s.log.Calls(op) }

// TotalCalls returns how many calls were made in all.
func (s *Server) TotalCalls() int { return s.log.TotalCalls() }

// Config returns an aws.Config whose SDK clients reach the simulator in-process, with
// throwaway credentials, in region us-east-1: awsecs.NewFromConfig(srv.Config()).
func (s *Server) Config() aws.Config { return awsfake.Config(s, Region) }

// HTTPClient returns a client that hands requests straight to the server's handler, with no
// sockets, so tests run inside a testing/synctest bubble.
func (s *Server) HTTPClient() *http.Client { return awsfake.Client(s) }

// ServeHTTP answers one ECS call in the awsJson1_1 protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	if r.Method != http.MethodPost || !ok {
		writeErr(w, 400, "UnknownOperationException", "expected POST with X-Amz-Target "+targetPrefix+"<Operation>")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeErr(w, 400, "SerializationException", err.Error())
		return
	}
	calls := s.log.Calls(op) + 1
	f := s.log.Record(op, body)
	if f != nil && !f.Lost {
		f.Write(w)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := handlers[op]
	if !ok || s.NoServiceDeployments && deploymentOps[op] {
		writeErr(w, 400, "UnknownOperationException", "ecsfake does not implement "+op)
		return
	}
	out, err := h(s, body)
	if f != nil { // Lost: done, and the answer never arrives
		f.Write(w)
		return
	}
	if err != nil {
		var ae *apiError
		if e, ok := err.(*apiError); ok {
			ae = e
		} else {
			ae = &apiError{"SerializationException", err.Error()}
		}
		writeErr(w, 400, ae.code, ae.msg)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", fmt.Sprintf("fake-%d", calls))
	_ = json.NewEncoder(w).Encode(out)
}

type apiError struct{ code, msg string }

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func clientErr(format string, args ...any) error {
	return &apiError{"ClientException", fmt.Sprintf(format, args...)}
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	awsfake.WriteError(w, status, code, msg)
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func (s *Server) nextID() string {
	s.seq++
	return fmt.Sprintf("%012x", s.seq*7919)
}
