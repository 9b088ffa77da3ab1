package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/deploy/store"
	"github.com/stevedore-dev/stevedore/internal/mototest"
)

func TestMain(m *testing.M) { mototest.Main(m) }

// stores are the stores under test, each fresh: S3 and DynamoDB against moto.
func stores(t *testing.T) map[string]any {
	ctx := t.Context()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[len(name)-50:]
	}
	name = strings.Trim(name, "-")
	cfg := mototest.Config(t)
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	ddb := dynamodb.NewFromConfig(cfg)
	if err := createTableErr(t, ddb, name); err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"memory":   store.NewMemory(),
		"s3":       store.NewS3(s3c, name, "stevedore/"),
		"dynamodb": store.NewDynamoDB(ddb, name, "id"),
		"file":     store.NewFile(t.TempDir()),
	}
}

func holder(id string, expires time.Duration) deploy.Holder {
	now := time.Now().Truncate(time.Millisecond)
	return deploy.Holder{ID: id, Who: id + "@runner", Release: "image web:" + id, Since: now, Expires: now.Add(expires)}
}

// Every store's leases, step by step: taken, refused naming the holder, taken again by the
// holder, renewed, marked by a newer release (the holder's renewal says so), given up and
// taken by the next; an expired lease taken over (its holder's renewal finds it lost).
func TestLockers(t *testing.T) {
	for name, s := range stores(t) {
		l, ok := s.(deploy.Locker)
		if !ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			a, err := l.Lock(ctx, "ecs:prod/web", holder("a", time.Hour))
			if err != nil {
				t.Fatalf("a's lock: %v", err)
			}
			_, err = l.Lock(ctx, "ecs:prod/web", holder("b", time.Hour))
			var le *deploy.LockedError
			if !errors.Is(err, deploy.ErrLocked) || !errors.As(err, &le) || le.Holder == nil || le.Holder.ID != "a" || le.Holder.Who != "a@runner" || le.Holder.Release != "image web:a" {
				t.Fatalf("b's lock while a holds it: %v", err)
			}
			if _, err := l.Lock(ctx, "ecs:prod/api", holder("b", time.Hour)); err != nil {
				t.Errorf("another key: %v", err)
			}
			if err := a.Renew(ctx, time.Now().Add(2*time.Hour)); err != nil {
				t.Fatalf("a's renewal: %v", err)
			}
			if err := l.Yield(ctx, "ecs:prod/web", holder("b", time.Hour)); err != nil {
				t.Fatalf("b asking a to yield: %v", err)
			}
			if err := a.Renew(ctx, time.Now().Add(2*time.Hour)); !errors.Is(err, deploy.ErrSuperseded) || !strings.Contains(err.Error(), "release b") {
				t.Fatalf("a's renewal after b asked: %v", err)
			}
			if err := a.Release(ctx); err != nil {
				t.Fatalf("a's release: %v", err)
			}
			b, err := l.Lock(ctx, "ecs:prod/web", holder("b", time.Hour))
			if err != nil {
				t.Fatalf("b's lock after a gave way: %v", err)
			}
			if err := b.Renew(ctx, time.Now().Add(time.Hour)); err != nil {
				t.Errorf("b's renewal: %v (the yield mark must not outlive a's lease)", err)
			}

			c, err := l.Lock(ctx, "ec2:tag:app=web", holder("c", -time.Second)) // expired already: c died
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Lock(ctx, "ec2:tag:app=web", holder("d", time.Hour)); err != nil {
				t.Fatalf("d taking c's expired lease: %v", err)
			}
			if err := c.Renew(ctx, time.Now().Add(time.Hour)); !errors.Is(err, deploy.ErrLockLost) || !strings.Contains(err.Error(), "release d") {
				t.Errorf("c's renewal after d took over: %v", err)
			}
			if err := c.Release(ctx); err != nil {
				t.Errorf("c's release of a lease it lost: %v", err)
			}
			if _, err := l.Lock(ctx, "ec2:tag:app=web", holder("e", time.Hour)); !errors.Is(err, deploy.ErrLocked) {
				t.Errorf("c's release gave d's lease away: %v", err)
			}
		})
	}
}

