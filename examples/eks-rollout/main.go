// Command eks-rollout sets images on a Kubernetes Deployment, StatefulSet or DaemonSet (on
// EKS or any cluster) and waits with kubectl's rules, failing fast on pods that cannot start
// and undoing the change on failure. No kubectl, no aws CLI.
//
//	eks-rollout [-cluster NAME | -kubeconfig PATH] [-context C] [-namespace NS]
//	    [-kind deployment|statefulset|daemonset] -name NAME -image CONTAINER=IMAGE [-image ...]
//	    [-timeout 10m] [-rollback-timeout 10m] [-dry-run] [-no-watch]
//	eks-rollout -print-token -cluster NAME
//
// With -cluster, the endpoint and CA come from eks:DescribeCluster and tokens are made as
// `aws eks get-token` makes them, renewed during long rollouts. Otherwise the cluster is read
// from -kubeconfig, else KUBECONFIG, else ~/.kube/config, with the current context unless
// -context names one, as kubectl reads them; the namespace defaults to the context's.
// -print-token prints that token as an ExecCredential, so this program can serve as a
// kubeconfig exec plugin. Progress goes to stderr; a failure exits 1 with a one-line reason
// (2 for a mistake in the command line); SIGINT or SIGTERM undoes the change and exits 130
// or 143, and a second one exits at once.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	awseks "github.com/aws/aws-sdk-go-v2/service/eks"

	"github.com/stevedore-dev/stevedore/deploy"
	"github.com/stevedore-dev/stevedore/internal/cli"
	"github.com/stevedore-dev/stevedore/targets/eks"
)

func main() {
	in := cli.OnInterrupt("eks-rollout", "undoing the change", os.Stderr)
	code := run(in.Context(), os.Args[1:], os.Stdout, os.Stderr)
	in.Stop()
	os.Exit(in.Code(code))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.Exit("eks-rollout", rollout(ctx, args, stdout, stderr), stderr)
}

func rollout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eks-rollout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	images := cli.NewPairs("CONTAINER=IMAGE")
	rf := cli.AddReleaseFlags(fs)
	cluster := fs.String("cluster", "", "EKS cluster name (endpoint and tokens from AWS)")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: KUBECONFIG, else ~/.kube/config)")
	kctx := fs.String("context", "", "kubeconfig context (default: its current-context)")
	namespace := fs.String("namespace", "", "namespace (default: the kubeconfig context's, else default)")
	kindFlag := fs.String("kind", "deployment", "deployment, statefulset or daemonset")
	name := fs.String("name", "", "workload name")
	fs.Var(images, "image", "CONTAINER=IMAGE (repeatable)")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up and undo after this long")
	rollbackTimeout := fs.Duration("rollback-timeout", deploy.DefaultRollbackTimeout, "bound the undo after a failure or an interrupt")
	dryRun := fs.Bool("dry-run", false, "show the pod template change, and change nothing")
	noWatch := fs.Bool("no-watch", false, "poll instead of watching")
	printToken := fs.Bool("print-token", false, "print an ExecCredential for -cluster and exit")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := rf.Check(); err != nil {
		return err
	}
	if *cluster != "" && (*kubeconfig != "" || *kctx != "") {
		return cli.UsageError("give -cluster, or -kubeconfig and -context, not both")
	}
	if *printToken {
		if *cluster == "" {
			return cli.UsageError("-print-token needs -cluster")
		}
		awsCfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return fmt.Errorf("loading the AWS configuration: %w", err)
		}
		tok, exp, err := eks.NewEKSToken(awsCfg, *cluster).Token(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", eks.ExecCredential(execAPIVersion(), tok, exp))
		return nil
	}
	kind, err := eks.ParseKind(*kindFlag)
	if err != nil {
		return cli.UsageError(err.Error())
	}
	if *name == "" || len(images.Values) == 0 {
		return cli.UsageError("give -name and at least one -image")
	}
	var client *eks.Client
	if *cluster != "" {
		awsCfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return fmt.Errorf("loading the AWS configuration: %w", err)
		}
		client, err = eks.ConnectEKS(ctx, awseks.NewFromConfig(awsCfg), *cluster, eks.NewEKSToken(awsCfg, *cluster))
		if err != nil {
			return err
		}
	} else {
		cfg, err := eks.LoadKubeconfig(*kubeconfig, &eks.KubeconfigOptions{Context: *kctx})
		if err != nil {
			return err
		}
		if client, err = eks.NewClient(cfg); err != nil {
			return err
		}
	}
	target := eks.New(client, kind, *namespace, *name, &eks.Options{Cluster: *cluster, NoWatch: *noWatch})
	dopts := &deploy.Options{
		DryRun: *dryRun, Timeout: *timeout, RollbackTimeout: *rollbackTimeout,
		OnEvent: func(e deploy.Event) {
			fmt.Fprintf(stderr, "%s %-8s %s\n", e.Time.Format("15:04:05"), e.Phase, e.Message)
		},
	}
	if !*dryRun {
		if err := rf.Prepare(ctx, nil, []deploy.Target{target}, dopts, stderr); err != nil {
			return err
		}
	}
	res, err := deploy.Run(ctx, deploy.Release{Images: images.Values}, []deploy.Target{target}, dopts)
	if !*dryRun {
		if ferr := rf.Finish(res, err, stderr); ferr != nil && err == nil {
			return ferr
		}
	}
	if *dryRun && res != nil && len(res.Targets) > 0 && res.Targets[0].Plan != nil {
		if d := res.Targets[0].Plan.Diff(); d != "" {
			fmt.Fprint(stdout, d)
		} else {
			fmt.Fprintln(stdout, "no change")
		}
	}
	return err
}

// execAPIVersion is the ExecCredential version kubectl asks a plugin for in
// KUBERNETES_EXEC_INFO ("" when run by hand: v1beta1).
func execAPIVersion() string {
	var info struct {
		APIVersion string `json:"apiVersion"`
	}
	_ = json.Unmarshal([]byte(os.Getenv("KUBERNETES_EXEC_INFO")), &info)
	return info.APIVersion
}
