#!/usr/bin/env bash
# tests/integration/test_sqlite_wal.sh — sqlite in WAL mode on a database
# in the volume, several processes of one node (issue 12: "disk I/O
# error"; the -shm index is mapped MAP_SHARED by every process).
#  - two writers insert 100 rows each, one transaction per row, while a
#    reader polls the count: no error anywhere, the reader's counts never
#    go down and end at 200, integrity_check is ok;
#  - after they exit, a process of another node (its own cache folder)
#    reads the 200 rows and passes integrity_check.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd sqlite3

PREFIX=/mnt/shimfs-sqlwal-$$
VOL=$PREFIX/v
DB=$VOL/app.db
test_volume sqlwal

shim_on() {
    local node=$1
    shift
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache-$node" SHIMFS_LOG=error "$@"
}
shim() { shim_on a "$@"; }
check "mkdir" shim mkdir -p "$VOL"
assert_eq "wal" "$(shim sqlite3 "$DB" 'pragma journal_mode=wal; create table t(i integer primary key, w text, n int);' 2>&1)" \
    "the database is in WAL mode"

writer() {
    local w=$1 i
    {
        echo ".log stderr"
        echo ".timeout 20000"
        for ((i = 1; i <= 100; i++)); do
            echo "insert into t(w, n) values('$w', $i);"
            if ((i % 10 == 0)); then sleep 0.05; fi
        done
    } | shim sqlite3 "$DB"
}
reader() {
    local i
    {
        echo ".log stderr"
        echo ".timeout 20000"
        for ((i = 1; i <= 30; i++)); do
            echo "select count(*) from t;"
            sleep 0.05
        done
    } | shim sqlite3 "$DB"
}

writer A > "$TEST_SCRATCH/wA" 2>&1 & pa=$!
writer B > "$TEST_SCRATCH/wB" 2>&1 & pb=$!
sleep 0.2
reader > "$TEST_SCRATCH/r" 2>&1 & pr=$!
wait_bounded "$pa" 120 "writer A"
wait_bounded "$pb" 120 "writer B"
wait_bounded "$pr" 120 "reader"
assert_eq "" "$(cat "$TEST_SCRATCH/wA" "$TEST_SCRATCH/wB")" "the two writers saw no error"
counts=$(cat "$TEST_SCRATCH/r")
monotone=$(awk 'BEGIN { ok = 1; last = -1 } !/^[0-9]+$/ { ok = 0 } /^[0-9]+$/ { if ($1 < last) ok = 0; last = $1 } END { print ok }' <<< "$counts")
assert_eq 1 "$monotone" "the concurrent reader's counts are numbers that never go down ($(tr '\n' ' ' <<< "$counts"))"
assert_eq "200
ok" "$(shim sqlite3 "$DB" 'select count(*) from t; pragma integrity_check;' 2>&1)" \
    "200 rows and integrity_check ok on the node"
assert_eq "100 100" "$(shim sqlite3 "$DB" "select sum(w = 'A'), sum(w = 'B') from t;" 2>&1 | tr '|' ' ')" \
    "each writer's 100 rows"
assert_eq "200
ok" "$(shim_on b sqlite3 "$DB" 'select count(*) from t; pragma integrity_check;' 2>&1)" \
    "another node reads the 200 rows, integrity_check ok"
assert_eq "" "$(ls "$TEST_SCRATCH/cache-a/maps" 2>/dev/null)" \
    "the -shm working copy is removed when its last user leaves"
