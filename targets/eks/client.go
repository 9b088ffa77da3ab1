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
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/deploy"
)

// TokenSource gives the bearer token for the next request and when it stops being valid
// (the zero time: never). The client asks again before that time.
type TokenSource interface {
	Token(ctx context.Context) (token string, expires time.Time, err error)
}

// StaticToken is a TokenSource for a token that does not expire.
type StaticToken string

// Token implements TokenSource.
func (s StaticToken) Token(context.Context) (string, time.Time, error) {
	return string(s), time.Time{}, nil
}

// Client is a small Kubernetes REST client: JSON over net/http, a bearer token or a client
// certificate, watches. Safe for concurrent use.
type Client struct {
	endpoint string
	http     *http.Client
	tokens   TokenSource

	mu      sync.Mutex
	token   string
	expires time.Time
	// Requests counts the API requests made (watch streams count once).
	requests atomic.Int64
}

// ClientConfig says how to reach a cluster.
type ClientConfig struct {
	// Endpoint is the API server's URL, https://host[:port].
	Endpoint string
	// CAData is the PEM of the CA that signed the server's certificate; empty means the
	// system's roots.
	CAData []byte
	// Tokens gives bearer tokens; nil when a client certificate is used.
	Tokens TokenSource
	// CertData and KeyData are a client certificate and key, in PEM.
	CertData, KeyData []byte
	// HTTPClient replaces the client built from the above (tests); its transport must
	// trust the server.
	HTTPClient *http.Client
}

// refreshBefore is how long before a token's expiry the client gets a new one.
const refreshBefore = time.Minute

// NewClient returns a client for cfg.
func NewClient(cfg ClientConfig) (*Client, error) {
	if !strings.HasPrefix(cfg.Endpoint, "https://") && !strings.HasPrefix(cfg.Endpoint, "http://") {
		return nil, deploy.Errorf(deploy.ErrInvalid, "", "connect", "the endpoint %q is not an https:// URL", cfg.Endpoint)
	}
	c := &Client{endpoint: strings.TrimRight(cfg.Endpoint, "/"), tokens: cfg.Tokens, http: cfg.HTTPClient}
	if c.http != nil {
		return c, nil
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(cfg.CAData) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(cfg.CAData) {
			return nil, deploy.Errorf(deploy.ErrInvalid, "", "connect", "the cluster CA is not PEM certificates")
		}
		tlsCfg.RootCAs = pool
	}
	if len(cfg.CertData) > 0 {
		cert, err := tls.X509KeyPair(cfg.CertData, cfg.KeyData)
		if err != nil {
			return nil, deploy.Errorf(deploy.ErrInvalid, "", "connect", "the client certificate and key do not load: %v", err)
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	c.http = &http.Client{Transport: tr}
	return c, nil
}

// Requests returns how many API requests the client has made.
func (c *Client) Requests() int64 { return c.requests.Load() }

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

// StatusError is an error the API server answered with (a Kubernetes Status).
type StatusError struct {
	Code    int
	Reason  string // NotFound, Conflict, Forbidden, ...
	Message string
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

func (c *Client) do(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint+path, rd)
	if err != nil {
		return nil, err
	}
	if tok, err := c.bearer(ctx); err != nil {
		return nil, err
	} else if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	c.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		se := &StatusError{Code: resp.StatusCode, Reason: gjson.GetBytes(data, "reason").String(), Message: gjson.GetBytes(data, "message").String()}
		if se.Reason == "" {
			se.Reason = http.StatusText(resp.StatusCode)
		}
		return nil, se
	}
	return data, nil
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint+path, nil)
	if err != nil {
		return err
	}
	if tok, err := c.bearer(ctx); err != nil {
		return err
	} else if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Accept", "application/json")
	c.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(resp.Body)
		return &StatusError{Code: resp.StatusCode, Reason: gjson.GetBytes(data, "reason").String(), Message: gjson.GetBytes(data, "message").String()}
	}
	dec := bufio.NewReader(resp.Body)
	for {
		line, err := dec.ReadBytes('\n')
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
