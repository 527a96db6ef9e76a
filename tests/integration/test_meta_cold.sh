#!/usr/bin/env bash
# tests/integration/test_meta_cold.sh — a cold node pays for the path, not
# for the tree (docs/design.md, "Metadata in PostgreSQL").
#  - a stat of a deep file from a fresh node (empty cache folder) in a tree
#    of 4,000 files and 421 folders reads only the entries on its path
#    (pg_stat_user_tables: entry rows read) in a bounded number of round
#    trips (libpq sends each request or pipelined batch with one sendto:
#    traced), with the right answer;
#    a missing deep name is ENOENT the same way;
#  - the scan patterns keep their batching: a cold `find` of the tree
#    lists its 421 folders in far fewer queries than folders, and a process
#    reading one folder's files pays one listing for them, not one query
#    per file;
#  - a walk is shared with the node: the next process stating the same
#    file asks the database nothing, and a rename by a process of the node
#    is seen by the next one.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd psql strace  # scripts/deps.sh installs both

PREFIX=/mnt/shimfs-cold-$$
export SHIMFS_AGENT=0   # its polls would be counted too

test_volume cold
"$TEST_ROOT/scripts/meta-tree.sh" "$META" tree t 20 20 10 1000000

sql() { psql "$META" -XAtq -c "$1"; }
# nothing but the test's processes reads the tables meanwhile
sql "ALTER TABLE inode SET (autovacuum_enabled = false); ALTER TABLE entry SET (autovacuum_enabled = false)"
# entry rows read so far (pg_stat_user_tables). A backend publishes its
# counters as it exits, just after its client has gone: read until two
# reads agree.
entry_rows() {
    local prev="" cur
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        sleep 0.2
        cur=$(sql "SELECT coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0)
                     FROM pg_stat_user_tables WHERE relname = 'entry'")
        [ "$cur" = "$prev" ] && break
        prev=$cur
    done
    echo "$cur"
}
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_LOG=error \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" "$@"
}
fresh_node() { rm -rf "$TEST_SCRATCH/cache"; mkdir -p "$TEST_SCRATCH/cache"; }
# run "$@" on the present node; sets Q (round trips to PostgreSQL: libpq
# sends each request, or pipelined batch, with one send) and ROWS (entry
# rows read)
measure() {
    local r0 r1
    r0=$(entry_rows)
    shim strace -f -qq --seccomp-bpf -e trace=sendto -o "$TEST_SCRATCH/sends" "$@"
    r1=$(entry_rows)
    Q=$(grep -c 'sendto(' "$TEST_SCRATCH/sends" || true)
    ROWS=$((r1 - r0))
}

# what any process pays before its first lookup (connect, settings)
fresh_node
measure stat -c %s "$PREFIX" > /dev/null
fresh_node
measure stat -c %s "$PREFIX" > /dev/null
echo "# a fresh process: $Q queries, $ROWS entry rows" >&2
base_q=$Q
base_rows=$ROWS

fresh_node
measure stat -c '%F %s' "$PREFIX/t/d11/e7/f4" > "$TEST_SCRATCH/stat.out"
assert_eq "regular empty file 0" "$(cat "$TEST_SCRATCH/stat.out")" "a cold stat of a deep file answers"
rows=$((ROWS - base_rows))
q=$((Q - base_q))
echo "# a cold deep stat: $Q queries, $ROWS entry rows" >&2
if [ "$rows" -le 8 ]; then pass "a cold stat of a deep file read $rows entry rows (its path has 4)"
else fail "a cold stat of a deep file read $rows entry rows of a 4,421-entry tree (its path has 4)"; fi
if [ "$q" -le 2 ]; then pass "a cold stat of a deep file cost $q queries past the process's start"
else fail "a cold stat of a deep file cost $q queries past the process's start (want <= 2)"; fi

fresh_node
measure stat "$PREFIX/t/d3/e9/nothing" > /dev/null 2> "$TEST_SCRATCH/enoent.err" || true
check "a missing deep name is ENOENT" grep -q 'No such file' "$TEST_SCRATCH/enoent.err"
rows=$((ROWS - base_rows))
if [ "$rows" -le 8 ]; then pass "a cold stat of a missing deep name read $rows entry rows"
else fail "a cold stat of a missing deep name read $rows entry rows"; fi

# --- scans keep their batching ---
fresh_node
measure find "$PREFIX/t" > "$TEST_SCRATCH/find.out"
assert_eq 4421 "$(wc -l < "$TEST_SCRATCH/find.out")" "a cold find lists the whole tree"
if [ "$Q" -le 40 ]; then pass "a cold find of 421 folders cost $Q queries (siblings batched)"
else fail "a cold find of 421 folders cost $Q queries (want <= 40)"; fi

fresh_node
measure python3 -c '
import os, sys
for i in range(1, 11):
    os.stat(f"{sys.argv[1]}/f{i}")
' "$PREFIX/t/d6/e6"
q=$((Q - base_q))
if [ "$q" -le 3 ]; then pass "one process stating a folder's 10 files cost $q queries (a walk, then one listing)"
else fail "one process stating a folder's 10 files cost $q queries (want <= 3)"; fi

# --- a walk is shared with the node's next processes (within the TTL) ---
export SHIMFS_ATTR_TTL=60 SHIMFS_ENTRY_TTL=60 SHIMFS_NEGATIVE_TTL=60
fresh_node
shim stat "$PREFIX/t/d12/e3/f5" > /dev/null
measure stat -c %s "$PREFIX/t/d12/e3/f5" > "$TEST_SCRATCH/warm.out"
assert_eq 0 "$(cat "$TEST_SCRATCH/warm.out")" "a second process of the node stats the walked file"
assert_eq 0 "$Q" "and asks the database nothing (round trips)"
shim mv "$PREFIX/t/d12/e3/f5" "$PREFIX/t/d12/e3/g5"
check "after a rename by a process of the node, the next one does not see the old name" \
    bash -c '! env LD_PRELOAD="$1" SHIMFS_PREFIX="$2" SHIMFS_CACHE_DIR="$3" SHIMFS_LOG=error stat "$4" 2>/dev/null' \
    sh "$SHIMFS_PRELOAD" "$PREFIX" "$TEST_SCRATCH/cache" "$PREFIX/t/d12/e3/f5"
check "and sees the new one" shim test -e "$PREFIX/t/d12/e3/g5"
