package eks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awseks "github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/awserr"
)

// TokenLifetime is how long an EKS token is used: the server takes one for 15 minutes after
// it was signed; clients stop at 14 to be safe.
const TokenLifetime = 14 * time.Minute

// tokenPrefix starts every EKS bearer token.
const tokenPrefix = "k8s-aws-v1."

// Presigner is the part of *sts.PresignClient the EKS token needs.
type Presigner interface {
	PresignGetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

// EKSToken makes the bearer tokens `aws eks get-token` makes: an STS GetCallerIdentity
// request presigned with the cluster name in the signed x-k8s-aws-id header. Tokens are made
// locally, with no call to AWS, and remade before they expire.
type EKSToken struct {
	presign Presigner
	cluster string
	now     func() time.Time
}

// NewEKSToken returns a token source for cluster, signing with the credentials in cfg.
func NewEKSToken(cfg aws.Config, cluster string) *EKSToken {
	return &EKSToken{presign: sts.NewPresignClient(sts.NewFromConfig(cfg)), cluster: cluster, now: time.Now}
}

// Token implements TokenSource.
func (t *EKSToken) Token(ctx context.Context) (string, time.Time, error) {
	req, err := t.presign.PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.PresignOptions) {
		o.ClientOptions = append(o.ClientOptions, func(o *sts.Options) {
			o.APIOptions = append(o.APIOptions,
				smithyhttp.SetHeaderValue("x-k8s-aws-id", t.cluster),
				smithyhttp.SetHeaderValue("X-Amz-Expires", "60"))
		})
	})
	if err != nil {
		return "", time.Time{}, awserr.Wrap("eks:"+t.cluster, "make a cluster token", err, "the AWS credentials could not sign a GetCallerIdentity request")
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(req.URL)), t.now().Add(TokenLifetime), nil
}

// ExecCredential returns the JSON a kubeconfig exec plugin prints, as `aws eks get-token`
// does, so a program using this package can serve as that plugin. apiVersion is the one the
// kubeconfig asks for (KUBERNETES_EXEC_INFO tells the plugin); "" means v1beta1.
func ExecCredential(apiVersion, token string, expires time.Time) []byte {
	if apiVersion == "" {
		apiVersion = execV1beta1
	}
	out, _ := json.Marshal(map[string]any{
		"kind":       "ExecCredential",
		"apiVersion": apiVersion,
		"spec":       map[string]any{},
		"status":     map[string]any{"expirationTimestamp": expires.UTC().Format(time.RFC3339), "token": token},
	})
	return out
}

// DescribeClusterAPI is the part of *eks.Client the target calls.
type DescribeClusterAPI interface {
	DescribeCluster(context.Context, *awseks.DescribeClusterInput, ...func(*awseks.Options)) (*awseks.DescribeClusterOutput, error)
}

// ConnectEKS returns a client for an EKS cluster: its endpoint and CA from DescribeCluster,
// tokens from tokens (NewEKSToken for the usual case).
func ConnectEKS(ctx context.Context, api DescribeClusterAPI, cluster string, tokens TokenSource) (*Client, error) {
	endpoint, ca, err := describeCluster(ctx, api, cluster)
	if err != nil {
		return nil, err
	}
	c, err := NewClient(ClientConfig{Endpoint: endpoint, CAData: ca, Tokens: tokens})
	if err != nil {
		return nil, deploy.Errorf(deploy.ErrInvalid, "eks:"+cluster, "connect", "%v", err)
	}
	return c, nil
}

// describeCluster returns a cluster's endpoint and CA (PEM).
func describeCluster(ctx context.Context, api DescribeClusterAPI, cluster string) (string, []byte, error) {
	out, err := api.DescribeCluster(ctx, &awseks.DescribeClusterInput{Name: aws.String(cluster)})
	if err != nil {
		return "", nil, awserr.WrapHints("eks:"+cluster, "describe cluster", err, awserr.Hints{
			deploy.ErrNotFound:     "check the cluster name and the region",
			deploy.ErrAccessDenied: "the credentials need eks:DescribeCluster",
		})
	}
	c := out.Cluster
	if c == nil || aws.ToString(c.Endpoint) == "" || c.CertificateAuthority == nil {
		status := ""
		if c != nil {
			status = string(c.Status)
		}
		return "", nil, deploy.Errorf(deploy.ErrFailed, "eks:"+cluster, "describe cluster", "the cluster has no endpoint or CA yet (status %s); they exist once it is ACTIVE", status)
	}
	ca, err := base64.StdEncoding.DecodeString(aws.ToString(c.CertificateAuthority.Data))
	if err != nil {
		return "", nil, deploy.Errorf(deploy.ErrInvalid, "eks:"+cluster, "describe cluster", "the cluster's CA data is not base64: %v", err)
	}
	return aws.ToString(c.Endpoint), ca, nil
}
