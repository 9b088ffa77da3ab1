package awserr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stevedore-dev/stevedore/deploy"
)

func TestKind(t *testing.T) {
	api := func(code string) error {
		return &smithy.OperationError{ServiceID: "ECS", OperationName: "X", Err: &smithy.GenericAPIError{Code: code, Message: "m"}}
	}
	// sent is err as the SDK returns it once its own retries are spent.
	sent := func(err error) error {
		return &smithy.OperationError{ServiceID: "ECS", OperationName: "DescribeServices",
			Err: &retry.MaxAttemptsError{Attempt: 3, Err: &smithyhttp.RequestSendError{Err: &url.Error{Op: "Post", URL: "https://ecs", Err: err}}}}
	}
	status := func(s int) error {
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: s}}, Err: errors.New("x")}}
	}
	tests := []struct {
		err  error
		want error
	}{
		{api("ThrottlingException"), deploy.ErrThrottled},
		{api("RequestLimitExceeded"), deploy.ErrThrottled},
		{api("AccessDeniedException"), deploy.ErrAccessDenied},
		{api("ClusterNotFoundException"), deploy.ErrNotFound},
		{api("ServiceNotFoundException"), deploy.ErrNotFound},
		{api("ServerException"), deploy.ErrUnavailable},
		{api("ClientException"), deploy.ErrInvalid},
		{api("SomethingNew"), deploy.ErrFailed},
		{status(503), deploy.ErrUnavailable},
		{status(429), deploy.ErrThrottled},
		{sent(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), deploy.ErrUnavailable},
		{sent(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), deploy.ErrUnavailable},
		{sent(io.ErrUnexpectedEOF), deploy.ErrUnavailable},
		{sent(io.EOF), deploy.ErrUnavailable},
		{errors.Join(sent(io.EOF), fmt.Errorf("failed to get rate limit token, %w", ratelimit.QuotaExceededError{Available: 0, Requested: 5})), deploy.ErrUnavailable},
		{ratelimit.QuotaExceededError{Available: 0, Requested: 5}, deploy.ErrUnavailable},
		{sent(&net.DNSError{Err: "no such host", Name: "ecs.nowhere", IsNotFound: true}), deploy.ErrFailed},
		{&smithy.OperationError{ServiceID: "EKS", OperationName: "DescribeCluster", Err: fmt.Errorf("get identity: get credentials: %w",
			errors.New("failed to refresh cached credentials, no EC2 IMDS role found, dial tcp 169.254.169.254:80: connect: connection refused"))}, deploy.ErrAccessDenied},
		{fmt.Errorf("wait: %w", context.DeadlineExceeded), deploy.ErrTimeout},
		{context.Canceled, deploy.ErrCanceled},
	}
	for _, tc := range tests {
		if got := Kind(tc.err); got != tc.want {
			t.Errorf("Kind(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestWrapKeepsAPIErrorReachable(t *testing.T) {
	err := Wrap("ecs:c/s", "describe services", &smithy.GenericAPIError{Code: "ThrottlingException"}, "")
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ThrottlingException" {
		t.Errorf("errors.As did not reach the API error: %v", err)
	}
	if !errors.Is(err, deploy.ErrThrottled) {
		t.Errorf("errors.Is(ErrThrottled) = false")
	}
	if again := Wrap("x", "y", err, ""); again != err {
		t.Errorf("wrapped twice: %v", again)
	}
}

// A hint speaks only to its cause: missing credentials never get "check the cluster name".
func TestWrapHints(t *testing.T) {
	hints := Hints{deploy.ErrNotFound: "check the cluster name and the region", nil: "the credentials need ecs:DescribeServices"}
	notFound := &smithy.OperationError{ServiceID: "ECS", OperationName: "DescribeServices", Err: &smithy.GenericAPIError{Code: "ClusterNotFoundException"}}
	denied := &smithy.OperationError{ServiceID: "ECS", OperationName: "DescribeServices", Err: &smithy.GenericAPIError{Code: "AccessDeniedException"}}
	noCreds := &smithy.OperationError{ServiceID: "ECS", OperationName: "DescribeServices", Err: errors.New("get identity: get credentials: failed to refresh cached credentials, no EC2 IMDS role found")}
	for _, tc := range []struct {
		err       error
		want, not string
		kind      error
	}{
		{notFound, "check the cluster name", "credentials", deploy.ErrNotFound},
		{denied, "need ecs:DescribeServices", "cluster name", deploy.ErrAccessDenied},
		{noCreds, "no usable AWS credentials: set AWS_PROFILE", "cluster name", deploy.ErrAccessDenied},
	} {
		err := WrapHints("ecs:prod/web", "describe service", tc.err, hints)
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), tc.not) || !errors.Is(err, tc.kind) {
			t.Errorf("%v", err)
		}
	}
}
