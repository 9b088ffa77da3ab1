package credentials_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stevedore-dev/stevedore/credentials"
	"github.com/stevedore-dev/stevedore/credentials/secretstest"
	"github.com/stevedore-dev/stevedore/deploy"
)

func get(t *testing.T, c *credentials.Cache, ref credentials.Ref) string {
	t.Helper()
	v, err := c.Get(context.Background(), ref)
	if err != nil {
		t.Fatalf("Get(%s): %v", ref, err)
	}
	return v.Reveal()
}

func TestCacheTTLJitterAndInvalidation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.srv.PutParameter("/db/password", "one")
		ref := mustParse(t, "/db/password")
		c := credentials.NewCache(credentials.NewResolver(f.sm, f.ps, nil), &credentials.CacheOptions{TTL: time.Hour, Jitter: 0.2})

		if got := get(t, c, ref); got != "one" {
			t.Fatalf("first read: %q", got)
		}
		f.srv.PutParameter("/db/password", "two") // rotated behind the cache's back
		time.Sleep(47 * time.Minute)              // under TTL less the most jitter (48 min)
		if got := get(t, c, ref); got != "one" || f.srv.Calls("GetParameters") != 1 {
			t.Fatalf("within the TTL: %q after %d calls; want the cached value and 1 call", got, f.srv.Calls("GetParameters"))
		}
		time.Sleep(14 * time.Minute) // past the TTL whatever the jitter
		if got := get(t, c, ref); got != "two" || f.srv.Calls("GetParameters") != 2 {
			t.Fatalf("after the TTL: %q after %d calls; want the rotated value and 2 calls", got, f.srv.Calls("GetParameters"))
		}

		f.srv.PutParameter("/db/password", "three")
		c.Invalidate(ref)
		if got := get(t, c, ref); got != "three" {
			t.Fatalf("after Invalidate: %q", got)
		}
		f.srv.PutParameter("/db/password", "four")
		c.Invalidate()
		if got := get(t, c, ref); got != "four" {
			t.Fatalf("after Invalidate(): %q", got)
		}
	})
}

func TestCacheJitterSpreadsExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		var refs []credentials.Ref
		for _, n := range []string{"/a", "/b", "/c", "/d", "/e", "/f", "/g", "/h", "/i", "/j"} {
			f.srv.PutParameter(n, "v")
			refs = append(refs, mustParse(t, n))
		}
		c := credentials.NewCache(credentials.NewResolver(f.sm, f.ps, nil), &credentials.CacheOptions{TTL: 100 * time.Minute, Jitter: 0.5})
		if _, err := c.Resolve(context.Background(), refs...); err != nil {
			t.Fatal(err)
		}
		// Step through the jitter window one minute at a time: the ten entries must not all
		// come due in the same minute.
		maxPerStep := 0
		time.Sleep(49 * time.Minute)
		for range 52 {
			time.Sleep(time.Minute)
			before := len(f.srv.Requests("GetParameters"))
			c.Resolve(context.Background(), refs...)
			if n := countNames(f, before); n > maxPerStep {
				maxPerStep = n
			}
		}
		if maxPerStep == 10 {
			t.Errorf("all ten entries expired in the same minute; jitter spread nothing")
		}
	})
}

// countNames counts the names asked for in GetParameters calls after the first `after`.
func countNames(f fakeClients, after int) int {
	n := 0
	for _, req := range f.srv.Requests("GetParameters")[after:] {
		n += strings.Count(string(req), `"/`)
	}
	return n
}

func TestCacheServesLastGoodValueWhenRefreshFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.srv.PutSecret("api", `{"key":"SENTINEL-cached-9e1b"}`)
		ref := mustParse(t, "secretsmanager:api:key")
		var logs bytes.Buffer
		c := credentials.NewCache(credentials.NewResolver(f.sm, f.ps, nil), &credentials.CacheOptions{
			TTL: 10 * time.Minute, Jitter: -1, RetryAfter: 2 * time.Minute,
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
		get(t, c, ref)
		time.Sleep(11 * time.Minute)
		f.srv.Inject("GetSecretValue", secretstest.Fault{Code: "InternalServiceError", Status: 500, Times: -1})
		if got := get(t, c, ref); got != "SENTINEL-cached-9e1b" {
			t.Fatalf("with the service failing: %q, want the last good value", got)
		}
		calls := f.srv.Calls("GetSecretValue")
		time.Sleep(time.Minute)
		get(t, c, ref)
		if f.srv.Calls("GetSecretValue") != calls {
			t.Errorf("retried before RetryAfter")
		}
		time.Sleep(2 * time.Minute)
		get(t, c, ref)
		if f.srv.Calls("GetSecretValue") == calls {
			t.Errorf("not retried after RetryAfter")
		}
		if !strings.Contains(logs.String(), "serving the last good value") {
			t.Errorf("no warning logged:\n%s", logs.String())
		}
		if strings.Contains(logs.String(), "SENTINEL") {
			t.Errorf("the log prints the value:\n%s", logs.String())
		}

		// With no value to fall back on, the error comes through.
		_, err := c.Get(context.Background(), mustParse(t, "secretsmanager:api"))
		if !errors.Is(err, deploy.ErrUnavailable) {
			t.Errorf("a first read while the service fails: %v, want deploy.ErrUnavailable", err)
		}
	})
}

func TestCachePinnedVersionsAreNotReadAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.srv.PutParameter("/p", "one")
		f.srv.PutParameter("/p", "two")
		c := credentials.NewCache(credentials.NewResolver(f.sm, f.ps, nil), &credentials.CacheOptions{TTL: time.Minute})
		pinned, latest := mustParse(t, "/p:1"), mustParse(t, "/p")
		if get(t, c, pinned) != "one" || get(t, c, latest) != "two" {
			t.Fatal("wrong values")
		}
		time.Sleep(24 * time.Hour)
		before := f.srv.Calls("GetParameters")
		get(t, c, pinned)
		if f.srv.Calls("GetParameters") != before {
			t.Errorf("a pinned version was read again")
		}
		get(t, c, latest)
		if f.srv.Calls("GetParameters") != before+1 {
			t.Errorf("the latest version was not read again after its TTL")
		}
	})
}

func TestCacheConcurrentMissesMakeOneCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.srv.PutParameter("/shared", "v")
		ref := mustParse(t, "/shared")
		c := credentials.NewCache(credentials.NewResolver(f.sm, f.ps, nil), nil)
		release := f.srv.Hold("GetParameters")
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for range 50 {
			wg.Go(func() {
				v, err := c.Get(context.Background(), ref)
				if err == nil && v.Reveal() != "v" {
					err = errors.New("wrong value")
				}
				errs <- err
			})
		}
		synctest.Wait() // all fifty are waiting on the one call
		if n := f.srv.Calls("GetParameters"); n != 1 {
			t.Errorf("%d calls in flight for one key, want 1", n)
		}
		// A caller that gives up does not cancel the read for the others.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { _, err := c.Get(ctx, ref); done <- err }()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, deploy.ErrCanceled) {
			t.Errorf("a canceled waiter: %v, want deploy.ErrCanceled", err)
		}
		release()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if n := f.srv.Calls("GetParameters"); n != 1 {
			t.Errorf("%d calls, want 1", n)
		}
	})
}
