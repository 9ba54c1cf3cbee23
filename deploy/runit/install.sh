#!/bin/sh
# Creates a runit service folder pp-<name> for every agent listed in agents/agents.json under $1 (default
# /etc/sv): run, log/run, and an env folder holding the NAME=VALUE pairs given after the folder (the same for
# every agent) after PLATYPUS_METRICS_ADDRESS=127.0.0.1:<port> (/metrics and /healthz: the agent's metricsPort in
# the list; a pair given here replaces it, e.g. PLATYPUS_METRICS_ADDRESS= turns it off).
# Add per-agent flags to <folder>/pp-<name>/args, one per line. Link a folder into the one
# runsvdir scans to start that agent, e.g. ln -s /etc/sv/pp-preparer /var/service/
# The list is read with node (which the agents need anyway) from $PLATYPUS_AGENTS_FILE, by default the
# agents/agents.json of the Platypus tree this script belongs to (../../agents/agents.json).
set -eu
target=${1:-/etc/sv}
[ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")" && pwd)
list=${PLATYPUS_AGENTS_FILE:-$here/../../agents/agents.json}
command -v node >/dev/null || { echo "install.sh: node not found; the agents need Node.js >= 20.19" >&2; exit 1; }
[ -f "$list" ] || { echo "install.sh: agent list $list not found (set PLATYPUS_AGENTS_FILE)" >&2; exit 1; }
# Names become folder names here: refuse anything but lowercase letters, digits and -.
agents=$(node -e '
  const { agents } = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const bad = agents.map((a) => a.name).filter((n) => !/^[a-z][a-z0-9-]*$/.test(n));
  if (bad.length) { console.error(`install.sh: bad agent name(s) in ${process.argv[1]}: ${bad.join(", ")}`); process.exit(1); }
  const noPort = agents.filter((a) => !Number.isInteger(a.metricsPort)).map((a) => a.name);
  if (noPort.length) { console.error(`install.sh: agent(s) without a metricsPort in ${process.argv[1]}: ${noPort.join(", ")}`); process.exit(1); }
  console.log(agents.map((a) => `pp-${a.name}:${a.metricsPort}`).join(" "));
' "$list")
[ -n "$agents" ] || { echo "install.sh: $list lists no agents" >&2; exit 1; }
for entry in $agents; do
  agent=${entry%%:*}
  port=${entry#*:}
  dir="$target/$agent"
  mkdir -p "$dir/log" "$dir/env"
  cp "$here/run" "$dir/run.tmp" && mv "$dir/run.tmp" "$dir/run"
  cp "$here/log-run" "$dir/log/run.tmp" && mv "$dir/log/run.tmp" "$dir/log/run"
  printf '127.0.0.1:%s\n' "$port" > "$dir/env/PLATYPUS_METRICS_ADDRESS"
  for pair in "$@"; do
    printf '%s\n' "${pair#*=}" > "$dir/env/${pair%%=*}"
  done
done
echo "runit services written under $target: $(printf '%s ' $agents | sed 's/:[0-9]*//g; s/ $//')"
