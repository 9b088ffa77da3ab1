package eks_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	awseks "github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/tidwall/gjson"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/targets/eks"
)

func ExampleConnectEKS() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	client, err := eks.ConnectEKS(ctx, awseks.NewFromConfig(cfg), "prod", eks.NewEKSToken(cfg, "prod"))
	if err != nil {
		log.Fatal(err)
	}
	target := eks.New(client, eks.Deployment, "shop", "web", &eks.Options{Cluster: "prod"})
	_, err = deploy.Run(ctx, deploy.Release{Version: "1.4.2", Images: map[string]string{"app": "registry.example.com/web:1.4.2"}},
		[]deploy.Target{target}, &deploy.Options{Timeout: 10 * time.Minute})
	if err != nil {
		log.Fatal(err) // names the pod, container and reason when a new pod cannot start
	}
}

// LoadKubeconfig reads kubeconfigs as kubectl does: "" means KUBECONFIG, else ~/.kube/config;
// the current context unless one is named; the context's namespace for targets given none.
func ExampleLoadKubeconfig() {
	cfg, err := eks.LoadKubeconfig("", &eks.KubeconfigOptions{Context: "staging"})
	if err != nil {
		log.Fatal(err) // names a missing context, cluster or user, and the files searched
	}
	client, err := eks.NewClient(cfg)
	if err != nil {
		log.Fatal(err)
	}
	_ = eks.New(client, eks.StatefulSet, "", "postgres", nil) // in the context's namespace
}

func ExampleStatus() {
	obj := gjson.Parse(`{"metadata":{"name":"web","generation":4},"spec":{"replicas":3},
		"status":{"observedGeneration":4,"replicas":4,"updatedReplicas":3,"availableReplicas":3}}`)
	msg, done, err := eks.Status(eks.Deployment, obj)
	fmt.Println(msg, done, err)
	// Output: 1 old replicas are pending termination false <nil>
}

func ExamplePodProblem() {
	pod := gjson.Parse(`{"metadata":{"name":"web-7d9f-x2"},"status":{"containerStatuses":[
		{"name":"app","state":{"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image \"web:typo\""}}}]}}`)
	fmt.Println(eks.PodProblem(pod))
	// Output: pod web-7d9f-x2 container app: ImagePullBackOff: Back-off pulling image "web:typo"
}
