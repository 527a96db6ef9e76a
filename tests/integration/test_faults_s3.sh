#!/usr/bin/env bash
# tests/integration/test_faults_s3.sh — S3 frozen or misbehaving, seen
# through faultproxy --http (tests/tools/faultproxy.c) with
# SHIMFS_S3_TIMEOUT=4:
#  - frozen (accepts, reads, never answers): a read of an uncached block
#    and the close of a written file return EIO within the bound plus a
#    margin; calls that need only the database still work;
#  - 500, 503, 503 SlowDown, resets and truncated bodies on some requests:
#    every write whose close returned 0 reads back with the right bytes
#    (through the same faults on the reads, from an empty cache), and the
#    writes go through in the end.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

PY=/usr/bin/python3
CLI=$SHIMFS_CLI
CALLS=$(dirname "$0")/fault_calls.py
PREFIX=/mnt/shimfs-fs3-$$
VOL=$PREFIX/d
T=4                      # SHIMFS_S3_TIMEOUT, seconds
BOUND_MS=$(( (T + 2) * 1000 ))

proxy_volume fs3

CACHE_N=0
shim() {   # each run its own empty cache: reads go to S3
    CACHE_N=$((CACHE_N + 1))
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache-$CACHE_N" SHIMFS_AGENT=0 SHIMFS_NODE_META=0 \
        SHIMFS_S3_TIMEOUT=$T SHIMFS_LOG=warn "$@"
}

check "mkdir" shim mkdir -p "$VOL"
check "a file to read" shim "$PY" -c "import os, sys; open(sys.argv[1], 'wb').write(os.urandom(10000000))" "$VOL/data"

# ---- frozen ----
SIG=$TEST_SCRATCH/sig-frozen
mkdir -p "$SIG"
shim "$PY" "$CALLS" calls "$VOL" "$SIG" > "$TEST_SCRATCH/frozen.out" 2> "$TEST_SCRATCH/frozen.log" &
pid=$!
wait_for 30 test -e "$SIG/ready" || fail "the caller did not get ready"
fault_ctl stall
touch "$SIG/go"
wait_bounded "$pid" 120 "calls against a frozen S3 server" || true
cat "$TEST_SCRATCH/frozen.out"
for call in open_creat stat open_read read write close rename mkdir; do
    line=$(grep "^$call " "$TEST_SCRATCH/frozen.out" || true)
    ms=$(printf '%s' "$line" | awk '{print $3}')
    if [ -z "$line" ]; then
        fail "frozen S3: $call never returned"
    elif [ "$ms" -le "$BOUND_MS" ]; then
        pass "frozen S3: $call returned in $ms ms (bound $T s)"
    else
        fail "frozen S3: $call took $ms ms (bound $T s)"
    fi
done
for call in read close; do
    assert_eq EIO "$(awk -v c="$call" '$1 == c {print $2}' "$TEST_SCRATCH/frozen.out")" \
        "frozen S3: $call fails with EIO"
done
for call in open_creat stat rename mkdir; do
    assert_eq OK "$(awk -v c="$call" '$1 == c {print $2}' "$TEST_SCRATCH/frozen.out")" \
        "frozen S3: $call (database only) works"
done
lines=$(wc -l < "$TEST_SCRATCH/frozen.log")
if [ "$lines" -ge 1 ] && [ "$lines" -le 6 ]; then
    pass "frozen S3: $lines log lines"
else
    fail "frozen S3: $lines log lines (want 1 to 6)"; cat "$TEST_SCRATCH/frozen.log"
fi
check "unfreeze" fault_ctl pass

# ---- misbehaving: what close() accepted is there afterwards ----
: > "$TEST_SCRATCH/written"
for fault in "http500 3" "http503 3" "slowdown 3" "resetreq 2" "truncate 2" "delay 200"; do
    tag=$(printf '%s' "$fault" | tr -c 'a-z0-9' '_')
    fault_ctl $fault
    shim "$PY" "$CALLS" writes "$VOL" 3 "$tag" >> "$TEST_SCRATCH/written" 2>> "$TEST_SCRATCH/writes.log" ||
        fail "writes under $fault: the writer failed"
    fault_ctl pass
done
total=$(wc -l < "$TEST_SCRATCH/written")
accepted=$(awk '$3 == "OK"' "$TEST_SCRATCH/written" | wc -l)
assert_eq 18 "$total" "18 writes attempted under faults"
assert_eq "$total" "$accepted" "every write under transient faults was accepted (retried)"
for fault in "truncate 3" "http503 3" "resetreq 2"; do
    fault_ctl $fault
    shim "$PY" "$CALLS" verify "$VOL" "$TEST_SCRATCH/written" > "$TEST_SCRATCH/verify.out" 2>> "$TEST_SCRATCH/verify.log" ||
        fail "verify under $fault: the reader failed"
    fault_ctl pass
    assert_eq "0 $accepted" "$(awk '$1 == "bad" {b=$2} $1 == "verified" {v=$2} END {print b, v}' "$TEST_SCRATCH/verify.out")" \
        "reads under $fault: every accepted write has its bytes"
done
