#!/usr/bin/env bash
# Prints the path of a consul binary: $CONSUL_BIN, else one on PATH, else one built from the Go module proxy
# and cached under ${XDG_CACHE_HOME:-~/.cache}/platypus/consul-<version>. Progress goes to stderr.
set -euo pipefail
version="${CONSUL_VERSION:-v1.19.2}"
if [ -n "${CONSUL_BIN:-}" ] && [ -x "${CONSUL_BIN}" ]; then echo "$CONSUL_BIN"; exit 0; fi
if command -v consul >/dev/null 2>&1; then command -v consul; exit 0; fi
cache="${XDG_CACHE_HOME:-$HOME/.cache}/platypus"
bin="$cache/consul-$version"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
# Go may be installed without being on PATH (e.g. a service's environment).
command -v go >/dev/null 2>&1 || { [ -x /usr/local/go/bin/go ] && export PATH="$PATH:/usr/local/go/bin"; }
command -v go >/dev/null 2>&1 || { echo "get-consul: no consul binary and no Go toolchain to build one" >&2; exit 1; }
mkdir -p "$cache"
# One build at a time: a second caller (parallel test runs, a CI retry) waits for the first instead of compiling
# the same thousand packages beside it, then finds its binary.
exec 9>"$cache/.build-lock"
if ! flock -n 9; then
  echo "get-consul: another build of consul is running; waiting for it" >&2
  flock 9
  if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
fi
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "get-consul: building consul $version from the Go module proxy (first time only, a few minutes)" >&2
# A throwaway module that requires Consul, so Consul's own replace directives are ignored.
go mod init consulbuild >/dev/null 2>&1
cat >> go.mod <<MOD

exclude (
	github.com/hashicorp/go-msgpack v1.1.5
	github.com/hashicorp/go-msgpack v1.1.6
)
MOD
go get "github.com/hashicorp/consul@$version" >&2
CGO_ENABLED=0 go build -o "$work/consul" github.com/hashicorp/consul >&2
mv "$work/consul" "$bin.tmp" && mv "$bin.tmp" "$bin"
echo "$bin"
