package gate_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/gate"
)

// One measurement's verdict on an HTTP answer, one condition per row.
func TestHTTPVerdict(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthy":
			_, _ = w.Write([]byte(`{"status":"ok","version":"v2"}`))
		case "/down":
			http.Error(w, "upstream connect error", http.StatusServiceUnavailable)
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/cached":
			w.WriteHeader(http.StatusNotModified)
		case "/auth":
			if r.Header.Get("Authorization") != "Bearer s3cr3t" {
				http.Error(w, "no", http.StatusUnauthorized)
			}
		}
	}))
	defer srv.Close()
	tests := []struct {
		name, path string
		opts       *gate.HTTPOptions
		verdict    deploy.Verdict
		evidence   string
	}{
		{"2xx passes", "/healthy", nil, deploy.Pass, `GET ` + srv.URL + `/healthy: 200 OK in `},
		{"5xx fails, quoting the body", "/down", nil, deploy.Fail, `503 Service Unavailable in `},
		{"the body is quoted", "/down", nil, deploy.Fail, `: upstream connect error`},
		{"any 2xx passes by default", "/empty", nil, deploy.Pass, "204 No Content"},
		{"3xx fails by default", "/cached", nil, deploy.Fail, "304 Not Modified"},
		{"statuses can be listed", "/empty", &gate.HTTPOptions{Status: []int{200}}, deploy.Fail, "204 No Content"},
		{"a body that matches passes", "/healthy", &gate.HTTPOptions{Body: regexp.MustCompile(`"version":"v2"`)}, deploy.Pass, `"version":"v2"`},
		{"a body that does not match fails", "/healthy", &gate.HTTPOptions{Body: regexp.MustCompile(`"version":"v3"`)}, deploy.Fail, `the body does not match "version":"v3"`},
		{"headers are sent", "/auth", &gate.HTTPOptions{Header: http.Header{"Authorization": {"Bearer s3cr3t"}}}, deploy.Pass, "200 OK"},
		{"the method is set", "/healthy", &gate.HTTPOptions{Method: http.MethodHead}, deploy.Pass, "HEAD "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := gate.HTTP(srv.URL+tc.path, tc.opts).Measure(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if m.Verdict != tc.verdict || !strings.Contains(m.Evidence, tc.evidence) {
				t.Errorf("%s: %q, want %s with %q", m.Verdict, m.Evidence, tc.verdict, tc.evidence)
			}
			if strings.Contains(m.Evidence, "s3cr3t") {
				t.Errorf("the evidence shows a header's value: %q", m.Evidence)
			}
		})
	}
}

// No answer fails the measurement; the URL's query and user info, which may hold secrets,
// appear neither in the evidence nor in the check's name.
func TestHTTPNoAnswerAndRedaction(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(200 * time.Millisecond) }))
	defer srv.Close()
	for _, u := range []string{
		"http://user:pa55@127.0.0.1:1/health?token=t0ken",                           // refused
		strings.Replace(srv.URL, "://", "://user:pa55@", 1) + "/health?token=t0ken", // too slow
	} {
		c := gate.HTTP(u, &gate.HTTPOptions{Client: &http.Client{Timeout: 50 * time.Millisecond}})
		m, err := c.Measure(t.Context())
		if err != nil || m.Verdict != deploy.Fail || !strings.Contains(m.Evidence, "no answer") {
			t.Errorf("%s: %v %+v", u, err, m)
		}
		for _, secret := range []string{"t0ken", "pa55", "user"} {
			if strings.Contains(m.Evidence, secret) || strings.Contains(c.Name(), secret) {
				t.Errorf("%q shows up: %q / %q", secret, m.Evidence, c.Name())
			}
		}
	}
}
