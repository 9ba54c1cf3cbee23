#!/bin/sh
# Prints the names of the agents listed in agents/agents.json, space-separated, in list order: what
# scripts/demo.sh loops over.
set -eu
exec node -p 'require(process.argv[1]).agents.map((a) => a.name).join(" ")' "$(cd "$(dirname "$0")/.." && pwd)/agents/agents.json"
