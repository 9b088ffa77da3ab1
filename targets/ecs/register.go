package ecs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/stevedore-dev/stevedore/internal/awserr"
	"github.com/stevedore-dev/stevedore/internal/poll"
)

// deployTag marks the revision one plan registered, so a register whose answer was lost is
// found instead of being sent again. Tags under "stevedore:" are the library's: plans ignore
// them when comparing and diffing.
const deployTag = "stevedore:deploy-id"

// registerAttempts bounds the register calls of one plan, each made only after looking for
// the revision an earlier attempt may have made.
const registerAttempts = 4

func newToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// registerOnce registers in exactly once. The SDK's own retries are off for this call: a
// retry after a lost answer would make a second revision. Before each retry it looks for a
// revision of the family carrying in's deploy tag, and uses it if the lost call made one.
func (t *Target) registerOnce(ctx context.Context, in *ecs.RegisterTaskDefinitionInput) (string, error) {
	token := ""
	for _, tag := range in.Tags {
		if aws.ToString(tag.Key) == deployTag {
			token = aws.ToString(tag.Value)
		}
	}
	family := aws.ToString(in.Family)
	once := func(o *ecs.Options) { o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 1) }
	var (
		arn         string
		attempt     int
		registering bool // the look's error, if any, is the register call's, which may be retried
	)
	look := func(ctx context.Context) (poll.Look, error) {
		attempt, registering = attempt+1, false
		if attempt > 1 {
			found, err := t.findRegistered(ctx, family, token)
			if err != nil || found != "" {
				if found != "" {
					t.log().InfoContext(ctx, "the register call's answer was lost, but it registered the revision", "target", t.Name(), "arn", found)
				}
				arn = found
				return poll.Look{Done: err == nil}, err
			}
		}
		out, err := t.c.api.RegisterTaskDefinition(ctx, in, once)
		if err != nil {
			registering = true
			return poll.Look{}, err
		}
		arn = aws.ToString(out.TaskDefinition.TaskDefinitionArn)
		return poll.Look{Done: true}, nil
	}
	policy := poll.Policy{Interval: time.Second, Growth: 2, Max: 8 * time.Second, Jitter: -1, Transient: registerAttempts - 1,
		Classify: func(err error) (bool, bool) {
			if !registering {
				return false, false // the look for a lost revision failed: that is final
			}
			return awserr.Classify(err)
		}}
	err := poll.Until(ctx, policy, look, func(err error, attempt int) {
		t.log().WarnContext(ctx, "register task definition failed; checking whether it registered before trying again",
			"target", t.Name(), "family", family, "err", err, "attempt", attempt)
	})
	switch {
	case err == nil:
		return arn, nil
	case ctx.Err() != nil:
		return "", t.ctxErr(ctx, "register task definition "+family, "between attempts")
	case !registering:
		return "", err // findRegistered's, already worded
	}
	return "", awserr.Wrap(t.Name(), "register task definition "+family, err, "")
}

// findRegistered returns the newest ACTIVE revision of family tagged with token, or "".
func (t *Target) findRegistered(ctx context.Context, family, token string) (string, error) {
	out, err := t.c.api.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(family),
		Sort: types.SortOrderDesc, Status: types.TaskDefinitionStatusActive, MaxResults: aws.Int32(10)})
	if err != nil {
		return "", awserr.Wrap(t.Name(), "list task definitions of "+family, err,
			"looking for the revision a lost register call may have made; the credentials need ecs:ListTaskDefinitions")
	}
	for _, arn := range out.TaskDefinitionArns {
		if familyOf(arn) != family {
			continue // another family with this prefix
		}
		d, err := t.c.api.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(arn),
			Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}})
		if err != nil {
			return "", awserr.Wrap(t.Name(), "describe task definition "+shortTD(arn), err, "")
		}
		for _, tag := range d.Tags {
			if aws.ToString(tag.Key) == deployTag && aws.ToString(tag.Value) == token {
				return arn, nil
			}
		}
	}
	return "", nil
}

// dropOwnTags removes the library's own tags from a task definition document's "tags".
func dropOwnTags(doc []byte) ([]byte, error) {
	tags := gjson.GetBytes(doc, "tags")
	if !tags.IsArray() {
		return doc, nil
	}
	var keep []any
	dropped := false
	for _, tag := range tags.Array() {
		if strings.HasPrefix(tag.Get("key").Str, "stevedore:") {
			dropped = true
			continue
		}
		keep = append(keep, tag.Value())
	}
	if !dropped {
		return doc, nil
	}
	if len(keep) == 0 {
		return sjson.DeleteBytes(doc, "tags") // an empty tags array is rejected
	}
	return sjson.SetBytes(doc, "tags", keep)
}
