#!/usr/bin/env bash
# Builds one of the tests' Go programs (a folder under tests/ with its own
# go.mod: the test Kubernetes API server, the GitOps tools) once per machine,
# into the cache, and prints the binary's path. Rebuilt when go.mod, go.sum
# or the sources change. Safe to call concurrently: a second caller waits for
# the first.
#
# Usage: bash tests/go-build.sh DIR WHAT   (WHAT names it in messages)
set -euo pipefail
dir="$1"
what="$2"
cd "$(dirname "$0")/$dir"

cache="${PLO_CACHE_DIR:-$HOME/.cache/privatelink-operator}"
mkdir -p "$cache"
name=$(basename "$dir")
hash=$(cat go.mod go.sum ./*.go | sha256sum | cut -c1-12)
bin="$cache/$name-$hash"

exec 9> "$cache/$name.lock"
flock 9
if [ ! -x "$bin" ]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "error: Go is needed to build $what (tests/$dir)." >&2
    echo "Install Go 1.24 or newer (https://go.dev/doc/install, or the distribution's golang package) and run again." >&2
    exit 1
  fi
  echo "==> building $what" >&2
  started=$(date +%s)
  if ! go build -o "$bin.tmp" . >&2; then
    echo "error: building tests/$dir failed (above). It needs the Go module proxy (GOPROXY) for its modules." >&2
    exit 1
  fi
  mv "$bin.tmp" "$bin"
  echo "    built in $(( $(date +%s) - started )) s" >&2
fi
echo "$bin"
