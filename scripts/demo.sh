#!/usr/bin/env bash
# One-machine demo on the embedded folder store: writes intent for a sample app and shows it beside reality.
set -euo pipefail
cd "$(dirname "$0")/.."
root="${PLATYPUS_ROOT:-$(mktemp -d /tmp/platypus-demo.XXXXXX)}"
export PLATYPUS_ROOT="$root" PLATYPUS_NODE="${PLATYPUS_NODE:-demo}"
pp() { node dist/agents/pp/index.js "$@"; }
mkdir -p "$root/artifacts"
cat > "$root/hello.json" <<JSON
{"schema":1,"basedir":"$root/apps/hello","versions":[{"version":"1.0.0","url":"file://$root/artifacts/hello-1.0.0.tar.gz","sha256":"$(printf '%064d' 0)","state":"live"}],
 "ports":[{"port":18080,"protocol":"tcp"}],"service":{"command":["bin/hello"],"env":{}}}
JSON
pp validate "$root/hello.json"
pp intent put "$PLATYPUS_NODE" hello --file "$root/hello.json"
pp intent ls "$PLATYPUS_NODE"
pp status
echo "demo root: $root (store: $root/store)"
