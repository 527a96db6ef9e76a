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
#  - an unknown --format is a usage error (exit 2);
#  - the node agent with SHIMFS_METRICS_ADDR on 127.0.0.1 answers
#    GET /metrics with the same strict text and counters (curl), HEAD with
#    headers only, another path 404, garbage 400 (and goes on serving),
#    a silent client is dropped within its bound, shimfs_agent_up is 1
#    (in the scrape and in `stats`; 0 before), and an address outside
#    loopback gives no endpoint (one line in the log).
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
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_LOG=error SHIMFS_AGENT=0 "$@"
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
    shim env SHIMFS_CACHE_DIR="$WCACHE" cp "$TEST_SCRATCH/data" "$PREFIX/f"
check "read it cold (another cache)" \
    shim env SHIMFS_CACHE_DIR="$RCACHE" cmp "$TEST_SCRATCH/data" "$PREFIX/f"
prom "$RCACHE" | "$PY" "$CHECK" shimfs_ > "$TEST_SCRATCH/cold.json" ||
    fail "the exposition after a cold read does not parse"
for m in shimfs_object_gets_total shimfs_object_get_bytes_total \
         shimfs_object_get_seconds_total shimfs_cache_misses_total shimfs_cache_puts_total; do
    positive "$m" "$TEST_SCRATCH/cold.json"
done
# the writer's node: uploads, round trips, commits, and their histograms
prom "$WCACHE" | "$PY" "$CHECK" shimfs_ > "$TEST_SCRATCH/writer.json" ||
    fail "the writer's exposition does not parse (histograms included)"
for m in shimfs_object_puts_total shimfs_object_put_bytes_total shimfs_meta_queries_total \
         shimfs_meta_commits_total shimfs_object_put_seconds shimfs_meta_query_seconds; do
    positive "$m" "$TEST_SCRATCH/writer.json"
done
assert_eq "$(value shimfs_meta_queries_total < "$TEST_SCRATCH/writer.json")" \
    "$(value shimfs_meta_query_seconds_count < "$TEST_SCRATCH/writer.json")" \
    "every round trip is in the query histogram"
assert_eq "$(value shimfs_object_gets_total < "$TEST_SCRATCH/cold.json")" \
    "$(value shimfs_object_get_seconds_count < "$TEST_SCRATCH/cold.json")" \
    "every GET is in the GET histogram"
# warmup's progress, on a third cache
WMCACHE=$TEST_SCRATCH/cache-warm
mkdir -p "$WMCACHE"
check "warmup of the file" env SHIMFS_CACHE_DIR="$WMCACHE" SHIMFS_PREFIX="$PREFIX" SHIMFS_LOG=error \
    SHIMFS_AGENT=0 "$CLI" warmup /f
prom "$WMCACHE" | "$PY" "$CHECK" shimfs_ > "$TEST_SCRATCH/warmup.json" ||
    fail "the exposition after warmup does not parse"
assert_eq "$(stat -c %s "$TEST_SCRATCH/data").0" \
    "$(value shimfs_warmup_bytes_total < "$TEST_SCRATCH/warmup.json")" "warmup's bytes counted"
positive shimfs_warmup_blocks_total "$TEST_SCRATCH/warmup.json"
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
assert_eq 0.0 "$(value shimfs_agent_up < "$TEST_SCRATCH/warm.json")" "no agent (SHIMFS_AGENT=0)"
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

# ---- the agent's endpoint ----
need_cmd curl
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ALOG=$TEST_SCRATCH/agent.log
SHIMFS_CACHE_DIR=$RCACHE SHIMFS_METRICS_ADDR=127.0.0.1:$PORT SHIMFS_AGENT_IDLE=600 \
    SHIMFS_LOG="info,file=$ALOG" "$CLI" agent &
APID=$!
on_exit "kill $APID 2>/dev/null; wait $APID 2>/dev/null"
URL=http://127.0.0.1:$PORT/metrics
if wait_for 20 curl -sf -o /dev/null --max-time 2 "$URL"; then
    pass "the agent serves $URL"
else
    fail "no answer on $URL"; cat "$ALOG" >&2 || true
