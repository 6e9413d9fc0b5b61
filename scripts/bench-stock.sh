#!/usr/bin/env bash
# Benchmark: the first run a server author would make, against a Synapse with its stock settings (its own
# rate limits, bcrypt cost 12, 5-minute refreshable access tokens), with the options the suite's advice gives
# for it. Prints the wall time, the case outcomes and the clause verdicts.
#
# Synapse's stock login limiter admits 5 logins per address and then one every 5.5 minutes. With --as-token
# (given here) the logins that only set a case up are the application service's, which Synapse exempts from
# that limit; the logins a clause is judged on (about 14) wait their turn, so the whole suite takes about an
# hour. Pass a filter or --clause to measure a part of it. Too slow for CI.
#
# Usage: scripts/bench-stock.sh [SUITE OPTIONS...]   e.g. scripts/bench-stock.sh --clause expiry
# Environment: SYNAPSE_PORT, SYNAPSE_VENV as for scripts/synapse.sh; MAX_WAIT (default 10m), WAIT_BUDGET
# (default 8h), DEADLINE (default 9h); REPORT_DIR (default a temporary directory, removed afterwards).
set -euo pipefail

cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."
max_wait=${MAX_WAIT:-10m}
wait_budget=${WAIT_BUDGET:-8h}
# The run deadline must leave room for the whole wait budget.
deadline=${DEADLINE:-9h}

# A debug build: the wall time here is the server's rate limits and waits, not the suite's own work.
cargo build --quiet
if [[ -n ${REPORT_DIR:-} ]]; then
    dir=$REPORT_DIR
    mkdir -p -- "$dir"
    cleanup_dir=:
else
    dir=$(mktemp -d)
    cleanup_dir='rm -rf -- "$dir"'
fi
# A fresh stock server, stopped whatever happens.
trap 'scripts/synapse.sh stop >/dev/null 2>&1 || true; eval "$cleanup_dir"' EXIT
SYNAPSE_PROFILE=stock scripts/synapse.sh start
synapse_env=$(scripts/synapse.sh env)
eval "$synapse_env"

started=$(date +%s%N)
status=0
target/debug/refresh-conformance --target "$SYNAPSE_URL" --register "shared-secret=$SYNAPSE_SHARED_SECRET" \
    --as-token "$SYNAPSE_AS_TOKEN" --max-wait "$max_wait" --wait-budget "$wait_budget" --deadline "$deadline" \
    --report-dir "$dir" "$@" || status=$?
wall_ms=$(( ($(date +%s%N) - started) / 1000000 ))
python3 - "$dir/report.json" "$wall_ms" "$status" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
wall = int(sys.argv[2]) / 1000
cases = report["totals"]["cases"]
clauses = report["totals"]["clauses"]
untested_timing = [c["id"] for c in report["cases"] if c.get("cause") and c["outcome"] != "passed"]
print(f"stock Synapse: wall {wall:.0f} s ({wall / 60:.1f} min), exit {sys.argv[3]}")
print("cases: " + ", ".join(f"{n} {k}" for k, n in cases.items()))
print("clauses: " + ", ".join(f"{n} {k}" for k, n in clauses.items()))
print(f"cases stopped by a rate limit, a wait or a timeout: {len(untested_timing)} {untested_timing}")
PY
