#!/bin/sh
# Creates runit service folders for the three agents under $1 (default /etc/sv): run, log/run, and an env
# folder holding the NAME=VALUE pairs given after the folder (the same for every agent). Add per-agent flags
# to <folder>/<agent>/args, one per line. Link a folder into the one runsvdir scans to start that agent,
# e.g. ln -s /etc/sv/pp-preparer /var/service/
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
echo "runit services written under $target: pp-preparer pp-iptables pp-setlive"
