#!/usr/bin/env bash
# tests/integration/test_metrics.sh — `shimfs stats --format prometheus`:
#  - on a fresh cache folder the text parses strictly (prom_check.py: HELP
#    and TYPE for every sample, valid shimfs_ names, counters in _total,
#    numbers) and the counters are zero;
#  - after a workload through the shim (write a file with one cache, read
#    it cold with another, then warm), the counters of that cache moved as
#    they must: object-store GETs and their bytes and seconds, misses and
#    puts after the cold read, hits and hit bytes after the warm reads; the
#    GETs are the node's (made by the reading processes, not by `stats`);
#  - --output FILE writes the same text atomically: mode 0644 whatever the
#    umask, no temporary file left, an existing FILE replaced; a FILE in a
#    missing folder fails with exit 1 and leaves nothing;
#  - it reads the cache folder alone: the same counters with the database
#    unreachable;
#  - nothing in the text names the cache folder or the database password;
#  - an unknown --format is a usage error (exit 2).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

CLI=$SHIMFS_CLI
PY=/usr/bin/python3
CHECK=$TEST_ROOT/tests/integration/prom_check.py
PREFIX=/mnt/shimfs-metrics-$$
WCACHE=$TEST_SCRATCH/cache-writer
RCACHE=$TEST_SCRATCH/cache-reader

test_volume metrics
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_LOG=error "$@"
}
prom() { SHIMFS_CACHE_DIR=$1 "$CLI" stats --format prometheus; }
# value NAME < parsed JSON
value() { "$PY" -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], "missing"))' "$1"; }
positive() { # NAME JSON-FILE
    local v
    v=$(value "$1" < "$2")
    "$PY" -c 'import sys; sys.exit(0 if sys.argv[1] != "missing" and float(sys.argv[1]) > 0 else 1)' "$v" &&
        pass "$1 > 0 ($v)" || fail "$1 is $v, not > 0"
}
zero() {
    local v
    v=$(value "$1" < "$2")
    [ "$v" = 0.0 ] && pass "$1 = 0 before any read" || fail "$1 is $v before any read"
}

# ---- a fresh cache: strict parse, zero counters ----
mkdir -p "$RCACHE"
prom "$RCACHE" > "$TEST_SCRATCH/fresh.prom"
if "$PY" "$CHECK" shimfs_ < "$TEST_SCRATCH/fresh.prom" > "$TEST_SCRATCH/fresh.json"; then
    pass "a fresh cache's exposition parses strictly"
else
    fail "a fresh cache's exposition does not parse"
fi
for m in shimfs_object_gets_total shimfs_cache_hits_total shimfs_cache_misses_total \
         shimfs_cache_puts_total; do
    zero "$m" "$TEST_SCRATCH/fresh.json"
done
n=$(grep -c '^shimfs_' "$TEST_SCRATCH/fresh.prom" || true)
[ "$n" -ge 15 ] && pass "$n samples" || fail "only $n samples"

# ---- the workload ----
head -c $((3 << 20)) /dev/urandom > "$TEST_SCRATCH/data"
check "write a file through the shim" \
    env SHIMFS_CACHE_DIR="$WCACHE" LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" \
    SHIMFS_LOG=error cp "$TEST_SCRATCH/data" "$PREFIX/f"
check "read it cold (another cache)" \
    shim env SHIMFS_CACHE_DIR="$RCACHE" cmp "$TEST_SCRATCH/data" "$PREFIX/f"
prom "$RCACHE" | "$PY" "$CHECK" shimfs_ > "$TEST_SCRATCH/cold.json" ||
    fail "the exposition after a cold read does not parse"
for m in shimfs_object_gets_total shimfs_object_get_bytes_total \
         shimfs_object_get_seconds_total shimfs_cache_misses_total shimfs_cache_puts_total; do
    positive "$m" "$TEST_SCRATCH/cold.json"
done
for i in 1 2; do
    check "warm read $i" shim env SHIMFS_CACHE_DIR="$RCACHE" cmp "$TEST_SCRATCH/data" "$PREFIX/f"
done
prom "$RCACHE" > "$TEST_SCRATCH/warm.prom"
"$PY" "$CHECK" shimfs_ < "$TEST_SCRATCH/warm.prom" > "$TEST_SCRATCH/warm.json" &&
    pass "the exposition after warm reads parses strictly" ||
    fail "the exposition after warm reads does not parse"
positive shimfs_cache_hits_total "$TEST_SCRATCH/warm.json"
positive shimfs_cache_hit_bytes_total "$TEST_SCRATCH/warm.json"
positive shimfs_cache_used_bytes "$TEST_SCRATCH/warm.json"
cold_gets=$(value shimfs_object_gets_total < "$TEST_SCRATCH/cold.json")
warm_gets=$(value shimfs_object_gets_total < "$TEST_SCRATCH/warm.json")
assert_eq "$cold_gets" "$warm_gets" "warm reads made no GET"
assert_eq 1.0 "$(value shimfs_cache_enabled < "$TEST_SCRATCH/warm.json")" "the cache is on"
if grep -qF -e "$RCACHE" -e shimfs-test "$TEST_SCRATCH/warm.prom"; then
    fail "the exposition names the cache folder or the password"
else
    pass "no path or password in the exposition"
fi

# ---- without the database (a closed port on loopback): same counters ----
if SHIMFS_META="postgresql://x@127.0.0.1:1/x" prom "$RCACHE" | "$PY" "$CHECK" shimfs_ \
        > "$TEST_SCRATCH/nodb.json"; then
    pass "readable with the database unreachable"
else
    fail "not readable with the database unreachable"
fi
assert_eq "$(value shimfs_cache_hits_total < "$TEST_SCRATCH/warm.json")" \
    "$(value shimfs_cache_hits_total < "$TEST_SCRATCH/nodb.json")" "the same hits without it"

# ---- --output: atomic, readable by a collector ----
OUT=$TEST_SCRATCH/textfile/shimfs.prom
mkdir -p "$(dirname "$OUT")"
echo stale > "$OUT"
chmod 600 "$OUT"
check "--output writes the file" \
    sh -c 'umask 077; SHIMFS_CACHE_DIR="$1" "$2" stats --format prometheus --output "$3"' \
    sh "$RCACHE" "$CLI" "$OUT"
"$PY" "$CHECK" shimfs_ < "$OUT" > "$TEST_SCRATCH/out.json" &&
    pass "the written file parses strictly" || fail "the written file does not parse"
assert_eq "$(value shimfs_object_gets_total < "$TEST_SCRATCH/warm.json")" \
    "$(value shimfs_object_gets_total < "$TEST_SCRATCH/out.json")" \
    "the file replaced the old one with the same counters"
assert_eq 644 "$(stat -c %a "$OUT")" "the file is 0644 despite umask 077"
assert_eq "shimfs.prom" "$(ls "$(dirname "$OUT")")" "no temporary file left"
set +e
SHIMFS_CACHE_DIR=$RCACHE "$CLI" stats --format prometheus --output "$TEST_SCRATCH/nodir/x.prom" \
    2> /dev/null
rc=$?
set -e
assert_eq 1 "$rc" "a file in a missing folder fails (exit 1)"
[ ! -e "$TEST_SCRATCH/nodir" ] && pass "and leaves nothing" || fail "it left $TEST_SCRATCH/nodir"

# ---- usage ----
set +e
"$CLI" stats --format xml > /dev/null 2>&1
rc=$?
set -e
assert_eq 2 "$rc" "an unknown format is a usage error"
