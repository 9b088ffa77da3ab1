package ecs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/ecs"
	"github.com/stevedore-dev/stevedore/targets/ecs/ecstest"
)

// Wait follows a rollout someone else started, with and without the service-deployment
// API: to its end, or to its failure with the reason.
func TestWaitFollowsTheCurrentRollout(t *testing.T) {
	for _, c := range []struct {
		name       string
		noSDAPI    bool
		fail       bool
		wantErr    string
		wantStatus string
	}{
		{"service deployments, succeeds", false, false, "", "SUCCESSFUL"},
		{"service deployments, fails", false, true, "CannotPullContainerError", ""},
		{"deployments list, succeeds", true, false, "", "web:2: 2/2 running, stable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := ecstest.New(nil)
				srv.NoServiceDeployments = c.noSDAPI
				srv.CreateCluster("prod")
				for _, img := range []string{"repo/web:v1", "repo/web:v2"} {
					if _, err := srv.RegisterTaskDefinition(`{"family":"web","containerDefinitions":[{"name":"app","image":"` + img + `","essential":true}]}`); err != nil {
						t.Fatal(err)
					}
				}
				if err := srv.CreateService(ecstest.ServiceSpec{Cluster: "prod", Name: "web", TaskDefinition: "web:1", DesiredCount: 2, CircuitBreaker: true, Rollback: true}); err != nil {
					t.Fatal(err)
				}
				if c.fail {
					srv.SetBehavior("repo/web:v2", ecstest.Behavior{Fail: true, StoppedReason: "CannotPullContainerError: not found"})
				}
				client := awsecs.NewFromConfig(srv.Config())
				if _, err := client.UpdateService(context.Background(), &awsecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"), TaskDefinition: aws.String("web:2")}); err != nil {
					t.Fatal(err)
				}
				st, err := ecs.New(client, "prod", "web", &ecs.Options{PollInterval: time.Second}).Wait(context.Background(), nil)
				if c.wantErr != "" {
					if !errors.Is(err, deploy.ErrFailed) || !strings.Contains(err.Error(), c.wantErr) {
						t.Errorf("err = %v, want %s", err, c.wantErr)
					}
					return
				}
				if err != nil || !st.Done || !strings.Contains(st.Message, c.wantStatus) {
					t.Errorf("status %v, err %v; want %s", st, err, c.wantStatus)
				}
			})
		})
	}
}
