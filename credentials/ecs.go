package credentials

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stevedore-dev/stevedore/deploy"
)

// ECSSecrets turns references into task-definition secrets for container (empty: every
// container), so ECS reads the values when tasks start and no value sits in the task
// definition. Pass the result as deploy.Release.Secrets to the ECS target.
//
// Secrets Manager references become the full ARN ECS needs for a JSON key or version
// (arn:...:secret:<name>-abc123:<json-key>:<stage>:<version-id>); a secret given by name is
// looked up once with DescribeSecret, which also finds a missing one before a deploy does; a
// /aws/reference path becomes the same ARN. Parameter Store references stay names or ARNs;
// ECS reads a parameter's latest version, so a :version or :label is refused. Every failure
// is reported at once, as a *ResolveError.
func (r *Resolver) ECSSecrets(ctx context.Context, container string, vars map[string]Ref) ([]deploy.SecretRef, error) {
	var out []deploy.SecretRef
	var rerr ResolveError
	arns := map[string]string{} // secret id -> ARN
	for _, name := range sortedKeys(vars) {
		ref := vars[name]
		fail := func(err error) { rerr.Failures = append(rerr.Failures, RefError{ref, err}) }
		if !deploy.ValidEnvName(name) {
			fail(deploy.Errorf(deploy.ErrInvalid, ref.String(), "ecs secret", "%q is not a valid environment variable name", name))
			continue
		}
		switch ref.Source {
		case SourceParameterStore:
			if ref.Version > 0 || ref.Label != "" {
				fail(deploy.Errorf(deploy.ErrInvalid, ref.String(), "ecs secret",
					"ECS reads a parameter's latest version and takes no :version or :label; drop it, or keep that value in a parameter of its own"))
				continue
			}
			out = append(out, deploy.SecretRef{Container: container, Name: name, ValueFrom: ref.ID})
		case SourceSecretsManager:
			arn, ok := arns[ref.ID]
			if strings.HasPrefix(ref.ID, "arn:") {
				arn, ok = ref.ID, true // already what ECS needs
			}
			if !ok {
				var err error
				if arn, err = r.secretARN(ctx, ref.ID); err != nil {
					fail(refErr(ref, err))
					continue
				}
				arns[ref.ID] = arn
			}
			vf := arn
			if ref.JSONKey != "" || ref.VersionStage != "" || ref.VersionID != "" {
				vf = strings.Join([]string{arn, ref.JSONKey, ref.VersionStage, ref.VersionID}, ":")
			}
			out = append(out, deploy.SecretRef{Container: container, Name: name, ValueFrom: vf})
		default:
			fail(deploy.Errorf(deploy.ErrInvalid, ref.String(), "ecs secret", "the reference names no store; make it with Parse"))
		}
	}
	if len(rerr.Failures) > 0 {
		return nil, &rerr
	}
	return out, nil
}

// secretARN returns the full ARN of a secret named by name or ARN.
func (r *Resolver) secretARN(ctx context.Context, id string) (string, error) {
	if r.sm == nil {
		return "", deploy.Errorf(deploy.ErrInvalid, "", "ecs secret", "the Resolver has no Secrets Manager client")
	}
	d, err := r.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		return "", smErr(id, "describe secret", err)
	}
	return aws.ToString(d.ARN), nil
}
