package secretstest_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/credentials"
	"github.com/stevedore-dev/stevedore/credentials/secretstest"
)

// Test code that reads secrets offline: a simulated Secrets Manager and Parameter Store, and
// the real SDK clients behind a credentials.Resolver.
func Example() {
	sim := secretstest.New()
	sim.PutSecret("prod/db", `{"username":"app","password":"s3cr3t-for-tests"}`)
	sim.PutParameter("/prod/api-key", "k3y-for-tests")
	cfg := sim.Config()
	r := credentials.NewResolver(secretsmanager.NewFromConfig(cfg), ssm.NewFromConfig(cfg), nil)

	pw, _ := credentials.Parse("secretsmanager:prod/db:password")
	key, _ := credentials.Parse("/prod/api-key")
	got, err := r.Resolve(context.Background(), pw, key)
	fmt.Println(len(got), err)
	fmt.Println(got[pw]) // a Secret prints redacted; Reveal() gives the value
	// Output:
	// 2 <nil>
	// [redacted]
}
