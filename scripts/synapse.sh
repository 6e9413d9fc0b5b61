#!/usr/bin/env bash
# Install, start and stop a local Synapse homeserver: the real target of the conformance suite.
#
# Synapse comes from PyPI (binary wheels only, nothing is compiled) into a virtualenv under .synapse/,
# listens on loopback only, and is configured for short token lifetimes and relaxed rate limits, so
# that refresh and expiry cases run in seconds and many logins in a row do not hit a 429.
#
# Usage: scripts/synapse.sh install|start [--keep-data]|stop|restart [--keep-data]|status|env
#
# `env` prints SYNAPSE_URL, SYNAPSE_SHARED_SECRET and SYNAPSE_AS_TOKEN (the as_token of an application
# service registered with users in the namespace @mrc-as-.* and `rate_limited: false`) for `eval`. Given to the
# suite as --as-token, it also makes the logins that only set a case up, which Synapse then does not hold to
# rc_login: in the stock profile, only the logins a clause is judged on wait for the stock login limit.
#
# Environment (all optional):
#   SYNAPSE_PORT                    listener port on 127.0.0.1 (default 8008)
#   SYNAPSE_SHARED_SECRET           registration_shared_secret; if unset, one is generated once and kept
#                                   in .synapse/data/shared_secret (mode 600)
#   SYNAPSE_PROFILE                 relaxed (default: relaxed rate limits, bcrypt cost 4, 3s access tokens)
#                                   or stock (Synapse's own rate limits and bcrypt cost 12, 5m access
#                                   tokens): what a server author's dev server looks like out of the box
#   SYNAPSE_BCRYPT_ROUNDS           bcrypt_rounds (default 4 relaxed, 12 stock)
#   SYNAPSE_ACCESS_TOKEN_LIFETIME   refreshable_access_token_lifetime (default 3s relaxed, 5m stock; "none"
#                                   disables refresh)
#   SYNAPSE_REFRESH_TOKEN_LIFETIME  refresh_token_lifetime (default unset: refresh tokens never expire)
#   SYNAPSE_NONREFRESHABLE_LIFETIME nonrefreshable_access_token_lifetime (default unset: never expire)
#   SYNAPSE_VENV                    virtualenv directory (default .synapse/venv)
#   SYNAPSE_DATA                    config, database, secrets, log, pid (default .synapse/data)
#   SYNAPSE_PYTHON                  interpreter used to create the venv (default python3, needs >= 3.10)
# Durations: an integer is milliseconds, or an integer with ONE suffix s|m|h|d|w|y ("500ms" is invalid
# in Synapse; write 500).

set -euo pipefail

readonly SYNAPSE_VERSION=1.163.2

