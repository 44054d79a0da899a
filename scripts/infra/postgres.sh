#!/usr/bin/env bash
# postgres.sh - a private PostgreSQL 15 for tests and local cluster runs.
#
#   scripts/infra/postgres.sh up|down|restart|kill|status DIR
#
# Runs Debian's binaries (/usr/lib/postgresql/15/bin; PARLEY_PG_BIN to
# override) with data, log and unix socket under DIR/postgres/, listening on
# 127.0.0.1 only, on a free port picked by the first `up` and kept in
# DIR/postgres/ports as "postgres=N" (so `restart` keeps the address). PostgreSQL refuses to
# run as root: as root the server runs as the `postgres` system user (from
# the postgresql-common package), which must be able to reach DIR (`up`
# adds o+x to DIR itself if needed; its parents must allow it already).
# Authentication is `trust` on 127.0.0.1 and the socket: a throwaway
# server for one machine, not a deployment.
#
#   up       init if needed, start, wait until ready, create role and
#            database `parley`, write DIR/postgres/env:
#              PARLEY_PG_DSN=postgresql://parley@127.0.0.1:N/parley
#            (a URI: one word with no quotes, so the line can be sourced
#            and also passed through `env $(cat DIR/*/env)`);
#            a no-op (apart from the env file) if already running
#   down     fast shutdown (rolls back open transactions), data kept
#   restart  down + up on the same port
#   kill     SIGKILL the postmaster (a crash, for fault tests); the data is
#            kept and the next `up` recovers from the WAL
#   status   prints "postgres: running (...)" (exit 0) or "postgres: stopped"
#            (exit 1)
set -euo pipefail

PGBIN=${PARLEY_PG_BIN:-/usr/lib/postgresql/15/bin}

usage() {
    echo "usage: $0 up|down|restart|kill|status DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
[ -d "$2" ] || mkdir -p "$2"
dir=$(cd "$2" && pwd)
base=$dir/postgres
data=$base/data
sock=$base/sock
log=$base/postgres.log
portsfile=$base/ports
envfile=$base/env

# as_pg CMD...: runs CMD as the server's user (postgres when we are root).
if [ "$(id -u)" -eq 0 ]; then
    pguser=postgres
    as_pg() { runuser -u postgres -- "$@"; }
else
    pguser=$(id -un)
    as_pg() { "$@"; }
fi

die() {
    echo "postgres: $*" >&2
    exit 1
}

port() { # the recorded port (see `ports`)
    sed -n 's/^postgres=//p' "$portsfile" 2>/dev/null | head -n1
}

postmaster_pid() { # prints the pid if the postmaster runs
    local pid
    [ -f "$data/postmaster.pid" ] || return 1
    pid=$(head -n1 "$data/postmaster.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

free_port() { # a port nothing listens on now (the kernel's pick)
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ready() {
    "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$(port)" -t 1
}

init_cluster() {
    [ -x "$PGBIN/initdb" ] || die "$PGBIN/initdb not found (scripts/deps.sh cluster)"
    mkdir -p "$base" "$sock"
    if [ "$pguser" = postgres ]; then
        # DIR from mktemp -d is 0700: let others traverse it (not list it);
        # the parents must already allow it.
        as_pg test -x "$dir" || chmod o+x "$dir"
        as_pg test -x "$dir" ||
            die "user postgres cannot reach $dir: make its parents searchable (chmod o+x)"
        chown postgres: "$base" "$sock"
    fi
    chmod 700 "$base"
    # C collation: lower() folds ASCII only (usernames are ASCII) and
    # comparisons are memcmp, like the SQLite store's NOCASE.
    as_pg "$PGBIN/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
        --no-locale --no-instructions >"$base/initdb.log" 2>&1 ||
        die "initdb failed, see $base/initdb.log"
    [ -n "$(port)" ] || echo "postgres=$(free_port)" >>"$portsfile"
    # Each parleyd holds one connection per store-using thread (a handful);
    # parallel test servers add up, hence more than the default 100.
    as_pg tee -a "$data/postgresql.conf" >/dev/null <<EOF
# --- scripts/infra/postgres.sh
listen_addresses = '127.0.0.1'
port = $(port)
unix_socket_directories = '$sock'
max_connections = 400
logging_collector = off
log_min_messages = warning
EOF
}

create_db() {
    local psql=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock"
                -p "$(port)" -U postgres -d postgres)
    if [ "$(as_pg "${psql[@]}" -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'parley'")" != 1 ]; then
        as_pg "${psql[@]}" -c "CREATE ROLE parley LOGIN CREATEDB"
    fi
    if [ "$(as_pg "${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = 'parley'")" != 1 ]; then
        as_pg "${psql[@]}" -c "CREATE DATABASE parley OWNER parley"
    fi
}

write_env() {
    printf "PARLEY_PG_DSN=postgresql://parley@127.0.0.1:%s/parley\n" \
        "$(port)" >"$envfile.tmp"
    mv "$envfile.tmp" "$envfile"
}

start() {
    local i
    [ -f "$data/PG_VERSION" ] || init_cluster
    if ! postmaster_pid >/dev/null; then
        as_pg "$PGBIN/pg_ctl" -D "$data" -l "$log" -s -w -t 60 start ||
            die "start failed, see $log"
    fi
    for i in $(seq 1 100); do
        ready && break
        [ "$i" -eq 100 ] && die "not ready after 20 s, see $log"
        sleep 0.2
    done
    create_db
    write_env
}

stop() {
    postmaster_pid >/dev/null || return 0
    as_pg "$PGBIN/pg_ctl" -D "$data" -s -m fast -w -t 60 stop
}

crash() {
    local pid kids i
    pid=$(postmaster_pid) || return 0
    kids=$(pgrep -P "$pid" || true)
    kill -KILL "$pid"
    # The children notice the postmaster's death and exit; until they have,
    # a new postmaster would find the old shared memory still attached.
    for i in $(seq 1 50); do
        [ -z "$kids" ] && break
        kids=$(for k in $kids; do if kill -0 "$k" 2>/dev/null; then echo "$k"; fi; done)
        if [ -n "$kids" ]; then sleep 0.1; fi
    done
    [ -z "$kids" ] || kill -KILL $kids 2>/dev/null || true
}

case $cmd in
up) start ;;
down) stop ;;
restart) stop && start ;;
kill) crash ;;
status)
    if pid=$(postmaster_pid); then
        echo "postgres: running (pid $pid, $(cat "$envfile" 2>/dev/null))"
    else
        echo "postgres: stopped"
        exit 1
    fi
    ;;
*) usage ;;
esac
