package ec2_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/clitest"
	"github.com/stevedore-dev/stevedore/targets/ec2"
	"github.com/stevedore-dev/stevedore/targets/ec2/ec2test"
)

var restoreOpts = ec2.Options{Commands: []string{`/opt/web/install "$STEVEDORE_VERSION"`}, RollbackCommands: []string{`/opt/web/install "$STEVEDORE_VERSION"`},
	PollInterval: 10 * time.Millisecond}

func targetAt(url string) *ec2.Target {
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: awscreds.NewStaticCredentialsProvider("testing", "testing", "")}
	return ec2.New(ssm.NewFromConfig(cfg), awsec2.NewFromConfig(cfg), ec2.Fleet{Tags: map[string]string{"app": "web"}}, restoreOpts)
}

// A snapshot of an applied plan is restored in a fresh process (this test binary run again),
// which rolls the fleet back over HTTP, records included.
func TestSnapshotRestoredInAnotherProcessRollsBack(t *testing.T) {
	srv := ec2test.New(nil)
	srv.DeliveryDelay, srv.NotYetVisible = time.Millisecond, 0
	srv.Script(func(ec2test.Invocation) ec2test.Outcome { return ec2test.Outcome{Duration: time.Millisecond} })
	ids := srv.Fleet(2, map[string]string{"app": "web", "stevedore:version": "v1"})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	p, err := targetAt(hs.URL).Plan(t.Context(), deploy.Release{Version: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	snap, err := p.(deploy.Snapshotter).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "snapshot.json")
	if err := os.WriteFile(file, snap, 0o600); err != nil {
		t.Fatal(err)
	}
	clitest.InAnotherProcess(t, "TestRestoreHelper", "restored and rolled back", "STEVEDORE_EC2_RESTORE="+file, "STEVEDORE_EC2_URL="+hs.URL)
	for _, id := range ids {
		if got := srv.Tags(id)["stevedore:version"]; got != "v1" {
			t.Errorf("%s is recorded to run %q after the other process's rollback, want v1", id, got)
		}
	}
}

// TestRestoreHelper is the other process of the test above; it does nothing on its own.
func TestRestoreHelper(t *testing.T) {
	file := os.Getenv("STEVEDORE_EC2_RESTORE")
	if file == "" {
		t.Skip("run by TestSnapshotRestoredInAnotherProcessRollsBack")
	}
	snap, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := targetAt(os.Getenv("STEVEDORE_EC2_URL")).Restore(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Rollback(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(ctx, nil); err == nil || !strings.Contains(err.Error(), "plan the release again") {
		t.Errorf("Apply of a restored plan: %v", err)
	}
	t.Log("restored and rolled back")
}
