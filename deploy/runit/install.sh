#!/bin/sh
# Creates runit service folders for the three agents under $1 (default /etc/sv), each with run, log/run and an
# env folder holding the variables given as NAME=VALUE arguments after the folder. Link them into the folder
# runsvdir scans (e.g. ln -s /etc/sv/pp-preparer /var/service/) to start them.
set -eu
target=${1:-/etc/sv}
[ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")" && pwd)
for agent in pp-preparer pp-iptables pp-setlive; do
  dir="$target/$agent"
  mkdir -p "$dir/log" "$dir/env"
  cp "$here/run" "$dir/run.tmp" && mv "$dir/run.tmp" "$dir/run"
  cp "$here/log-run" "$dir/log/run.tmp" && mv "$dir/log/run.tmp" "$dir/log/run"
  for pair in "$@"; do
    printf '%s\n' "${pair#*=}" > "$dir/env/${pair%%=*}"
  done
done
echo "runit services in $target: pp-preparer pp-iptables pp-setlive"