fi
curl -s --max-time 5 -D "$TEST_SCRATCH/h" "$URL" > "$TEST_SCRATCH/scrape.prom" || true
"$PY" "$CHECK" shimfs_ < "$TEST_SCRATCH/scrape.prom" > "$TEST_SCRATCH/scrape.json" &&
    pass "the scrape parses strictly" || fail "the scrape does not parse"
assert_eq "$(value shimfs_cache_hits_total < "$TEST_SCRATCH/warm.json")" \
    "$(value shimfs_cache_hits_total < "$TEST_SCRATCH/scrape.json")" "the scrape has the node's hits"
positive shimfs_object_gets_total "$TEST_SCRATCH/scrape.json"
grep -qi '^content-type: text/plain; version=0.0.4' "$TEST_SCRATCH/h" &&
    pass "content type of the text format" || fail "content type: $(cat "$TEST_SCRATCH/h")"
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
assert_eq 200 "$(code -I "$URL")" "HEAD /metrics"
assert_eq 404 "$(code "http://127.0.0.1:$PORT/")" "GET / is 404"
assert_eq 404 "$(code -X POST -d x "$URL")" "POST /metrics is 404"
# garbage: raw bytes on a socket (bash /dev/tcp), each answered 400 or closed
raw() { # BYTES -> the status line, or "closed"
    local fd line=closed
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" || { echo refused; return; }
    printf '%b' "$1" >&"$fd"
    IFS= read -r -t 3 line <&"$fd" || true
    exec {fd}>&-
    printf '%s' "${line%$'\r'}"
}
assert_eq "HTTP/1.0 400 Bad Request" "$(raw 'hello\r\n\r\n')" "a line that is not HTTP: 400"
assert_eq "HTTP/1.0 400 Bad Request" "$(raw 'GET /metrics HTTP/1.1\r\nno colon\r\n\r\n')" \
    "a bad header: 400"
assert_eq "HTTP/1.0 400 Bad Request" "$(raw '\x00\xff\x01GET\r\n\r\n')" "binary: 400"
assert_eq "HTTP/1.0 400 Bad Request" \
    "$(raw "GET /metrics HTTP/1.0\r\nX: $(head -c 5000 /dev/zero | tr '\0' a)\r\n\r\n")" \
    "a request past 4 KiB: 400"
assert_eq "HTTP/1.0 200 OK" "$(raw 'GET /metrics HTTP/1.0\n\n')" "bare newlines are accepted"
# a client that says nothing is dropped within the bound, then others are served
exec {idle}<>"/dev/tcp/127.0.0.1/$PORT"
t0=$(date +%s%N)
assert_eq 200 "$(code "$URL")" "served while a silent client waits"
t1=$(date +%s%N)
exec {idle}>&-
[ $(( (t1 - t0) / 1000000 )) -lt 3000 ] && pass "within $(( (t1 - t0) / 1000000 )) ms" ||
    fail "a silent client held the endpoint $(( (t1 - t0) / 1000000 )) ms"
assert_eq 1.0 "$(value shimfs_agent_up < "$TEST_SCRATCH/scrape.json")" "the agent says it is up"
assert_eq 1.0 "$(prom "$RCACHE" | "$PY" "$CHECK" shimfs_ | value shimfs_agent_up)" \
    "stats sees the agent up"
kill -0 "$APID" 2>/dev/null && pass "the agent still runs" || fail "the agent died"
kill "$APID"; wait "$APID" 2>/dev/null || true

# an address outside loopback: no endpoint, one line
SHIMFS_CACHE_DIR=$RCACHE SHIMFS_METRICS_ADDR=0.0.0.0:$PORT SHIMFS_AGENT_IDLE=600 \
    SHIMFS_LOG="info,file=$ALOG.2" "$CLI" agent &
APID=$!
on_exit "kill $APID 2>/dev/null; wait $APID 2>/dev/null"
wait_for 10 grep -q "not a loopback" "$ALOG.2" && pass "0.0.0.0 refused with a log line" ||
    fail "no refusal in the log: $(cat "$ALOG.2" 2>/dev/null)"
assert_eq 000 "$(code "$URL")" "and nothing listens"
kill "$APID"; wait "$APID" 2>/dev/null || true
