#!/usr/bin/env bash
# tests/integration/test_pgbouncer.sh — metadata through PgBouncer in
# transaction pooling mode (Debian's pgbouncer, on loopback, in front of
# the test cluster, 2 server connections per database and user).
#  - with SHIMFS_META_POOLER=transaction: format, then real programs under
#    the shim: mkdir, writes (dd, shell), reads (cmp, cat), renames (mv, of
#    files and of a directory across parents), 8 concurrent creators and a
#    pair of concurrent writers of one file (each close commits atomically:
#    every MiB all 'A' or all 'B'), xattrs, gc --delete, fsck: all succeed,
#    and PgBouncer counted their transactions while never holding more
#    than its 2 server connections;
#  - no prepared statement error reached any log;
#  - a call stuck on a lock past SHIMFS_META_TIMEOUT: the server cancels
#    it too (statement_timeout set in each transaction), so no pooled
#    server connection keeps waiting;
#  - without the setting, a process through the same PgBouncer still works
#    (startup options refused: reconnect without them; a named statement
#    the server session does not have: switch to unnamed) with one line for
#    each detection.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd pgbouncer psql

CLI=$SHIMFS_CLI
PY=/usr/bin/python3
PREFIX=/mnt/shimfs-pgb-$$
VOL=$PREFIX/v
MiB=$((1024 * 1024))
POOL=2

# ---- PgBouncer (scripts/pgbouncer.sh: runs as postgres, which it needs
# to reach its folder) ----
BDIR=$(mktemp -d /tmp/shimfs-pgb.XXXXXX)
on_exit '"$TEST_ROOT/scripts/pgbouncer.sh" stop "$BDIR"; cp "$BDIR/pgbouncer.log" "$TEST_SCRATCH/" 2>/dev/null; rm -rf "$BDIR"'
"$TEST_ROOT/scripts/pgbouncer.sh" start "$BDIR" "$SHIMFS_TEST_PG_PORT" "$POOL" ||
    { fail "pgbouncer did not start"; exit 1; }
BPORT=$("$TEST_ROOT/scripts/pgbouncer.sh" port "$BDIR")
pass "pgbouncer $(pgbouncer --version | sed -n '1s/^PgBouncer //p') listening on 127.0.0.1:$BPORT (transaction mode, pool $POOL)"

DIRECT=$(test_db)
DB=${DIRECT##*/}
BOUNCED=postgresql://shimfs:shimfs-test@127.0.0.1:$BPORT/$DB
admin() { PGPASSWORD=shimfs-test psql -X -q -A -t -h 127.0.0.1 -p "$BPORT" -U shimfs pgbouncer -c "$1"; }
# SHOW STATS: total_xact_count of our database.
xacts() { admin "SHOW STATS" | awk -F'|' -v db="$DB" '$1 == db { print $2 }'; }

export SHIMFS_META_POOLER=transaction
if "$CLI" format pgb --bucket "$(test_bucket)" --meta "$BOUNCED" > /dev/null; then pass "format through pgbouncer"
else fail "format through pgbouncer"; fi
LOG=$TEST_SCRATCH/shim.log
: > "$LOG"
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$BOUNCED" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG="warn,file=$LOG" "$@"
}
x0=$(xacts)

# ---- writes, reads, renames ----
SRC=$TEST_SCRATCH/src
mkdir -p "$SRC"
for i in 1 2 3; do head -c $((3 * MiB + i * 1234)) /dev/urandom > "$SRC/f$i"; done
check "mkdir -p" shim mkdir -p "$VOL/a/b" "$VOL/c"
for i in 1 2 3; do
    check "dd writes f$i" shim dd if="$SRC/f$i" of="$VOL/a/f$i" bs=1M status=none
