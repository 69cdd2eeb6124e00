#!/usr/bin/env bash
# Full local/CI test harness for switchboard.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -- <args>       # extra args go to `cargo test --all-features`
#                                   #   e.g. scripts/test.sh -- retry -- --nocapture
#   SWITCHBOARD_TEST_SETUP_ONLY=1 scripts/test.sh
#                                   # only bring up Redis, PostgreSQL, Prism and
#                                   # print the environment (steps a-d), then stop
#
# Steps: services (Redis, PostgreSQL), Prism mock server, env, then
# fmt, clippy, tests, and a `cargo check` of every connector feature alone.
# Safe for CI: never reads stdin, works from a fresh clone.
set -euo pipefail

# ---------------------------------------------------------------- settings
# Pinned Prism version (npm `@stoplight/prism-cli`). Bump deliberately.
PRISM_VERSION="${SWITCHBOARD_PRISM_VERSION:-5.14.2}"
CONNECTOR_FEATURES=(twilio stripe docusign ghl rets google-maps)
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
PG_HOST=127.0.0.1
PG_PORT=5432
PG_USER=postgres
PG_DB="test"

# ---------------------------------------------------------------- setup
script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$script_dir/.." && pwd)"
cd "$repo"

exec </dev/null # CI has no stdin; make sure nothing ever waits on it.

if [[ -n "${CI:-}" ]]; then
    export CARGO_TERM_COLOR=never
fi
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
export SCARF_ANALYTICS=false # @scarf/scarf (a Prism dependency) phones home otherwise
export PGCONNECT_TIMEOUT=5

