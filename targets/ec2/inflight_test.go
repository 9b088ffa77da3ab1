package ec2_test

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/store"
	"github.com/stevedore-dev/stevedore/targets/ec2"
	"github.com/stevedore-dev/stevedore/targets/ec2/ec2test"
)

// A command running on the fleet (another tool's: by instance IDs, or by tags) shows in the
// plan, and a release with LockFail refuses naming it; one on other instances, or finished,
// does not. One condition per row.
func TestPlanReportsACommandInProgress(t *testing.T) {
	for _, tc := range []struct {
		name   string
		send   func(ids, others []string) *ssm.SendCommandInput
		finish bool // wait for the command to end before planning
		want   string
	}{
		{"by instance IDs", func(ids, _ []string) *ssm.SendCommandInput {
			return &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: ids[:1], Comment: aws.String("patching")}
		}, false, "(AWS-RunShellScript: patching) running on 1 of the fleet's instances since"},
		{"by tags", func(_, _ []string) *ssm.SendCommandInput {
			return &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), Targets: []ssmtypes.Target{{Key: aws.String("tag:app"), Values: []string{"web"}}}}
		}, false, "running on 3 of the fleet's instances"},
		{"on other instances", func(_, others []string) *ssm.SendCommandInput {
			return &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: others}
		}, false, ""},
		{"finished", func(ids, _ []string) *ssm.SendCommandInput {
			return &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: ids}
		}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv()
				ids := e.srv.Fleet(3, map[string]string{"app": "web"})
				others := e.srv.Fleet(2, map[string]string{"app": "batch"})
				e.srv.Script(func(ec2test.Invocation) ec2test.Outcome { return ec2test.Outcome{Duration: time.Minute} })
				in := tc.send(ids, others)
				in.Parameters = map[string][]string{"commands": {"yum -y update"}}
				if _, err := e.ssm.SendCommand(t.Context(), in); err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Second) // delivered, running
				if tc.finish {
					time.Sleep(2 * time.Minute)
				}
				tg := e.target(ec2.Fleet{Tags: map[string]string{"app": "web"}}, ec2.Options{Commands: script})
				p, err := tg.Plan(t.Context(), deploy.Release{Version: "v2"})
				if err != nil {
					t.Fatal(err)
				}
				got := p.(deploy.InFlighter).InFlight()
				if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
					t.Fatalf("InFlight() = %q, want %q", got, tc.want)
				}
				if tc.want == "" {
					return
				}
				_, err = deploy.Run(t.Context(), deploy.Release{Version: "v2"}, []deploy.Target{tg},
					&deploy.Options{Lock: &deploy.LockOptions{Locker: store.NewMemory(), Policy: deploy.LockFail}})
				if !errors.Is(err, deploy.ErrLocked) || !strings.Contains(err.Error(), "is deploying already: command ") {
					t.Errorf("a release with LockFail: %v", err)
				}
				if n := e.srv.Calls("SendCommand"); n != 1 {
					t.Errorf("%d commands sent: the release sent one", n)
				}
			})
		})
	}
}
