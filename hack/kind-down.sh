#!/usr/bin/env bash
# Delete the kind cluster made by hack/kind-up.sh (and everything in it, the demo database too).
#   CLUSTER_NAME  kind cluster name (default: packgate)
set -euo pipefail

CLUSTER_NAME="${CLUSTER_NAME:-packgate}"

command -v kind >/dev/null 2>&1 || { echo "kind-down: kind is required" >&2; exit 1; }
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
  kind delete cluster --name "$CLUSTER_NAME"
else
  echo "kind-down: no kind cluster named $CLUSTER_NAME" >&2
fi
