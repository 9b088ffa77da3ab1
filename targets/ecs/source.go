package ecs

import (
	"bytes"
	"context"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// captureBody returns a client option that copies the raw response body of the call into
// *dst before the SDK decodes it. The ECS target reads task definitions this way so that it
// works on the exact wire JSON, including keys newer than the SDK, instead of re-encoding
// the SDK's structs.
func captureBody(dst *[]byte) func(*ecs.Options) {
	return func(o *ecs.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("stevedoreCaptureBody",
				func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
					out, md, err := next.HandleDeserialize(ctx, in)
					if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp.Body != nil && resp.StatusCode < 300 {
						body, rerr := io.ReadAll(resp.Body)
						resp.Body.Close()
						if rerr != nil {
							return out, md, rerr
						}
						*dst = body
						resp.Body = io.NopCloser(bytes.NewReader(body))
					}
					return out, md, err
				}), middleware.After)
		})
	}
}
