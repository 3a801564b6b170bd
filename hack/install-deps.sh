#!/usr/bin/env bash
# Install what Packgate's development, demo and tests need on a Debian machine, skipping what is
# already there: PostgreSQL server, shellcheck, openssl, Node.js and npm, Python venv support, and for the
# local cluster's real node: iptables, CNI plugins, the distribution registry, mmdebstrap and
# buildah (images from Debian's packages), libseccomp (runc's build), and Chromium for the
# history UI's browser tests.  Go (>= 1.26, to build the
# control plane and the node) must already be installed.
set -euo pipefail

missing=()
[[ -x /usr/lib/postgresql/15/bin/postgres || -n "$(ls /usr/lib/postgresql/*/bin/postgres 2>/dev/null)" ]] || missing+=(postgresql)
command -v shellcheck >/dev/null || missing+=(shellcheck)
command -v iptables >/dev/null || missing+=(iptables)
[[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
[[ -x /usr/bin/docker-registry ]] || missing+=(docker-registry)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v buildah >/dev/null || missing+=(buildah)
[[ -e /usr/include/seccomp.h ]] || missing+=(libseccomp-dev)
command -v curl >/dev/null || missing+=(curl)
command -v openssl >/dev/null || missing+=(openssl)
command -v node >/dev/null || missing+=(nodejs)
# npm: the local cluster's npm registry (verdaccio) and packs' package.json dependencies.
command -v npm >/dev/null || missing+=(npm)
command -v git >/dev/null || missing+=(git)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
# The history UI's browser tests drive Debian's headless Chromium (Playwright, no browser download).
[[ -x /usr/bin/chromium ]] || missing+=(chromium)

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts a cluster on install; Packgate runs its own throwaway servers instead.
  if [[ " ${missing[*]} " == *" postgresql "* ]]; then
    service postgresql stop >/dev/null 2>&1 || true
  fi
fi

if ! command -v go >/dev/null; then
  echo "install-deps: Go >= 1.26 is required to build the local control plane (https://go.dev/dl/)" >&2
  exit 1
fi
