#!/usr/bin/env bash
# tests/integration/test_standby.sh — metadata reads from a hot standby
# (SHIMFS_META_READ) while writes go to the primary.
# The shared test cluster runs wal_level=minimal (fast for the suite), so
# this test makes its own primary with scripts/pg.sh under its scratch
# folder (wal_level=replica), and a streaming replica of it (pg_basebackup
# -R, as postgres, loopback port); both are stopped at the end. Every shim
# process runs with TTLs 0 and no node sharing, so each call asks the
# database.
#  - reads are served by the standby: while a process only reads, at least
#    90% of the volume database's transactions are on the standby
#    (pg_stat_database of both servers);
#  - with the standby's replay delayed 4 s (recovery_min_apply_delay): a
#    process reads its own writes at once (its reads go to the primary until
#    the standby has replayed past its commit's LSN), and another process
#    started right after the commit sees it at once (its fence is younger
#    than SHIMFS_META_READ_LAG, so the lagging standby's answer is refused);
#  - the standby going away: a running reader and a fresh process keep
#    working from the primary, every call within the bound, with one log
#    line each.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd runuser

CLI=$SHIMFS_CLI
PY=/usr/bin/python3
PGSH=$TEST_ROOT/scripts/pg.sh
PREFIX=/mnt/shimfs-stby-$$
VOL=$PREFIX/v
BIN=$(dirname "$(readlink -f "$(command -v pg_ctl 2>/dev/null || echo /usr/lib/postgresql/15/bin/pg_ctl)")")
[ -x "$BIN/pg_basebackup" ] || BIN=/usr/lib/postgresql/15/bin
[ -x "$BIN/pg_basebackup" ] || skip_test "pg_basebackup not found"
[ "$(id -u)" -eq 0 ] || skip_test "needs root to run the replica as postgres (runuser)"

# ---- the primary: pg.sh's cluster, with WAL for a replica ----
P=$TEST_SCRATCH/primary
on_exit '"$PGSH" stop "$P" >/dev/null 2>&1'
"$PGSH" start "$P" 2>/dev/null
PHOME=$("$PGSH" home "$P")
PPORT=$("$PGSH" port "$P")
as_pg() { (cd / && runuser -u postgres -- "$@"); }
psql_p() { "$BIN/psql" -X -q -A -t -h "$PHOME" -p "$PPORT" -U postgres "$@"; }
psql_p -d postgres -c "ALTER SYSTEM SET wal_level = replica" -c "ALTER SYSTEM SET max_wal_senders = 4"
printf 'local replication all trust\n' | as_pg tee -a "$PHOME/data/pg_hba.conf" > /dev/null
"$PGSH" stop "$P" && "$PGSH" start "$P" 2>/dev/null
assert_eq replica "$(psql_p -d postgres -c 'SHOW wal_level')" "the primary writes WAL for a replica"

# ---- the standby ----
S=$(mktemp -d /tmp/shimfs-stby.XXXXXX)
chown postgres: "$S"
SPORT=$(/usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
standby_up() { as_pg "$BIN/pg_ctl" start -D "$S/data" -l "$S/log" -w -t 30 -o "-p $SPORT -k $S" > /dev/null; }
standby_down() { as_pg "$BIN/pg_ctl" stop -D "$S/data" -m fast -w -t 20 > /dev/null 2>&1 || true; }
on_exit 'standby_down; cp "$S/log" "$TEST_SCRATCH/standby.log" 2>/dev/null; rm -rf "$S"'
as_pg "$BIN/pg_basebackup" -h "$PHOME" -p "$PPORT" -U postgres -D "$S/data" -R -X stream -c fast
standby_up
psql_s() { "$BIN/psql" -X -q -A -t -h "$S" -p "$SPORT" -U postgres "$@"; }
assert_eq t "$(psql_s -d postgres -c 'SELECT pg_is_in_recovery()')" "the replica is a hot standby on 127.0.0.1:$SPORT"

META=postgresql://shimfs:shimfs-test@127.0.0.1:$PPORT/shimfs
READ=postgresql://shimfs:shimfs-test@127.0.0.1:$SPORT/shimfs
check "format on the primary" "$CLI" format stby --bucket "$(test_bucket)" --meta "$META"
LOG=$TEST_SCRATCH/shim.log
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_META_READ="$READ" SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" \
        SHIMFS_ATTR_TTL=0 SHIMFS_ENTRY_TTL=0 SHIMFS_NEGATIVE_TTL=0 SHIMFS_NODE_META=0 SHIMFS_AGENT=0 \
        SHIMFS_LOG="info,file=$LOG" "$@"
}
check "mkdir and 20 files" shim bash -c 'mkdir -p "$1/d" && for i in $(seq 1 20); do echo "f$i" > "$1/d/f$i"; done' _ "$VOL"
wait_for 10 test "$(psql_s -d shimfs -c "SELECT count(*) FROM entry")" -ge 21 ||
    fail "the standby did not replay the files within 10 s"

