# shellcheck shell=bash
# Shared by hack/build-k8s.sh and hack/build-node.sh (sourced, not run): binaries cached in $OUT/bin,
# keyed by version, linked into .local/bin.  The caller sets OUT, ROOT and BINARIES first.
#
#   cached_binaries_or_continue DESCRIPTION "$@"   handles --print, and exits 0 after linking when every
#                                                 binary is cached; returns when something must be built
#   link_binaries                                 links every binary into $ROOT/.local/bin

link_binaries() {
  mkdir -p "$ROOT/.local/bin"
  for b in "${BINARIES[@]}"; do ln -sfn "$OUT/bin/$b" "$ROOT/.local/bin/$b"; done
}

cached_binaries_or_continue() {
  local description="$1"
  if [[ "${2:-}" == "--print" ]]; then echo "$OUT"; exit 0; fi
  for b in "${BINARIES[@]}"; do [[ -x "$OUT/bin/$b" ]] || return 0; done
  link_binaries
  echo "$description cached in $OUT"
  exit 0
}
