#!/usr/bin/env bash
# scripts/pgbouncer.sh — a private PgBouncer in transaction pooling mode in
# front of a test PostgreSQL (scripts/pg.sh's), for tests and measurements.
#   pgbouncer.sh start DIR PGPORT POOL   write DIR/pgbouncer.ini, start it,
#                                        wait until it answers
#   pgbouncer.sh stop DIR                stop it; idempotent
#   pgbouncer.sh port DIR                print its TCP port
# Promises: listens on 127.0.0.1 only (a free port, kept in DIR/port), no
# unix socket; every database name maps to the same name on
# 127.0.0.1:PGPORT; POOL server connections per database and user; role
# shimfs (password shimfs-test) authenticates by SCRAM and may use the
# admin console (SHOW STATS, SHOW SERVERS). Runs as user postgres when
# invoked as root (PgBouncer refuses root), so DIR must be reachable by
# that user. Never removes anything.
set -euo pipefail

pgb_log() { printf 'pgbouncer.sh: %s\n' "$*" >&2; }
pgb_die() { pgb_log "$*"; exit 1; }

pgb_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else (cd / && "$@"); fi
}

pgb_running() {
    local pid
    pid=$(cat "$1/pgbouncer.pid" 2>/dev/null) || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = pgbouncer ]
}

pgb_start() {
    local dir=$1 pgport=$2 pool=$3 port
    command -v pgbouncer >/dev/null || pgb_die "pgbouncer is not installed (scripts/deps.sh)"
    pgb_running "$dir" && { pgb_log "already running in $dir"; return 0; }
    mkdir -p "$dir"
    chmod 0700 "$dir"
    port=$(/usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    echo "$port" > "$dir/port"
    cat > "$dir/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=$pgport

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = $pool
max_client_conn = 1000
admin_users = shimfs
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
    printf '"shimfs" "shimfs-test"\n' > "$dir/userlist.txt"
    [ "$(id -u)" -ne 0 ] || chown -R postgres: "$dir"
    pgb_as_owner pgbouncer -d -q "$dir/pgbouncer.ini" || pgb_die "pgbouncer did not start (see $dir/pgbouncer.log)"
    for _ in $(seq 1 100); do
        pg_isready -q -h 127.0.0.1 -p "$port" && return 0
        sleep 0.1
    done
    pgb_die "pgbouncer in $dir not ready after 10 s (see $dir/pgbouncer.log)"
}

pgb_stop() {
    local dir=$1 pid
    pgb_running "$dir" || return 0
    pid=$(cat "$dir/pgbouncer.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

case "${1:-}:$#" in
    start:4) pgb_start "$2" "$3" "$4" ;;
    stop:2)  pgb_stop "$2" ;;
    port:2)  cat "$2/port" ;;
    *)       pgb_die "usage: pgbouncer.sh start DIR PGPORT POOL | stop DIR | port DIR" ;;
esac
