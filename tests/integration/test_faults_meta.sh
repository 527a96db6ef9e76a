#!/usr/bin/env bash
# tests/integration/test_faults_meta.sh — PostgreSQL frozen or gone, seen
# through faultproxy (tests/tools/faultproxy.c) with SHIMFS_META_TIMEOUT=2:
#  - frozen (the proxy stops forwarding): open(O_CREAT|O_TRUNC), stat,
#    open, read, write, close, rename and mkdir each return within the
#    bound plus a margin, the metadata ones with EIO, and the process logs
#    a handful of lines;
#  - gone (every connection reset): a process calling in a loop fails each
#    call fast with EIO, logs at most a handful of lines, recovers by
#    itself once the server is back, writes again, and holds as many
#    descriptors as before and at most SHIMFS_META_CONNS connections.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

PY=/usr/bin/python3
CALLS=$(dirname "$0")/fault_calls.py
PREFIX=/mnt/shimfs-fmeta-$$
VOL=$PREFIX/d
T=2                      # SHIMFS_META_TIMEOUT, seconds
BOUND_MS=$(( (T + 2) * 1000 ))   # the bound plus a margin for a loaded machine

test_volume fmeta
fault_proxy "$SHIMFS_TEST_PG_PORT"
PMETA=${META/:$SHIMFS_TEST_PG_PORT\//:$FP_PORT/}
[ "$PMETA" != "$META" ] || { fail "cannot point $META at the proxy"; exit 1; }

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$PMETA" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_AGENT=0 SHIMFS_NODE_META=0 \
        SHIMFS_ATTR_TTL=0 SHIMFS_ENTRY_TTL=0 SHIMFS_NEGATIVE_TTL=0 \
        SHIMFS_META_TIMEOUT=$T SHIMFS_LOG=warn "$@"
}

check "mkdir through the proxy" shim mkdir -p "$VOL"
check "a file to read" shim "$PY" -c "import os, sys; open(sys.argv[1], 'wb').write(os.urandom(10000000))" "$VOL/data"

# ---- frozen: every call within the bound ----
SIG=$TEST_SCRATCH/sig-frozen
mkdir -p "$SIG"
shim "$PY" "$CALLS" calls "$VOL" "$SIG" > "$TEST_SCRATCH/frozen.out" 2> "$TEST_SCRATCH/frozen.log" &
pid=$!
wait_for 30 test -e "$SIG/ready" || fail "the caller did not get ready"
fault_ctl pause
touch "$SIG/go"
wait_bounded "$pid" 60 "calls against a frozen database" || true
cat "$TEST_SCRATCH/frozen.out"
for call in open_creat stat open_read read write close rename mkdir; do
    line=$(grep "^$call " "$TEST_SCRATCH/frozen.out" || true)
    ms=$(printf '%s' "$line" | awk '{print $3}')
    if [ -z "$line" ]; then
        fail "frozen database: $call never returned"
    elif [ "$ms" -le "$BOUND_MS" ]; then
        pass "frozen database: $call returned in $ms ms (bound $T s)"
    else
        fail "frozen database: $call took $ms ms (bound $T s)"
    fi
done
for call in open_creat stat open_read close rename mkdir; do
    assert_eq EIO "$(awk -v c="$call" '$1 == c {print $2}' "$TEST_SCRATCH/frozen.out")" \
        "frozen database: $call fails with EIO"
done
lines=$(wc -l < "$TEST_SCRATCH/frozen.log")
if [ "$lines" -ge 1 ] && [ "$lines" -le 3 ]; then
    pass "frozen database: $lines log lines for 8 failed calls"
else
    fail "frozen database: $lines log lines (want 1 to 3)"; cat "$TEST_SCRATCH/frozen.log"
fi
check "resume forwarding" fault_ctl pass

# ---- gone: fail fast, say it once, recover by itself ----
SIG=$TEST_SCRATCH/sig-gone
mkdir -p "$SIG"
shim "$PY" "$CALLS" storm "$VOL" "$SIG" 5 > "$TEST_SCRATCH/gone.out" 2> "$TEST_SCRATCH/gone.log" &
pid=$!
wait_for 30 test -e "$SIG/ready" || fail "the storm did not get ready"
fault_ctl reset
touch "$SIG/down"
wait_for 60 test -e "$SIG/stormed" || fail "the storm did not end"
storm_lines=$(wc -l < "$TEST_SCRATCH/gone.log")
fault_ctl pass
touch "$SIG/up"
wait_for 90 test -e "$SIG/counted" || fail "no recovery report"
conns=$(psql -X -A -t -d "$META" -c \
    "select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and application_name = 'shimfs'")
touch "$SIG/exit"
wait_bounded "$pid" 30 "the storm process" || true
cat "$TEST_SCRATCH/gone.out"
get() { awk -v k="$1" '$1 == k {print $2}' "$TEST_SCRATCH/gone.out"; }
calls=$(get calls); failed=$(get failed); worst=$(get worst_ms); rec=$(get recovered_ms)
if [ "${calls:-0}" -ge 50 ]; then pass "gone: $calls calls in 5 s"; else fail "gone: only ${calls:-0} calls in 5 s (not failing fast)"; fi
assert_eq "$calls" "$failed" "gone: every call failed"
if ! grep -q unexpected_errno "$TEST_SCRATCH/gone.out"; then pass "gone: every failure is EIO"; else fail "gone: errno other than EIO"; fi
if [ "${worst:-999999}" -le "$BOUND_MS" ]; then pass "gone: slowest call $worst ms"; else fail "gone: slowest call ${worst:-?} ms"; fi
if [ "$storm_lines" -ge 1 ] && [ "$storm_lines" -le 3 ]; then
    pass "gone: $storm_lines log lines for $calls failed calls"
else
    fail "gone: $storm_lines log lines for $calls failed calls (want 1 to 3)"; head -5 "$TEST_SCRATCH/gone.log"
fi
if [ "${rec:--1}" -ge 0 ] && [ "$rec" -le 10000 ]; then
    pass "back: the first call succeeded $rec ms after the server returned"
else
    fail "back: no recovery (${rec:-none})"
fi
assert_eq OK "$(get write_after)" "back: a write commits"
assert_eq "$(get fds_before)" "$(get fds_after)" "back: as many descriptors as before the outage"
if [ "${conns:-99}" -le 2 ]; then pass "back: $conns database connections (at most SHIMFS_META_CONNS=2)"; else fail "back: ${conns:-?} database connections"; fi
total_lines=$(wc -l < "$TEST_SCRATCH/gone.log")
if [ "$total_lines" -le 4 ]; then pass "gone and back: $total_lines log lines in all"; else fail "gone and back: $total_lines log lines"; fi
