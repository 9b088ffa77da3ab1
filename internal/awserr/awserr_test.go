package awserr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stevedore-dev/stevedore/deploy"
)

func TestKind(t *testing.T) {
	api := func(code string) error {
		return &smithy.OperationError{ServiceID: "ECS", OperationName: "X", Err: &smithy.GenericAPIError{Code: code, Message: "m"}}
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
