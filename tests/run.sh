#!/usr/bin/env bash
# Runs every test. Starts, beside each other:
#   - the AWS simulator: pinned moto 5.2.5 plus tests/aws-sim, in a cached
#     virtualenv, on 127.0.0.1;
#   - a real Kubernetes API server: kube-apiserver and etcd built from the
#     official Go modules (tests/kube-apiserver, built once per machine and
#     rebuilt when its sources change), with this project's CRDs installed
#     and Established;
# and the tools of the chart and Argo CD tests (the Helm library, Kubernetes
# schemas, Lua 5.1); then runs the Rust test suite with `cargo test`, and
# stops the servers at exit. Works on a fresh machine with Rust, Go, Python
# 3.11 and Debian's apt.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- the chart tools: the real Helm library, Kubernetes schemas (cached) -------
cache="${PLO_CACHE_DIR:-$HOME/.cache/privatelink-operator}"
mkdir -p "$cache"
chart_requirements=tests/chart/requirements.txt
chart_venv="$cache/venv-chart-$(sha256sum "$chart_requirements" | cut -c1-12)"
if ! "$chart_venv/bin/python" -c "import helm_python, kubernetes_validate" 2>/dev/null; then
  echo "==> installing the chart tools into $chart_venv"
  rm -rf "$chart_venv"
  python3 -m venv "$chart_venv"
  "$chart_venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$chart_requirements"
fi
export PLO_CHART_PYTHON="$chart_venv/bin/python"


# --- the AWS simulator and the Kubernetes API server -----------------------------
source tests/servers.sh

# --- foreign resources: seeded before the suite, checked after it -------------
# AWS resources the operator did not create (some with look-alike ownership
# tags), in the accounts and regions the tests use; after every other test
# each must be byte for byte as seeded (tests/foreign/main.rs).
echo "==> seeding foreign resources"
foreign_record="$state/foreign.json"
cargo test --quiet --test foreign -- seed "$foreign_record" | tail -n 1

echo "==> running the test suite"
status=0
cargo test --no-fail-fast "$@" || status=$?

echo "==> checking the foreign resources"
cargo test --quiet --test foreign -- verify "$foreign_record" || status=1
exit $status
