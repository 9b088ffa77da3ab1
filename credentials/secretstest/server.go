// Package secretstest is a Secrets Manager, Parameter Store and CodeBuild simulator for
// tests, in the style of net/http/httptest; [Server.Config] hands out an aws.Config for the
// real SDK clients. It is an in-process Secrets Manager, Parameter Store and CodeBuild
// (source credentials only) speaking the services' JSON 1.1 wire protocol, so the real SDK
// clients can be tested against it: versions, stages and labels, GetParameters' batch rules,
// BatchGetSecretValue's per-secret errors, paging, per-resource denials, faults and gates
// that hold calls until a test releases them.
package secretstest

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
	Region  = "us-east-1"
	Account = "123456789012"
)

// Fault is an error the server answers instead of doing the call.
type Fault = awsfake.Fault

// Server is the fake. Its zero value is not usable; call New.
type Server struct {
	// PageSize is the most items a paginated call returns at once; New sets 10.
	PageSize int

	log awsfake.Log

	mu      sync.Mutex
	secrets map[string]*secret // by name
	params  map[string]*param  // by name
	creds   map[string]*sourceCred
	denied  map[string]bool // secret names and parameter names
	gates   map[string]chan struct{}
	seq     int
}

// New returns an empty fake.
func New() *Server {
	return &Server{
		PageSize: 10,
		secrets:  map[string]*secret{},
		params:   map[string]*param{},
		creds:    map[string]*sourceCred{},
		denied:   map[string]bool{},
		gates:    map[string]chan struct{}{},
	}
}

// Inject makes the next f.Times calls of op (e.g. "GetParameters") fail with f.
func (s *Server) Inject(op string, f Fault) { s.log.Inject(op, f) }

// Requests returns the bodies of the calls made to op, including those answered with a fault.
func (s *Server) Requests(op string) []json.RawMessage { return s.log.Requests(op) }

// Calls returns how many calls were made to op.
func (s *Server) Calls(op string) int { return s.log.Calls(op) }

// TotalCalls returns how many calls were made in all.
func (s *Server) TotalCalls() int { return s.log.TotalCalls() }

// Config returns an aws.Config whose Secrets Manager, SSM and CodeBuild clients reach the
// simulator in-process, with throwaway credentials, in region us-east-1.
func (s *Server) Config() aws.Config { return awsfake.Config(s, Region) }

// HTTPClient returns a client that hands requests straight to the server, with no sockets.
func (s *Server) HTTPClient() *http.Client { return awsfake.Client(s) }

// Deny makes reads of the secret or parameter with this name fail with AccessDenied, as a
// resource policy or a missing IAM grant would.
func (s *Server) Deny(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[name] = true
}

// Hold makes calls of op wait until release is called; calls already waiting and calls made
// after release go on.
func (s *Server) Hold(op string) (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.gates[op] = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.gates, op)
			s.mu.Unlock()
			close(ch)
		})
	}
}

var prefixes = []string{"secretsmanager.", "AmazonSSM.", "CodeBuild_20161006."}

// ServeHTTP answers one call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	var op string
	for _, p := range prefixes {
		if o, ok := strings.CutPrefix(target, p); ok {
			op = o
		}
	}
	if r.Method != http.MethodPost || op == "" {
		awsfake.WriteError(w, 400, "UnknownOperationException", "expected POST with a Secrets Manager, SSM or CodeBuild X-Amz-Target")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		awsfake.WriteError(w, 400, "SerializationException", err.Error())
		return
	}
	if f := s.log.Record(op, body); f != nil {
		f.Write(w)
		return
	}
	s.mu.Lock()
	gate := s.gates[op]
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			awsfake.WriteError(w, 400, "RequestCanceled", "the caller went away")
			return
		}
	}
	h, ok := handlers[op]
	if !ok {
		awsfake.WriteError(w, 400, "UnknownOperationException", "secretstest does not implement "+op)
		return
	}
	s.mu.Lock()
	out, err := h(s, body)
	s.mu.Unlock()
	awsfake.Answer(w, out, err)
}

type apiError = awsfake.APIError

var errf = awsfake.Errorf

var handlers = map[string]func(*Server, []byte) (any, error){
	// Secrets Manager
	"CreateSecret":             (*Server).createSecret,
	"PutSecretValue":           (*Server).putSecretValue,
	"GetSecretValue":           (*Server).getSecretValue,
	"BatchGetSecretValue":      (*Server).batchGetSecretValue,
	"DescribeSecret":           (*Server).describeSecret,
	"DeleteSecret":             (*Server).deleteSecret,
	"ListSecrets":              (*Server).listSecrets,
	"UpdateSecretVersionStage": (*Server).updateSecretVersionStage,
	// Parameter Store
	"PutParameter":          (*Server).putParameter,
	"GetParameter":          (*Server).getParameter,
	"GetParameters":         (*Server).getParameters,
	"GetParametersByPath":   (*Server).getParametersByPath,
	"DeleteParameter":       (*Server).deleteParameter,
	"DeleteParameters":      (*Server).deleteParameters,
	"DescribeParameters":    (*Server).describeParameters,
	"LabelParameterVersion": (*Server).labelParameterVersion,
	// CodeBuild
	"ImportSourceCredentials": (*Server).importSourceCredentials,
	"ListSourceCredentials":   (*Server).listSourceCredentials,
	"DeleteSourceCredentials": (*Server).deleteSourceCredentials,
}

var decode = awsfake.Decode

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func (s *Server) nextID() string {
	s.seq++
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", s.seq, s.seq*7919)
}

// page returns one page of items, PageSize at most.
func page[T any](s *Server, items []T, token string, max int) ([]T, *string, error) {
	return awsfake.Page(items, token, max, s.PageSize)
}