done
same=0
for i in 1 2 3; do shim cmp -s "$SRC/f$i" "$VOL/a/f$i" && same=$((same + 1)); done
assert_eq 3 "$same" "every file reads back equal to its source"
check "mv a file between directories" shim mv "$VOL/a/f1" "$VOL/c/g1"
check "mv a directory across parents" shim mv "$VOL/a/b" "$VOL/c/b"
assert_eq "b g1" "$(shim ls "$VOL/c" | tr '\n' ' ' | sed 's/ $//')" "the renamed entries are where they went"
assert_eq "f2 f3" "$(shim ls "$VOL/a" | tr '\n' ' ' | sed 's/ $//')" "and gone from where they were"
check "the moved file's content" shim cmp -s "$SRC/f1" "$VOL/c/g1"
check "setfattr/getfattr" shim "$PY" -c '
import os, sys
os.setxattr(sys.argv[1], b"user.k", b"v1")
assert os.getxattr(sys.argv[1], b"user.k") == b"v1"' "$VOL/c/g1"

# ---- concurrency: 8 creators in one directory, then two writers of one file
shim mkdir "$VOL/many"
pids=()
for i in $(seq 1 8); do
    shim bash -c 'for j in $(seq 1 20); do printf "%s-%s\n" "$1" "$j" > "$2/w$1-$j"; done' _ "$i" "$VOL/many" &
    pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
assert_eq 0 "$failed" "8 concurrent creators exit 0"
assert_eq 160 "$(shim ls "$VOL/many" | wc -l)" "160 entries after concurrent creates"
bad=$(shim bash -c 'cd "$1" && for f in w*; do [ "$(cat "$f")" = "${f#w}" ] || echo "$f"; done' _ "$VOL/many" | wc -l)
assert_eq 0 "$bad" "every created file holds its own content"

SIG=$TEST_SCRATCH/sig
mkdir -p "$SIG"
shim "$PY" -c 'open(__import__("sys").argv[1], "wb").close()' "$VOL/pair"
OVERLAP=$TEST_ROOT/tests/integration/write_overlap.py
shim "$PY" "$OVERLAP" "$VOL/pair" 0 $((6 * MiB)) A "$SIG/readyA" "$SIG/goA" "$SIG/doneA" &
pa=$!
shim "$PY" "$OVERLAP" "$VOL/pair" $((2 * MiB)) $((6 * MiB)) B "$SIG/readyB" "$SIG/goB" "$SIG/doneB" &
pb=$!
wait_for 60 test -e "$SIG/readyA" -a -e "$SIG/readyB" || fail "the two writers did not get ready"
touch "$SIG/goA" "$SIG/goB"
rca=0; rcb=0
wait "$pa" || rca=$?
wait "$pb" || rcb=$?
assert_eq "0 0" "$rca $rcb" "two concurrent writers of one file, closing at once, exit 0"
map=$(shim "$PY" -c '
import sys
d = open(sys.argv[1], "rb").read()
print("".join(chr(d[o]) if d[o:o + (1 << 20)].count(d[o:o + 1]) == min(1 << 20, len(d) - o) else "?"
              for o in range(0, len(d), 1 << 20)), len(d))' "$VOL/pair")
case "$map" in
    "AABBBBBB $((8 * MiB))"|"AAAAAABB $((8 * MiB))") pass "each writer's commit is whole ($map)" ;;
    *) fail "two writers: unexpected file map '$map'" ;;
esac

# ---- unlink, gc and fsck through pgbouncer ----
check "rm -r" shim rm -r "$VOL/a"
check "gc --delete" "$CLI" gc --delete --grace 0 --meta "$BOUNCED"
"$CLI" fsck --meta "$BOUNCED" > "$TEST_SCRATCH/fsck.out" 2>&1 && pass "fsck is clean" ||
    fail "fsck: $(tail -n 5 "$TEST_SCRATCH/fsck.out")"
check "after gc the kept files still read back" shim cmp -s "$SRC/f1" "$VOL/c/g1"

# ---- the server's statement_timeout holds through the pooler ----
# A call waiting on a lock past SHIMFS_META_TIMEOUT (1 s) gives up on the
# client side; each transaction also set statement_timeout locally, so the
# server cancels the statement too instead of keeping a pooled server
# connection waiting for the lock.
as_pg() { psql -X -q -A -t -h "$SHIMFS_TEST_PG_SOCKET_DIR" -p "$SHIMFS_TEST_PG_PORT" -U postgres -d "$DB" "$@"; }
as_pg -c "BEGIN; SELECT ino FROM inode FOR UPDATE; SELECT pg_sleep(6); COMMIT;" > /dev/null &
locker=$!
sleep 0.5
if shim env SHIMFS_META_TIMEOUT=1 mkdir "$VOL/c/locked" 2> /dev/null; then
    fail "mkdir under a held lock succeeded?"
