package ec2

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/mototest"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// TestMotoConformance runs each call moto implements the way the target makes it:
// DescribeInstances by tags and by IDs, SendCommand (by tags and by IDs, with the
// base64 preamble), ListCommands (by ID, and by Status), GetCommandInvocation, CreateTags and Parameter Store
// records. moto has no ListCommandInvocations, CancelCommand or DescribeInstanceInformation,
// so the rollout as a whole runs against the in-process fake.
func TestMotoConformance(t *testing.T) {
	ctx := context.Background()
	cfg := mototest.Config(t)
	ec2c, ssmc := ec2.NewFromConfig(cfg), ssm.NewFromConfig(cfg)
	app := "conf-" + rand.Text()[:8]
	run, err := ec2c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12345678"), MinCount: aws.Int32(3), MaxCount: aws.Int32(3),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{{Key: aws.String("app"), Value: aws.String(app)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range run.Instances {
		ids = append(ids, aws.ToString(in.InstanceId))
	}
	byTag := New(ssmc, ec2c, Fleet{Tags: map[string]string{"app": app}}, Options{Commands: []string{"true"}})
	byID := New(ssmc, ec2c, Fleet{InstanceIDs: ids[:2]}, Options{Commands: []string{"true"}, RecordParameterPrefix: "/stevedore/" + app})

	for _, tc := range []struct {
		tg   *Target
		want int
	}{{byTag, 3}, {byID, 2}} {
		found, err := tc.tg.describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != tc.want {
			t.Errorf("%s: describe found %d instances, want %d", tc.tg.Name(), len(found), tc.want)
		}
	}
	_, err = New(ssmc, ec2c, Fleet{InstanceIDs: []string{"i-0000000000000dead"}}, Options{Commands: []string{"true"}}).describe(ctx)
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidInstanceID.NotFound" || !errors.Is(err, deploy.ErrNotFound) || !strings.Contains(err.Error(), "check the instance IDs") {
		t.Errorf("describing a missing instance: %v", err)
	}

	rel := release{version: "v2", image: "registry.example.com/app:v2", env: map[string]string{}}
	p := &Plan{t: byTag, rel: rel, touched: map[string]bool{}}
	for _, c := range []command{
		p.deployCommand(nil, map[string]string{"app": app}, "1", "0"),
		p.deployCommand(ids[:2], nil, "50%", "1"),
	} {
		out, err := ssmc.SendCommand(ctx, byTag.sendInput(c))
		if err != nil {
			t.Fatalf("SendCommand: %v", err)
		}
		id := aws.ToString(out.Command.CommandId)
		lc, err := ssmc.ListCommands(ctx, &ssm.ListCommandsInput{CommandId: aws.String(id)})
		if err != nil || len(lc.Commands) != 1 {
			t.Fatalf("ListCommands: %v, %+v", err, lc)
		}
		if cmd := lc.Commands[0]; !terminalCommand(cmd.Status) || aws.ToString(cmd.CommandId) != id {
			t.Errorf("ListCommands: %s status %s", aws.ToString(cmd.CommandId), cmd.Status)
		}
		if got := lc.Commands[0].Parameters["commands"]; len(got) != 3 || got[2] != "true" {
			t.Errorf("the commands moto stored: %q", got)
		}
		if len(c.ids) > 0 {
			inv, err := ssmc.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: aws.String(id), InstanceId: aws.String(ids[0])})
			if err != nil {
				t.Fatalf("GetCommandInvocation: %v", err)
			}
			if r := (Result{Instance: ids[0], Status: string(inv.Status), Details: aws.ToString(inv.StatusDetails)}); !r.Succeeded() {
				t.Errorf("moto's invocation reads as %+v", r)
			}
		}
	}

	// The plan's look for commands in progress: ListCommands filtered by Status (moto's
	// commands end at once, so none is).
	if busy, err := byTag.inFlight(ctx, ids); err != nil || busy != "" {
		t.Errorf("inFlight: %q, %v", busy, err)
	}

	// Records: tags (CreateTags, read back by DescribeInstances) and Parameter Store.
	if err := byTag.record(ctx, ids, recorded{Version: "v2", Image: rel.image}); err != nil {
		t.Fatal(err)
	}
	found, err := byTag.describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		tags := map[string]string{}
		for _, tg := range found[id].Tags {
			tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
		if tags["stevedore:version"] != "v2" || tags["stevedore:version-image"] != rel.image {
			t.Errorf("%s tags after record: %v", id, tags)
		}
	}
	if err := byID.record(ctx, ids[:2], recorded{Version: "v2"}); err != nil {
		t.Fatal(err)
	}
	got := map[string]*recorded{}
	if err := byID.readRecords(ctx, ids, got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[ids[0]].Version != "v2" || got[ids[2]] != nil {
		t.Errorf("records read back: %+v", got)
	}
}
