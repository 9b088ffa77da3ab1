// Package eks is the Kubernetes target: it sets images on a Deployment, StatefulSet or
// DaemonSet, on EKS or any cluster, and waits with kubectl's rollout rules, through a small
// REST client on net/http (no client-go, no kubectl, no aws CLI).
//
// Connect with ConnectEKS (DescribeCluster, and EKSToken tokens made as `aws eks get-token`
// makes them, renewed before they expire), LoadKubeconfig, or NewClient. A rollout fails fast
// when a new pod cannot start (ImagePullBackOff, ErrImagePull, CrashLoopBackOff,
// CreateContainerConfigError) instead of waiting for the progress deadline, and is undone:
// a Deployment the way kubectl rollout undo does it, a StatefulSet or DaemonSet by writing
// back the template the plan observed.
package eks
