package ec2_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/ec2"
)

func ExampleNew() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	half := ec2.Count{N: 50, Percent: true}
	target := ec2.New(ssm.NewFromConfig(cfg), awsec2.NewFromConfig(cfg),
		ec2.Fleet{Tags: map[string]string{"app": "web", "env": "prod"}},
		ec2.Options{
			Commands:         []string{`/opt/web/bin/install "$STEVEDORE_VERSION"`, "systemctl restart web"},
			VerifyCommands:   []string{"curl -fsS localhost:8080/health"},
			RollbackCommands: []string{`/opt/web/bin/install "$STEVEDORE_VERSION"`, "systemctl restart web"},
			Strategy:         ec2.Count{N: 25, Percent: true},
			MinHealthy:       &half,
		})
	_, err = deploy.Run(ctx, deploy.Release{Version: "1.4.2"}, []deploy.Target{target}, &deploy.Options{
		Timeout: 30 * time.Minute,
		OnEvent: func(e deploy.Event) { log.Println(e.Phase, e.Message) },
	})
	if err != nil {
		log.Fatal(err) // names the failed instances with the tail of their stderr
	}
}

func ExampleParseStrategy() {
	for _, s := range []string{"one-at-a-time", "half-at-a-time", "all-at-once", "3", "10%"} {
		c, _ := ec2.ParseStrategy(s)
		fmt.Printf("%s: MaxConcurrency %s, %d of 40 at a time\n", s, c, c.Of(40))
	}
	// Output:
	// one-at-a-time: MaxConcurrency 1, 1 of 40 at a time
	// half-at-a-time: MaxConcurrency 50%, 20 of 40 at a time
	// all-at-once: MaxConcurrency 100%, 40 of 40 at a time
	// 3: MaxConcurrency 3, 3 of 40 at a time
	// 10%: MaxConcurrency 10%, 4 of 40 at a time
}
