package credentials_test

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/credentials/secretstest"
)

// fakeConfig points the real SDK clients at srv, in-process.
func fakeConfig(srv *secretstest.Server) aws.Config {
	return aws.Config{
		Region:       secretstest.Region,
		BaseEndpoint: aws.String("http://secretstest.invalid"),
		Credentials:  awscreds.NewStaticCredentialsProvider("testing", "testing", ""),
		HTTPClient:   srv.HTTPClient(),
	}
}

type fakeClients struct {
	srv *secretstest.Server
	sm  *secretsmanager.Client
	ps  *ssm.Client
	cb  *codebuild.Client
}

func newFake() fakeClients {
	srv := secretstest.New()
	cfg := fakeConfig(srv)
	return fakeClients{srv, secretsmanager.NewFromConfig(cfg), ssm.NewFromConfig(cfg), codebuild.NewFromConfig(cfg)}
}

func serverFault(code string) secretstest.Fault {
	return secretstest.Fault{Code: code, Status: 500, Times: -1}
}
