#!/usr/bin/env bash
# scripts/pg.sh — a private PostgreSQL 15 cluster for tests.
#   pg.sh start DIR   initdb if needed, start, wait until ready
#   pg.sh stop DIR    stop it (fast, then immediate, then SIGKILL); idempotent
#   pg.sh crash DIR   stop it the way a crash would (immediate mode, no
#                     checkpoint) for recovery tests; start brings it back
#   pg.sh port DIR    print its TCP port
#   pg.sh home DIR    print the folder holding data/, the socket and the log
# Promises: listens on 127.0.0.1 only (a free port, kept in DIR/port, reused
# on restart) and on a unix socket in its home folder (DIR itself, or a
# private /tmp folder named in DIR/home when DIR will not do); role `shimfs`
# (password shimfs-test, LOGIN CREATEDB) owns database `shimfs`. pg_hba:
# local trust, 127.0.0.1 scram-sha-256. fsync stays on. Runs the server as
# user postgres when invoked as root (PostgreSQL refuses root). Never
# removes anything.
set -euo pipefail

PG_ROLE=shimfs
PG_PASSWORD=shimfs-test
PG_DATABASE=shimfs

pg_log() { printf 'pg.sh: %s\n' "$*" >&2; }
pg_die() { pg_log "$*"; exit 1; }

pg_bindir() {
    local d
    for d in "${SHIMFS_PG_BINDIR:-}" /usr/lib/postgresql/15/bin; do
        [ -n "$d" ] && [ -x "$d/postgres" ] && { echo "$d"; return 0; }
    done
    d=$(command -v initdb 2>/dev/null) && { dirname "$(readlink -f "$d")"; return 0; }
    pg_die "PostgreSQL 15 server binaries not found (run scripts/deps.sh)"
}

# Runs a command as the cluster's owner, from / so that an unreadable
# current directory never matters.
pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

pg_free_port() {
    /usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The cluster's home holds data/, the socket and the log. It is DIR itself,
# owned by postgres, unless that user cannot reach DIR through its parents
# (/root, a 0700 mktemp) or DIR is too deep for a unix socket path (107
# bytes): then a private /tmp folder, named in DIR/home.
pg_home() {
    local dir=$1
    if [ -f "$dir/home" ]; then cat "$dir/home"; else readlink -f "$dir"; fi
}

pg_owner_can_use() {
    [ "$(id -u)" -ne 0 ] || runuser -u postgres -- test -w "$1" -a -x "$1" 2>/dev/null
}

pg_prepare_home() {
    local dir=$1 home
    mkdir -p "$dir"
    [ -d "$(pg_home "$dir")/data" ] && return 0
    home=$(readlink -f "$dir")
    [ "$(id -u)" -ne 0 ] || chown postgres: "$home"
    if [ $(( ${#home} + 20 )) -gt 100 ] || ! pg_owner_can_use "$home"; then
        home=$(mktemp -d /tmp/shimfs-pg.XXXXXX)
        [ "$(id -u)" -ne 0 ] || chown postgres: "$home"
        echo "$home" > "$dir/home"
    fi
    pg_as_owner mkdir -m 0700 "$home/data"
}

pg_initdb() {
    local dir=$1 home=$2 bin=$3 data=$2/data
    pg_as_owner "$bin/initdb" -D "$data" -U postgres -E UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256 --no-sync \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; pg_die "initdb failed"; }
    pg_as_owner tee "$data/pg_hba.conf" >/dev/null <<'EOF'
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   scram-sha-256
EOF
    pg_as_owner tee -a "$data/postgresql.conf" >/dev/null <<EOF

# shimfs test cluster: small, loopback only, durable (fsync stays on).
listen_addresses = '127.0.0.1'
unix_socket_directories = '$home'
max_connections = 200
shared_buffers = 32MB
fsync = on
wal_level = minimal
max_wal_senders = 0
logging_collector = off
log_min_messages = warning
EOF
}

pg_psql() {
    local dir=$1; shift
    "$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h "$(pg_home "$dir")" \
        -p "$(cat "$dir/port")" -U postgres "$@"
}

pg_create_role() {
    pg_psql "$1" -d postgres >/dev/null <<EOF
CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
CREATE DATABASE $PG_DATABASE OWNER $PG_ROLE;
EOF
}

pg_wait_ready() {
    local dir=$1 bin=$2
    for _ in $(seq 1 100); do
        "$bin/pg_isready" -q -h 127.0.0.1 -p "$(cat "$dir/port")" && return 0
        sleep 0.1
    done
    pg_die "server in $dir not ready after 10 s (see $(pg_home "$dir")/postgresql.log)"
}

pg_is_running() {
    local data
    data="$(pg_home "$1")/data"
    [ -e "$data/PG_VERSION" ] || return 1
    pg_as_owner "$(pg_bindir)/pg_ctl" status -D "$data" >/dev/null 2>&1
}

# One attempt; fails when someone took the port meanwhile. The port goes on
# the command line so that a new one needs no edit of postgresql.conf.
pg_try_start() {
    local dir=$1 home=$2 bin=$3
    pg_as_owner "$bin/pg_ctl" start -D "$home/data" -l "$home/postgresql.log" \
        -w -t 30 -o "-p $(cat "$dir/port")" >/dev/null 2>&1
}

pg_start() {
    local dir=$1 bin home fresh=0 attempt
    bin=$(pg_bindir)
    pg_is_running "$dir" && { pg_log "already running in $dir"; return 0; }
    pg_prepare_home "$dir"
    home=$(pg_home "$dir")
    [ -f "$dir/port" ] || pg_free_port > "$dir/port"
    if [ ! -e "$home/data/PG_VERSION" ]; then
        pg_initdb "$dir" "$home" "$bin"
        fresh=1
    fi
    for attempt in 1 2 3 4 5; do
        pg_try_start "$dir" "$home" "$bin" && break
        if [ "$attempt" -eq 5 ]; then
            tail -n 20 "$home/postgresql.log" >&2
            pg_die "could not start the server in $home"
        fi
        pg_log "start failed on port $(cat "$dir/port"); trying another port"
        pg_free_port > "$dir/port"
    done
    head -n 1 "$home/data/postmaster.pid" > "$dir/pid"
    pg_wait_ready "$dir" "$bin"
    [ "$fresh" -eq 0 ] || pg_create_role "$dir"
}

pg_stop() {
    local dir=$1 mode=$2 bin data pid
    data="$(pg_home "$dir")/data"
    pg_is_running "$dir" || return 0
    bin=$(pg_bindir)
    pg_as_owner "$bin/pg_ctl" stop -D "$data" -m "$mode" -w -t 20 >/dev/null 2>&1 && return 0
    pg_as_owner "$bin/pg_ctl" stop -D "$data" -m immediate -w -t 10 >/dev/null 2>&1 && return 0
    pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null) || return 0
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ] || return 0
    pg_log "server $pid ignored pg_ctl stop; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    pg_die "server $pid did not die"
}

pg_main() {
    local usage="usage: pg.sh start|stop|crash|port|home DIR"
    [ $# -eq 2 ] || pg_die "$usage"
    case "$1" in
        start) pg_start "$2" ;;
        stop)  pg_stop "$2" fast ;;
        crash) pg_stop "$2" immediate ;;
        port)  cat "$2/port" ;;
        home)  pg_home "$2" ;;
        *)     pg_die "$usage" ;;
    esac
}

pg_main "$@"