// Every store's journal: records written, replaced, listed unfinished oldest first, and gone
// from that list once done; finished ones listed the latest first.
func TestJournals(t *testing.T) {
	for name, s := range stores(t) {
		j := s.(deploy.Journal)
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			if got, err := j.Unfinished(ctx); err != nil || len(got) != 0 {
				t.Fatalf("a new journal: %v, %v", got, err)
			}
			start := time.Now().Truncate(time.Second)
			var recs []*deploy.Record
			for i, id := range []string{"r2", "r1", "r3"} {
				r := &deploy.Record{Version: deploy.RecordVersion, ID: id, Release: "image web:" + id, Started: start.Add(time.Duration(-i) * time.Minute),
					Stages: []deploy.RecordStage{{Name: "app", Started: true, Targets: []deploy.RecordTarget{{Name: "ecs:prod/web", State: deploy.StateApplying,
						Snapshot: json.RawMessage(fmt.Sprintf(`{"version":1,"deployment":%q}`, id))}}}}}
				if err := j.Write(ctx, r); err != nil {
					t.Fatal(err)
				}
				recs = append(recs, r)
			}
			recs[1].Stages[0].Targets[0].State = deploy.StateApplied
			recs[1].Step = "gate alarms"
			if err := j.Write(ctx, recs[1]); err != nil {
				t.Fatal(err)
			}
			got, err := j.Unfinished(ctx)
			if err != nil || len(got) != 3 || got[0].ID != "r3" || got[1].ID != "r1" || got[2].ID != "r2" {
				t.Fatalf("unfinished: %v %v, want r3, r1, r2 (oldest first)", ids(got), err)
			}
			if r := got[1]; r.Step != "gate alarms" || r.Stages[0].Targets[0].State != deploy.StateApplied || string(r.Stages[0].Targets[0].Snapshot) != `{"version":1,"deployment":"r1"}` {
				t.Errorf("r1 read back as %+v", r)
			}
			recs[0].Done, recs[0].Outcome = true, deploy.OutcomeDeployed
			if err := j.Write(ctx, recs[0]); err != nil {
				t.Fatal(err)
			}
			if got, err := j.Unfinished(ctx); err != nil || len(got) != 2 || got[0].ID != "r3" || got[1].ID != "r1" {
				t.Errorf("after r2 finished: %v %v", ids(got), err)
			}
			recs[2].Done, recs[2].Outcome, recs[2].Updated = true, deploy.OutcomeRolledBack, start.Add(time.Hour)
			recs[0].Updated = start.Add(time.Minute)
			for _, r := range []*deploy.Record{recs[0], recs[2]} {
				if err := j.Write(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			h := j.(deploy.History)
			if got, err := h.Finished(ctx, 10); err != nil || strings.Join(ids(got), ",") != "r3,r2" || got[0].Outcome != deploy.OutcomeRolledBack {
				t.Errorf("finished: %v %v, want r3, r2 (the latest first)", ids(got), err)
			}
			if got, err := h.Finished(ctx, 1); err != nil || strings.Join(ids(got), ",") != "r3" {
				t.Errorf("the latest finished: %v %v", ids(got), err)
			}
		})
	}
}

func ids(rs []*deploy.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// A record of another version is refused, naming it, rather than misread.
func TestJournalRefusesOtherVersions(t *testing.T) {
	j := store.NewFile(t.TempDir())
	if err := j.Write(context.Background(), &deploy.Record{Version: 99, ID: "future"}); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Unfinished(context.Background()); !errors.Is(err, deploy.ErrInvalid) || !strings.Contains(err.Error(), "record future has version 99") {
		t.Errorf("err = %v", err)
	}
}

// createTableErr makes a table whose partition key is the string "id".
func createTableErr(tb testing.TB, ddb *dynamodb.Client, name string) error {
	_, err := ddb.CreateTable(tb.Context(), &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}}})
	return err
}
