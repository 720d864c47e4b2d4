#!/usr/bin/env bash
# Makes PostgreSQL and RabbitMQ available on this machine (Debian 12), for
# `scripts/run.sh` and `scripts/test.sh`. Safe to run any number of times:
# what is already installed, running or created is left as it is.
#
#   scripts/services.sh                 install/start services, create role and database
#   scripts/services.sh --with-nextest  the same, and install cargo-nextest if missing
#   scripts/services.sh --with-browser  the same, and install Chromium and ChromeDriver
#                                       (the web pages' browser tests) if missing
#
# Services are started directly, not through systemd: containers and CI
# machines usually have no init system. Where systemd has already started
# them, the checks below find them running and leave them alone.
#
# Connections go over the Unix socket with peer authentication, as a
# PostgreSQL role named after the current OS user, so no password is needed.
# At the end the script prints the URLs the callers should use; it does not
# export them (it runs as a child process, so it could not).
set -euo pipefail

readonly PG_SOCKET_DIR=/var/run/postgresql
readonly DATABASE=sluice
readonly DATABASE_URL="postgresql:///${DATABASE}?host=${PG_SOCKET_DIR}"
readonly AMQP_URL='amqp://guest:guest@127.0.0.1:5672/%2f'
readonly WAIT_SECONDS=60

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
}

with_nextest=false
with_browser=false
for arg in "$@"; do
    case "$arg" in
        --with-nextest) with_nextest=true ;;
        --with-browser) with_browser=true ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $arg" ;;
    esac
done

# --- privileges --------------------------------------------------------------

is_root() { [ "$(id -u)" -eq 0 ]; }

# Runs a command as root: directly when we are root (containers and CI often
# have no sudo at all), through sudo otherwise.
as_root() {
    if is_root; then
        "$@"
    else
        command -v sudo >/dev/null 2>&1 || die "need root for: $*; run as root or install sudo"
        sudo -- "$@"
    fi
}

# Runs a command as the `postgres` OS user, which owns the cluster and is its
# bootstrap superuser. `cd /` first: psql complains when it cannot read the
# caller's working directory (for instance /root).
as_postgres() {
    if [ "$(id -un)" = postgres ]; then
        (cd / && "$@")
    elif is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        command -v sudo >/dev/null 2>&1 || die "need sudo to act as the postgres user"
        (cd / && sudo -u postgres -- "$@")
    fi
}

# --- packages ----------------------------------------------------------------

deb_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'
}

postgres_server_present() {
    command -v psql >/dev/null 2>&1 \
        && command -v pg_ctlcluster >/dev/null 2>&1 \
        && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

ensure_packages() {
    local missing=()
    postgres_server_present || missing+=(postgresql)
    command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)
    # The sluice binary links libpq (diesel's PostgreSQL backend), so building
    # it needs the development files; the server packages do not bring them.
    deb_installed libpq-dev || missing+=(libpq-dev)
    # jemalloc, the binary's allocator, is compiled from its C sources.
    command -v make >/dev/null 2>&1 || missing+=(make)
    command -v cc >/dev/null 2>&1 || missing+=(gcc)
    # The browser tests drive Debian's Chromium through its ChromeDriver.
    if [ "$with_browser" = true ]; then
        command -v chromium >/dev/null 2>&1 || missing+=(chromium)
        command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
        # axe-core, which the browser tests inject into each page, comes
        # from the npm registry (tests/browser/package.json).
        command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
    fi

    if [ "${#missing[@]}" -eq 0 ]; then
        return
    fi
    command -v apt-get >/dev/null 2>&1 \
        || die "missing ${missing[*]} and apt-get is not available; install them by hand"
    log "installing ${missing[*]}"
    # One update for all packages; noninteractive because CI has no terminal.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# --- PostgreSQL --------------------------------------------------------------

# The newest major version that has a `main` cluster configured (empty if none).
pg_version() {
    local dir versions=()
    for dir in /etc/postgresql/*/main; do
        if [ -d "$dir" ]; then
            dir=${dir%/main}
            versions+=("${dir##*/}")
        fi
    done
    if [ "${#versions[@]}" -gt 0 ]; then
        printf '%s\n' "${versions[@]}" | sort -V | tail -n 1
    fi
}

