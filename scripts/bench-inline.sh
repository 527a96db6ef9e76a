#!/usr/bin/env bash
# scripts/bench-inline.sh [COUNT] [REPS] — tiny files inline in PostgreSQL
# (SHIMFS_INLINE_MAX) against the same files in the bucket, in one run, on
# the running test services (scripts/services.sh start):
#   - durable 4 KiB files/s of one writer (tests/tools/tiny_files: open,
#     write, close for each file, then one sync(), all timed: every file is
#     durable when the clock stops), inline and with SHIMFS_INLINE_MAX=0,
#     each with group commit (closes not waited for, the default) and with
#     SHIMFS_SYNC_CLOSE=1 (a WAL flush per close: the behaviour before
#     group commit), with the ratio;
#   - the server's small-PUT rate: COUNT PUTs of 4 KiB one at a time and 32
#     in parallel (tests/tools/obj_bench);
#   - files of 4, 16, 32 and 64 KiB, inline (SHIMFS_INLINE_MAX=64K) and not,
#     to see where inlining pays;
#   - the database's bound for one writer: pgbench, one client inserting a
#     4 KiB row per synchronous commit.
# Medians of REPS runs (default 3) of COUNT files (default 1000), with the
# load average before and after. Needs `make all build/tools/tiny_files
# build/tools/obj_bench`. With SHIMFS_BASE_BUILD=DIR (another build of
# the project, e.g. of the commit before a change, with its own
# tools/tiny_files) the default inline row is also run with that build,
# taking turns with this one, and the ratio printed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${SHIMFS_BUILD:-$ROOT/build}
COUNT=${1:-1000}
REPS=${2:-3}
ENV_FILE=${SHIMFS_SERVICES_DIR:-$ROOT/.scratch/services}/env
[ -f "$ENV_FILE" ] || { echo "bench-inline: start the services first (scripts/services.sh start)" >&2; exit 1; }
# shellcheck source=/dev/null
. "$ENV_FILE"
for t in tiny_files obj_bench; do
    [ -x "$BUILD/tools/$t" ] || { echo "bench-inline: make $BUILD/tools/$t first" >&2; exit 1; }
done
BASE=${SHIMFS_BASE_BUILD:-}
[ -z "$BASE" ] || [ -x "$BASE/tools/tiny_files" ] ||
    { echo "bench-inline: no $BASE/tools/tiny_files (SHIMFS_BASE_BUILD)" >&2; exit 1; }

WORK=$ROOT/.scratch/bench-inline
rm -rf "$WORK"
mkdir -p "$WORK"
META=$("$ROOT/scripts/services.sh" newdb bench_inline)
BUCKET=$("$ROOT/scripts/services.sh" newbucket bench-inline)
"$BUILD/shimfs" format benchinline --bucket "$BUCKET" --meta "$META" > /dev/null
PREFIX=/mnt/shimfs-bench-inline
shim() {
    env LD_PRELOAD="$BUILD/libshimfs.so" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$WORK/cache" SHIMFS_LOG=error "$@"
}
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
rate() { sed -n 's/.* = \([0-9]*\) files\/s$/\1/p'; }
# one run of COUNT files of $1 bytes with the environment in $2.. (the
# build: RUN_BUILD, else this one)
files_run() {
    local size=$1 dir b=${RUN_BUILD:-$BUILD}; shift
    dir=/d$RANDOM$RANDOM
    shim mkdir "$PREFIX$dir"
    env "$@" LD_PRELOAD="$b/libshimfs.so" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$WORK/cache" SHIMFS_LOG=error \
        "$b/tools/tiny_files" "$PREFIX$dir" "$COUNT" "$size" sync | rate
}
# the database's own bound for one writer: a 4 KiB row per synchronous
# commit (pgbench, one client, 5 s)
PGBENCH=$(ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -n 1 || true)
psql "$META" -XAtqc "CREATE TABLE IF NOT EXISTS bench_commit (id bigserial PRIMARY KEY, d bytea)"
echo "INSERT INTO bench_commit (d) SELECT decode(string_agg(md5(random()::text), ''), 'hex') FROM generate_series(1, 256);" \
    > "$WORK/commit.sql"
