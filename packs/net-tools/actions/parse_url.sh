#!/bin/sh
# net_tools.parse_url: split a URL.
#
#   parse_url.sh URL
#
# Prints "SCHEME HOST PORT PATH": the scheme lower-cased, user info dropped, the port defaulted by
# scheme (http 80, https 443, ssh 22, ftp 21; else "-"), the path "/" when there is none.  Exit 2
# with one line on stderr when the URL has no scheme or no host.
set -eu

if [ $# -ne 1 ]; then
  echo "usage: parse_url.sh URL" >&2
  exit 2
fi
url=$1
case "$url" in
  *://*) ;;
  *) echo "parse_url.sh: no scheme in '$url'" >&2; exit 2 ;;
esac

scheme=$(printf '%s' "${url%%://*}" | tr '[:upper:]' '[:lower:]')
rest=${url#*://}
authority=${rest%%/*}
if [ "$authority" = "$rest" ]; then path=/; else path=/${rest#*/}; fi
authority=${authority##*@}

case "$scheme" in
  http) default=80 ;;
  https) default=443 ;;
  ssh) default=22 ;;
  ftp) default=21 ;;
  *) default=- ;;
esac
case "$authority" in
  \[*\]:*) host="${authority%%]:*}]"; port=${authority##*]:} ;;
  *:*) host=${authority%:*}; port=${authority##*:} ;;
  *) host=$authority; port=$default ;;
esac

if [ -z "$host" ]; then
  echo "parse_url.sh: no host in '$url'" >&2
  exit 2
fi
printf '%s %s %s %s\n' "$scheme" "$host" "${port:-$default}" "$path"
