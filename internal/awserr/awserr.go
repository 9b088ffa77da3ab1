// Package awserr maps AWS SDK errors to stevedore's sentinels.
package awserr

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/stevedore-dev/stevedore/deploy"
)

// Kind returns the deploy sentinel that best describes err.
func Kind(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return deploy.ErrTimeout
	case errors.Is(err, context.Canceled):
		return deploy.ErrCanceled
	}
	if MissingCredentials(err) {
		return deploy.ErrAccessDenied
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		if _, ok := retry.DefaultThrottleErrorCodes[code]; ok {
			return deploy.ErrThrottled
		}
		switch code {
		case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException",
			"InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "InvalidSignatureException":
			return deploy.ErrAccessDenied
		case "ClusterNotFoundException", "ServiceNotFoundException", "ServiceNotActiveException",
			"ResourceNotFoundException", "NotFoundException", "ParameterNotFound", "InvalidInstanceID.NotFound", "InvalidCommandId", "InvocationDoesNotExist",
			"TargetGroupNotFound":
			return deploy.ErrNotFound
		case "ServerException", "InternalFailure", "InternalServerError", "ServiceUnavailable", "ServiceUnavailableException":
			return deploy.ErrUnavailable
		case "ClientException", "InvalidParameterException", "ValidationException", "InvalidParameterValue", "InvalidInstanceID.Malformed", "InvalidInstanceId", "InvalidDocument", "InvalidParameters",
			"ValidationError", "InvalidTarget":
			return deploy.ErrInvalid
		}
	}
	if ConnectionError(err) {
		return deploy.ErrUnavailable
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch s := re.HTTPStatusCode(); {
		case s == http.StatusTooManyRequests:
			return deploy.ErrThrottled
		case s >= 500:
			return deploy.ErrUnavailable
		case s == http.StatusForbidden:
			return deploy.ErrAccessDenied
		}
	}
	return deploy.ErrFailed
}

// ConnectionError reports whether err is the network failing under a call (a reset or refused
// connection, a dial failure, an answer cut short) rather than the service answering: the SDK
// retries these a few times, and a wait loop should count them as transient after that. The
// Kubernetes client uses it too.
func ConnectionError(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var quota ratelimit.QuotaExceededError
	if errors.As(err, &quota) {
		return true // the SDK's retry budget ran dry; the service may well answer later
	}
	return retry.RetryableConnectionError{}.IsErrorRetryable(err) == aws.TrueTernary
}

// Transient reports whether err may go away if the same call is made again later.
func Transient(err error) bool {
	k := Kind(err)
	return k == deploy.ErrThrottled || k == deploy.ErrUnavailable
}

// Classify is Transient for a poll.Policy: whether err is worth another look, and whether it
// was throttling.
func Classify(err error) (transient, throttled bool) {
	k := Kind(err)
	return k == deploy.ErrThrottled || k == deploy.ErrUnavailable, k == deploy.ErrThrottled
}

// CredentialsHint is the detail of an error whose cause is that no AWS credentials could be
// loaded: what to set, in place of hints about names and regions that would mislead.
const CredentialsHint = "no usable AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, " +
	"or run where a role is attached (a CodeBuild service role, an instance profile)"

// MissingCredentials reports whether err is the SDK failing to get credentials for a call
// (none configured, an expired SSO session, a role it could not assume): the call never
// reached the service.
func MissingCredentials(err error) bool {
	s := err.Error()
	return strings.Contains(s, "get credentials: ") || strings.Contains(s, "failed to retrieve credentials") ||
		strings.Contains(s, "failed to refresh cached credentials")
}

// Wrap wraps err once with its kind; see deploy.Wrap. When the cause is missing credentials,
// detail gives way to CredentialsHint.
func Wrap(target, op string, err error, detail string) error {
	if err != nil && MissingCredentials(err) {
		detail = CredentialsHint
	}
	return deploy.Wrap(Kind(err), target, op, err, detail)
}

// Hints are details by kind of failure (deploy.ErrNotFound, ...); the nil key is for any
// other kind.
type Hints map[error]string

// WrapHints wraps err like Wrap, with the detail hints give for its kind, so a hint only
// ever speaks to the cause it is for.
func WrapHints(target, op string, err error, hints Hints) error {
	detail, ok := hints[Kind(err)]
	if !ok {
		detail = hints[nil]
	}
	return Wrap(target, op, err, detail)
}
