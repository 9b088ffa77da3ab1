package ecs

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awsecr "github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/credentials"
	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
	"github.com/stevedore-dev/stevedore/internal/imageref"
)

// The clients Verify calls; the SDK's *ecr.Client, *iam.Client and *cloudwatchlogs.Client
// satisfy them.
type (
	ECRAPI interface {
		DescribeImages(context.Context, *awsecr.DescribeImagesInput, ...func(*awsecr.Options)) (*awsecr.DescribeImagesOutput, error)
	}
	IAMAPI interface {
		GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	}
	LogsAPI interface {
		DescribeLogGroups(context.Context, *cloudwatchlogs.DescribeLogGroupsInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogGroupsOutput, error)
	}
	// SecretReader reads secrets; *credentials.Resolver and *credentials.Cache satisfy it.
	SecretReader interface {
		Resolve(ctx context.Context, refs ...credentials.Ref) (map[credentials.Ref]credentials.Secret, error)
	}
)

// Verifier checks, before anything changes, that what the new task definition refers to
// exists and can be read. Each client left nil skips its checks.
type Verifier struct {
	ECR     ECRAPI       // images in ECR exist (DescribeImages); other registries are skipped with a note
	IAM     IAMAPI       // the task and execution roles exist (GetRole)
	Logs    LogsAPI      // awslogs log groups exist, unless awslogs-create-group is set (DescribeLogGroups)
	Secrets SecretReader // every secrets valueFrom and repository credential can be read; values are discarded
	// Region is the region of the ECR client: images of other regions are skipped with a note.
	Region string
}

// VerifyReport lists what Verify checked, skipped and found wrong.
type VerifyReport struct {
	Checked, Skipped, Problems []string
}

// Verify checks the plan's rendered task definition with v and returns an ErrInvalid error
// naming every problem at once when any is found. It changes nothing and never prints a
// secret value.
func (p *Plan) Verify(ctx context.Context, v *Verifier) (*VerifyReport, error) {
	r := &VerifyReport{}
	td := gjson.ParseBytes(p.rendered)
	containers := td.Get("containerDefinitions").Array()
	if v.ECR != nil {
		for _, c := range containers {
			p.verifyImage(ctx, v, c.Get("image").Str, r)
		}
	}
	if v.IAM != nil {
		for _, key := range []string{"taskRoleArn", "executionRoleArn"} {
			arn := td.Get(key).Str
			if arn == "" {
				continue
			}
			name := arn[strings.LastIndexByte(arn, '/')+1:]
			if _, err := v.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)}); err != nil {
				r.Problems = append(r.Problems, fmt.Sprintf("%s %s: %s", key, arn, problem(err)))
				continue
			}
			r.Checked = append(r.Checked, key+" "+arn)
		}
	}
	if v.Logs != nil {
		for _, c := range containers {
			lc := c.Get("logConfiguration")
			group := lc.Get("options.awslogs-group").Str
			if lc.Get("logDriver").Str != "awslogs" || group == "" {
				continue
			}
			if lc.Get("options.awslogs-create-group").Str == "true" {
				r.Skipped = append(r.Skipped, "log group "+group+": awslogs-create-group is set")
				continue
			}
			out, err := v.Logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(group)})
			switch {
			case err != nil:
				r.Problems = append(r.Problems, fmt.Sprintf("log group %s of container %s: %s", group, c.Get("name").Str, problem(err)))
			case !hasLogGroup(out, group):
				r.Problems = append(r.Problems, fmt.Sprintf("log group %s of container %s does not exist; create it or set awslogs-create-group", group, c.Get("name").Str))
			default:
				r.Checked = append(r.Checked, "log group "+group)
			}
		}
	}
	if v.Secrets != nil {
		for _, c := range containers {
			var from []string
			for _, s := range c.Get("secrets").Array() {
				from = append(from, s.Get("valueFrom").Str)
			}
			if rc := c.Get("repositoryCredentials.credentialsParameter").Str; rc != "" {
				from = append(from, rc)
			}
			for _, vf := range from {
				ref, err := credentials.Parse(vf)
				if err != nil {
					r.Problems = append(r.Problems, fmt.Sprintf("secret %s of container %s: %v", vf, c.Get("name").Str, err))
					continue
				}
				if _, err := v.Secrets.Resolve(ctx, ref); err != nil {
					r.Problems = append(r.Problems, fmt.Sprintf("secret %s of container %s cannot be read: %v", vf, c.Get("name").Str, err))
					continue
				}
				r.Checked = append(r.Checked, "secret "+vf)
			}
		}
	}
	for _, s := range r.Skipped {
		p.t.log().InfoContext(ctx, "verify skipped a check", "target", p.t.Name(), "what", s)
	}
	if len(r.Problems) > 0 {
		return r, deploy.Errorf(deploy.ErrInvalid, p.t.Name(), "verify", "%d problems, nothing changed: %s", len(r.Problems), strings.Join(r.Problems, "; "))
	}
	return r, nil
}

func (p *Plan) verifyImage(ctx context.Context, v *Verifier, image string, r *VerifyReport) {
	ref, err := imageref.Parse(image)
	if err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("image %q: %v", image, err))
		return
	}
	// <account>.dkr.ecr.<region>.amazonaws.com
	host := strings.Split(ref.Registry, ".")
	if len(host) < 6 || host[1] != "dkr" || host[2] != "ecr" || !strings.HasPrefix(strings.Join(host[4:], "."), "amazonaws.com") {
		r.Skipped = append(r.Skipped, "image "+image+": not in ECR")
		return
	}
	if v.Region != "" && host[3] != v.Region {
		r.Skipped = append(r.Skipped, "image "+image+": ECR of region "+host[3]+", not "+v.Region)
		return
	}
	id := ecrtypes.ImageIdentifier{}
	switch {
	case ref.Digest != "":
		id.ImageDigest = aws.String(ref.Digest)
	case ref.Tag != "":
		id.ImageTag = aws.String(ref.Tag)
	default:
		id.ImageTag = aws.String("latest")
	}
	_, err = v.ECR.DescribeImages(ctx, &awsecr.DescribeImagesInput{RegistryId: aws.String(host[0]), RepositoryName: aws.String(ref.Repository),
		ImageIds: []ecrtypes.ImageIdentifier{id}})
	if err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("image %s: %s", image, problem(err)))
		return
	}
	r.Checked = append(r.Checked, "image "+image)
}

func hasLogGroup(out *cloudwatchlogs.DescribeLogGroupsOutput, name string) bool {
	for _, g := range out.LogGroups {
		if aws.ToString(g.LogGroupName) == name {
			return true
		}
	}
	return false
}

// problem words an AWS error for a verify report: the error code and message.
func problem(err error) string {
	if k := awserr.Kind(err); k == deploy.ErrNotFound {
		return "not found (" + err.Error() + ")"
	}
	return err.Error()
}
