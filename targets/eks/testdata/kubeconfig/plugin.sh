#!/bin/sh
# A kubeconfig exec credential plugin for the tests: it prints $TOKEN as an ExecCredential
# of the apiVersion KUBERNETES_EXEC_INFO asks for, and appends a line to the file named by
# its first argument each time it runs. With REQUIRE_CLUSTER=1 it fails unless the request
# carries the cluster (provideClusterInfo).
set -eu
[ -n "${KUBERNETES_EXEC_INFO:-}" ] || { echo "plugin.sh: no KUBERNETES_EXEC_INFO" >&2; exit 1; }
case "$KUBERNETES_EXEC_INFO" in
  *'"apiVersion":"client.authentication.k8s.io/v1"'*) v=client.authentication.k8s.io/v1 ;;
  *) v=client.authentication.k8s.io/v1beta1 ;;
esac
if [ "${REQUIRE_CLUSTER:-}" = 1 ]; then
  case "$KUBERNETES_EXEC_INFO" in
    *'"server":'*'stevedore-tests'*|*'stevedore-tests'*'"server":'*) ;;
    *) echo "plugin.sh: no cluster information: $KUBERNETES_EXEC_INFO" >&2; exit 1 ;;
  esac
fi
echo run >>"$1"
printf '{"kind":"ExecCredential","apiVersion":"%s","status":{"token":"%s"}}\n' "$v" "$TOKEN"
