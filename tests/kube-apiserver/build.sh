#!/usr/bin/env bash
# Builds the test Kubernetes API server (this folder's Go program: etcd and
# kube-apiserver from the official modules) once per machine, into the cache,
# and prints the binary's path (tests/go-build.sh).
set -euo pipefail
cd "$(dirname "$0")"
exec bash ../go-build.sh kube-apiserver \
  "the test Kubernetes API server (kube-apiserver $(awk '/k8s.io\/kubernetes v/ {print $2}' go.mod))"
