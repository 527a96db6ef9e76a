#!/usr/bin/env bash
# scripts/services.sh — the test services: PostgreSQL and S3 (s3rver).
#   services.sh start        stop anything left over, start both afresh in
#                            .scratch/services/, write .scratch/services/env
#   services.sh stop         stop both; idempotent, works after a crashed
#                            test; keeps their data and logs for inspection
#   services.sh env          print the env file (exports), fail if not running
#   services.sh newdb NAME   (re)create database NAME owned by shimfs, print
#                            its postgresql:// URL
#   services.sh newbucket NAME  create bucket NAME (emptied if it exists),
#                            print its http:// URL
# SHIMFS_SERVICES_DIR overrides the folder. With SHIMFS_TEST_PGBOUNCER=N,
# start also puts a PgBouncer in transaction mode (scripts/pgbouncer.sh, N
# server connections per database) in front of PostgreSQL: SHIMFS_META and
# newdb's URLs then go through it, and the env file adds
# SHIMFS_META_POOLER=transaction and SHIMFS_TEST_PGBOUNCER_PORT (to run the
# suite through it; tests that count connections to SHIMFS_TEST_PG_PORT do
# not hold then). The env file exports SHIMFS_META,
# SHIMFS_TEST_PG_SOCKET_DIR, SHIMFS_TEST_PG_PORT, SHIMFS_TEST_S3_ENDPOINT,
# SHIMFS_TEST_S3_URL and the AWS_* credentials of s3rver.
set -euo pipefail

SVC_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SVC_ROOT=$(dirname "$SVC_SCRIPTS")
SVC_DIR=${SHIMFS_SERVICES_DIR:-$SVC_ROOT/.scratch/services}
SVC_ENV=$SVC_DIR/env
SVC_PG_URL_BASE=postgresql://shimfs:shimfs-test@127.0.0.1

svc_log() { printf 'services.sh: %s\n' "$*" >&2; }
svc_die() { svc_log "$*"; exit 1; }

# The PgBouncer's folder, in the cluster's home (which postgres can reach).
svc_pgb_dir() { echo "$("$SVC_SCRIPTS/pg.sh" home "$SVC_DIR/pg")/pgbouncer"; }
svc_pgb_running() { [ -f "$SVC_DIR/pg/port" ] && [ -f "$(svc_pgb_dir)/pgbouncer.pid" ]; }
# The port clients use: the PgBouncer's when it runs.
svc_client_port() {
    if svc_pgb_running; then cat "$(svc_pgb_dir)/port"; else "$SVC_SCRIPTS/pg.sh" port "$SVC_DIR/pg"; fi
}

svc_write_env() {
    local pg_port s3_port tmp
    pg_port=$("$SVC_SCRIPTS/pg.sh" port "$SVC_DIR/pg")
    s3_port=$("$SVC_SCRIPTS/s3.sh" port "$SVC_DIR/s3")
    tmp=$SVC_ENV.tmp
    cat > "$tmp" <<EOF
export SHIMFS_META='$SVC_PG_URL_BASE:$(svc_client_port)/shimfs'
export SHIMFS_TEST_PG_SOCKET_DIR='$("$SVC_SCRIPTS/pg.sh" home "$SVC_DIR/pg")'
export SHIMFS_TEST_PG_PORT='$pg_port'
export SHIMFS_TEST_S3_ENDPOINT='http://127.0.0.1:$s3_port'
export SHIMFS_TEST_S3_URL='http://127.0.0.1:$s3_port/shimfs-test'
export AWS_ACCESS_KEY_ID='S3RVER'
export AWS_SECRET_ACCESS_KEY='S3RVER'
export AWS_REGION='us-east-1'
EOF
    if svc_pgb_running; then
        printf "export SHIMFS_META_POOLER='transaction'\nexport SHIMFS_TEST_PGBOUNCER_PORT='%s'\n" \
            "$(cat "$(svc_pgb_dir)/port")" >> "$tmp"
    fi
    mv "$tmp" "$SVC_ENV"
}

