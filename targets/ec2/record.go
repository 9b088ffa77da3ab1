package ec2

import (
	"context"
	"encoding/json"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
)

// recorded is what an instance was recorded to run.
type recorded struct {
	Version string `json:"version"`
	Image   string `json:"image,omitempty"`
}

func (t *Target) paramName(id string) string { return t.opts.RecordParameterPrefix + "/" + id }

// readRecords fills in what the Parameter Store records say (tags are read with the
// instances), ten parameters a call.
func (t *Target) readRecords(ctx context.Context, ids []string, into map[string]*recorded) error {
	for chunk := range slices.Chunk(ids, 10) {
		names := make([]string, len(chunk))
		for i, id := range chunk {
			names[i] = t.paramName(id)
		}
		out, err := t.ssm.GetParameters(ctx, &ssm.GetParametersInput{Names: names, WithDecryption: aws.Bool(true)})
		if err != nil {
			return awserr.WrapHints(t.Name(), "read recorded versions", err, awserr.Hints{deploy.ErrAccessDenied: "the credentials need ssm:GetParameters on " + t.opts.RecordParameterPrefix + "/*"})
		}
		for _, p := range out.Parameters {
			var r recorded
			if json.Unmarshal([]byte(aws.ToString(p.Value)), &r) == nil && r.Version != "" {
				for i, n := range names {
					if n == aws.ToString(p.Name) {
						into[chunk[i]] = &r
					}
				}
			}
		}
	}
	return nil
}

// record writes what ids now run: tags, 1,000 instances a call, or one parameter each.
func (t *Target) record(ctx context.Context, ids []string, r recorded) error {
	if t.opts.RecordParameterPrefix == "" {
		tags := []ec2types.Tag{{Key: aws.String(t.opts.RecordTag), Value: aws.String(r.Version)}}
		if r.Image != "" {
			tags = append(tags, ec2types.Tag{Key: aws.String(t.opts.RecordTag + "-image"), Value: aws.String(r.Image)})
		}
		for chunk := range slices.Chunk(ids, 1000) {
			if _, err := t.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: chunk, Tags: tags}); err != nil {
				return awserr.WrapHints(t.Name(), "record versions", err, awserr.Hints{deploy.ErrAccessDenied: "the credentials need ec2:CreateTags on the instances"})
			}
		}
		return nil
	}
	value, _ := json.Marshal(r)
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, err := t.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(t.paramName(id)), Value: aws.String(string(value)),
				Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)})
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = awserr.WrapHints(t.Name(), "record versions", err, awserr.Hints{deploy.ErrAccessDenied: "the credentials need ssm:PutParameter on " + t.opts.RecordParameterPrefix + "/*"})
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}