ensure_postgres_running() {
    local version
    version=$(pg_version)
    if [ -z "$version" ]; then
        # Packages are installed but no cluster exists (postgresql-common can
        # be configured not to create one): create the default one.
        local bin
        for bin in /usr/lib/postgresql/*/bin/postgres; do
            [ -x "$bin" ] || continue
            bin=${bin%/bin/postgres}
            version=$(printf '%s\n%s\n' "${bin##*/}" "$version" | sed '/^$/d' | sort -V | tail -n 1)
        done
        [ -n "$version" ] || die "no PostgreSQL server found under /usr/lib/postgresql"
        log "creating PostgreSQL $version cluster 'main'"
        as_root pg_createcluster "$version" main
    fi

    # pg_ctlcluster status: 0 running, 3 not running, anything else is a
    # problem that starting will report better than we can.
    if as_root pg_ctlcluster "$version" main status >/dev/null 2>&1; then
        log "PostgreSQL $version/main is running"
    else
        log "starting PostgreSQL $version/main"
        # Bypass systemd's redirect: there may be no systemd at all.
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    fi

    local deadline=$((SECONDS + WAIT_SECONDS))
    until pg_isready -q -h "$PG_SOCKET_DIR"; do
        [ "$SECONDS" -lt "$deadline" ] \
            || die "PostgreSQL did not accept connections on $PG_SOCKET_DIR within ${WAIT_SECONDS}s"
        sleep 1
    done
}

# A superuser role for the current OS user (the tests create and drop
# databases), and the application database. psql variables and format('%I')
# quote the names, so any user name is safe; \gexec runs each generated
# statement on its own, which CREATE DATABASE requires (no transaction).
ensure_role_and_database() {
    local role
    role=$(id -un)
    log "ensuring role '$role' (superuser) and database '$DATABASE'"
    as_postgres psql -X -q -h "$PG_SOCKET_DIR" -d postgres \
        -v ON_ERROR_STOP=1 -v role="$role" -v db="$DATABASE" <<'SQL'
SELECT format('CREATE ROLE %I SUPERUSER LOGIN', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role')
\gexec
SELECT format('ALTER ROLE %I SUPERUSER LOGIN', :'role')
  FROM pg_roles
 WHERE rolname = :'role' AND NOT (rolsuper AND rolcanlogin)
\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db')
\gexec
SQL

    # An existing database owned by someone else is left alone (another user
    # of this machine may rely on it); a superuser can use it all the same.
    local owner
    owner=$(as_postgres psql -X -At -h "$PG_SOCKET_DIR" -d postgres -v db="$DATABASE" <<'SQL'
SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :'db';
SQL
    )
    if [ "$owner" != "$role" ]; then
        log "note: database '$DATABASE' is owned by '$owner', not '$role'; leaving it as it is"
    fi
}

# --- RabbitMQ ----------------------------------------------------------------

# Debian's rabbitmqctl wrapper only runs for root or the rabbitmq user (it
# needs the broker's Erlang cookie), hence as_root.
rabbitmq_node_up() {
    as_root rabbitmq-diagnostics -q ping --timeout 10 >/dev/null 2>&1
}

rabbitmq_app_running() {
    as_root rabbitmq-diagnostics -q check_running >/dev/null 2>&1
}

ensure_rabbitmq_running() {
    if rabbitmq_node_up; then
        if rabbitmq_app_running; then
            log "RabbitMQ is running"
            return
        fi
        # The Erlang node is up but the broker application is stopped, as
        # `rabbitmqctl stop_app` leaves it (the fault tests do this). It may
        # also just be booting, in which case start_app fails harmlessly.
        log "RabbitMQ node is up but the broker is stopped; starting it"
        as_root rabbitmqctl -q start_app >/dev/null 2>&1 || true
    else
        log "starting RabbitMQ"
        as_root rabbitmq-server -detached
    fi

    # Right after -detached the node may not be reachable yet, and then
    # await_startup fails at once instead of waiting, so retry until the
    # deadline.
    local deadline=$((SECONDS + WAIT_SECONDS)) remaining
    while :; do
        remaining=$((deadline - SECONDS))
        [ "$remaining" -gt 0 ] || die "RabbitMQ did not finish starting within ${WAIT_SECONDS}s"
        if as_root rabbitmqctl -q await_startup --timeout "$remaining" >/dev/null 2>&1; then
            break
        fi
        sleep 2
    done
    log "RabbitMQ is running"
}

# --- cargo-nextest -----------------------------------------------------------

ensure_nextest() {
    command -v cargo >/dev/null 2>&1 || die "cargo is not installed (see https://rustup.rs)"
    if cargo nextest --version >/dev/null 2>&1; then
        return
    fi
    log "installing cargo-nextest"
    cargo install --locked cargo-nextest
}

# --- axe-core for the browser tests -----------------------------------------

ensure_axe() {
    local dir
    dir="$(dirname "${BASH_SOURCE[0]}")/../tests/browser"
    if [ -f "$dir/node_modules/axe-core/axe.min.js" ]; then
        return
    fi
    log "installing axe-core (tests/browser/package-lock.json)"
    npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund >/dev/null
}

# --- main --------------------------------------------------------------------

ensure_packages
ensure_postgres_running
ensure_role_and_database
ensure_rabbitmq_running
if [ "$with_nextest" = true ]; then
    ensure_nextest
fi
if [ "$with_browser" = true ]; then
    ensure_axe
fi

echo "SLUICE_DATABASE_URL=${DATABASE_URL}"
echo "SLUICE_AMQP_URL=${AMQP_URL}"