# Resolve paths from the script's own location so that it works from any working directory.
SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
VENV=${SYNAPSE_VENV:-$REPO_ROOT/.synapse/venv}
DATA=${SYNAPSE_DATA:-$REPO_ROOT/.synapse/data}
# Absolute paths: Synapse is started from inside the data directory and its config must not depend on
# the caller's working directory.
[[ $VENV == /* ]] || VENV=$PWD/$VENV
[[ $DATA == /* ]] || DATA=$PWD/$DATA
PYTHON=${SYNAPSE_PYTHON:-python3}
PORT=${SYNAPSE_PORT:-8008}
PROFILE=${SYNAPSE_PROFILE:-relaxed}

CONFIG=$DATA/homeserver.yaml
LOG_CONFIG=$DATA/log.config
LOG_FILE=$DATA/homeserver.log
STDOUT_FILE=$DATA/stdout.log
PID_FILE=$DATA/synapse.pid
# What the last `start` actually used (URL and secret), so that `env` describes the running server even
# when called from a shell that does not have the same SYNAPSE_* variables.
ENV_FILE=$DATA/env
SECRET_FILE=$DATA/shared_secret
# An application service registered with the server, so that the suite can test that /refresh ignores
# identity assertion (`--as-token`). It receives no events (url: null).
AS_FILE=$DATA/appservice.yaml
AS_TOKEN_FILE=$DATA/as_token

START_TIMEOUT_S=30
STOP_TIMEOUT_S=10

usage() {
    local status=${1:-2}
    cat >&2 <<'EOF'
usage: scripts/synapse.sh COMMAND

commands:
  install               create .synapse/venv and install matrix-synapse (skipped if already installed)
  start [--keep-data]   write the config and start Synapse on 127.0.0.1:$SYNAPSE_PORT (default 8008);
                        restarts a server started by this script; fresh database unless --keep-data
  restart [--keep-data] same as start
  stop                  stop the server started by this script
  status                say whether it runs (exit 0 if running, 3 if not)
  env                   print `export SYNAPSE_URL=... SYNAPSE_SHARED_SECRET=...` lines for eval

See the header of this script for the SYNAPSE_* environment variables.
EOF
    exit "$status"
}

die() {
    printf 'synapse.sh: %s\n' "$*" >&2
    exit 1
}

note() {
    printf 'synapse.sh: %s\n' "$*" >&2
}

# Milliseconds since the epoch, for measuring install and start times.
now_ms() {
    local ns
    ns=$(date +%s%N)
    echo $((ns / 1000000))
}

elapsed() {
    local ms=$(($(now_ms) - $1))
    printf '%d.%02d s' $((ms / 1000)) $((ms % 1000 / 10))
}

installed_version() {
    "$VENV/bin/python" - <<'EOF' 2>/dev/null
import importlib.metadata
print(importlib.metadata.version("matrix-synapse"))
EOF
}

cmd_install() {
    local t0
    t0=$(now_ms)
    if [[ -x $VENV/bin/python ]] && [[ $(installed_version || true) == "$SYNAPSE_VERSION" ]]; then
        note "matrix-synapse $SYNAPSE_VERSION already installed in $VENV"
        return 0
    fi

    command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set SYNAPSE_PYTHON)"
    # Synapse 1.163 declares Requires-Python >= 3.10; fail here with a clear message rather than in pip.
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
        die "$PYTHON is $("$PYTHON" --version 2>&1); matrix-synapse $SYNAPSE_VERSION needs Python >= 3.10"
    # Debian's python3 ships venv without ensurepip (package python3-venv); say so instead of a traceback.
    "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null ||
        die "$PYTHON cannot create virtualenvs (on Debian/Ubuntu: apt-get install python3-venv)"

    # A venv whose interpreter no longer runs (python upgraded or moved) cannot be repaired by pip.
    # Only remove a directory that really is a venv, never an arbitrary path from SYNAPSE_VENV.
    if [[ -e $VENV ]] && ! "$VENV/bin/python" -c 'pass' 2>/dev/null; then
        [[ -f $VENV/pyvenv.cfg ]] || die "$VENV exists but is not a virtualenv; remove it or set SYNAPSE_VENV"
        note "removing broken virtualenv $VENV"
        rm -rf -- "$VENV"
    fi
    if [[ ! -x $VENV/bin/python ]]; then
        note "creating virtualenv $VENV with $("$PYTHON" --version 2>&1)"
        mkdir -p -- "$(dirname -- "$VENV")"
        "$PYTHON" -m venv "$VENV"
    fi

    # The pip bundled with the venv resolves the 58 dependencies markedly slower (about 25 s against 15 s).
    note "upgrading pip"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    # --only-binary: all of Synapse's dependencies (and its Rust extension) ship as wheels; building from
    # an sdist would need Rust and a compiler and would hide a broken pin behind a long compile.
    note "installing matrix-synapse==$SYNAPSE_VERSION"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --progress-bar off \
        --only-binary=:all: "matrix-synapse==$SYNAPSE_VERSION"

    local got
    got=$(installed_version) || die "matrix-synapse is not importable after the install"
    [[ $got == "$SYNAPSE_VERSION" ]] || die "installed matrix-synapse $got, expected $SYNAPSE_VERSION"
    note "installed matrix-synapse $SYNAPSE_VERSION in $(elapsed "$t0")"
}

# Synapse accepts an integer (milliseconds) or an integer with exactly one unit suffix. Validate here:
# Synapse's own error for "500ms" comes only after a second of imports and is easy to miss in a log.
check_duration() {
    local name=$1 value=$2
    [[ $value =~ ^[0-9]+[smhdwy]?$ ]] ||
        die "$name=$value is not a Synapse duration: use an integer (ms) or one suffix s|m|h|d|w|y, e.g. 3s or 500"
}

# A YAML scalar for a duration: integers stay numbers (milliseconds), suffixed values become strings.
yaml_duration() {
    if [[ $1 =~ ^[0-9]+$ ]]; then printf '%s' "$1"; else printf '"%s"' "$1"; fi
}

# Single-quoted YAML scalar: the only escape is '' for '.
yaml_quote() {
    local s=${1//\'/\'\'}
    printf "'%s'" "$s"
}

# Generate a secret once and keep it: a new macaroon or form secret on every start would be harmless with
# a fresh database, but with --keep-data it would invalidate existing tokens.
ensure_secret_file() {
    local file=$1
    if [[ ! -s $file ]]; then
        (umask 077 && "$PYTHON" -c 'import secrets; print(secrets.token_hex(32))' >"$file")
    fi
    chmod 600 "$file"
}

shared_secret() {
    if [[ -n ${SYNAPSE_SHARED_SECRET:-} ]]; then
        printf '%s' "$SYNAPSE_SHARED_SECRET"
    else
        ensure_secret_file "$SECRET_FILE"
        cat "$SECRET_FILE"
    fi
}

shared_secret_checked() {
    mkdir -p -- "$DATA"
    chmod 700 "$DATA"
    local secret
    secret=$(shared_secret)
    # One line: it goes into a single-quoted YAML scalar and into an `export` line.
    [[ -n $secret && $secret != *[$'\n\r']* ]] || die "SYNAPSE_SHARED_SECRET must be non-empty and on one line"
    printf '%s' "$secret"
}

# True if PID_FILE names a live Synapse started with our config. Checking the command line (not just
# `kill -0`) avoids acting on an unrelated process that reused a stale PID, and treats a zombie (empty
# cmdline) as gone.
running_pid() {
    [[ -f $PID_FILE ]] || return 1
    local pid
    pid=$(<"$PID_FILE")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r /proc/$pid/cmdline ]]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CONFIG" || return 1
    fi
    echo "$pid"
}

write_log_config() {
    # Python logging dictConfig. WARNING keeps the log small; Synapse installs a log-record factory that
    # adds the request context, so %(request)s is available without a filters section.
    cat >"$LOG_CONFIG" <<EOF
version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: $(yaml_quote "$LOG_FILE")
    encoding: utf8
root:
  level: WARNING
  handlers: [file]
disable_existing_loggers: false
EOF
}

# The lifetime keys for homeserver.yaml, from SYNAPSE_*_LIFETIME. Exits on an invalid duration.
lifetimes_yaml() {
    local default_access=3s
    [[ $PROFILE == stock ]] && default_access=5m
    local access=${SYNAPSE_ACCESS_TOKEN_LIFETIME:-$default_access}
    local refresh=${SYNAPSE_REFRESH_TOKEN_LIFETIME:-}
    local nonrefreshable=${SYNAPSE_NONREFRESHABLE_LIFETIME:-}

    # "none" turns refresh tokens off (Synapse then answers /refresh with 404 and issues no refresh token),
    # which lets the suite's not-applicable path be tried against a real server.
    case $access in
        none | null) echo "refreshable_access_token_lifetime: null" ;;
        *)
            check_duration SYNAPSE_ACCESS_TOKEN_LIFETIME "$access"
            echo "refreshable_access_token_lifetime: $(yaml_duration "$access")"
            ;;
    esac
    if [[ -n $refresh ]]; then
        check_duration SYNAPSE_REFRESH_TOKEN_LIFETIME "$refresh"
        echo "refresh_token_lifetime: $(yaml_duration "$refresh")"
    fi
    if [[ -n $nonrefreshable ]]; then
        check_duration SYNAPSE_NONREFRESHABLE_LIFETIME "$nonrefreshable"
        echo "nonrefreshable_access_token_lifetime: $(yaml_duration "$nonrefreshable")"
    fi
}

write_appservice() {
    ensure_secret_file "$AS_TOKEN_FILE"
    ensure_secret_file "$DATA/hs_token"
    (umask 077 && : >"$AS_FILE")
    cat >"$AS_FILE" <<EOF
# Written by scripts/synapse.sh on every start; edits here are overwritten.
id: mrc-conformance
url: null
as_token: $(yaml_quote "$(<"$AS_TOKEN_FILE")")
hs_token: $(yaml_quote "$(<"$DATA/hs_token")")
sender_localpart: mrc-as-sender
rate_limited: false
namespaces:
  users:
    - exclusive: false
      regex: '@mrc-as-.*'
EOF
}

# The rc_* keys of the relaxed profile; the stock profile leaves them all out, so Synapse's own limits apply.
rate_limits_yaml() {
    if [[ $PROFILE == stock ]]; then
        echo "# Stock profile: no rc_* keys, so Synapse's own rate limits apply."
        return 0
    fi
    cat <<'EOF'
# Relaxed rate limits: the defaults allow 5 logins per IP and then one every 5.5 minutes, and 3
# registrations per IP, which a test suite exhausts at once. /refresh and the shared-secret admin
# register API have no limiter. Removing these keys restores Synapse's own limits. Synapse ignores
# unknown rc_* keys silently, so these names were checked against synapse/config/ratelimiting.py (1.163).
rc_message: &relaxed {per_second: 1000, burst_count: 10000}
rc_registration: *relaxed
rc_registration_token_validity: *relaxed
rc_login:
  address: *relaxed
  account: *relaxed
  failed_attempts: *relaxed
rc_joins:
  local: *relaxed
  remote: *relaxed
rc_joins_per_room: *relaxed
rc_room_creation: *relaxed
rc_invites:
  per_room: *relaxed
  per_user: *relaxed
  per_issuer: *relaxed
rc_third_party_invite: *relaxed
rc_presence:
  per_user: *relaxed
rc_profile: *relaxed
rc_media_create: *relaxed
rc_user_directory: *relaxed
rc_reports: *relaxed
rc_3pid_validation: *relaxed
rc_delayed_event_mgmt: *relaxed
EOF
}

write_config() {
    local secret=$1 lifetimes=$2 rate_limits
    rate_limits=$(rate_limits_yaml)

    ensure_secret_file "$DATA/macaroon_secret_key"
    ensure_secret_file "$DATA/form_secret"
    write_appservice

    # The config holds secrets: create it private.
    (umask 077 && : >"$CONFIG")
    cat >"$CONFIG" <<EOF
# Written by scripts/synapse.sh on every start; edits here are overwritten.
server_name: localhost
public_baseurl: http://127.0.0.1:$PORT/
signing_key_path: $(yaml_quote "$DATA/localhost.signing.key")
media_store_path: $(yaml_quote "$DATA/media_store")
log_config: $(yaml_quote "$LOG_CONFIG")
report_stats: false

# Loopback only, client API only (the admin API, including /_synapse/admin/v1/register, is part of the
# client resource). No federation listener.
listeners:
  - port: $PORT
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false

database:
  name: sqlite3
  args:
    database: $(yaml_quote "$DATA/homeserver.db")

# No outbound traffic: no key servers, no federation, no metrics, no presence, no URL previews.
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
enable_metrics: false
presence:
  enabled: false
url_preview_enabled: false

# Registration: open with m.login.dummy (for --register open), shared-secret admin API (for
# --register shared-secret=S), and guests.
enable_registration: true
enable_registration_without_verification: true
allow_guest_access: true
registration_shared_secret: $(yaml_quote "$secret")
app_service_config_files: [$(yaml_quote "$AS_FILE")]
macaroon_secret_key: $(yaml_quote "$(<"$DATA/macaroon_secret_key")")
form_secret: $(yaml_quote "$(<"$DATA/form_secret")")
# The default of 12 rounds makes each login cost ~250 ms; 4 brings it to ~25 ms.
bcrypt_rounds: ${SYNAPSE_BCRYPT_ROUNDS:-$([[ $PROFILE == stock ]] && echo 12 || echo 4)}

# Token lifetimes (from SYNAPSE_*_LIFETIME).
${lifetimes}

${rate_limits}
EOF
}

# Synapse does not create its signing key when started with -c alone (that is --generate-keys' job).
# Generating it with the venv's signedjson avoids a second Synapse start-up (~1.5 s) on first use.
ensure_signing_key() {
    local key=$DATA/localhost.signing.key
    [[ -s $key ]] && return 0
    (umask 077 && "$VENV/bin/python" - "$key" <<'EOF'
import sys
from signedjson.key import generate_signing_key, write_signing_keys
with open(sys.argv[1], "w") as f:
    write_signing_keys(f, [generate_signing_key("a_" + __import__("secrets").token_hex(2))])
EOF
    )
}

# Synapse logs a failure both to its log and to stderr (stdout.log). Errors before logging is set up,
# such as a ConfigError, reach only stderr, so show that when the log is empty.
print_log_tail() {
    local f=$LOG_FILE
    [[ -s $f ]] || f=$STDOUT_FILE
    [[ -s $f ]] || return 0
    printf '\n--- last lines of %s ---\n' "$f" >&2
    tail -n 40 -- "$f" >&2
    printf -- '---\n' >&2
}

cmd_start() {
    local keep_data=false
    while (($#)); do
        case $1 in
            --keep-data) keep_data=true ;;
            *) usage ;;
        esac
        shift
    done

    # No leading zero: bash arithmetic would read 08008 as (invalid) octal.
    if [[ ! $PORT =~ ^[1-9][0-9]{0,4}$ ]] || ((PORT > 65535)); then
        die "SYNAPSE_PORT=$PORT is not a port number"
    fi
    command -v curl >/dev/null || die "curl is needed to wait for Synapse to answer"
    [[ -x $VENV/bin/python ]] || die "no virtualenv at $VENV; run: scripts/synapse.sh install"
    local got
    got=$(installed_version) || die "matrix-synapse is not installed in $VENV; run: scripts/synapse.sh install"
    [[ $got == "$SYNAPSE_VERSION" ]] ||
        note "warning: $VENV has matrix-synapse $got, this script pins $SYNAPSE_VERSION (run install)"

    # Check the settings before touching a running server, so that a typo does not leave nothing running.
    case $PROFILE in
        relaxed | stock) ;;
        *) die "SYNAPSE_PROFILE=$PROFILE: use relaxed or stock" ;;
    esac
    if [[ -n ${SYNAPSE_BCRYPT_ROUNDS:-} && ! $SYNAPSE_BCRYPT_ROUNDS =~ ^[1-9][0-9]?$ ]]; then
        die "SYNAPSE_BCRYPT_ROUNDS=$SYNAPSE_BCRYPT_ROUNDS is not a bcrypt cost (4..31)"
    fi
    local lifetimes secret
    lifetimes=$(lifetimes_yaml)
    secret=$(shared_secret_checked)

    # A running server would not pick up a changed config: restart it.
    if running_pid >/dev/null; then
        note "restarting the running Synapse so that the new config applies"
        cmd_stop
    fi

    local url=http://127.0.0.1:$PORT
    # Something else on the port would answer our readiness probe and be mistaken for our server.
    if curl -fsS -o /dev/null --max-time 2 "$url/_matrix/client/versions" 2>/dev/null; then
        die "something already answers on $url (not started by this script); stop it or set SYNAPSE_PORT"
    fi

    if ! $keep_data; then
        # Reproducible runs: every start begins with an empty database (secrets and signing key stay).
        rm -f -- "$DATA"/homeserver.db "$DATA"/homeserver.db-wal "$DATA"/homeserver.db-shm \
            "$DATA"/homeserver.db-journal
        rm -rf -- "$DATA/media_store"
    fi

    write_config "$secret" "$lifetimes"
    write_log_config
    ensure_signing_key

    # Keep one previous log so that the tail printed on failure shows only this start.
    [[ -f $LOG_FILE ]] && mv -f -- "$LOG_FILE" "$LOG_FILE.1"
    [[ -f $STDOUT_FILE ]] && mv -f -- "$STDOUT_FILE" "$STDOUT_FILE.1"

    local t0
    t0=$(now_ms)
    # nohup: survive the terminal that started it; stdin/stdout detached so that `$(scripts/synapse.sh
    # start)` and CI log capture do not wait for Synapse to exit. cd so that any relative path Synapse
    # derives lands in the data directory.
    # GIT_CEILING_DIRECTORIES: Synapse describes itself with the git branch and commit of a checkout around
    # its installed package, which would be this repository's (the venv lives inside it): Server header and
    # so our reports would name our commit. Git must not look above the venv.
    (cd -- "$DATA" && exec env GIT_CEILING_DIRECTORIES="$VENV" nohup "$VENV/bin/python" -m synapse.app.homeserver -c "$CONFIG" \
        </dev/null >"$STDOUT_FILE" 2>&1) &
    local pid=$!
    echo "$pid" >"$PID_FILE"

    local deadline=$((t0 + START_TIMEOUT_S * 1000))
    while :; do
        if curl -fsS -o /dev/null --max-time 1 "$url/_matrix/client/versions" 2>/dev/null; then
            break
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f -- "$PID_FILE"
            print_log_tail
            die "Synapse exited during start-up (see above; config: $CONFIG)"
        fi
        if (($(now_ms) >= deadline)); then
            print_log_tail
            cmd_stop
            die "Synapse did not answer $url/_matrix/client/versions within ${START_TIMEOUT_S} s"
        fi
        sleep 0.1
    done

    (umask 077 && printf 'export SYNAPSE_URL=%q\nexport SYNAPSE_SHARED_SECRET=%q\nexport SYNAPSE_AS_TOKEN=%q\n' \
        "$url" "$secret" "$(<"$AS_TOKEN_FILE")" >"$ENV_FILE")
    note "Synapse $SYNAPSE_VERSION ($PROFILE profile) is up at $url (pid $pid) after $(elapsed "$t0")"
}

cmd_stop() {
    local pid
    if ! pid=$(running_pid); then
        rm -f -- "$PID_FILE"
        note "Synapse is not running"
        return 0
    fi
    local t0
    t0=$(now_ms)
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((t0 + STOP_TIMEOUT_S * 1000))
    while running_pid >/dev/null && (($(now_ms) < deadline)); do
        sleep 0.1
    done
    if running_pid >/dev/null; then
        note "Synapse (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT_S} s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.2
    fi
    rm -f -- "$PID_FILE" "$ENV_FILE"
    note "stopped Synapse (pid $pid) in $(elapsed "$t0")"
}

cmd_status() {
    local pid
    if pid=$(running_pid); then
        echo "Synapse is running (pid $pid) at http://127.0.0.1:$(sed -n 's/^  - port: //p' "$CONFIG")"
    else
        echo "Synapse is not running"
        return 3
    fi
}

cmd_env() {
    if [[ -f $ENV_FILE ]] && running_pid >/dev/null; then
        cat -- "$ENV_FILE"
        return 0
    fi
    # Nothing running: describe what `start` would use, and say so on stderr (eval only sees stdout).
    note "Synapse is not running; printing the settings that start would use"
    mkdir -p -- "$DATA"
    ensure_secret_file "$AS_TOKEN_FILE"
    printf 'export SYNAPSE_URL=%q\nexport SYNAPSE_SHARED_SECRET=%q\nexport SYNAPSE_AS_TOKEN=%q\n' \
        "http://127.0.0.1:$PORT" "$(shared_secret)" "$(<"$AS_TOKEN_FILE")"
}

(($# >= 1)) || usage
command=$1
shift
case $command in
    install) (($# == 0)) || usage; cmd_install ;;
    start | restart) cmd_start "$@" ;;
    stop) (($# == 0)) || usage; cmd_stop ;;
    status) (($# == 0)) || usage; cmd_status ;;
    env) (($# == 0)) || usage; cmd_env ;;
    -h | --help | help) usage 0 ;;
    *) usage ;;
esac
