#!/usr/bin/env bash
# Build the local node's container runtime and cluster DNS from their Go modules:
# containerd 2 (with ctr and the runc shim), runc, and CoreDNS.  kubelet and kube-proxy come
# from hack/build-k8s.sh, CNI plugins from Debian's containernetworking-plugins.
#
# Binaries are cached outside the checkout, keyed by version, and linked into .local/bin/.
#
#   hack/build-node.sh            build (or reuse) and link
#   hack/build-node.sh --print    print the cache directory and exit
set -euo pipefail

CONTAINERD_VERSION="${CONTAINERD_VERSION:-v2.4.2}"
RUNC_VERSION="${RUNC_VERSION:-v1.3.3}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.14.7}"
CACHE_ROOT="${PACKGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/packgate}"
OUT="$CACHE_ROOT/node-containerd-$CONTAINERD_VERSION-runc-$RUNC_VERSION-coredns-$COREDNS_VERSION"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BINARIES=(containerd containerd-shim-runc-v2 ctr runc coredns)

# shellcheck source=hack/lib/cached-binaries.sh
source "$ROOT/hack/lib/cached-binaries.sh"
cached_binaries_or_continue "node runtime" "$@"

command -v go >/dev/null || { echo "build-node: Go is required (https://go.dev/dl/)" >&2; exit 1; }
[[ -e /usr/include/seccomp.h ]] || { echo "build-node: libseccomp-dev is required (hack/install-deps.sh)" >&2; exit 1; }

start=$(date +%s)
mkdir -p "$OUT/bin"
export GOFLAGS="-mod=mod"

# containerd: its commands install directly; no btrfs/devmapper/zfs snapshotters (overlayfs is used).
if [[ ! -x "$OUT/bin/containerd" || ! -x "$OUT/bin/ctr" || ! -x "$OUT/bin/containerd-shim-runc-v2" ]]; then
  echo "build-node: building containerd $CONTAINERD_VERSION"
  GOBIN="$OUT/bin" CGO_ENABLED=0 go install -trimpath -tags "no_btrfs no_devmapper no_zfs" \
    -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
    "github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION" \
    "github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD_VERSION" \
    "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION"
fi

# runc and CoreDNS carry replace directives, which `go install pkg@version` refuses: build them
# from a small wrapper module that requires them.
wrapper() {  # wrapper DIR MODULE VERSION
  mkdir -p "$1"
  printf 'module packgate.dev/localnode/%s\n\ngo 1.26\n\nrequire %s %s\n' "$(basename "$1")" "$2" "$3" > "$1/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$2" > "$1/tools.go"
  (cd "$1" && go mod tidy)
}

if [[ ! -x "$OUT/bin/runc" ]]; then
  echo "build-node: building runc $RUNC_VERSION"
  wrapper "$OUT/src/runc" github.com/opencontainers/runc "$RUNC_VERSION"
  (cd "$OUT/src/runc" && CGO_ENABLED=1 go build -trimpath -tags seccomp \
    -ldflags "-s -w -X main.version=${RUNC_VERSION#v}" -o "$OUT/bin/runc.tmp" github.com/opencontainers/runc)
  mv "$OUT/bin/runc.tmp" "$OUT/bin/runc"
fi

if [[ ! -x "$OUT/bin/coredns" ]]; then
  echo "build-node: building CoreDNS $COREDNS_VERSION"
  wrapper "$OUT/src/coredns" github.com/coredns/coredns "$COREDNS_VERSION"
  (cd "$OUT/src/coredns" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
    -o "$OUT/bin/coredns.tmp" github.com/coredns/coredns)
  mv "$OUT/bin/coredns.tmp" "$OUT/bin/coredns"
fi

link_binaries
echo "build-node: built in $(( $(date +%s) - start ))s into $OUT"
