package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stevedore-dev/stevedore/deploy"
)

// HTTPOptions tune HTTP. The zero value is ready to use.
type HTTPOptions struct {
	// Client makes the requests; nil means a client with a 10-second timeout.
	Client *http.Client
	// Method is the request's method; "" means GET.
	Method string
	// Header is added to each request (an authorization header, say: never reported).
	Header http.Header
	// Status lists the statuses that pass; nil means any 2xx.
	Status []int
	// Body, when set, must match the answer's body (its first 64 KiB).
	Body *regexp.Regexp
}

// HTTP is a check of an HTTP endpoint: a measurement passes when the answer's status is one
// that passes and its body matches; an answer that does not, or no answer at all (refused,
// timed out), fails it. The evidence quotes the status, the time taken and the body's start;
// the URL's query and user info are left out of it, as they may hold secrets.
func HTTP(rawURL string, opts *HTTPOptions) deploy.Check {
	h := &httpCheck{url: rawURL}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.Client == nil {
		h.opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if h.opts.Method == "" {
		h.opts.Method = http.MethodGet
	}
	h.shown = redact(rawURL)
	return h
}

type httpCheck struct {
	url, shown string
	opts       HTTPOptions
}

func (h *httpCheck) Name() string { return "http " + h.shown }

func (h *httpCheck) Measure(ctx context.Context) (deploy.Measurement, error) {
	req, err := http.NewRequestWithContext(ctx, h.opts.Method, h.url, nil)
	if err != nil {
		return deploy.Measurement{}, deploy.Errorf(deploy.ErrInvalid, "", "gate "+h.Name(), "cannot make the request: %v", redactErr(err, h.url, h.shown))
	}
	for k, vs := range h.opts.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	start := time.Now()
	resp, err := h.opts.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return deploy.Measurement{}, ctx.Err()
		}
		return deploy.Measurement{Verdict: deploy.Fail, Evidence: fmt.Sprintf("%s %s: no answer: %s", h.opts.Method, h.shown, redactErr(err, h.url, h.shown))}, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	took := time.Since(start).Round(time.Millisecond)
	ev := fmt.Sprintf("%s %s: %s in %s", h.opts.Method, h.shown, resp.Status, took)
	if s := snippet(body); s != "" {
		ev += ": " + s
	}
	switch {
	case !h.statusPasses(resp.StatusCode):
		return deploy.Measurement{Verdict: deploy.Fail, Evidence: ev}, nil
	case h.opts.Body != nil && !h.opts.Body.Match(body):
		return deploy.Measurement{Verdict: deploy.Fail, Evidence: ev + " (the body does not match " + h.opts.Body.String() + ")"}, nil
	}
	return deploy.Measurement{Verdict: deploy.Pass, Evidence: ev}, nil
}

func (h *httpCheck) statusPasses(code int) bool {
	if h.opts.Status == nil {
		return code >= 200 && code < 300
	}
	for _, s := range h.opts.Status {
		if s == code {
			return true
		}
	}
	return false
}

// redact returns u without its user info, query and fragment.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(an unparsable URL)"
	}
	p.User, p.RawQuery, p.Fragment = nil, "", ""
	return p.String()
}

// redactErr is err's text without the URL a *url.Error quotes (the caller names it redacted),
// and with the full URL replaced by its redacted form anywhere else.
func redactErr(err error, full, shown string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return strings.ReplaceAll(err.Error(), full, shown)
}

// snippet is the start of body on one line: at most 200 bytes of valid text.
func snippet(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > 200 {
		s = s[:200]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	if !utf8.ValidString(s) {
		return fmt.Sprintf("(%d bytes, not text)", len(body))
	}
	return s
}
