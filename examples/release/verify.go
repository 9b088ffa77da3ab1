package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/credentials"
	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/ecs"
)

// verifyCommand is the preflight: every target can be planned (it exists, the credentials
// read it, the release fits it; EC2 agents are online), and each ECS task definition's
// images (ECR), roles, log groups and secrets exist and can be read.
func verifyCommand(fs *flag.FlagSet) func(context.Context, *app) error {
	return func(ctx context.Context, a *app) error {
		cfg := a.clients.cfg
		v := &ecs.Verifier{ECR: ecr.NewFromConfig(cfg), IAM: iam.NewFromConfig(cfg), Logs: cloudwatchlogs.NewFromConfig(cfg),
			Secrets: credentials.NewResolver(secretsmanager.NewFromConfig(cfg), ssm.NewFromConfig(cfg), nil),
			Region:  cfg.Region}
		var problems []string
		for _, e := range a.built.targets {
			p, err := e.target.Plan(ctx, a.built.release)
			if err != nil {
				problems = append(problems, err.Error())
				fmt.Fprintf(a.stdout, "%s: cannot be planned: %v\n", e.target.Name(), err)
				continue
			}
			ep, ok := p.(*ecs.Plan)
			if !ok {
				fmt.Fprintf(a.stdout, "%s: ok\n", e.target.Name())
				continue
			}
			rep, err := ep.Verify(ctx, v)
			if err != nil {
				return err
			}
			for _, c := range rep.Checked {
				fmt.Fprintf(a.stdout, "%s: checked %s\n", e.target.Name(), c)
			}
			for _, s := range rep.Skipped {
				fmt.Fprintf(a.stdout, "%s: skipped %s\n", e.target.Name(), s)
			}
			for _, pr := range rep.Problems {
				fmt.Fprintf(a.stdout, "%s: PROBLEM %s\n", e.target.Name(), pr)
				problems = append(problems, e.target.Name()+": "+pr)
			}
		}
		if len(problems) > 0 {
			return deploy.Errorf(deploy.ErrFailed, "", "verify", "%d problems: %s", len(problems), strings.Join(problems, "; "))
		}
		return nil
	}
}
