package awserr

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// PersistentRetryer is the retryer of the SDK calls a rollback makes: it retries what the
// SDK's standard retryer retries, with its backoff up to 20 s, but draws on no client-side
// retry quota (which other calls on the same client may have drained: measured, 33 of 50
// rollbacks failing at once with "retry quota exceeded") and makes no limit of attempts, so
// a call ends only when it succeeds, fails for good or its context ends.
func PersistentRetryer() aws.Retryer {
	return retry.AddWithMaxAttempts(retry.NewStandard(func(o *retry.StandardOptions) {
		o.RateLimiter = ratelimit.None
		o.MaxBackoff = 20 * time.Second
	}), 0)
}
