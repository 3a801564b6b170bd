#!/usr/bin/env bash
# Install what Packgate's development, demo and tests need on a Debian machine, skipping what is
# already there: PostgreSQL server, shellcheck, util-linux (unshare, setpriv), openssl, Node.js,
# Python venv support.  Go (>= 1.26, to build the control plane) must already be installed.
set -euo pipefail

missing=()
[[ -x /usr/lib/postgresql/15/bin/postgres || -n "$(ls /usr/lib/postgresql/*/bin/postgres 2>/dev/null)" ]] || missing+=(postgresql)
command -v shellcheck >/dev/null || missing+=(shellcheck)
command -v unshare >/dev/null || missing+=(util-linux)
command -v openssl >/dev/null || missing+=(openssl)
command -v node >/dev/null || missing+=(nodejs)
command -v git >/dev/null || missing+=(git)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)

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
