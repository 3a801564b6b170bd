#!/usr/bin/env bash
# Packgate on a local kind cluster, for people with Docker: builds the image, loads it into kind,
# installs manifests/overlays/kind (the operator plus a demo PostgreSQL), applies the example
# packs from packs/ and waits for their verdicts.
#
#   hack/kind-up.sh             create (or reuse) the cluster "packgate" and run everything
#   hack/kind-down.sh           delete it again
#
# Needs docker, kind (v0.33.x: the node image below is the one its release notes list for
# Kubernetes 1.37) and kubectl. Settings, from the environment:
#   CLUSTER_NAME    kind cluster name                     (default: packgate)
#   KIND_NODE_IMAGE node image, pinned by digest          (default: kindest/node v1.37.0 of kind v0.33.0)
#   IMAGE           operator image tag to build and load  (default: packgate:dev, as the kind overlay expects)
#   PYTEST_IMAGE    runner image of `pytest` runners       (default: ghcr.io/packgate/runner-pytest:0.1.0,
#                   built from images/runner-pytest and loaded, so packs/text-tools needs no registry)
#   DEMO_NAMESPACE  namespace of the example packs        (default: packgate-demo)
#   TIMEOUT         how long each wait may take           (default: 10m)
#   PACKGATE        a local `packgate` command for `packgate manifest` (default: run it from the image)
set -euo pipefail

CLUSTER_NAME="${CLUSTER_NAME:-packgate}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5}"
KIND_RELEASE="v0.33."
IMAGE="${IMAGE:-packgate:dev}"
PYTEST_IMAGE="${PYTEST_IMAGE:-ghcr.io/packgate/runner-pytest:0.1.0}"
DEMO_NAMESPACE="${DEMO_NAMESPACE:-packgate-demo}"
TIMEOUT="${TIMEOUT:-10m}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'kind-up: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required: $2"; }

need docker "https://docs.docker.com/get-docker/"
need kind "https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
need kubectl "https://kubernetes.io/docs/tasks/tools/"
docker info >/dev/null 2>&1 || die "the Docker daemon is not reachable (is Docker running?)"

kind_version="$(kind version)"
if [[ "$kind_version" != *" $KIND_RELEASE"* ]]; then
  log "warning: $kind_version; $KIND_NODE_IMAGE is built for kind ${KIND_RELEASE}x (set KIND_NODE_IMAGE to match yours)"
fi

kube() { kubectl --context "kind-$CLUSTER_NAME" "$@"; }

manifest() {
  local pack="$1"
  if [[ -n "${PACKGATE:-}" ]]; then
    "$PACKGATE" manifest "$ROOT/packs/$pack" --namespace "$DEMO_NAMESPACE"
  else
    docker run --rm --network none --read-only --volume "$ROOT/packs:/packs:ro" \
      "$IMAGE" manifest "/packs/$pack" --namespace "$DEMO_NAMESPACE"
  fi
}

reused=false
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
  log "Reusing kind cluster $CLUSTER_NAME"
  reused=true
else
  log "Creating kind cluster $CLUSTER_NAME ($KIND_NODE_IMAGE)"
  kind create cluster --name "$CLUSTER_NAME" --image "$KIND_NODE_IMAGE" --wait 120s
fi

log "Building $IMAGE"
docker build --tag "$IMAGE" "$ROOT"
log "Building $PYTEST_IMAGE (the default image of pytest runners)"
docker build --tag "$PYTEST_IMAGE" "$ROOT/images/runner-pytest"
log "Loading $IMAGE and $PYTEST_IMAGE into the cluster's node"
kind load docker-image "$IMAGE" "$PYTEST_IMAGE" --name "$CLUSTER_NAME"

log "Installing the CRDs"
kube apply --server-side -k "$ROOT/crds"
kube wait --for=condition=Established --timeout="$TIMEOUT" \
  crd/packs.packgate.dev crd/clusterkopfpeerings.kopf.dev crd/kopfpeerings.kopf.dev

log "Installing Packgate with the quickstart PostgreSQL (manifests/overlays/kind)"
kube apply --server-side -k "$ROOT/manifests/overlays/kind"
if [[ "$reused" == true ]]; then
  # Same tag, new image: make the pods start from the image just loaded.
  kube -n packgate-system rollout restart deployment/packgate-operator
fi
kube -n packgate-system rollout status statefulset/packgate-postgres --timeout="$TIMEOUT"
kube -n packgate-system rollout status deployment/packgate-operator --timeout="$TIMEOUT"

log "Applying the example packs into namespace $DEMO_NAMESPACE"
kube create namespace "$DEMO_NAMESPACE" --dry-run=client --output=yaml | kube apply -f -
shopt -s nullglob
packs=()
for packfile in "$ROOT"/packs/*/pack.yaml; do
  pack="$(basename "$(dirname "$packfile")")"
  packs+=("$pack")
  manifest "$pack" | kube apply -f -
done
[[ ${#packs[@]} -gt 0 ]] || die "no packs/*/pack.yaml found"

log "Waiting for a verdict on ${#packs[@]} packs (Reconciling=False)"
kube -n "$DEMO_NAMESPACE" wait packs --all --for=condition=Reconciling=False --timeout="$TIMEOUT"

kube -n "$DEMO_NAMESPACE" get packs --output=wide
cat >&2 <<EOT

Packgate is running on kind-$CLUSTER_NAME. Next:
  kubectl --context kind-$CLUSTER_NAME -n $DEMO_NAMESPACE describe pack <name>      # conditions and events
  kubectl --context kind-$CLUSTER_NAME -n $DEMO_NAMESPACE wait pack <name> --for=condition=Ready
  kubectl --context kind-$CLUSTER_NAME -n packgate-system logs deployment/packgate-operator
  hack/kind-down.sh                                                               # delete the cluster
A pack whose tests fail stays blocked (STATUS Failed, ACTIVE empty or the previous version).
EOT
