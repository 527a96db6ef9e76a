#!/usr/bin/env bash
# scripts/bench-pooler.sh — metadata latency direct vs through PgBouncer in
# transaction mode (scripts/pgbouncer.sh, started here on loopback and
# stopped at the end), on the running test services (scripts/services.sh
# start; without SHIMFS_TEST_PGBOUNCER).
# Prints, per path: a shimfs call that is one query (stat with TTLs 0 and
# no node sharing: one MS_WALK round trip), median and p90 µs over N calls
# in one process; and pgbench's latency of one `SELECT 1` (1 client, 5 s).
# Paths: direct with named prepared statements (the default), direct with
# unnamed statements (SHIMFS_META_PREPARE=0), PgBouncer with
# SHIMFS_META_POOLER=transaction.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-3000}
ENVF=${SHIMFS_SERVICES_DIR:-$ROOT/.scratch/services}/env
[ -f "$ENVF" ] || { echo "bench-pooler.sh: start the services first (scripts/services.sh start)" >&2; exit 1; }
# shellcheck source=/dev/null
. "$ENVF"
[ -z "${SHIMFS_TEST_PGBOUNCER_PORT:-}" ] || { echo "bench-pooler.sh: services run behind PgBouncer already; restart them without SHIMFS_TEST_PGBOUNCER" >&2; exit 1; }
command -v pgbouncer >/dev/null || { echo "bench-pooler.sh: pgbouncer is not installed (scripts/deps.sh)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/shimfs-benchpool.XXXXXX)
trap '"$ROOT/scripts/pgbouncer.sh" stop "$WORK/pgb" || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/pgb"
[ "$(id -u)" -ne 0 ] || chown postgres: "$WORK"
"$ROOT/scripts/pgbouncer.sh" start "$WORK/pgb" "$SHIMFS_TEST_PG_PORT" 4
BPORT=$("$ROOT/scripts/pgbouncer.sh" port "$WORK/pgb")

DIRECT=$("$ROOT/scripts/services.sh" newdb bench_pooler)
BOUNCED=${DIRECT/:$SHIMFS_TEST_PG_PORT\//:$BPORT/}
"$ROOT/build/shimfs" format benchpool --bucket "$("$ROOT/scripts/services.sh" newbucket bench-pooler)" \
    --meta "$DIRECT" > /dev/null
PREFIX=/mnt/shimfs-benchpool
shim() {
    env LD_PRELOAD="$ROOT/build/libshimfs.so" SHIMFS_PREFIX="$PREFIX" SHIMFS_CACHE_DIR="$WORK/cache" \
        SHIMFS_ATTR_TTL=0 SHIMFS_ENTRY_TTL=0 SHIMFS_NEGATIVE_TTL=0 SHIMFS_NODE_META=0 SHIMFS_AGENT=0 \
        SHIMFS_LOG=error "$@"
}
SHIMFS_META=$DIRECT shim sh -c "mkdir -p $PREFIX/a/b && echo x > $PREFIX/a/b/f"

stat_loop() {
    shim /usr/bin/python3 -c '
import os, sys, time
p, n = sys.argv[1], int(sys.argv[2])
os.stat(p)
t = []
for _ in range(n):
    a = time.perf_counter_ns(); os.stat(p); t.append(time.perf_counter_ns() - a)
t.sort()
print("stat median %5d us, p90 %5d us" % (t[n // 2] // 1000, t[n * 9 // 10] // 1000))' "$PREFIX/a/b/f" "$N"
}
pgb_lat() {
    echo 'SELECT 1;' > "$WORK/q.sql"
    PGPASSWORD=shimfs-test pgbench -n -c 1 -T 5 -M "$2" -f "$WORK/q.sql" "$1" 2>/dev/null |
        sed -n 's/^latency average = \(.*\)$/SELECT 1 average \1/p'
}

printf '%-34s %s; %s\n' "direct, named prepared (default)" "$(SHIMFS_META=$DIRECT stat_loop)" "$(pgb_lat "$DIRECT" prepared)"
printf '%-34s %s; %s\n' "direct, unnamed" "$(SHIMFS_META=$DIRECT SHIMFS_META_PREPARE=0 stat_loop)" "$(pgb_lat "$DIRECT" extended)"
printf '%-34s %s; %s\n' "pgbouncer transaction, unnamed" "$(SHIMFS_META=$BOUNCED SHIMFS_META_POOLER=transaction stat_loop)" "$(pgb_lat "$BOUNCED" extended)"