commit_run() {
    [ -n "$PGBENCH" ] || { echo 0; return; }
    "$PGBENCH" -n -c 1 -T 5 -f "$WORK/commit.sql" "$META" 2>/dev/null |
        sed -n 's/^tps = \([0-9]*\).*/\1/p'
}
put_run() { # parallel
    "$BUILD/tools/obj_bench" "$BUCKET" "$COUNT" 4 "$1" |
        sed -n 's/^PUT .* \([0-9.]*\) objects\/s.*/\1/p' | cut -d. -f1
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-44s %s\n' "durable 4 KiB files, one writer, then sync ($COUNT, median of $REPS)" "files/s"
declare -A R
for r in $(seq "$REPS"); do
    # before and after take turns at going first (the bucket and the
    # database grow during the run)
    for sc in $(((r + 1) % 2)) $((r % 2)); do
        if [ "$sc" = 1 ]; then
            R[inline_sc]+="$(files_run 4096 SHIMFS_INLINE_MAX=16K SHIMFS_SYNC_CLOSE=1) "
            R[bucket_sc]+="$(files_run 4096 SHIMFS_INLINE_MAX=0 SHIMFS_SYNC_CLOSE=1) "
        else
            if [ -n "$BASE" ] && [ $((r % 2)) = 0 ]; then
                R[base]+="$(RUN_BUILD=$BASE files_run 4096 SHIMFS_INLINE_MAX=16K) "
            fi
            R[inline]+="$(files_run 4096 SHIMFS_INLINE_MAX=16K) "
            if [ -n "$BASE" ] && [ $((r % 2)) = 1 ]; then
                R[base]+="$(RUN_BUILD=$BASE files_run 4096 SHIMFS_INLINE_MAX=16K) "
            fi
            R[bucket]+="$(files_run 4096 SHIMFS_INLINE_MAX=0) "
        fi
    done
    R[put1]+="$(put_run 1) "
    R[put32]+="$(put_run 32) "
    R[commit]+="$(commit_run) "
done
declare -A M
for k in inline ${BASE:+base} inline_sc bucket bucket_sc put1 put32 commit; do
    case $k in
    inline) what="inline, group commit (the default)" ;;
    base) what="the same, SHIMFS_BASE_BUILD" ;;
    inline_sc) what="inline, SHIMFS_SYNC_CLOSE=1 (before)" ;;
    bucket) what="bucket (INLINE_MAX=0), group commit" ;;
    bucket_sc) what="bucket (INLINE_MAX=0), SHIMFS_SYNC_CLOSE=1" ;;
    put1) what="server: 4 KiB PUTs one at a time (objects/s)" ;;
    put32) what="server: 4 KiB PUTs 32 in parallel (objects/s)" ;;
    commit) what="database: 4 KiB row per sync commit (tps)" ;;
    esac
    M[$k]=$(tr ' ' '\n' <<< "${R[$k]}" | grep . | median)
    printf '%-44s %s   (runs: %s)\n' "$what" "${M[$k]}" "${R[$k]% }"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo "group commit / SHIMFS_SYNC_CLOSE=1: inline $(ratio "${M[inline]}" "${M[inline_sc]}")x," \
    "bucket $(ratio "${M[bucket]}" "${M[bucket_sc]}")x"
[ -z "$BASE" ] || echo "this build / SHIMFS_BASE_BUILD (inline, group commit): $(ratio "${M[inline]}" "${M[base]}")x"
echo
printf '%-10s %-16s %-16s\n' "file size" "inline files/s" "bucket files/s"
for kib in 4 16 32 64; do
    a= b=
    for r in $(seq "$REPS"); do
        a+="$(files_run $((kib * 1024)) SHIMFS_INLINE_MAX=64K) "
        b+="$(files_run $((kib * 1024)) SHIMFS_INLINE_MAX=0) "
    done
    printf '%-10s %-16s %-16s\n' "$kib KiB" "$(tr ' ' '\n' <<< "$a" | grep . | median)" \
        "$(tr ' ' '\n' <<< "$b" | grep . | median)"
done
echo "database: $(psql "$META" -XAtc "SELECT pg_size_pretty(pg_database_size(current_database()))"), \
inline blocks: $(psql "$META" -XAtc "SELECT count(*) || ' rows, ' || pg_size_pretty(coalesce(sum(length(data)), 0)) FROM inline_block")"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
