#!/usr/bin/env bash
# Builds the GitOps tools' helper (this folder's Go program: kstatus from
# sigs.k8s.io/cli-utils, …) once per machine, into the cache, and prints the
# binary's path (tests/go-build.sh).
set -euo pipefail
exec bash "$(dirname "$0")/../go-build.sh" gitops "the GitOps tools' test helper (tests/gitops)"
