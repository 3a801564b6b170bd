#!/bin/sh
# Tests of net_base's split_hostport.  POSIX sh only; prints one line per test and the summary
# the `simple` result format reads (Total Tests / Passed / Failed).
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

split() {
  sh actions/split_hostport.sh "$@" 2>&1
  echo "exit=$?"
}

check "a name and a port" "$(printf 'db.internal 5432\nexit=0')" "$(split db.internal:5432)"
check "a name alone takes the default port" "$(printf 'db.internal 5432\nexit=0')" "$(split db.internal 5432)"
check "a name alone without default has no port" "$(printf 'db.internal -\nexit=0')" "$(split db.internal)"
check "an IPv4 address and a port" "$(printf '10.0.0.7 8080\nexit=0')" "$(split 10.0.0.7:8080)"
check "a bracketed IPv6 address and a port" "$(printf '[::1] 8443\nexit=0')" "$(split '[::1]:8443')"
check "a bracketed IPv6 address alone" "$(printf '[fe80::1] 443\nexit=0')" "$(split '[fe80::1]' 443)"
check "a bare IPv6 address has no port" "$(printf '2001:db8::5 -\nexit=0')" "$(split 2001:db8::5)"
check "a port of letters is refused" \
  "$(printf "split_hostport.sh: invalid port in 'web:http'\nexit=2")" "$(split web:http)"
check "port 0 is refused" "$(printf 'split_hostport.sh: port 0 is outside 1..65535\nexit=2')" "$(split web:0)"
check "port 65536 is refused" \
  "$(printf 'split_hostport.sh: port 65536 is outside 1..65535\nexit=2')" "$(split web:65536)"
check "a missing host is refused" "$(printf "split_hostport.sh: no host in ':80'\nexit=2")" "$(split :80)"

echo "Total Tests: $total"
echo "Passed: $passed"
echo "Failed: $failed"
[ "$failed" -eq 0 ]
