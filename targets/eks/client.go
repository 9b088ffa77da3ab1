package eks

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
	"github.com/stevedore-dev/stevedore/internal/poll"
)

// TokenSource gives the bearer token for the next request and when it stops being valid
// (the zero time: never). The client asks again before that time. A source that also has an
// Invalidate method is told when the server refuses its token (401), and asked again, the
// way kubectl re-runs an exec plugin.
type TokenSource interface {
	Token(ctx context.Context) (token string, expires time.Time, err error)
}

// invalidator is a TokenSource that can drop a token the server refused.
type invalidator interface{ Invalidate() }

// StaticToken is a TokenSource for a token that does not expire.
type StaticToken string

// Token implements TokenSource.
func (s StaticToken) Token(context.Context) (string, time.Time, error) {
	return string(s), time.Time{}, nil
}

// Impersonation makes requests act as another user, as kubectl's --as, --as-uid and
// --as-group do (and a kubeconfig user's as, as-uid, as-groups and as-user-extra).
type Impersonation struct {
	User   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// Client is a small Kubernetes REST client: JSON over net/http, a bearer token, basic auth or
// a client certificate, watches. It retries what is transient. Safe for concurrent use.
type Client struct {
	endpoint  string
	http      *http.Client
	tokens    TokenSource
	basic     [2]string
	imp       Impersonation
	namespace string

	mu      sync.Mutex
	token   string
	expires time.Time
	// requests counts the API requests made (watch streams count once); received counts the
	// bytes of the answers' bodies, watch streams included.
	requests atomic.Int64
	received atomic.Int64
}

// ClientConfig says how to reach a cluster.
type ClientConfig struct {
	// Endpoint is the API server's URL, https://host[:port].
	Endpoint string
	// CAData is the PEM of the CA that signed the server's certificate; empty means the
	// system's roots.
	CAData []byte
	// Insecure skips verifying the server's certificate (insecure-skip-tls-verify).
	Insecure bool
	// TLSServerName is the name the server's certificate is checked against, when it is not
	// the endpoint's host (tls-server-name).
	TLSServerName string
	// ProxyURL sends requests through an http, https or socks5 proxy (proxy-url).
	ProxyURL string
	// Tokens gives bearer tokens; nil when a client certificate or basic auth is used.
	Tokens TokenSource
	// CertData and KeyData are a client certificate and key, in PEM.
	CertData, KeyData []byte
	// ClientCertificate, when set, gives the client certificate at each TLS handshake (an
	// exec plugin that returns certificates).
	ClientCertificate func(context.Context) (*tls.Certificate, error)
	// Username and Password are HTTP basic auth.
	Username, Password string
	// Impersonate makes requests act as another user.
	Impersonate Impersonation
	// Namespace is the namespace targets use when given none (a kubeconfig context's).
	Namespace string
	// HTTPClient replaces the client built from the above (tests); its transport must
	// trust the server.
	HTTPClient *http.Client
}

// refreshBefore is how long before a token's expiry the client gets a new one.
const refreshBefore = time.Minute

// Retries of transient failures (5xx, 429, connection resets, cut answers): up to
// maxAttempts tries, backing off from retryBase, doubling, jittered, capped at retryCap; a
// 429's Retry-After is honoured up to retryAfterCap.
const (
	maxAttempts   = 6
	retryBase     = 200 * time.Millisecond
	retryCap      = 5 * time.Second
	retryAfterCap = 30 * time.Second
)

// NewClient returns a client for cfg.
func NewClient(cfg ClientConfig) (*Client, error) {
	bad := func(format string, args ...any) (*Client, error) {
		return nil, deploy.Errorf(deploy.ErrInvalid, "", "connect", format, args...)
	}
	if !strings.HasPrefix(cfg.Endpoint, "https://") && !strings.HasPrefix(cfg.Endpoint, "http://") {
		return bad("the endpoint %q is not an https:// URL", cfg.Endpoint)
	}
	if _, err := url.Parse(cfg.Endpoint); err != nil {
		return bad("the endpoint %q: %v", cfg.Endpoint, err)
	}
	c := &Client{endpoint: strings.TrimRight(cfg.Endpoint, "/"), tokens: cfg.Tokens, http: cfg.HTTPClient,
		basic: [2]string{cfg.Username, cfg.Password}, imp: cfg.Impersonate, namespace: cfg.Namespace}
	if c.http != nil {
		return c, nil
	}
	if cfg.Insecure && len(cfg.CAData) > 0 {
		return bad("a cluster CA and insecure-skip-tls-verify together: drop one (kubectl refuses this too)")
	}
	// InsecureSkipVerify only when the user's kubeconfig asks for it.
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName, InsecureSkipVerify: cfg.Insecure}
	if len(cfg.CAData) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(cfg.CAData) {
			return bad("the cluster CA is not PEM certificates")
		}
		tlsCfg.RootCAs = pool
	}
	switch {
	case len(cfg.CertData) > 0:
		cert, err := tls.X509KeyPair(cfg.CertData, cfg.KeyData)
		if err != nil {
			return bad("the client certificate and key do not load: %v", err)
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
	case cfg.ClientCertificate != nil:
		get := cfg.ClientCertificate
		tlsCfg.GetClientCertificate = func(info *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return get(info.Context())
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	if cfg.ProxyURL != "" {
		u, err := url.Parse(cfg.ProxyURL)
		if err != nil || u.Host == "" {
			return bad("proxy-url %q is not a URL", cfg.ProxyURL)
		}
		switch u.Scheme {
		case "http", "https", "socks5":
		default:
			return bad("proxy-url %q: use an http, https or socks5 URL", cfg.ProxyURL)
		}
		tr.Proxy = http.ProxyURL(u)
	}
	c.http = &http.Client{Transport: tr}
	return c, nil
}

// Received returns how many bytes of answers the client has read, watch streams included.
func (c *Client) Received() int64 { return c.received.Load() }

// Requests returns how many API requests the client has made.
func (c *Client) Requests() int64 { return c.requests.Load() }

// Namespace is the namespace targets made with this client use when given none: the
// kubeconfig context's, or "default".
func (c *Client) Namespace() string {
	if c.namespace == "" {
		return "default"
	}
	return c.namespace
}

func (c *Client) bearer(ctx context.Context) (string, error) {
	if c.tokens == nil {
		return "", nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && (c.expires.IsZero() || time.Until(c.expires) > refreshBefore) {
		return c.token, nil
	}
	tok, exp, err := c.tokens.Token(ctx)
	if err != nil {
		return "", deploy.Wrap(deploy.ErrAccessDenied, "", "get a cluster token", err, "")
	}
	c.token, c.expires = tok, exp
	return tok, nil
}

// refused drops the token the server answered 401 to, so the next request gets a new one.
// It reports whether a new one may differ (the source can be asked again).
func (c *Client) refused(tok string) bool {
	inv, ok := c.tokens.(invalidator)
	if !ok {
		return false
	}
	c.mu.Lock()
	if c.token == tok {
		c.token = ""
		inv.Invalidate()
	}
	c.mu.Unlock()
	return true
}

// StatusError is an error the API server answered with (a Kubernetes Status).
type StatusError struct {
	Code    int
	Reason  string // NotFound, Conflict, Forbidden, ...
	Message string
	// RetryAfter is what a 429 or 503 asked the client to wait, if anything.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("%d %s: %s", e.Code, e.Reason, e.Message)
	}
	return fmt.Sprintf("%d %s", e.Code, e.Reason)
}

func kindOf(code int) error {
	switch {
	case code == 404:
		return deploy.ErrNotFound
	case code == 401 || code == 403:
		return deploy.ErrAccessDenied
	case code == 429:
		return deploy.ErrThrottled
	case code >= 500:
		return deploy.ErrUnavailable
	case code == 400 || code == 422:
		return deploy.ErrInvalid
	}
	return deploy.ErrFailed
}

// isNotFound reports whether err is a 404.
func isNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

// isConflict reports whether err is a 409 Conflict.
func isConflict(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusConflict
}

// transient reports whether the same request may succeed later: a 429, a server error, or
// the connection failing under it.
func transient(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		switch se.Code {
		case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return awserr.ConnectionError(err) || strings.Contains(err.Error(), "http2: server sent GOAWAY")
}

// unprocessed reports whether a failed request certainly changed nothing on the server:
// throttled, or never sent. Only those writes are retried blindly; after other transient
// failures a writer reads the object again before writing.
func unprocessed(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code == http.StatusTooManyRequests
	}
	return strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "dial tcp")
}

// backoff is the wait before retry number attempt (0-based): doubling from retryBase, capped,
// with jitter; a server's Retry-After, when longer, wins up to retryAfterCap.
func backoff(attempt int, err error) time.Duration {
	d := retryBase << min(attempt, 10)
	d = min(d, retryCap)
	d = d/2 + rand.N(d/2+1)
	var se *StatusError
	if errors.As(err, &se) && se.RetryAfter > d {
		d = min(se.RetryAfter, retryAfterCap)
	}
	return d
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// do makes a request, retrying what is transient: reads and deletes whenever they fail
// transiently, writes only when the server certainly did not process them. A 401 with a
// token source that can be asked again is retried once with a new token.
func (c *Client) do(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	deploy.CountCall(ctx)
	idempotent := method == http.MethodGet || method == http.MethodDelete
	reauthed := false
	for attempt := 0; ; attempt++ {
		data, tok, err := c.once(ctx, method, path, contentType, body)
		if err == nil {
			return data, nil
		}
		var se *StatusError
		if errors.As(err, &se) && se.Code == http.StatusUnauthorized && !reauthed && c.tokens != nil && c.refused(tok) {
			reauthed = true
			continue
		}
		spent := attempt+1 >= maxAttempts && !poll.IsPersistent(ctx) // a rollback's requests keep trying
		if !transient(err) || (!idempotent && !unprocessed(err)) || spent || ctx.Err() != nil {
			return nil, err
		}
		if err := sleep(ctx, backoff(attempt, err)); err != nil {
			return nil, err
		}
	}
}

// request builds a request with the client's credentials; it returns the bearer token used.
func (c *Client) request(ctx context.Context, method, path, contentType string, body []byte) (*http.Request, string, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint+path, rd)
	if err != nil {
		return nil, "", err
	}
	tok, err := c.bearer(ctx)
	switch {
	case err != nil:
		return nil, "", err
	case tok != "":
		req.Header.Set("Authorization", "Bearer "+tok)
	case c.basic[0] != "" || c.basic[1] != "":
		req.SetBasicAuth(c.basic[0], c.basic[1])
	}
	if c.imp.User != "" {
		req.Header.Set("Impersonate-User", c.imp.User)
		if c.imp.UID != "" {
			req.Header.Set("Impersonate-Uid", c.imp.UID)
		}
		for _, g := range c.imp.Groups {
			req.Header.Add("Impersonate-Group", g)
		}
		for k, vs := range c.imp.Extra {
			for _, v := range vs {
				req.Header.Add("Impersonate-Extra-"+url.PathEscape(k), v)
			}
		}
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req, tok, nil
}

func (c *Client) once(ctx context.Context, method, path, contentType string, body []byte) ([]byte, string, error) {
	req, tok, err := c.request(ctx, method, path, contentType, body)
	if err != nil {
		return nil, "", err
	}
	c.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, tok, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	c.received.Add(int64(len(data)))
	if err != nil {
		return nil, tok, err
	}
	if resp.StatusCode >= 300 {
		return nil, tok, statusError(resp, data)
	}
	return data, tok, nil
}

// statusError reads a Kubernetes Status answer.
func statusError(resp *http.Response, data []byte) *StatusError {
	se := &StatusError{Code: resp.StatusCode, Reason: gjson.GetBytes(data, "reason").String(), Message: gjson.GetBytes(data, "message").String()}
	if se.Reason == "" {
		se.Reason = http.StatusText(resp.StatusCode)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		se.RetryAfter = time.Duration(s) * time.Second
	}
	return se
}

// get reads one object or list.
func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	return c.do(ctx, http.MethodGet, path, "", nil)
}

// put replaces an object; the resourceVersion in body makes it fail with 409 when the object
// changed since it was read.
func (c *Client) put(ctx context.Context, path string, body []byte) ([]byte, error) {
	return c.do(ctx, http.MethodPut, path, "application/json", body)
}

// patch applies a JSON Patch.
func (c *Client) patch(ctx context.Context, path string, body []byte) ([]byte, error) {
	return c.do(ctx, http.MethodPatch, path, "application/json-patch+json", body)
}

// watch streams watch events for path (a list path with query) to fn until fn returns
// false, the server ends the stream, or ctx ends.
func (c *Client) watch(ctx context.Context, path string, fn func(typ string, obj gjson.Result) bool) error {
	req, _, err := c.request(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return err
	}
	c.requests.Add(1)
	deploy.CountCall(ctx)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(resp.Body)
		return statusError(resp, data)
	}
	dec := bufio.NewReader(resp.Body)
	for {
		line, err := dec.ReadBytes('\n')
		c.received.Add(int64(len(line)))
		if len(bytes.TrimSpace(line)) > 0 {
			ev := gjson.ParseBytes(line)
			if ev.Get("type").String() == "ERROR" {
				return &StatusError{Code: int(ev.Get("object.code").Int()), Reason: ev.Get("object.reason").String(), Message: ev.Get("object.message").String()}
			}
			if !fn(ev.Get("type").String(), ev.Get("object")) {
				return nil
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return io.EOF // the server closed the stream
		}
	}
}
