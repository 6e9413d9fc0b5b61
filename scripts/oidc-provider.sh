#!/usr/bin/env bash
# Install, start and stop oidc-provider (npm, pinned), a widely deployed OpenID-certified OAuth 2.0
# authorisation server, on loopback: the real plain-OAuth target of the suite's OAuth cases.
#
# Usage: scripts/oidc-provider.sh install|start|stop|status|env
#
# `env` prints `export OIDC_ISSUER=...` for `eval`. The configuration is scripts/oidc-provider/provider.mjs; the login
# and consent pages are completed by scripts/oidc-provider/authorize.sh (the suite's --oauth-authorize).
#
# Environment (all optional):
#   OIDC_PORT               listener port on 127.0.0.1 (default 8201)
#   OIDC_ACCESS_TOKEN_TTL   access-token lifetime in seconds (default 5)
#   OIDC_DIR                where node_modules, the log and the pid live (default .oidc-provider)
# Needs node (>= 20.19; oidc-provider 9 officially wants 22 and only warns on 20) and npm.

set -euo pipefail

readonly OIDC_PROVIDER_VERSION=9.13.3

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
DIR=${OIDC_DIR:-$REPO_ROOT/.oidc-provider}
[[ $DIR == /* ]] || DIR=$PWD/$DIR
PORT=${OIDC_PORT:-8201}
PID_FILE=$DIR/oidc-provider.pid
LOG_FILE=$DIR/oidc-provider.log
ISSUER=http://127.0.0.1:$PORT
START_TIMEOUT_S=20

usage() {
    echo "usage: $0 install|start|stop|status|env" >&2
    exit 2
}

# oidc-provider 9 uses URL.parse and crypto.hash (Node.js >= 20.19).
check_node() {
    local version
    version=$(node --version 2>/dev/null) || { echo "oidc-provider needs Node.js (>= 20.19)" >&2; exit 1; }
    node -e 'process.exit(typeof URL.parse === "function" && typeof require("crypto").hash === "function" ? 0 : 1)' ||
        { echo "oidc-provider $OIDC_PROVIDER_VERSION needs Node.js >= 20.19, found $version" >&2; exit 1; }
}

install() {
    check_node
    mkdir -p "$DIR"
    cp "$SCRIPT_DIR/oidc-provider/package.json" "$SCRIPT_DIR/oidc-provider/provider.mjs" "$DIR/"
    if [[ -f $DIR/node_modules/oidc-provider/package.json ]] &&
        grep -q "\"version\": \"$OIDC_PROVIDER_VERSION\"" "$DIR/node_modules/oidc-provider/package.json"; then
        echo "oidc-provider $OIDC_PROVIDER_VERSION already installed in $DIR"
        return
    fi
    (cd "$DIR" && npm install --no-audit --no-fund --omit=dev "oidc-provider@$OIDC_PROVIDER_VERSION")
}

running() {
    [[ -f $PID_FILE ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

start() {
    [[ -d $DIR/node_modules/oidc-provider ]] || install
    # The configuration may have changed since install.
    cp "$SCRIPT_DIR/oidc-provider/provider.mjs" "$DIR/"
    if running; then
        echo "oidc-provider already running (pid $(cat "$PID_FILE"))"
        return
    fi
    # Something else answering on the port would pass the readiness check below with its own configuration.
    if curl -s -o /dev/null "$ISSUER/"; then
        echo "port $PORT is in use by another process: stop it or set OIDC_PORT" >&2
        exit 1
    fi
    # `nohup node` backgrounded as a simple command, so that $! is node's own pid and `stop` ends it (as
    # part of a `cd && ...` list it would be the pid of a subshell, and node would outlive `stop`).
    (
        cd "$DIR" || exit 1
        OIDC_PORT=$PORT nohup node provider.mjs >"$LOG_FILE" 2>&1 &
        echo $! >"$PID_FILE"
    )
    local waited=0
    until curl -sf -o /dev/null "$ISSUER/.well-known/openid-configuration"; do
        if ! running || ((waited >= START_TIMEOUT_S * 10)); then
            echo "oidc-provider did not start; its log:" >&2
            tail -n 30 "$LOG_FILE" >&2 || true
            stop
            exit 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    echo "oidc-provider $OIDC_PROVIDER_VERSION listening at $ISSUER (pid $(cat "$PID_FILE"))"
}

stop() {
    if running; then
        local pid
        pid=$(cat "$PID_FILE")
        kill "$pid"
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$PID_FILE"
}

case ${1:-} in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) if running; then echo "running at $ISSUER"; else echo "stopped"; exit 1; fi ;;
    env) echo "export OIDC_ISSUER=$ISSUER" ;;
    *) usage ;;
esac
