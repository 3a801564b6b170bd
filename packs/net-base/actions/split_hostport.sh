#!/bin/sh
# net_base.split_hostport: split HOST[:PORT].
#
#   split_hostport.sh VALUE [DEFAULT_PORT]
#
# Prints "HOST PORT".  HOST is a name, an IPv4 address or a bracketed IPv6 address ([::1]); a
# bare IPv6 address (two colons or more) has no port.  PORT defaults to DEFAULT_PORT, else "-".
# Exit 2 with one line on stderr for a missing host or a port outside 1..65535.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: split_hostport.sh VALUE [DEFAULT_PORT]" >&2
  exit 2
fi
value=$1
default=${2:--}

case "$value" in
  \[*\]:*) host="${value%%]:*}]"; port=${value##*]:} ;;
  \[*\]) host=$value; port=$default ;;
  *:*:*) host=$value; port=$default ;;
  *:*) host=${value%:*}; port=${value##*:} ;;
  *) host=$value; port=$default ;;
esac

if [ -z "$host" ]; then
  echo "split_hostport.sh: no host in '$value'" >&2
  exit 2
fi
if [ "$port" != "-" ]; then
  case "$port" in
    ''|*[!0-9]*|??????*) echo "split_hostport.sh: invalid port in '$value'" >&2; exit 2 ;;
  esac
  if [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
    echo "split_hostport.sh: port $port is outside 1..65535" >&2
    exit 2
  fi
fi
printf '%s %s\n' "$host" "$port"
