#!/usr/bin/env bash
# The whole system on one machine, on the embedded folder store: builds a sample app's artifacts, writes its
# intent, runs every agent of agents/agents.json as a daemon under a real runsvdir, waits until the app answers,
# flips it to a new version, prints `pp status`, then stops everything (pass --keep to leave it running).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
keep=0; [ "${1:-}" = "--keep" ] && keep=1
sudo=sudo; [ "$(id -u)" = 0 ] && sudo=
for bin in runsvdir sv chpst svlogd tar sha256sum curl; do
  command -v "$bin" >/dev/null || {
    echo "demo: $bin not found; on Debian or Ubuntu run: ${sudo:+$sudo }apt-get update && ${sudo:+$sudo }apt-get install -y runit iptables iproute2 curl" >&2
    exit 1
  }
done
[ -f dist/pp/index.js ] || { echo "demo: run 'npm run build' first" >&2; exit 1; }
agents=$(sh scripts/agent-names.sh)

root=$(mktemp -d /tmp/platypus-demo.XXXXXX)
export PLATYPUS_ROOT="$root" PLATYPUS_NODE=demo PLATYPUS_STORE="folder:$root/store"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
pp() { node "$repo/dist/pp/index.js" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# --- artifacts: a tiny HTTP server that answers its version --------------------------------------------
artifact() { # version → prints "url sha256" (built once: a rebuilt tarball would have another digest)
  local v=$1 dir="$root/build/hello-$1"
  if [ -f "$root/artifacts/hello-$v.tar.gz" ]; then
    echo "file://$root/artifacts/hello-$v.tar.gz $(sha256sum "$root/artifacts/hello-$v.tar.gz" | cut -d' ' -f1)"
    return
  fi
  mkdir -p "$dir/bin" "$root/artifacts"
  cat > "$dir/server.mjs" <<JS
import { createServer } from 'node:http';
createServer((req, res) => res.end('hello $v\n')).listen(Number(process.env.PORT), '127.0.0.1');
JS
  printf '#!/bin/sh\nexec node "$(dirname "$0")/../server.mjs"\n' > "$dir/bin/hello"
  chmod +x "$dir/bin/hello"
  tar -czf "$root/artifacts/hello-$v.tar.gz" -C "$dir" .
  echo "file://$root/artifacts/hello-$v.tar.gz $(sha256sum "$root/artifacts/hello-$v.tar.gz" | cut -d' ' -f1)"
}
spec() { # live-version prepared-version… → intent JSON
  local live=$1; shift
  local versions="" v
  for v in "$live" "$@"; do
    read -r url sha < <(artifact "$v")
    state=prepared; [ "$v" = "$live" ] && state=live
    versions="$versions${versions:+,}{\"version\":\"$v\",\"url\":\"$url\",\"sha256\":\"$sha\",\"state\":\"$state\"}"
  done
  cat <<JSON
{"schema":1,"basedir":"$root/apps/hello","versions":[$versions],"ports":[{"port":$port,"protocol":"tcp"}],
 "service":{"command":["bin/hello"],"env":{"PORT":"$port"}},"health":{"http":"http://127.0.0.1:$port/","timeoutMs":20000}}
JSON
}

# --- the agents under runit ---------------------------------------------------------------------------
say "root folder $root; store $PLATYPUS_STORE; node $PLATYPUS_NODE"
mkdir -p "$root/agents" "$root/service" "$root/service-stage"
sh deploy/runit/install.sh "$root/sv" "PLATYPUS_STORE=$PLATYPUS_STORE" "PLATYPUS_NODE=demo" "PATH=$PATH" >/dev/null
for a in $agents; do echo "node $repo/dist/agents/$a/index.js" > "$root/sv/pp-$a/bin"; done
echo "agents: $agents"
# /metrics and /healthz on a free loopback port per agent (install.sh's fixed 9464… may be taken on this machine).
for a in $agents; do
  metrics=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  echo "127.0.0.1:$metrics" > "$root/sv/pp-$a/env/PLATYPUS_METRICS_ADDRESS"
  echo "pp-$a metrics: http://127.0.0.1:$metrics/metrics  health: http://127.0.0.1:$metrics/healthz"
done
printf -- '--service-dir\n%s\n--stage-dir\n%s\n--settle-seconds\n1\n' "$root/service" "$root/service-stage" > "$root/sv/pp-setlive/args"
netns=""
if [ "$(id -u)" = 0 ] && command -v iptables-restore >/dev/null && ip netns add "pp-demo-$$" 2>/dev/null; then
  netns="pp-demo-$$"
  printf -- '--command-prefix\nip netns exec %s\n' "$netns" > "$root/sv/pp-iptables/args"
  echo "pp-iptables: rules go into network namespace $netns (the host's firewall is left alone)"
else
  printf -- '--mode\nport-authority\n--config-dir\n%s\n--refresh-command\ntrue\n' "$root/port_authority" > "$root/sv/pp-iptables/args"
  echo "pp-iptables: not root or no iptables/netns here, so it runs in port_authority mode writing $root/port_authority/*.yml"
fi
cleanup() {
  [ "$keep" = 1 ] && { echo "left running: runsvdir on $root/agents and $root/service (sv down, then kill runsvdir)"; return; }
  sv -w 15 down "$root"/service/* "$root"/agents/* >/dev/null 2>&1 || true
  sv exit "$root"/service/* "$root"/agents/* "$root"/service/*/log "$root"/agents/*/log >/dev/null 2>&1 || true
  kill "${pids[@]}" 2>/dev/null || true
  [ -n "$netns" ] && ip netns delete "$netns" 2>/dev/null || true
  echo "stopped; everything is under $root"
}
pids=()
trap cleanup EXIT
runsvdir -P "$root/service" >/dev/null 2>&1 & pids+=($!)
runsvdir -P "$root/agents" >/dev/null 2>&1 & pids+=($!)
for a in $agents; do ln -s "$root/sv/pp-$a" "$root/agents/"; done

wait_for() { # answer timeout-seconds
  local deadline=$((SECONDS + $2)) got
  while [ $SECONDS -lt $deadline ]; do
    got=$(curl -s --max-time 1 "http://127.0.0.1:$port/" || true)
    [ "$got" = "$1" ] && return 0
    sleep 0.2
  done
  echo "demo: the app did not answer '$1' within $2 s; agents' logs: $root/sv/*/log/main/current" >&2
  tail -n 5 "$root"/sv/*/log/main/current >&2 || true
  return 1
}

say "intent: hello 1.0.0 live on port $port"
spec 1.0.0 > "$root/hello-1.json"
pp intent put demo hello --file "$root/hello-1.json"
start=$(date +%s.%N)
wait_for "hello 1.0.0" 60
echo "hello 1.0.0 answers after $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"

say "intent: hello 2.0.0 live, 1.0.0 kept prepared for rollback"
spec 2.0.0 1.0.0 > "$root/hello-2.json"
pp intent diff demo hello --file "$root/hello-2.json" || true
pp intent put demo hello --file "$root/hello-2.json"
start=$(date +%s.%N)
wait_for "hello 2.0.0" 60
echo "hello 2.0.0 answers after $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
sleep 2 # let every agent write its reality

say "pp status"
pp status

say "monitoring: pp check (a Nagios plugin), and pp-setlive's /healthz and /metrics"
pp check demo || true
setlive_metrics=$(cat "$root/sv/pp-setlive/env/PLATYPUS_METRICS_ADDRESS")
curl -s --max-time 2 "http://$setlive_metrics/healthz" || true
curl -s --max-time 2 "http://$setlive_metrics/metrics" | grep -E '^platypus_(apps|setlive_flip_duration_seconds_count|last_successful_pass)' || true
if [ -n "$netns" ]; then say "firewall (iptables-save in $netns)"; ip netns exec "$netns" iptables-save -t filter | grep -E 'PLATYPUS' || true; fi
ls -l "$root/apps/hello/" | sed -n '2,$p'
