// Package awserr maps AWS SDK errors to stevedore's sentinels.
package awserr

import (
	"context"
	"errors"
	"io"
	"net/http"
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
			"ResourceNotFoundException", "NotFoundException", "ParameterNotFound", "InvalidInstanceID.NotFound", "InvalidCommandId", "InvocationDoesNotExist":
			return deploy.ErrNotFound
		case "ServerException", "InternalFailure", "InternalServerError", "ServiceUnavailable", "ServiceUnavailableException":
			return deploy.ErrUnavailable
		case "ClientException", "InvalidParameterException", "ValidationException", "InvalidParameterValue", "InvalidInstanceID.Malformed", "InvalidInstanceId", "InvalidDocument", "InvalidParameters":
			return deploy.ErrInvalid
		}
	}
	if connectionError(err) {
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

// connectionError reports whether err is the network failing under a call (a reset or refused
// connection, a dial failure, an answer cut short) rather than the service answering: the SDK
// retries these a few times, and a wait loop should count them as transient after that.
func connectionError(err error) bool {
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

// Wrap wraps err once with its kind; see deploy.Wrap.
func Wrap(target, op string, err error, detail string) error {
	return deploy.Wrap(Kind(err), target, op, err, detail)
}
