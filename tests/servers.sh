# Starts the servers the tests and the benchmark run against, and stops them
# when the sourcing script exits: the AWS simulator (pinned moto plus
# tests/aws-sim, in a cached virtualenv) and a real Kubernetes API server
# (tests/kube-apiserver, built once per machine) with this project's CRDs
# installed and Established. Exports PLO_AWS_ENDPOINT, PLO_KUBECONFIG,
# PLO_KUBE_APISERVER_BIN, PLO_GITOPS_BIN (tests/gitops: the GitOps tools'
# own code) and PLO_PROMTOOL (Prometheus' promtool). Sourced by tests/run.sh and tests/bench.sh.

cache="${PLO_CACHE_DIR:-$HOME/.cache/privatelink-operator}"
requirements=tests/aws-sim/requirements.txt
venv="$cache/venv-$(sha256sum "$requirements" | cut -c1-12)"
port="${PLO_AWS_SIM_PORT:-5123}"
mkdir -p "$cache"

# --- the Kubernetes API server and the GitOps tools: build (cached) ----------
kas_bin=$(bash tests/kube-apiserver/build.sh)
PLO_GITOPS_BIN=$(bash tests/gitops/build.sh)
PLO_PROMTOOL=$(bash tests/alerts/build.sh)
export PLO_GITOPS_BIN PLO_PROMTOOL

# --- the AWS simulator: install (cached) ---------------------------------------
if ! "$venv/bin/python" -c "import moto.server, dnslib" 2>/dev/null; then
  echo "==> installing the AWS simulator's Python packages into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
fi

# --- the simulator's IAM evaluator: install (cached by its lock file) ----------
iam_lock=$(sha256sum tests/aws-sim/iam/package-lock.json | cut -c1-12)
if [ "$(cat tests/aws-sim/iam/node_modules/.lock-sha 2>/dev/null)" != "$iam_lock" ]; then
  echo "==> installing the AWS simulator's IAM evaluator (npm ci in tests/aws-sim/iam)"
  npm ci --prefix tests/aws-sim/iam --no-audit --no-fund --loglevel=error
  echo "$iam_lock" > tests/aws-sim/iam/node_modules/.lock-sha
fi

state=$(mktemp -d "${TMPDIR:-/tmp}/plo-tests-XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$state"
}
trap cleanup EXIT

echo "==> starting the AWS simulator on 127.0.0.1:$port"
"$venv/bin/python" tests/aws-sim/server.py --port "$port" > "$cache/aws-sim.log" 2>&1 &
pids+=($!)
sim_pid=$!

echo "==> starting the Kubernetes API server"
kas_started=$(date +%s.%N)
"$kas_bin" --kubeconfig "$state/kubeconfig" --dir "$state/kube" --crds crds/privatelink.dev.yaml \
  > "$state/kube-apiserver.out" 2> "$cache/kube-apiserver.log" &
pids+=($!)
kas_pid=$!

for _ in $(seq 1 200); do
  if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/_sim/health', timeout=0.5)" 2>/dev/null; then
    break
  fi
  if ! kill -0 $sim_pid 2>/dev/null; then
    echo "error: the AWS simulator failed to start:"; cat "$cache/aws-sim.log"; exit 1
  fi
  sleep 0.1
done
export PLO_AWS_ENDPOINT="http://127.0.0.1:$port"

for _ in $(seq 1 1200); do
  if grep -q '^ready' "$state/kube-apiserver.out" 2>/dev/null; then
    break
  fi
  if ! kill -0 $kas_pid 2>/dev/null; then
    echo "error: the test Kubernetes API server failed to start (log: $cache/kube-apiserver.log):" >&2
    tail -n 30 "$cache/kube-apiserver.log" >&2
    exit 1
  fi
  sleep 0.1
done
if ! grep -q '^ready' "$state/kube-apiserver.out"; then
  echo "error: the test Kubernetes API server did not become ready in 120 s (log: $cache/kube-apiserver.log)" >&2
  exit 1
fi
echo "    ready in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $kas_started}") s (CRDs installed and Established): $(cat "$state/kube-apiserver.out")"
export PLO_KUBECONFIG="$state/kubeconfig"
export PLO_KUBE_APISERVER_BIN="$kas_bin"

