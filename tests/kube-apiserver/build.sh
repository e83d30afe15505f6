#!/usr/bin/env bash
# Builds the test Kubernetes API server (this folder's Go program: etcd and
# kube-apiserver from the official modules) once per machine, into the cache,
# and prints the binary's path. Rebuilt when go.mod, go.sum or the sources
# change. Safe to call concurrently: a second caller waits for the first.
set -euo pipefail
cd "$(dirname "$0")"

cache="${PLO_CACHE_DIR:-$HOME/.cache/privatelink-operator}"
mkdir -p "$cache"
hash=$(cat go.mod go.sum ./*.go | sha256sum | cut -c1-12)
bin="$cache/kube-apiserver-$hash"

exec 9> "$cache/kube-apiserver.lock"
flock 9
if [ ! -x "$bin" ]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "error: Go is needed to build the test Kubernetes API server (tests/kube-apiserver)." >&2
    echo "Install Go 1.24 or newer (https://go.dev/doc/install, or the distribution's golang package) and run again." >&2
    exit 1
  fi
  echo "==> building the test Kubernetes API server (kube-apiserver $(awk '/k8s.io\/kubernetes v/ {print $2}' go.mod))" >&2
  started=$(date +%s)
  if ! go build -o "$bin.tmp" . >&2; then
    echo "error: building tests/kube-apiserver failed (above). It needs the Go module proxy (GOPROXY) for the k8s.io and go.etcd.io modules." >&2
    exit 1
  fi
  mv "$bin.tmp" "$bin"
  echo "    built in $(( $(date +%s) - started )) s" >&2
fi
echo "$bin"