else
    pass "mkdir under a lock held for 6 s fails after SHIMFS_META_TIMEOUT=1"
fi
sleep 1.5
waiting=$(as_pg -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
assert_eq 0 "$waiting" "no server connection still waits on the lock (statement_timeout set per transaction)"
wait "$locker" || true

# ---- what PgBouncer saw ----
x1=$(xacts)
if [ -n "$x0" ] && [ -n "$x1" ] && [ "$x1" -gt "$x0" ]; then
    pass "PgBouncer pooled the shim's transactions ($((x1 - x0)))"
else
    fail "PgBouncer's SHOW STATS did not count our transactions ($x0 -> $x1)"
fi
servers=$(admin "SHOW SERVERS" | awk -F'|' -v db="$DB" '$3 == db' | wc -l)
if [ "$servers" -ge 1 ] && [ "$servers" -le "$POOL" ]; then pass "$servers server connections (pool $POOL)"; else fail "$servers server connections > pool $POOL"; fi
perr=$(cat "$LOG" "$BDIR/pgbouncer.log" 2>/dev/null | grep -ci "prepared statement" || true)
assert_eq 0 "$perr" "no prepared statement error in the shim's or PgBouncer's log"

# ---- without the setting: detected, one line each ----
# Both server connections get statements of our names prepared by someone
# else (two sessions at once, so each holds one server): a process that
# prepares its own must notice that its session is not its own.
poison="BEGIN; PREPARE shimfs_version AS SELECT 0; PREPARE shimfs_settings AS SELECT 0;
PREPARE shimfs_walk AS SELECT 0; PREPARE shimfs_getattr AS SELECT 0; SELECT pg_sleep(1); COMMIT;"
for k in 1 2; do PGPASSWORD=shimfs-test psql -X -q -h 127.0.0.1 -p "$BPORT" -U shimfs "$DB" -c "$poison" > /dev/null & done
wait
unset SHIMFS_META_POOLER
: > "$LOG"
detect() {
    shim "$PY" -c '
import os, sys
d = sys.argv[1]
for i in range(30):
    p = os.path.join(d, "d%d" % i)
    open(p, "w").write("x" * i)
    assert os.stat(p).st_size == i
    assert open(p).read() == "x" * i
    os.rename(p, os.path.join(d, "e%d" % i))
print(len(os.listdir(d)))' "$1"
}
shim mkdir "$VOL/det1" "$VOL/det2"
detect "$VOL/det1" > "$TEST_SCRATCH/det1.out" 2>&1 & d1=$!
detect "$VOL/det2" > "$TEST_SCRATCH/det2.out" 2>&1 & d2=$!
r1=0; r2=0
wait "$d1" || r1=$?
wait "$d2" || r2=$?
assert_eq "0 0 30 30" "$r1 $r2 $(cat "$TEST_SCRATCH/det1.out") $(cat "$TEST_SCRATCH/det2.out")" \
    "without SHIMFS_META_POOLER two processes still work through pgbouncer"
per_pid() { grep "$1" "$LOG" | sed 's/\].*//' | sort | uniq -c | awk '$1 > 1' | wc -l; }
n=$(grep -c 'refuses startup options' "$LOG" || true)
if [ "$n" -ge 1 ] && [ "$(per_pid 'refuses startup options')" -eq 0 ]; then
    pass "startup options refused: one line per process ($n)"
else
    fail "startup options refused: $n lines, $(per_pid 'refuses startup options') processes with more than one"
fi
n=$(grep -c 'sending unnamed statements' "$LOG" || true)
if [ "$n" -ge 1 ] && [ "$(per_pid 'sending unnamed statements')" -eq 0 ]; then
    pass "named statements on a pooled server detected: one line per process ($n)"
else
    fail "named statement switch: $n lines, $(per_pid 'sending unnamed statements') processes with more than one"
fi
