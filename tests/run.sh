#!/usr/bin/env bash
# Runs every test: installs the AWS simulator (moto 5.2.5 + tests/aws-sim) into
# a cached virtualenv, starts it on 127.0.0.1, runs the Rust test suite, and
# stops the simulator. Works on a fresh machine with Rust and Python 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${PLO_CACHE_DIR:-$HOME/.cache/privatelink-operator}"
venv="$cache/venv-moto-5.2.5"
port="${PLO_AWS_SIM_PORT:-5123}"

if ! "$venv/bin/python" -c "import moto.server" 2>/dev/null; then
  echo "==> installing moto[server]==5.2.5 into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==5.2.5"
fi

echo "==> starting the AWS simulator on 127.0.0.1:$port"
"$venv/bin/python" tests/aws-sim/server.py --port "$port" > "$cache/aws-sim.log" 2>&1 &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
    break
  fi
  if ! kill -0 $sim_pid 2>/dev/null; then
    echo "AWS simulator failed to start:"; cat "$cache/aws-sim.log"; exit 1
  fi
  sleep 0.1
done
export PLO_AWS_ENDPOINT="http://127.0.0.1:$port"

echo "==> running the test suite"
cargo nextest run --no-fail-fast "$@"
