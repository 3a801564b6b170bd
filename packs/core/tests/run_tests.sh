#!/bin/sh
# Tests of the core pack's shell actions.  POSIX sh only (the runtime image guarantees /bin/sh and
# little else); writes nothing outside the pack's workspace.  Prints one line per test and the
# summary the `simple` result format reads:
#
#   Total Tests: N
#   Passed:      P
#   Failed:      F
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

echo_action() {
  sh actions/echo.sh "$@"
}

check "echo prints its message" "hello" "$(echo_action hello)"
check "echo joins words with single spaces" "hello packgate world" "$(echo_action hello packgate world)"
check "echo keeps spaces inside one argument" "a  b" "$(echo_action 'a  b')"
check "echo does not glob" "*.sh" "$(echo_action '*.sh')"
check "echo does not interpret backslashes" 'a\nb' "$(echo_action 'a\nb')"
check "echo -u upper-cases" "HELLO WORLD" "$(echo_action -u hello world)"
check "echo -- ends options" "-u" "$(echo_action -- -u)"

echo_action >/dev/null 2>&1
check "echo without a message exits 2" "2" "$?"

echo_action -x hello >/dev/null 2>&1
check "echo rejects an unknown option" "2" "$?"

check "echo without a message prints usage on stderr" "usage: echo.sh [-u] MESSAGE..." "$(echo_action 2>&1 >/dev/null)"

echo
echo "Total Tests: $total"
echo "Passed:      $passed"
echo "Failed:      $failed"

if [ "$failed" -gt 0 ]; then
  exit 1
fi
echo "All tests passed!"
