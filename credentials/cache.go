package credentials

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
)

// CacheOptions tunes a Cache. The zero value is ready.
type CacheOptions struct {
	// TTL is how long a value is served before it is read again; zero means one hour, as
	// the AWS caching clients do.
	TTL time.Duration
	// Jitter takes up to this fraction of TTL off each entry's lifetime, so values read
	// together are not all refreshed together; zero means 0.1, negative means none.
	Jitter float64
	// RetryAfter is how long a value whose refresh failed is served before the next try;
	// zero means one minute.
	RetryAfter time.Duration
	// Logger receives a warning when a stale value is served (never the value); nil discards.
	Logger *slog.Logger
}

// Cache sits in front of a Resolver. A value is served until its TTL (less jitter) runs
// out, then read again; when that read fails, the last good value is served and the read is
// retried after RetryAfter. References pinned to a version id or number never change and are
// never read twice. Concurrent misses for one reference make one read; misses for many
// references at once make one batched Resolve. Safe for concurrent use.
type Cache struct {
	r    *Resolver
	opts CacheOptions
	log  *slog.Logger

	mu      sync.RWMutex
	entries map[Ref]*cacheEntry
	flights map[Ref]*flight
}

type cacheEntry struct {
	value   Secret
	expires time.Time // zero: never (pinned)
}

type flight struct {
	done  chan struct{}
	value Secret
	err   error
}

// NewCache returns a cache over r; opts may be nil.
func NewCache(r *Resolver, opts *CacheOptions) *Cache {
	c := &Cache{r: r, entries: map[Ref]*cacheEntry{}, flights: map[Ref]*flight{}}
	if opts != nil {
		c.opts = *opts
	}
	if c.opts.TTL <= 0 {
		c.opts.TTL = time.Hour
	}
	if c.opts.Jitter == 0 {
		c.opts.Jitter = 0.1
	}
	if c.opts.RetryAfter <= 0 {
		c.opts.RetryAfter = time.Minute
	}
	c.log = deploy.LoggerOrDiscard(c.opts.Logger)
	return c
}

// pinned reports whether ref names one immutable version.
func pinned(ref Ref) bool {
	return ref.VersionID != "" || ref.Version > 0
}

// Get returns the value of one reference.
func (c *Cache) Get(ctx context.Context, ref Ref) (Secret, error) {
	c.mu.RLock()
	if e, ok := c.entries[ref]; ok && (e.expires.IsZero() || time.Now().Before(e.expires)) {
		c.mu.RUnlock()
		return e.value, nil
	}
	c.mu.RUnlock()
	m, err := c.Resolve(ctx, ref)
	if err != nil {
		return Secret{}, err
	}
	return m[ref], nil
}

// Resolve returns the values of refs, as Resolver.Resolve does, from the cache where it can.
func (c *Cache) Resolve(ctx context.Context, refs ...Ref) (map[Ref]Secret, error) {
	if err := ctx.Err(); err != nil {
		return nil, deploy.Wrap(awserr.Kind(err), "", "resolve secrets", err, "")
	}
	now := time.Now()
	out := make(map[Ref]Secret, len(refs))
	var (
		stale  = map[Ref]Secret{} // expired values to fall back on
		lead   []Ref              // misses this call reads
		follow = map[Ref]*flight{}
		mine   = map[Ref]*flight{}
	)
	c.mu.Lock()
	for _, ref := range refs {
		if _, seen := out[ref]; seen || follow[ref] != nil || mine[ref] != nil {
			continue
		}
		if e, ok := c.entries[ref]; ok {
			if e.expires.IsZero() || now.Before(e.expires) {
				out[ref] = e.value
				continue
			}
			stale[ref] = e.value
		}
		if f, ok := c.flights[ref]; ok {
			follow[ref] = f
			continue
		}
		f := &flight{done: make(chan struct{})}
		c.flights[ref] = f
		mine[ref] = f
		lead = append(lead, ref)
	}
	c.mu.Unlock()

	if len(lead) > 0 {
		// The read finishes even if this caller goes away: others may be waiting on it.
		go c.read(context.WithoutCancel(ctx), lead, mine, stale)
	}
	for ref, f := range mine {
		follow[ref] = f
	}
	var failures []RefError
	for ref, f := range follow {
		select {
		case <-f.done:
		case <-ctx.Done():
			return out, deploy.Wrap(awserr.Kind(ctx.Err()), ref.String(), "resolve secret", ctx.Err(), "")
		}
		if f.err != nil {
			failures = append(failures, RefError{ref, f.err})
		} else {
			out[ref] = f.value
		}
	}
	if len(failures) > 0 {
		slices.SortFunc(failures, func(a, b RefError) int { return strings.Compare(a.Ref.String(), b.Ref.String()) })
		return out, &ResolveError{Failures: failures}
	}
	return out, nil
}

// read resolves the misses one call led, and completes their flights.
func (c *Cache) read(ctx context.Context, lead []Ref, mine map[Ref]*flight, stale map[Ref]Secret) {
	vals, err := c.r.Resolve(ctx, lead...)
	var rerr *ResolveError
	errs := map[Ref]error{}
	if errors.As(err, &rerr) {
		for _, f := range rerr.Failures {
			errs[f.Ref] = f.Err
		}
	} else if err != nil {
		for _, ref := range lead {
			errs[ref] = err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for _, ref := range lead {
		f := mine[ref]
		if v, ok := vals[ref]; ok {
			f.value = v
			c.entries[ref] = &cacheEntry{value: v, expires: c.expiry(ref, now)}
		} else if old, ok := stale[ref]; ok {
			c.log.WarnContext(ctx, "serving the last good value: the refresh failed", "ref", ref.String(), "retry_in", c.opts.RetryAfter, "err", errs[ref])
			f.value = old
			c.entries[ref] = &cacheEntry{value: old, expires: now.Add(c.opts.RetryAfter)}
		} else {
			f.err = errs[ref]
			if f.err == nil {
				f.err = deploy.Errorf(deploy.ErrFailed, ref.String(), "resolve secret", "no value and no error came back")
			}
		}
		delete(c.flights, ref)
		close(f.done)
	}
}

func (c *Cache) expiry(ref Ref, now time.Time) time.Time {
	if pinned(ref) {
		return time.Time{}
	}
	ttl := c.opts.TTL
	if c.opts.Jitter > 0 {
		ttl -= time.Duration(rand.Float64() * c.opts.Jitter * float64(ttl))
	}
	return now.Add(ttl)
}

// Invalidate drops refs, so the next Resolve reads them again; with none, it drops all.
// Use it after rotating a secret, or when a value was refused (a failed login, say).
func (c *Cache) Invalidate(refs ...Ref) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(refs) == 0 {
		clear(c.entries)
		return
	}
	for _, r := range refs {
		delete(c.entries, r)
	}
}