# cargo may live in ~/.cargo/bin without being on a non-login PATH.
if ! command -v cargo >/dev/null 2>&1 && [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi

# Everything after an optional leading `--` is passed to `cargo test`.
if [[ $# -gt 0 && "$1" == "--" ]]; then
    shift
fi
test_args=("$@")

# ---------------------------------------------------------------- helpers
total_start=$SECONDS
current_step=""
step_start=$SECONDS
step_times=()
warnings=()
tmp_dir="$(mktemp -d "${TMPDIR:-/tmp}/switchboard-test.XXXXXX")"

on_exit() {
    local rc=$?
    rm -rf "$tmp_dir"
    if [[ $rc -ne 0 ]]; then
        echo "==> FAILED in step '${current_step:-?}' (exit $rc) after $((SECONDS - step_start))s; total $((SECONDS - total_start))s" >&2
    fi
}
trap on_exit EXIT

step() {
    end_step
    current_step="$1"
    step_start=$SECONDS
    echo "==> $1"
}

end_step() {
    if [[ -n "$current_step" ]]; then
        local took=$((SECONDS - step_start))
        echo "    ($current_step: ${took}s)"
        step_times+=("$current_step ${took}s")
        current_step=""
    fi
}

warn() {
    echo "WARNING: $*" >&2
    warnings+=("$*")
}

die() {
    echo "ERROR: $*" >&2
    exit 1
}

print_warnings() {
    local w
    for w in ${warnings[@]+"${warnings[@]}"}; do
        echo "    warning: $w"
    done
}

have() { command -v "$1" >/dev/null 2>&1; }

# wait_for SECONDS CMD...: poll CMD every half second until it succeeds.
wait_for() {
    local limit=$1
    shift
    local deadline=$((SECONDS + limit))
    while ! "$@"; do
        if ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 0.5
    done
}

tcp_open() { # tcp_open HOST PORT
    timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

redis_up() {
    if have redis-cli; then
        [[ "$(timeout 3 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG* ]]
    else
        # Speak RESP by hand: send PING, expect +PONG.
        # shellcheck disable=SC2016 # expanded by the inner bash
        timeout 3 bash -c '
            exec 3<>"/dev/tcp/$0/$1" || exit 1
            printf "PING\r\n" >&3
            IFS= read -r line <&3
            [[ $line == +PONG* ]]
        ' "$REDIS_HOST" "$REDIS_PORT" 2>/dev/null
    fi
}

pg_up() {
    if have pg_isready; then
        pg_isready -h "$PG_HOST" -p "$PG_PORT" -t 3 >/dev/null 2>&1
    else
        tcp_open "$PG_HOST" "$PG_PORT"
    fi
}

# ---------------------------------------------------------------- a. Redis
step "redis on $REDIS_HOST:$REDIS_PORT"
if redis_up; then
    echo "    redis is up"
elif ! have redis-server; then
    warn "Redis is not running on $REDIS_HOST:$REDIS_PORT and redis-server is not installed; tests that need Redis will fail or skip"
else
    echo "    redis is down; starting redis-server"
    redis_log="${TMPDIR:-/tmp}/switchboard-redis.log"
    redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" \
        --save "" --appendonly no --dir "${TMPDIR:-/tmp}" --logfile "$redis_log" ||
        die "redis-server failed to start (log: $redis_log)"
    wait_for 10 redis_up ||
        die "Redis did not answer PING on $REDIS_HOST:$REDIS_PORT within 10s (log: $redis_log)"
    echo "    redis is up"
fi

# ---------------------------------------------------------------- b. PostgreSQL
step "postgresql on $PG_HOST:$PG_PORT"
pg_ready=0
if pg_up; then
    pg_ready=1
    echo "    postgresql is up"
elif ! have pg_ctlcluster || [[ ! -d /etc/postgresql ]] || [[ -z "$(ls -A /etc/postgresql 2>/dev/null)" ]]; then
    warn "PostgreSQL is not running on $PG_HOST:$PG_PORT and no local cluster (pg_ctlcluster, /etc/postgresql) is installed; tests that need PostgreSQL will fail or skip"
else
    # shellcheck disable=SC2012 # cluster versions are plain numbers
    pg_version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    echo "    postgresql is down; starting cluster $pg_version/main"
    pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start ||
        die "pg_ctlcluster $pg_version main start failed"
    wait_for 20 pg_up ||
        die "PostgreSQL did not accept connections on $PG_HOST:$PG_PORT within 20s"
    pg_ready=1
    echo "    postgresql is up"
fi
if [[ $pg_ready -eq 1 ]]; then
    if ! have psql; then
        warn "psql is not installed; cannot check that database '$PG_DB' exists"
    else
        exists="$(psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -w -tAc \
            "select 1 from pg_database where datname='$PG_DB'")" ||
            die "psql could not connect to $PG_HOST:$PG_PORT as $PG_USER"
        if [[ "$exists" == 1 ]]; then
            echo "    database '$PG_DB' exists"
        else
            echo "    creating database '$PG_DB'"
            if have createdb; then
                createdb -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -w "$PG_DB" ||
                    die "createdb $PG_DB failed"
            else
                psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -w -v ON_ERROR_STOP=1 \
                    -qc "create database \"$PG_DB\"" || die "create database $PG_DB failed"
            fi
        fi
    fi
fi

# ---------------------------------------------------------------- c. Prism
step "prism $PRISM_VERSION (.tools/prism)"
prism_prefix="$repo/.tools/prism"
prism_bin="$prism_prefix/node_modules/.bin/prism"
prism_pkg="$prism_prefix/node_modules/@stoplight/prism-cli/package.json"
if ! have npm; then
    warn "npm is not installed; Prism mock-server tests will fail or skip"
else
    installed_version=""
    if [[ -x "$prism_bin" && -f "$prism_pkg" ]]; then
        installed_version="$(node -p "require('$prism_pkg').version" 2>/dev/null || true)"
    fi
    if [[ "$installed_version" != "$PRISM_VERSION" ]]; then
        if [[ -n "$installed_version" ]]; then
            echo "    found prism $installed_version, want $PRISM_VERSION; reinstalling"
        fi
        echo "    npm install @stoplight/prism-cli@$PRISM_VERSION"
        mkdir -p "$prism_prefix"
        install_ok=0
        for attempt in 1 2; do
            # Prism >=5.15 declares node >=24 but runs on node 20; never let an
            # engine-strict npmrc turn that into an error.
            if npm_config_engine_strict=false npm install --prefix "$prism_prefix" \
                --no-audit --no-fund "@stoplight/prism-cli@$PRISM_VERSION"; then
                install_ok=1
                break
            fi
            echo "    npm install failed (attempt $attempt)" >&2
            sleep 2
        done
        [[ $install_ok -eq 1 ]] || die "could not install @stoplight/prism-cli@$PRISM_VERSION"
    fi
    [[ -x "$prism_bin" ]] || die "Prism binary missing after install: $prism_bin"
    prism_reported="$("$prism_bin" --version 2>/dev/null)" ||
        die "'$prism_bin --version' failed (node $(node --version 2>/dev/null || echo '?'))"
    echo "    prism $prism_reported"
    export SWITCHBOARD_PRISM="$prism_bin"
fi

# ---------------------------------------------------------------- d. env
step "environment"
parent="$(cd "$repo/.." && pwd)"
export SWITCHBOARD_SHARED_DIR="${SWITCHBOARD_SHARED_DIR:-$parent/shared}"
export SWITCHBOARD_VECTORS_DIR="${SWITCHBOARD_VECTORS_DIR:-$parent/shared/vectors}"
[[ -d "$SWITCHBOARD_SHARED_DIR" ]] || warn "SWITCHBOARD_SHARED_DIR=$SWITCHBOARD_SHARED_DIR does not exist"
[[ -d "$SWITCHBOARD_VECTORS_DIR" ]] || warn "SWITCHBOARD_VECTORS_DIR=$SWITCHBOARD_VECTORS_DIR does not exist"
echo "    SWITCHBOARD_SHARED_DIR=$SWITCHBOARD_SHARED_DIR"
echo "    SWITCHBOARD_VECTORS_DIR=$SWITCHBOARD_VECTORS_DIR"
echo "    SWITCHBOARD_PRISM=${SWITCHBOARD_PRISM:-<unset>}"

if [[ -n "${SWITCHBOARD_TEST_SETUP_ONLY:-}" && "${SWITCHBOARD_TEST_SETUP_ONLY}" != 0 ]]; then
    end_step
    print_warnings
    echo "==> setup only (SWITCHBOARD_TEST_SETUP_ONLY): done in $((SECONDS - total_start))s [${#warnings[@]} warning(s)]"
    exit 0
fi

have cargo || die "cargo not found on PATH"

# ---------------------------------------------------------------- e. fmt
step "cargo fmt --check"
cargo fmt --all -- --check

# ---------------------------------------------------------------- f. clippy
step "cargo clippy (all targets, all features)"
cargo clippy --all-targets --all-features -- -D warnings

# ---------------------------------------------------------------- g. tests
step "cargo test --all-features${test_args[*]:+ ${test_args[*]}}"
test_log="$tmp_dir/cargo-test.log"
cargo test --all-features ${test_args[@]+"${test_args[@]}"} | tee "$test_log"
# Sum every "test result: ok. N passed; N failed; N ignored; ..." line.
read -r tests_passed tests_failed tests_ignored < <(
    awk '/^test result:/ {
            for (i = 1; i <= NF; i++) {
                if ($(i+1) ~ /^passed/)  p += $i
                if ($(i+1) ~ /^failed/)  f += $i
                if ($(i+1) ~ /^ignored/) s += $i
            }
        } END { printf "%d %d %d\n", p, f, s }' "$test_log"
)

# The seed's flow end to end (offline): the example checks what it prints and exits non-zero
# when a step does not hold.
step "cargo run --example platform"
cargo run --all-features --quiet --example platform

# The sync engine against a loopback feed (offline); it checks each step too.
step "cargo run --example sync"
cargo run --all-features --quiet --example sync

# A DocuSign envelope through the template and the connection service (offline stand-in); it
# exits non-zero when a step does not hold.
step "cargo run --example docusign_envelope"
cargo run --all-features --quiet --example docusign_envelope

# A listing feed through Google Maps (offline stand-in): batch geocode, time zone, matrix, a
# day of showings; it exits non-zero when a step does not hold.
step "cargo run --example maps_geocode"
cargo run --all-features --quiet --example maps_geocode

# GoHighLevel contacts (offline stand-in): check, a lead with a tag and a note, the search
# stream, a contact sync; it exits non-zero when a step does not hold.
step "cargo run --example ghl_contacts"
cargo run --all-features --quiet --example ghl_contacts

# MLS listings over RETS (offline loopback server): check, a streamed search, a listing sync
# with a status change, photos; it exits non-zero when a step does not hold.
step "cargo run --example rets_sync"
cargo run --all-features --quiet --example rets_sync

# ---------------------------------------------------------------- h. features
step "cargo check: core and each connector feature alone"
# A warning here (an item used only under another feature) fails the step, like clippy's
# -D warnings, without RUSTFLAGS (which would rebuild every dependency).
check_log="$tmp_dir/cargo-check.log"
echo "    core (--no-default-features)"
cargo check --no-default-features --lib 2>&1 | tee "$check_log"
for f in "${CONNECTOR_FEATURES[@]}"; do
    echo "    feature $f"
    cargo check --no-default-features --features "$f" --lib 2>&1 | tee -a "$check_log"
done
if grep -q '^warning' "$check_log"; then
    die "a feature set alone builds with warnings (see above)"
fi
end_step

# ---------------------------------------------------------------- summary
print_warnings
summary="$(printf '%s, ' "${step_times[@]}")"
echo "==> all steps passed in $((SECONDS - total_start))s (${summary%, }) [${#warnings[@]} warning(s)]"
echo "tests: ${tests_passed} passed, ${tests_failed} failed, ${tests_ignored} skipped"
