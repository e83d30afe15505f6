#!/usr/bin/env bash
# The benchmark: bash tests/bench.sh [--objects N] [--time-scale X] [--seed] [--release]
#
# Starts the servers of the test command (tests/servers.sh), the AWS
# simulator enforcing AWS's EC2 token buckets — at AWS's real rates by
# default (--time-scale 1; N defaults to 100), or refilled X times faster,
# which shrinks every wait X-fold and so hides what breaks when a call waits
# long: use it only for large N, beside a real-rate run — and runs the
# operator binary against them with its buckets at the same scale
# (tests/bench/main.rs drives it):
#   - without --seed: applies N InterfaceEndpoints (one region, no
#     acceptance) and measures the simulated seconds until all are Ready
#     against what the CreateVpcEndpoint bucket allows, the reads of an
#     in-sync resync (and of the same resync read one object at a time, as
#     peer tools do), throttling and memory;
#   - with --seed: N endpoints already in AWS (seeded through the
#     simulator's control endpoint, skipping the create budget) and their
#     objects: memory with N objects watched and in sync, and how long an
#     apply then takes to reach its first AWS call.
# Prints a table, then one line: `bench: objects= converge_s= bound_s= ratio=
# insync_reads= insync_mutating= peer_reads= peak_rss_mib= throttled=
# time_scale= configured_bound_s= configured_ratio= creates= unsynced=`.
# --release builds optimised binaries (the figures in the README); without
# it the debug build of the test command is reused.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=()
args=()
for a in "$@"; do
  case "$a" in
    --release) profile=(--release) ;;
    *) args+=("$a") ;;
  esac
done

source tests/servers.sh

echo "==> building the operator and the benchmark${profile:+ (release)}"
cargo build --quiet "${profile[@]}" --bin privatelink-operator
cargo test --quiet "${profile[@]}" --test bench --no-run 2>/dev/null || cargo test "${profile[@]}" --test bench --no-run
echo "==> benchmark"
cargo test --quiet "${profile[@]}" --test bench -- "${args[@]}"
