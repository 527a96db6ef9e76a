#!/usr/bin/env bash
# tests/integration/test_meta_cold.sh — a cold node pays for the path, not
# for the tree (docs/design.md, "Metadata in PostgreSQL").
#  - a stat of a deep file from a fresh node (empty cache folder) in a tree
#    of 4,000 files and 421 folders reads only the entries on its path
#    (pg_stat_user_tables: entry rows read) in a bounded number of queries
#    (pg_stat_database: committed transactions), with the right answer;
#    a missing deep name is ENOENT the same way;
#  - the scan patterns keep their batching: a cold `find` of the tree
#    lists its 421 folders in far fewer queries than folders, and a process
#    reading one folder's files pays one listing for them, not one query
#    per file.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd psql

PREFIX=/mnt/shimfs-cold-$$
export SHIMFS_AGENT=0   # its polls would be counted

test_volume cold
"$TEST_ROOT/scripts/meta-tree.sh" "$META" tree t 20 20 10 1000000

sql() { psql "$META" -XAtq -c "$1"; }
# committed transactions, and entry rows read, of the database so far (a
# backend publishes its counters as it exits, just after its client)
counters() {
    sleep 0.3
    sql "SELECT d.xact_commit, coalesce(t.idx_tup_fetch, 0) + coalesce(t.seq_tup_read, 0)
           FROM pg_stat_database d, pg_stat_user_tables t
          WHERE d.datname = current_database() AND t.relname = 'entry'"
}
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_LOG=error \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" "$@"
}
fresh_node() { rm -rf "$TEST_SCRATCH/cache"; mkdir -p "$TEST_SCRATCH/cache"; }
# run "$@" on the present node; sets Q (queries) and ROWS (entry rows)
measure() {
    local x0 r0 x1 r1
    read -r x0 r0 <<<"$(counters | tr '|' ' ')"
    "$@"
    read -r x1 r1 <<<"$(counters | tr '|' ' ')"
    Q=$((x1 - x0 - 1))      # the counters' own query is one
    ROWS=$((r1 - r0))
}

# what any process pays before its first lookup (connect, settings)
fresh_node
measure shim stat -c %s "$PREFIX" > /dev/null
base_q=$Q
base_rows=$ROWS

fresh_node
measure shim stat -c '%F %s' "$PREFIX/t/d11/e7/f4" > "$TEST_SCRATCH/stat.out"
assert_eq "regular empty file 0" "$(cat "$TEST_SCRATCH/stat.out")" "a cold stat of a deep file answers"
rows=$((ROWS - base_rows))
q=$((Q - base_q))
if [ "$rows" -le 8 ]; then pass "a cold stat of a deep file read $rows entry rows (its path has 4)"
else fail "a cold stat of a deep file read $rows entry rows of a 4,421-entry tree (its path has 4)"; fi
if [ "$q" -le 2 ]; then pass "a cold stat of a deep file cost $q queries past the process's start"
else fail "a cold stat of a deep file cost $q queries past the process's start (want <= 2)"; fi

fresh_node
measure shim stat "$PREFIX/t/d3/e9/nothing" > /dev/null 2> "$TEST_SCRATCH/enoent.err" || true
check "a missing deep name is ENOENT" grep -q 'No such file' "$TEST_SCRATCH/enoent.err"
rows=$((ROWS - base_rows))
if [ "$rows" -le 8 ]; then pass "a cold stat of a missing deep name read $rows entry rows"
else fail "a cold stat of a missing deep name read $rows entry rows"; fi

# --- scans keep their batching ---
fresh_node
measure shim find "$PREFIX/t" > "$TEST_SCRATCH/find.out"
assert_eq 4421 "$(wc -l < "$TEST_SCRATCH/find.out")" "a cold find lists the whole tree"
if [ "$Q" -le 40 ]; then pass "a cold find of 421 folders cost $Q queries (siblings batched)"
else fail "a cold find of 421 folders cost $Q queries (want <= 40)"; fi

fresh_node
measure shim python3 -c '
import os, sys
for i in range(1, 11):
    os.stat(f"{sys.argv[1]}/f{i}")
' "$PREFIX/t/d6/e6"
q=$((Q - base_q))
if [ "$q" -le 3 ]; then pass "one process stating a folder's 10 files cost $q queries (a walk, then one listing)"
else fail "one process stating a folder's 10 files cost $q queries (want <= 3)"; fi
