#!/bin/sh
# Tests of net_tools' parse_url.  POSIX sh only; they need nothing from net_base or core, which
# is why the operator can test this pack before its dependencies are active.  Prints one line per
# test and the summary the `simple` result format reads (Total Tests / Passed / Failed).
#
# Run from the pack's root: sh tests/run_tests.sh

cd "$(dirname "$0")/.." || exit 1

total=0
passed=0
failed=0

# check NAME EXPECTED ACTUAL
check() {
  total=$((total + 1))
  if [ "$2" = "$3" ]; then
    passed=$((passed + 1))
    echo "PASS: $1"
  else
    failed=$((failed + 1))
    echo "FAIL: $1"
    echo "  expected: $2"
    echo "  actual:   $3"
  fi
}

parse() {
  sh actions/parse_url.sh "$@" 2>&1
  echo "exit=$?"
}

check "https defaults to port 443" "$(printf 'https example.org 443 /\nexit=0')" "$(parse https://example.org)"
check "an explicit port and a path" \
  "$(printf 'http api.internal 8080 /v1/packs?limit=5\nexit=0')" "$(parse 'http://api.internal:8080/v1/packs?limit=5')"
check "the scheme is lower-cased" "$(printf 'ssh git.example 22 /\nexit=0')" "$(parse SSH://git.example/)"
check "user info is dropped" "$(printf 'ftp files.example 21 /pub\nexit=0')" "$(parse ftp://anon:secret@files.example/pub)"
check "a bracketed IPv6 host" "$(printf 'https [2001:db8::1] 8443 /health\nexit=0')" \
  "$(parse 'https://[2001:db8::1]:8443/health')"
check "an unknown scheme has no default port" "$(printf 'redis cache - /\nexit=0')" "$(parse redis://cache)"
check "no scheme is refused" "$(printf "parse_url.sh: no scheme in 'example.org'\nexit=2")" "$(parse example.org)"
check "no host is refused" "$(printf "parse_url.sh: no host in 'http:///path'\nexit=2")" "$(parse http:///path)"

echo "Total Tests: $total"
echo "Passed: $passed"
echo "Failed: $failed"
[ "$failed" -eq 0 ]
