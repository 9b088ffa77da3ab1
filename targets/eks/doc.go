// Package eks is the Kubernetes target: it sets images on a Deployment, StatefulSet or
// DaemonSet, on EKS or any cluster, and waits with kubectl's rollout rules, through a small
// REST client on net/http (no client-go, no kubectl, no aws CLI). Import it as eks and the
// SDK's package of the same name as awseks, as every example here does.
//
// Connect with ConnectEKS (DescribeCluster, and EKSToken tokens made as `aws eks get-token`
// makes them, renewed before they expire), LoadKubeconfig, or NewClient. LoadKubeconfig reads
// kubeconfigs as kubectl does (YAML through go.yaml.in/yaml/v3, KUBECONFIG merging, relative
// paths, the context's namespace, TLS and proxy settings, impersonation); exec entries of
// `aws eks get-token` and aws-iam-authenticator are made natively with their role, profile,
// region and env, and any other credential plugin runs as kubectl runs it (ExecCredential v1
// and v1beta1, cached until it expires, run again when the server refuses it).
//
// The client retries what is transient (5xx, 429 with its Retry-After, reset connections, cut
// answers) with capped, jittered backoff; a write whose answer was lost is not repeated
// blindly: the workload is read again first. Names and images are checked before any request.
//
// A rollout fails fast when a new pod cannot start (ImagePullBackOff, ErrImagePull,
// CrashLoopBackOff, CreateContainerConfigError, InvalidImageName, CreateContainerError)
// instead of waiting for the progress deadline, and is undone: a Deployment the way kubectl
// rollout undo does it, a StatefulSet or DaemonSet by writing back the template the plan
// observed. The wait judges the change this deploy wrote (its generation and pod template):
// when another writer changes the template meanwhile, it fails with deploy.ErrSuperseded, and
// the undo never writes over the newer change.
package eks
