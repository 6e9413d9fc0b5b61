#!/usr/bin/env bash
# Screenshots of report.html as a browser shows it, for looking at the page (not run in CI).
#
#   scripts/screenshot-report.sh [OUT_DIR]
#
# Runs the suite twice against the built-in reference homeserver, once as it is and once with a named fault
# (REPORT_FAULT, default used-refresh-forbidden), and writes OUT_DIR/{passing,failing}.png (default
# target/screenshots). A second failing shot, failing-open.png, has every case's <details> opened. Installs
# Debian's chromium first when it is missing (needs root and the Debian archive).
set -euo pipefail

cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."
out=${1:-target/screenshots}
fault=${REPORT_FAULT:-used-refresh-forbidden}
width=${REPORT_WIDTH:-1280}
height=${REPORT_HEIGHT:-2400}
mkdir -p "$out"

if ! command -v chromium >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends chromium
fi

cargo build --quiet
binary=target/debug/refresh-conformance
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

shoot() { # html png
    local profile
    profile=$(mktemp -d "$work/profile.XXXXXX")
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --hide-scrollbars --window-size="$width,$height" \
        --screenshot="$2" "file://$1" 2>/dev/null
    echo "wrote $2"
}

# The exit code says whether the run conformed; here only the page matters.
"$binary" --report-dir "$work/passing" -q >/dev/null 2>&1 || true
"$binary" --report-dir "$work/failing" -q --reference-fault "$fault" >/dev/null 2>&1 || true

shoot "$work/passing/report.html" "$out/passing.png"
shoot "$work/failing/report.html" "$out/failing.png"
# The same page with every case opened, as after clicking each.
sed 's/<details class="case"/<details open class="case"/' "$work/failing/report.html" >"$work/failing/open.html"
shoot "$work/failing/open.html" "$out/failing-open.png"
