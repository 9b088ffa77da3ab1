// Package awsfake holds what the in-process AWS fakes share: an http.Client that hands
// requests straight to a handler (no sockets, so tests run in a testing/synctest bubble),
// the awsJson1_1 error format, scripted faults and a log of the calls made.
package awsfake

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Client returns an http.Client whose requests h answers in-process.
func Client(h http.Handler) *http.Client { return &http.Client{Transport: transport{h}} }

type transport struct{ h http.Handler }

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	if rec.Header().Get(resetHeader) != "" {
		// The connection dropped under the call: what net/http returns for a TCP RST.
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	}
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// Config returns an aws.Config whose SDK clients send every request to h in-process, with
// throwaway static credentials.
func Config(h http.Handler, region string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDSIMULATOR", "not-a-secret", ""),
		HTTPClient:   Client(h),
		BaseEndpoint: aws.String("http://aws.simulator"),
	}
}

// resetHeader marks an answer the transport turns into a reset connection.
const resetHeader = "X-Awsfake-Connection-Reset"

// WriteError answers with an AWS JSON 1.1 error.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

// WriteJSON answers with an AWS JSON 1.1 result.
func WriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

// Fault is an error a fake answers instead of doing the call.
type Fault struct {
	Code    string // error type, e.g. ThrottlingException or AccessDeniedException
	Status  int    // HTTP status; 0 means 400
	Message string
	Times   int  // how many calls it answers; < 0 means all
	Reset   bool // no answer: the connection is reset (through Client's transport)
	// Lost makes the fake carry the call out and then lose its answer (a reset connection):
	// what a client sees when a response is dropped after the service acted.
	Lost bool
}

// Write answers with f.
func (f *Fault) Write(w http.ResponseWriter) {
	if f.Reset || f.Lost {
		w.Header().Set(resetHeader, "1")
		return
	}
	st, msg := f.Status, f.Message
	if st == 0 {
		st = 400
	}
	if msg == "" {
		msg = "injected " + f.Code
	}
	WriteError(w, st, f.Code, msg)
}

// Log records calls by operation and hands out injected faults. Its zero value is ready.
type Log struct {
	mu       sync.Mutex
	requests map[string][]json.RawMessage
	history  []Call
	faults   map[string][]*Fault
}

// Call is one logged call: its operation and request body.
type Call struct {
	Op   string
	Body json.RawMessage
}

// History returns every call logged, in order.
func (l *Log) History() []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Call(nil), l.history...)
}

// Inject makes the next f.Times calls of op fail with f.
func (l *Log) Inject(op string, f Fault) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.faults == nil {
		l.faults = map[string][]*Fault{}
	}
	l.faults[op] = append(l.faults[op], &f)
}

// Record logs a call of op and returns the fault it must answer with, if any.
func (l *Log) Record(op string, body []byte) *Fault {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.requests == nil {
		l.requests = map[string][]json.RawMessage{}
	}
	l.requests[op] = append(l.requests[op], json.RawMessage(body))
	l.history = append(l.history, Call{op, json.RawMessage(body)})
	fs := l.faults[op]
	if len(fs) == 0 {
		return nil
	}
	f := fs[0]
	if f.Times > 0 {
		f.Times--
		if f.Times == 0 {
			l.faults[op] = fs[1:]
		}
	}
	return f
}

// Requests returns the bodies of the calls made to op, including those answered with a fault.
func (l *Log) Requests(op string) []json.RawMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]json.RawMessage(nil), l.requests[op]...)
}

// Calls returns how many calls were made to op.
func (l *Log) Calls(op string) int { return len(l.Requests(op)) }

// TotalCalls returns how many calls were made in all.
func (l *Log) TotalCalls() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.requests {
		n += len(r)
	}
	return n
}

// APIError is an error a fake's handler returns to answer with that error code.
type APIError struct{ Code, Message string }

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *APIError.
func Errorf(code, format string, args ...any) error {
	return &APIError{code, fmt.Sprintf(format, args...)}
}

// Decode reads a JSON request body into v, or returns a SerializationException.
func Decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return Errorf("SerializationException", "%v", err)
	}
	return nil
}

// Answer writes a handler's result: out as JSON, or err as an AWS JSON error (an *APIError
// keeps its code; anything else is a SerializationException).
func Answer(w http.ResponseWriter, out any, err error) {
	if err != nil {
		ae, ok := err.(*APIError)
		if !ok {
			ae = &APIError{"SerializationException", err.Error()}
		}
		WriteError(w, 400, ae.Code, ae.Message)
		return
	}
	WriteJSON(w, out)
}

// Page returns one page of items for a token made by an earlier page ("" for the first):
// at most pageSize, or max when it is smaller and positive, and the next token (nil at the end).
func Page[T any](items []T, token string, max, pageSize int) ([]T, *string, error) {
	start := 0
	if token != "" {
		if _, err := fmt.Sscanf(token, "t%d", &start); err != nil || start < 0 || start > len(items) {
			return nil, nil, Errorf("InvalidNextToken", "the next token %q is not valid", token)
		}
	}
	n := pageSize
	if max > 0 && max < n {
		n = max
	}
	end := min(start+n, len(items))
	var next *string
	if end < len(items) {
		t := fmt.Sprintf("t%d", end)
		next = &t
	}
	return items[start:end], next, nil
}
