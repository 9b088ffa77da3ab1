package credentials_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/credentials"
	"github.com/stevedore-dev/stevedore/credentials/credentialstest"
	"github.com/stevedore-dev/stevedore/internal/mototest"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// runID keeps names from different test runs against one moto server apart.
var runID = fmt.Sprintf("run%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)

func motoSM(t testing.TB) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(mototest.Config(t))
}

func motoSSM(t testing.TB) *ssm.Client {
	return ssm.NewFromConfig(mototest.Config(t))
}

func TestSecretsManagerConformanceMoto(t *testing.T) {
	credentialstest.Run(t, func(t *testing.T) credentialstest.Harness {
		return credentialstest.Harness{
			Store:  credentials.NewSecretsManager(motoSM(t), &credentials.SecretsManagerOptions{ForceDelete: true}),
			Prefix: "/conformance/" + runID,
		}
	})
}

func TestParameterStoreConformanceMoto(t *testing.T) {
	credentialstest.Run(t, func(t *testing.T) credentialstest.Harness {
		return credentialstest.Harness{
			Store:                credentials.NewParameterStore(motoSSM(t), nil),
			Prefix:               "/conformance/" + runID,
			NoMultiFieldVersions: true,
		}
	})
}

// With a recovery window, a deleted secret lingers as "scheduled for deletion"; the store
// still reports it as not found.
func TestSecretsManagerConformanceMotoRecoveryWindow(t *testing.T) {
	credentialstest.Run(t, func(t *testing.T) credentialstest.Harness {
		return credentialstest.Harness{
			Store:  credentials.NewSecretsManager(motoSM(t), &credentials.SecretsManagerOptions{RecoveryWindowDays: 7}),
			Prefix: "/conformance-window/" + runID,
		}
	})
}
