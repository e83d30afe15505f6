#!/usr/bin/env bash
# The reliability campaign: bash tests/reliability.sh [--objects N]
#
# Runs every test (the README's test command, tests/run.sh), with the fault
# runs at N objects each (default 200; the plain test command runs 50), and
# sums what the campaign's tests print:
#   - crash points (tests/it/crash.rs): the operator stops right after each
#     kind of mutating AWS call of a full lifecycle and starts again;
#   - faults (tests/it/faults.rs): a fleet of all three kinds in three
#     accounts and two regions under 10 % injected 5xx and throttling with
#     latency, once plain and once with the Kubernetes API server restarted
#     midway;
#   - hostile input (tests/it/crds.rs against the real API server,
#     tests/it/hostile.rs through `plan`; property tests in
#     src/plan/properties.rs);
#   - foreign resources (tests/foreign/main.rs): seeded before the suite,
#     compared byte for byte after it.
# Ends with one line:
#   reliability: crash_points= duplicates= leaks= fault_objects= lost= bad_inputs= refused= panics= foreign= foreign_touched=
set -uo pipefail
cd "$(dirname "$0")/.."

objects=200
while [ $# -gt 0 ]; do
  case "$1" in
    --objects) objects="$2"; shift 2 ;;
    *) echo "usage: bash tests/reliability.sh [--objects N]" >&2; exit 2 ;;
  esac
done

log=$(mktemp "${TMPDIR:-/tmp}/plo-reliability-XXXXXX.log")
echo "==> running every test with fault runs of $objects objects (log: $log)"
PLO_FAULT_OBJECTS="$objects" bash tests/run.sh -- --nocapture 2>&1 | tee "$log" \
  | grep -E '^(test result|reliability-figures|fault-figures|hostile-figures|foreign-figures|crash after)|FAILED|panicked' || true
status=${PIPESTATUS[0]}

# Sum key=value figures of the lines that start with $1.
sum() {
  local prefix="$1" key="$2"
  grep -aoE "^$prefix.*" "$log" | grep -aoE "(^| )$key=[0-9]+" | cut -d= -f2 | awk '{s+=$1} END {print s+0}'
}

crash_points=$(sum reliability-figures crash_points)
duplicates=$(( $(sum reliability-figures duplicates) + $(sum fault-figures duplicates) ))
leaks=$(( $(sum reliability-figures leaks) + $(sum fault-figures leaks) ))
fault_objects=$(sum fault-figures objects)
lost=$(sum fault-figures lost)
bad_inputs=$(sum hostile-figures bad_inputs)
refused=$(sum hostile-figures refused)
# Panics: what the hostile inputs made `plan` do (exit 101), and property
# tests that found an input making the reader or the plan core panic.
panics=$(( $(sum hostile-figures panics) + $(grep -acE "^test plan::properties::.* FAILED$" "$log") ))
foreign=$(sum foreign-figures foreign)
foreign_touched=$(sum foreign-figures foreign_touched)
runs=$(grep -ac '^fault-figures' "$log")
if [ "$runs" -lt 2 ] || [ "$crash_points" -eq 0 ] || [ "$foreign" -eq 0 ] || [ "$bad_inputs" -eq 0 ]; then
  echo "error: some of the campaign's figures are missing (fault runs: $runs); see $log" >&2
  status=1
fi

echo "reliability: crash_points=$crash_points duplicates=$duplicates leaks=$leaks fault_objects=$fault_objects lost=$lost bad_inputs=$bad_inputs refused=$refused panics=$panics foreign=$foreign foreign_touched=$foreign_touched"
exit "$status"
