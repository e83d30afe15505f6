#!/usr/bin/env bash
# Runs every test: installs the AWS simulator (pinned moto 5.2.5 plus
# tests/aws-sim) into a cached virtualenv, starts it on 127.0.0.1, runs the
# Rust test suite, and stops the simulator. Works on a fresh machine with
# Rust and Python 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${PLO_CACHE_DIR:-$HOME/.cache/privatelink-operator}"
requirements=tests/aws-sim/requirements.txt
venv="$cache/venv-$(sha256sum "$requirements" | cut -c1-12)"
port="${PLO_AWS_SIM_PORT:-5123}"
mkdir -p "$cache"

if ! "$venv/bin/python" -c "import moto.server" 2>/dev/null; then
  echo "==> installing the AWS simulator's Python packages into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
fi

echo "==> starting the AWS simulator on 127.0.0.1:$port"
"$venv/bin/python" tests/aws-sim/server.py --port "$port" > "$cache/aws-sim.log" 2>&1 &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do
  if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/_sim/health', timeout=0.5)" 2>/dev/null; then
    break
  fi
  if ! kill -0 $sim_pid 2>/dev/null; then
    echo "AWS simulator failed to start:"; cat "$cache/aws-sim.log"; exit 1
  fi
  sleep 0.1
done
export PLO_AWS_ENDPOINT="http://127.0.0.1:$port"

echo "==> running the test suite"
cargo test --no-fail-fast "$@"