# Node agents (`shimfs agent`, started by the library) serving volumes of
# these services: stopped first, or each would wait a minute for the
# database it polls before leaving by itself.
svc_stop_agents() {
    local port pid
    port=$(sed -n "s/^export SHIMFS_TEST_PG_PORT='\([0-9]*\)'$/\1/p" "$SVC_ENV" 2>/dev/null)
    [ -n "$port" ] || return 0
    for pid in $(pgrep -f 'shimfs agent' || true); do
        if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -q "^SHIMFS_META=.*:$port/"; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
}

svc_stop() {
    local rc=0
    svc_stop_agents
    rm -f "$SVC_ENV"
    [ -d "$SVC_DIR" ] || return 0
    if svc_pgb_running; then
        "$SVC_SCRIPTS/pgbouncer.sh" stop "$(svc_pgb_dir)" || rc=1
        rm -f "$(svc_pgb_dir)/pgbouncer.pid"
    fi
    "$SVC_SCRIPTS/s3.sh" stop "$SVC_DIR/s3" || rc=1
    "$SVC_SCRIPTS/pg.sh" stop "$SVC_DIR/pg" || rc=1
    return $rc
}

# Old data is removed only once its servers are known to be down. A
# cluster that lived in /tmp (see pg.sh) goes with it.
svc_wipe() {
    local home
    if [ -f "$SVC_DIR/pg/home" ]; then
        home=$(cat "$SVC_DIR/pg/home")
        case "$home" in /tmp/shimfs-pg.*) rm -rf "$home" ;; esac
    fi
    rm -rf "$SVC_DIR/pg" "$SVC_DIR/s3"
}

svc_start() {
    svc_stop || svc_die "could not stop the previous services"
    svc_wipe
    mkdir -p "$SVC_DIR"
    if ! "$SVC_SCRIPTS/pg.sh" start "$SVC_DIR/pg" ||
       ! "$SVC_SCRIPTS/s3.sh" start "$SVC_DIR/s3"; then
        svc_stop || true
        svc_die "could not start the services (logs in $SVC_DIR)"
    fi
    if [ -n "${SHIMFS_TEST_PGBOUNCER:-}" ] &&
       ! "$SVC_SCRIPTS/pgbouncer.sh" start "$(svc_pgb_dir)" \
            "$("$SVC_SCRIPTS/pg.sh" port "$SVC_DIR/pg")" "$SHIMFS_TEST_PGBOUNCER"; then
        svc_stop || true
        svc_die "could not start pgbouncer (log in $(svc_pgb_dir))"
    fi
    svc_write_env
}

svc_require_running() {
    [ -f "$SVC_ENV" ] || svc_die "services are not running: scripts/services.sh start"
}

svc_newdb() {
    local name=$1 port
    [[ $name =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || svc_die "bad database name: $name"
    svc_require_running
    port=$("$SVC_SCRIPTS/pg.sh" port "$SVC_DIR/pg")
    psql -X -q -v ON_ERROR_STOP=1 -h "$("$SVC_SCRIPTS/pg.sh" home "$SVC_DIR/pg")" \
        -p "$port" -U postgres -d postgres >/dev/null <<EOF
SET client_min_messages = warning;
DROP DATABASE IF EXISTS "$name" WITH (FORCE);
CREATE DATABASE "$name" OWNER shimfs;
EOF
    echo "$SVC_PG_URL_BASE:$(svc_client_port)/$name"
}

svc_newbucket() {
    local name=$1
    svc_require_running
    "$SVC_SCRIPTS/s3.sh" bucket "$SVC_DIR/s3" "$name"
    echo "http://127.0.0.1:$("$SVC_SCRIPTS/s3.sh" port "$SVC_DIR/s3")/$name"
}

svc_main() {
    local usage="usage: services.sh start|stop|env | newdb NAME | newbucket NAME"
    case "${1:-}:$#" in
        start:1)     svc_start ;;
        stop:1)      svc_stop ;;
        env:1)       svc_require_running; cat "$SVC_ENV" ;;
        newdb:2)     svc_newdb "$2" ;;
        newbucket:2) svc_newbucket "$2" ;;
        *)           svc_die "$usage" ;;
    esac
}

svc_main "$@"
