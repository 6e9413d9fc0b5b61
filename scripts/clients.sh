#!/usr/bin/env bash
# Real Matrix client libraries judged by client mode (`refresh-conformance serve`).
#
#   scripts/clients.sh install          npm ci in clients/js (matrix-js-sdk 37.5.0, pinned by its lock file);
#                                       cargo build in clients/rust (the matrix-sdk crate 0.18.0), a cargo
#                                       project of its own with its own target directory
#   scripts/clients.sh run [NAME...]    each driver against its own `serve`, verdicts compared with
#                                       reports/expected/client-<library>-<version>.json (exit 1 if one moved)
#   scripts/clients.sh bless [NAME...]  the same, rewriting those files (and their .md summaries)
#
# NAME is js or rust (default: both, run at the same time on two ports). Environment: CLIENTS_PORT (first
# port, default 8301; the second driver gets the next one), CLIENTS_DURATION (seconds a driver keeps going,
# default 45), CLIENTS_REPORT_DIR (default reports/clients). The account's password is made up per run and
# handed to both sides through the environment; it is never printed.
set -euo pipefail

cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

port=${CLIENTS_PORT:-8301}
duration=${CLIENTS_DURATION:-45}
report_root=${CLIENTS_REPORT_DIR:-reports/clients}

# name -> library label (reports, expected file name)
label() {
    case $1 in
        js) echo "matrix-js-sdk 37.5.0" ;;
        rust) echo "matrix-sdk 0.18.0" ;;
        *) echo "unknown client driver: $1 (js or rust)" >&2; return 2 ;;
    esac
}

driver() {
    case $1 in
        js) echo "node clients/js/driver.mjs" ;;
        rust) echo "clients/rust/target/debug/refresh-conformance-driver-matrix-sdk" ;;
    esac
}

install() {
    local started=$SECONDS
    (cd clients/js && npm ci --no-audit --no-fund --loglevel=error)
    echo "clients: matrix-js-sdk installed in $((SECONDS - started)) s"
    started=$SECONDS
    (cd clients/rust && cargo build --quiet)
    echo "clients: matrix-sdk driver built in $((SECONDS - started)) s"
}

# One driver against one serve. Prints the driver's and serve's output with a prefix.
run_one() {
    local name=$1 port=$2 mode=$3
    local client expected report_dir password serve_pid status driver_status
    client=$(label "$name")
    expected="reports/expected/client-${client// /-}.json"
    report_dir="$report_root/$name"
    mkdir -p "$report_dir"
    password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    local bless=()
    [[ $mode == bless ]] && bless=(--bless)
    MRC_PASSWORD=$password target/debug/refresh-conformance serve \
        --listen "127.0.0.1:$port" --duration "$((duration + 30))s" --client "$client" \
        --report-dir "$report_dir" --expected "$expected" "${bless[@]}" \
        > "$report_dir/serve.log" 2>&1 &
    serve_pid=$!
    # Wait until it answers (or died).
    for _ in $(seq 50); do
        curl -fsS "http://127.0.0.1:$port/_matrix/client/versions" >/dev/null 2>&1 && break
        kill -0 "$serve_pid" 2>/dev/null || break
        sleep 0.2
    done
    driver_status=0
    # shellcheck disable=SC2046
    MRC_HOMESERVER="http://127.0.0.1:$port" MRC_USER=client MRC_PASSWORD=$password MRC_DURATION_S=$duration \
        timeout "$((duration + 60))" $(driver "$name") > "$report_dir/driver.log" 2>&1 || driver_status=$?
    status=0
    wait "$serve_pid" || status=$?
    sed "s/^/[$name driver] /" "$report_dir/driver.log"
    sed "s/^/[$name serve] /" "$report_dir/serve.log"
    if ((driver_status != 0)); then
        echo "clients: the $name driver exited with $driver_status" >&2
        return 2
    fi
    return "$status"
}

main() {
    local mode=${1:-}
    shift || true
    case $mode in
        install) install; return ;;
        run | bless) ;;
        *) sed -n '2,15p' "$0" >&2; return 2 ;;
    esac
    local names=("$@")
    ((${#names[@]})) || names=(js rust)
    cargo build --quiet
    local pids=() i=0 failed=0
    for name in "${names[@]}"; do
        label "$name" >/dev/null
        run_one "$name" "$((port + i))" "$mode" &
        pids+=($!)
        i=$((i + 1))
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || failed=1
    done
    return "$failed"
}

main "$@"
