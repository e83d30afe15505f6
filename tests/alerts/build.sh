#!/usr/bin/env bash
# Builds Prometheus' promtool from its published Go module, once per machine,
# into the cache, and prints the binary's path. The tests run it on the
# alerts the chart renders (tests/alerts/alerts_test.yaml).
set -euo pipefail
version=v0.316.0
cache="${PLO_CACHE_DIR:-$HOME/.cache/privatelink-operator}"
dir="$cache/promtool-$version"
mkdir -p "$cache"
exec 9> "$cache/promtool.lock"
flock 9
if [ ! -x "$dir/promtool" ]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "error: Go is needed to build promtool (github.com/prometheus/prometheus $version)." >&2
    exit 1
  fi
  echo "==> building promtool (github.com/prometheus/prometheus $version)" >&2
  started=$(date +%s)
  if ! GOBIN="$dir.tmp" go install "github.com/prometheus/prometheus/cmd/promtool@$version" >&2; then
    echo "error: building promtool failed (above). It needs the Go module proxy (GOPROXY)." >&2
    exit 1
  fi
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  echo "    built in $(( $(date +%s) - started )) s" >&2
fi
echo "$dir/promtool"
