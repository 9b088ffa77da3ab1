package credentials_test

import (
	"testing"

	"github.com/stevedore-dev/stevedore/credentials"
	"github.com/stevedore-dev/stevedore/credentials/credentialstest"
)

func TestMemoryStoreConformance(t *testing.T) {
	credentialstest.Run(t, func(t *testing.T) credentialstest.Harness {
		return credentialstest.Harness{Store: credentials.NewMemoryStore(), Prefix: "/mem"}
	})
}
