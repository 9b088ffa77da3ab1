#!/usr/bin/env bash
# A real Kubernetes control plane on loopback for stevedore's EKS tests: etcd 3.5,
# kube-apiserver, kube-controller-manager and kube-scheduler 1.34, and kwok for fake nodes
# whose pods run (or fail, by kwok stages).
#
#   controlplane.sh build          build the binaries once into the cache (the first time: about
#                                  13 minutes on 2 cores, 1.2 GB of modules, 4 GB of build cache
#                                  and 3 GB of memory; later runs are instant)
#   controlplane.sh start DIR      build if needed, start everything with state in DIR, and print
#                                  the environment the tests read (STEVEDORE_KUBE_ENDPOINT, ...);
#                                  on failure it stops whatever it had started
#   controlplane.sh stop DIR       stop what start started, and return once every process has
#                                  exited (TERM, then KILL after a grace period)
#   controlplane.sh bindir         print where the binaries are (or will be) cached
#
# The cache is $STEVEDORE_CACHE (default ~/.cache/stevedore). Everything listens on 127.0.0.1.
set -euo pipefail

K8S_VERSION=1.34.4
STAGING_VERSION=0.34.4
ETCD_VERSION=3.5.21
KWOK_VERSION=0.7.0
cache=${STEVEDORE_CACHE:-$HOME/.cache/stevedore}
bin=$cache/kube-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION/bin

log() { echo "controlplane: $*" >&2; }

build() {
  mkdir -p "$cache"
  # Two test binaries may build at once: one builds, the other waits and finds it done.
  exec 9>"$cache/build.lock"
  flock 9
  local need=0
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
    [ -x "$bin/$b" ] || need=1
  done
  if [ "$need" = 0 ]; then
    exec 9>&- # release the lock, so the servers started next do not hold it
    log "binaries cached in $bin"
    return
  fi
  mkdir -p "$bin"
  # The scratch modules live in build_work, removed on the way out however the build ends.
  # (Not a RETURN trap: bash keeps that after build returns and fires it again when the
  # caller returns, with build's locals gone.)
  build_work=$(mktemp -d)
  trap 'rm -rf "$build_work"' EXIT
  local work=$build_work

  if [ ! -x "$bin/etcd" ]; then
    log "building etcd $ETCD_VERSION"
    mkdir -p "$work/etcd"
    cat >"$work/etcd/main.go" <<'GO'
// Command etcd runs an embedded etcd 3.5 server for tests: etcd -data-dir D -listen URL.
package main

import (
	"flag"
	"log"
	"net/url"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	dir := flag.String("data-dir", "default.etcd", "data directory")
	listen := flag.String("listen", "http://127.0.0.1:2379", "client URL")
	peer := flag.String("peer", "http://127.0.0.1:2380", "peer URL")
	flag.Parse()
	cfg := embed.NewConfig()
	cfg.Dir = *dir
	cu, _ := url.Parse(*listen)
	pu, _ := url.Parse(*peer)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.LogLevel = "error"
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		log.Fatal(err)
	}
	<-e.Server.ReadyNotify()
	log.Print("etcd ready")
	log.Fatal(<-e.Err())
}
GO
    (cd "$work/etcd" && go mod init local/etcd >/dev/null 2>&1 &&
      go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >/dev/null 2>&1 &&
      go mod tidy >/dev/null 2>&1 && go build -o "$bin/etcd" .)
  fi

  if [ ! -x "$bin/kube-apiserver" ] || [ ! -x "$bin/kube-controller-manager" ] || [ ! -x "$bin/kube-scheduler" ] || [ ! -x "$bin/kubectl" ]; then
    log "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $K8S_VERSION (what is missing)"
    mkdir -p "$work/kube"
    cd "$work/kube"
    go mod init local/kube >/dev/null 2>&1
    # k8s.io/kubernetes points its staging modules at ./staging; use the published ones.
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    {
      echo "require k8s.io/kubernetes v$K8S_VERSION"
      sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#replace \1 => \1 v'"$STAGING_VERSION"'#p' "$gomod"
    } >>go.mod
    cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
    go mod tidy >/dev/null 2>&1 || go mod tidy
    # kubectl is built only for the benchmarks that compare the EKS target with it.
    for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
      [ -x "$bin/$c" ] || go build -o "$bin/$c" "k8s.io/kubernetes/cmd/$c"
    done
    cd - >/dev/null
  fi

  if [ ! -x "$bin/kwok" ]; then
    log "building kwok $KWOK_VERSION"
    GOBIN=$bin go install "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
  fi
  rm -rf "$build_work"
  trap - EXIT
  exec 9>&-
  log "binaries built in $bin"
}

