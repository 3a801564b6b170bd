#!/usr/bin/env bash
# Build the local cluster's Kubernetes binaries from the Kubernetes Go modules:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, and the node's
# kubelet and kube-proxy.
#
# Binaries are cached outside the checkout, keyed by version, and reused when
# present; they are linked into .local/bin/ so that PATH=$PWD/.local/bin:$PATH
# gives the matching kubectl.
#
#   hack/build-k8s.sh            build (or reuse) and link
#   hack/build-k8s.sh --print    print the cache directory and exit
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.1}"
ETCD_VERSION="${ETCD_VERSION:-v3.7.0}"   # the etcd that k8s.io/kubernetes ${K8S_VERSION} requires
STAGING_VERSION="v0.${K8S_VERSION#v1.}"
CACHE_ROOT="${PACKGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/packgate}"
OUT="$CACHE_ROOT/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-node"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy etcd)

# shellcheck source=hack/lib/cached-binaries.sh
source "$ROOT/hack/lib/cached-binaries.sh"
cached_binaries_or_continue "control plane $K8S_VERSION (etcd $ETCD_VERSION)" "$@"

command -v go >/dev/null || { echo "build-k8s: Go is required (https://go.dev/dl/)" >&2; exit 1; }

start=$(date +%s)
work="$OUT/src"
mkdir -p "$work/cmd/etcd" "$OUT/bin"

# k8s.io/kubernetes points every k8s.io/* staging module at ./staging/src;
# a consumer module must replace each of them with its published v0.x release.
modfile="$(mktemp)"
curl -fsSL "${GOPROXY_URL:-https://proxy.golang.org}/k8s.io/kubernetes/@v/$K8S_VERSION.mod" -o "$modfile" \
  || go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
staging=$(grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$modfile" | awk '{print $1}' \
  | grep -v -E '^k8s\.io/sample-' || true)
rm -f "$modfile"
[[ -n "$staging" ]] || { echo "build-k8s: could not read staging modules of $K8S_VERSION" >&2; exit 1; }

{
  echo "module packgate.dev/localcluster"
  echo
  echo "go 1.26"
  echo
  echo "require ("
  echo "	k8s.io/kubernetes $K8S_VERSION"
  echo "	go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  echo ")"
  echo
  echo "replace ("
  for m in $staging; do echo "	$m => $m $STAGING_VERSION"; done
  echo ")"
} > "$work/go.mod"

cat > "$work/cmd/etcd/main.go" <<'GO'
// Command etcd starts the etcd server, exactly as the upstream binary does.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO

cat > "$work/tools.go" <<'GO'
//go:build tools

// Package tools pins the commands this module builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
GO

cd "$work"
export GOFLAGS="-mod=mod"
export CGO_ENABLED=0
go mod tidy

minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

for b in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy; do
  echo "build-k8s: building $b $K8S_VERSION"
  go build -trimpath -ldflags "$ldflags" -o "$OUT/bin/$b.tmp" "k8s.io/kubernetes/cmd/$b"
  mv "$OUT/bin/$b.tmp" "$OUT/bin/$b"
done
echo "build-k8s: building etcd $ETCD_VERSION"
go build -trimpath -ldflags "-s -w" -o "$OUT/bin/etcd.tmp" ./cmd/etcd
mv "$OUT/bin/etcd.tmp" "$OUT/bin/etcd"

link_binaries
echo "build-k8s: built in $(( $(date +%s) - start ))s into $OUT"