# ---- 1. reads served by the standby ----
# Transactions in the volume's database on each server while one process
# only reads (TTLs 0: every stat and listing asks).
xacts() { "$1" -d shimfs -c "SELECT pg_stat_force_next_flush(); SELECT xact_commit FROM pg_stat_database WHERE datname = 'shimfs'" | tail -n 1; }
s0=$(xacts psql_s); p0=$(xacts psql_p)
out=$(shim "$PY" -c '
import os, sys, time
d = sys.argv[1]
end = time.time() + 2
n = 0
while time.time() < end:
    for f in sorted(os.listdir(d)):
        os.stat(os.path.join(d, f))
        n += 1
print(n)' "$VOL/d" || true)
sleep 1.2   # backends report their counts when idle, within a second
s1=$(xacts psql_s); p1=$(xacts psql_p)
# each psql above counts one transaction of its own on its server
on_s=$((s1 - s0 - 1)); on_p=$((p1 - p0 - 1))
echo "reader: $out stats; transactions: standby $on_s, primary $on_p" > "$TEST_SCRATCH/fraction"
if [ "$on_s" -gt 0 ] && [ $((on_s * 100 / (on_s + on_p))) -ge 90 ]; then
    pass "$out stats: $on_s transactions on the standby, $on_p on the primary ($((on_s * 100 / (on_s + on_p)))% on the standby)"
else
    fail "reads served by the standby: $on_s transactions on the standby, $on_p on the primary"
fi

# A read server setting that does not parse costs one line, not the volume.
: > "$LOG"
out=$(shim env SHIMFS_META_READ='host=127.0.0.1 port' cat "$VOL/d/f2" 2>&1 || true)
assert_eq f2 "$out" "an unparsable SHIMFS_META_READ: the file still reads (from the primary)"
assert_eq 1 "$(grep -c 'SHIMFS_META_READ is not a valid' "$LOG" || true)" "...with one warning"

# ---- 2. read-your-writes and other processes, with the standby 4 s behind
psql_s -d postgres -c "ALTER SYSTEM SET recovery_min_apply_delay = '4s'" -c "SELECT pg_reload_conf()" > /dev/null
sleep 0.5
: > "$LOG"
out=$(shim "$PY" -c '
import os, sys
d = sys.argv[1]
bad = 0
for i in range(20):
    p = os.path.join(d, "ryw%d" % i)
    with open(p, "w") as f:
        f.write("v%d" % i)
    ok = os.path.exists(p) and open(p).read() == "v%d" % i and ("ryw%d" % i) in os.listdir(d)
    os.rename(p, p + ".moved")
    ok = ok and not os.path.exists(p) and os.stat(p + ".moved").st_size == len("v%d" % i)
    bad += not ok
print(bad)' "$VOL/d" 2>&1 || true)
assert_eq 0 "$out" "a process reads its own writes at once (20 create, read, list, rename, stat)"
t0=$(date +%s%N)
shim bash -c 'echo fresh > "$1"' _ "$VOL/d/other" || fail "writing d/other"
out=$(shim cat "$VOL/d/other" 2>&1 || true)
t1=$(date +%s%N)
assert_eq fresh "$out" "another process sees the commit at once ($(( (t1 - t0) / 1000000 )) ms after it began)"
stale=$(psql_s -d shimfs -c "SELECT count(*) FROM entry WHERE name = 'other'")
assert_eq 0 "$stale" "meanwhile the standby had not replayed it (so the primary answered)"
psql_s -d postgres -c "ALTER SYSTEM RESET recovery_min_apply_delay" -c "SELECT pg_reload_conf()" > /dev/null

# ---- 3. the standby goes away ----
wait_for 20 test "$(psql_s -d shimfs -c "SELECT count(*) FROM entry WHERE name = 'other'")" -eq 1 ||
    fail "the standby did not catch up after the delay was removed"
: > "$LOG"
shim "$PY" -c '
import os, sys, time
d, flag = sys.argv[1], sys.argv[2]
worst, n, errors = 0.0, 0, 0
end = time.time() + 4
while time.time() < end:
    t = time.monotonic()
    try:
        os.stat(os.path.join(d, "f1"))
        n += 1
    except OSError:
        errors += 1
    worst = max(worst, time.monotonic() - t)
    if n == 20:
        open(flag, "w").close()
print(n, errors, int(worst * 1000))' "$VOL/d" "$TEST_SCRATCH/reading" > "$TEST_SCRATCH/fallback.out" 2>&1 &
reader=$!
wait_for 10 test -e "$TEST_SCRATCH/reading" || fail "the reader did not start"
standby_down
wait_bounded "$reader" 20 "reader across the standby's stop" || true
read -r n errors worst < "$TEST_SCRATCH/fallback.out" || true
assert_eq 0 "${errors:-x}" "a running reader's $n stats across the standby's stop all succeed"
if [ "${worst:-99999}" -le 3500 ]; then pass "its slowest call took $worst ms (bound: 2000 ms for the standby, then the primary's answer)"; else fail "slowest call $worst ms"; fi
assert_eq 1 "$(grep -c 'read server' "$LOG" || true)" "one log line about the read server"
: > "$LOG"
t0=$(date +%s%N)
out=$(shim cat "$VOL/d/f3" 2>&1 || true)
t1=$(date +%s%N)
assert_eq f3 "$out" "a fresh process reads from the primary while the standby is down ($(( (t1 - t0) / 1000000 )) ms)"
assert_eq 1 "$(grep -c 'read server' "$LOG" || true)" "and says so in one line: $(grep 'read server' "$LOG" | cut -c1-160 || true)"