# The kwok stages the tests rely on: nodes become Ready; pods start at once and become Ready,
# except that a container whose image is tagged :broken waits in ImagePullBackOff for ever (a
# bad image, for the fail-fast and undo tests); deleted pods go away.
stages() {
  cat <<'YAML'
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.phase'
      operator: 'DoesNotExist'
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
        message: kwok node is ready
        reason: KubeletReady
        status: "True"
        type: Ready
      addresses:
      - address: {{ NodeIP | Quote }}
        type: InternalIP
      allocatable:
        cpu: "32"
        memory: 256Gi
        pods: "1000"
      capacity:
        cpu: "32"
        memory: 256Gi
        pods: "1000"
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-start
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.podIP'
      operator: 'DoesNotExist'
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $ready := "True" }}
      {{ range .spec.containers }}{{ if hasSuffix ":broken" .image }}{{ $ready = "False" }}{{ end }}{{ end }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: {{ $ready | Quote }}
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: {{ $ready | Quote }}
        type: ContainersReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        restartCount: 0
        {{ if hasSuffix ":broken" .image }}
        ready: false
        state:
          waiting:
            reason: ImagePullBackOff
            message: {{ printf "Back-off pulling image %q" .image | Quote }}
        {{ else }}
        ready: true
        state:
          running:
            startedAt: {{ $now | Quote }}
        {{ end }}
      {{ end }}
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
      phase: {{ if eq $ready "True" }}Running{{ else }}Pending{{ end }}
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'Exists'
  next:
    finalizers:
      empty: true
    delete: true
YAML
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

start() {
  local dir=$1
  build
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local p
  for p in kwok scheduler controller-manager apiserver etcd; do
    if [ -f "$dir/$p.pid" ] && ours "$(cat "$dir/$p.pid")" "$dir"; then
      log "a control plane already runs in $dir; stop it first: $0 stop $dir"
      return 1
    fi
  done
  # What a plane that ran here before left: its etcd data and certificates do not fit the new
  # ports (etcd would not start), so every run begins from nothing.
  rm -rf "$dir/etcd" "$dir/certs" "$dir/env" "$dir/kubeconfig" "$dir"/*.pid
  # Whatever fails from here on, leave no server running.
  start_dir=$dir
  trap 'stop "$start_dir"' EXIT
  local etcd_port peer_port api_port token
  etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)
  token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  # The token, and <token>r1 .. <token>r9 for the same user: token refresh tests rotate them.
  {
    echo "$token,stevedore-test,stevedore-test,system:masters"
    for i in 1 2 3 4 5 6 7 8 9; do echo "${token}r$i,stevedore-test,stevedore-test,system:masters"; done
  } >"$dir/tokens.csv"
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  # A client CA and a client certificate (group system:masters) for certificate auth tests.
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/client-ca.key" -out "$dir/client-ca.crt" -days 2 -subj "/CN=stevedore-test-client-ca" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$dir/client.key" -out "$dir/client.csr" -subj "/O=system:masters/CN=stevedore-cert" 2>/dev/null
  openssl x509 -req -in "$dir/client.csr" -CA "$dir/client-ca.crt" -CAkey "$dir/client-ca.key" -CAcreateserial -out "$dir/client.crt" -days 2 2>/dev/null

  "$bin/etcd" -data-dir "$dir/etcd" -listen "http://127.0.0.1:$etcd_port" -peer "http://127.0.0.1:$peer_port" >"$dir/etcd.log" 2>&1 &
  echo $! >"$dir/etcd.pid"
  "$bin/kube-apiserver" --etcd-servers="http://127.0.0.1:$etcd_port" --bind-address=127.0.0.1 --secure-port="$api_port" \
    --cert-dir="$dir/certs" --service-account-key-file="$dir/sa.pub" --service-account-signing-key-file="$dir/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc --token-auth-file="$dir/tokens.csv" --client-ca-file="$dir/client-ca.crt" --authorization-mode=RBAC \
    --service-cluster-ip-range=10.96.0.0/16 --advertise-address=127.0.0.1 \
    --disable-admission-plugins=ServiceAccount,TaintNodesByCondition >"$dir/apiserver.log" 2>&1 &
  echo $! >"$dir/apiserver.pid"

  local endpoint=https://127.0.0.1:$api_port
  local i
  for i in $(seq 1 120); do
    if curl -skf -H "Authorization: Bearer $token" "$endpoint/readyz" >/dev/null 2>&1; then break; fi
    sleep 0.5
  done
  curl -skf -H "Authorization: Bearer $token" "$endpoint/readyz" >/dev/null || { log "kube-apiserver did not become ready:"; tail -20 "$dir/apiserver.log" >&2; exit 1; }
  local ca=$dir/certs/apiserver.crt
  cat >"$dir/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $endpoint
    certificate-authority: $ca
users:
- name: test
  user:
    token: $token
contexts:
- name: local
  context: {cluster: local, user: test}
current-context: local
KC
  local kc="--kubeconfig=$dir/kubeconfig"
  # The namespace controller empties a deleted namespace: the tests delete theirs, and one
  # plane serves a whole CI run, whose pods would otherwise fill the nodes.
  "$bin/kube-controller-manager" $kc --authentication-kubeconfig="$dir/kubeconfig" --authorization-kubeconfig="$dir/kubeconfig" \
    --controllers=deployment-controller,replicaset-controller,statefulset-controller,daemonset-controller,garbage-collector-controller,namespace-controller \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 >"$dir/controller-manager.log" 2>&1 &
  echo $! >"$dir/controller-manager.pid"
  "$bin/kube-scheduler" $kc --authentication-kubeconfig="$dir/kubeconfig" --authorization-kubeconfig="$dir/kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 >"$dir/scheduler.log" 2>&1 &
  echo $! >"$dir/scheduler.pid"
  stages >"$dir/kwok.yaml"
  "$bin/kwok" $kc --config="$dir/kwok.yaml" --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --server-address=127.0.0.1:0 >"$dir/kwok.log" 2>&1 &
  echo $! >"$dir/kwok.pid"

  # Two fake nodes for pods to land on, with room for 1,000 pods each.
  for n in node-a node-b; do
    curl -skf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$endpoint/api/v1/nodes" -d '{
      "apiVersion":"v1","kind":"Node","metadata":{"name":"'$n'","annotations":{"kwok.x-k8s.io/node":"fake"},
      "labels":{"kubernetes.io/hostname":"'$n'","type":"kwok"}},
      "status":{"allocatable":{"cpu":"32","memory":"256Gi","pods":"1000"},"capacity":{"cpu":"32","memory":"256Gi","pods":"1000"}}}' >/dev/null
  done
  cat >"$dir/env" <<ENV
STEVEDORE_KUBE_ENDPOINT=$endpoint
STEVEDORE_KUBE_TOKEN=$token
STEVEDORE_KUBE_CA=$ca
STEVEDORE_KUBE_DIR=$dir
STEVEDORE_KUBECTL=$bin/kubectl
ENV
  trap - EXIT
  cat "$dir/env"
}

# ours PID DIR: whether PID is still one of the processes start started in DIR (a pid file
# may outlive its process, and the number be reused).
ours() {
  local args
  if [ -d /proc ]; then
    args=$({ tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null) || return 1
  else
    args=$(ps -o args= -p "$1" 2>/dev/null) || return 1
  fi
  [[ $args == *"$bin/"* && $args == *"$2"* ]]
}

stop() {
  local dir=$1 p pid pids=() grace=${STEVEDORE_KUBE_STOP_GRACE:-15} i
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  for p in kwok scheduler controller-manager apiserver etcd; do
    if [ -f "$dir/$p.pid" ]; then
      pid=$(cat "$dir/$p.pid")
      if ours "$pid" "$dir"; then
        kill -TERM "$pid" 2>/dev/null || true
        pids+=("$pid")
      fi
      rm -f "$dir/$p.pid"
    fi
  done
  # Wait for each to exit; KILL what is left after the grace period, and wait for that too.
  gone "$dir" "$grace" ${pids[@]+"${pids[@]}"} && return 0
  log "still running after ${grace}s, killing: ${left[*]}"
  for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  gone "$dir" 10 "${left[@]}" && return 0
  log "could not stop: ${left[*]}"
  return 1
}

# gone DIR SECONDS PID...: wait up to SECONDS for the PIDs of DIR to exit; those still running
# are left in the array left.
gone() {
  local dir=$1 secs=$2 i pid
  shift 2
  left=("$@")
  for i in $(seq 1 $((secs * 10))); do
    local alive=()
    for pid in ${left[@]+"${left[@]}"}; do
      if ours "$pid" "$dir"; then alive+=("$pid"); fi
    done
    left=(${alive[@]+"${alive[@]}"})
    [ ${#left[@]} -eq 0 ] && return 0
    sleep 0.1
  done
  return 1
}

case "${1:-}" in
  build) build ;;
  start) start "${2:?usage: controlplane.sh start DIR}" ;;
  stop) stop "${2:?usage: controlplane.sh stop DIR}" ;;
  bindir) echo "$bin" ;;
  *) echo "usage: controlplane.sh build | start DIR | stop DIR | bindir" >&2; exit 2 ;;
esac
