#!/usr/bin/env bash
# Benchmark: how much longer the whole suite takes than its longest case, against the local Synapse.
#
# Cases run concurrently and the expiry cases (which sleep for the access-token lifetime) start first, so
# the wall-clock time of a run should be little more than its longest case. Prints `wall / longest case`,
# where wall is the whole process (start-up and probe included, measured here) and the longest case comes
# from report.json; the target is at most 1.3.
#
# Usage: scripts/bench.sh [RUNS]   (default 3; needs a running Synapse: scripts/synapse.sh start)
set -euo pipefail

cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."
runs=${1:-3}
synapse_env=$(scripts/synapse.sh env)
eval "$synapse_env"
cargo build --release --quiet
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

for run in $(seq 1 "$runs"); do
    # The verdicts do not matter here (Synapse fails some clauses): only the timings of report.json.
    started=$(date +%s%N)
    target/release/refresh-conformance --target "$SYNAPSE_URL" --register "shared-secret=$SYNAPSE_SHARED_SECRET" \
        --as-token "$SYNAPSE_AS_TOKEN" \
        --bursts --report-dir "$dir" --quiet >/dev/null 2>&1 || true
    wall_ms=$(( ($(date +%s%N) - started) / 1000000 ))
    python3 - "$dir/report.json" "$run" "$wall_ms" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
cases = report["cases"]
longest = max(cases, key=lambda c: c["duration_ms"])
wall = int(sys.argv[3])
print(f"run {sys.argv[2]}: {len(cases)} cases, wall {wall} ms (cases alone {report['duration_ms']} ms), "
      f"longest case {longest['duration_ms']} ms ({longest['id']}), "
      f"wall / longest case = {wall / longest['duration_ms']:.2f}")
PY
done
