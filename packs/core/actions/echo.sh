#!/bin/sh
# core.echo: print a message.
#
#   echo.sh [-u] MESSAGE...
#
# -u prints the message upper-cased.  The words of MESSAGE are joined with single spaces, exactly
# as given: no globbing, no backslash escapes.  Exit 2 with a usage line when there is no message.
set -eu

uppercase=false
while [ $# -gt 0 ]; do
  case "$1" in
    -u|--uppercase) uppercase=true; shift ;;
    --) shift; break ;;
    -*) echo "echo.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done

if [ $# -eq 0 ]; then
  echo "usage: echo.sh [-u] MESSAGE..." >&2
  exit 2
fi

message="$*"
if [ "$uppercase" = true ]; then
  printf '%s\n' "$message" | tr '[:lower:]' '[:upper:]'
else
  printf '%s\n' "$message"
fi
