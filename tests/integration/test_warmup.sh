#!/usr/bin/env bash
# tests/integration/test_warmup.sh — `shimfs warmup` and `shimfs stats` on
# an S3 volume: a tree of small files (one block each, under the 4 MiB
# block size) and a 10 MiB file (three blocks) is imported, and a 96 MiB
# file beside it; then
#  - `warmup --check` of a cold cache says 0% and fetches nothing;
#  - `warmup` warms it (summary line, exit 0), `--check` says 100%, and a
#    second `warmup` fetches nothing; 50 threads warming the 96 MiB file
#    (more than the cache's write queue holds at once) leave all of it on
#    disk;
#  - the page cache: by default through it when the tree fits in half the
#    memory free for it (SHIMFS_WARMUP_MEMORY stands for the measure: 1G
#    and 128M make the choice both ways), around it otherwise, with one
#    line saying which and why; --page-cache and --no-page-cache force it;
#    fincore tells which pages of the cache files are in memory;
#  - reading the whole tree under the shim afterwards makes no GET: the
#    node's cache-miss counter (`shimfs stats --json`) does not move and,
#    under strace, no process connects to the S3 server (while they do
#    connect to PostgreSQL, so the trace is known to see connects);
#  - `--evict` then `--check` says 0%;
#  - a missing path fails with exactly one line and exit 1; usage errors
#    exit 2; a block missing from the bucket is counted, named, exit 1.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

CLI=$SHIMFS_CLI
PY=/usr/bin/python3
PREFIX=/mnt/shimfs-warmup-$$          # need not exist on the host
SRC=$TEST_SCRATCH/src
OUT=$TEST_SCRATCH/stdout
ERR=$TEST_SCRATCH/stderr
export SHIMFS_CACHE_DIR=$TEST_SCRATCH/cache
NFILES=61                              # 60 small files and the 10 MiB one

need_cmd strace  # scripts/deps.sh installs it
[ ! -e "$PREFIX" ] || { fail "$PREFIX exists on the host"; exit 1; }

test_volume warmup
"$TEST_ROOT/scripts/gen-dataset.sh" "$SRC/small" 60 3 128K
"$TEST_ROOT/scripts/gen-dataset.sh" "$SRC/big" 1 1 10M 7
"$CLI" import "$SRC" /tree > /dev/null
"$TEST_ROOT/scripts/gen-dataset.sh" "$TEST_SCRATCH/huge" 1 1 96M 9
"$CLI" import "$TEST_SCRATCH/huge" /huge > /dev/null

S3_PORT=${SHIMFS_TEST_S3_ENDPOINT##*:}

# One field of `shimfs stats --json`'s cache object.
cache_counter() {
    "$CLI" stats --json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["cache"][sys.argv[1]])' "$1"
}

warm() { "$CLI" warmup "$@" > "$OUT" 2> "$ERR"; }

expect_line() {
    local what=$1 pattern=$2
    if grep -Eq -- "$pattern" "$OUT"; then
        pass "$what"
    else
        fail "$what: want /$pattern/, got '$(cat "$OUT")' (stderr '$(cat "$ERR")')"
    fi
}

# --- cold: --check reports and fetches nothing ---
check "check of a cold cache" warm --check /tree
expect_line "cold check says 0%" "^0 of $NFILES files fully cached, 0\\.0 of 17\\.5 MiB cached \\(0\\.0%\\)$"
assert_eq 0 "$(cache_counter files)" "check put nothing in the cache"

# --- warm it ---
check "warmup of the tree" warm --threads 8 /tree
expect_line "warmup summary" "^warmed $NFILES files, 17\\.5 MiB \\(17\\.5 MiB fetched, 0\\.0 MiB already cached\\) in [0-9.]+ s \\([0-9.]+ MiB/s\\)$"
assert_eq "" "$(cat "$ERR")" "warmup wrote nothing on stderr"
check "check after warmup" warm --check /tree
expect_line "check says 100%" "^$NFILES of $NFILES files fully cached, 17\\.5 of 17\\.5 MiB cached \\(100\\.0%\\)$"
check "second warmup" warm /tree
expect_line "second warmup fetches nothing" "\\(0\\.0 MiB fetched, 17\\.5 MiB already cached\\)"
check "warmup of one file" warm /tree/big/d0000/f0000000.bin
expect_line "one file, already cached" "^warmed 1 files, 10\\.0 MiB \\(0\\.0 MiB fetched, 10\\.0 MiB already cached\\)"

# 96 MiB fetched by 50 threads at once is more than the cache's write
# queue holds: every block must still be on disk when warmup returns.
check "warmup of a 96 MiB file with 50 threads" env SHIMFS_WARMUP_MEMORY=128M "$CLI" warmup --threads 50 /huge \
    > "$OUT" 2> "$ERR"
expect_line "96 MiB fetched" "^warmed 1 files, 96\\.0 MiB \\(96\\.0 MiB fetched, 0\\.0 MiB already cached\\)"
expect_line "the choice is said: 96 MiB is more than half of 128M" \
    "^page cache: around it: the 96\\.0 MiB to warm do not fit in 64\\.0 MiB \\(0\\.5 of 128\\.0 MiB free, SHIMFS_WARMUP_MEMORY\\)$"
check "check of the 96 MiB file" warm --check /huge
expect_line "all of the 96 MiB file is cached" "^1 of 1 files fully cached, 96\\.0 of 96\\.0 MiB cached \\(100\\.0%\\)$"

# Around the page cache (O_DIRECT where the cache disk takes it): none of
# the 96 MiB is in memory afterwards; through it, all of it is. (fincore:
# pages of each file in the page cache. The tree's 10 MiB file, warmed
# through it above, leaves until the measured warmup below.)
check "evict the tree's 10 MiB file" warm --evict /tree/big
resident_4m() {
    find "$SHIMFS_CACHE_DIR/blocks" -type f -size 4096k -print0 |
        xargs -0 -r fincore --bytes --noheadings --output RES | awk '{ s += $1 } END { print s + 0 }'
}
cache_fs=$(stat -f -c %T "$SHIMFS_CACHE_DIR")
if [ "$cache_fs" = tmpfs ] || [ "$cache_fs" = ramfs ]; then
    printf 'skip %s\n' "warmup and the page cache: the cache is on $cache_fs"
else
    assert_eq 0 "$(resident_4m)" "warmup left none of the 96 MiB file in the page cache"
    # $1: what; $2: "through" or "around"; then warmup's options.
    warm_huge() {
        local what=$1 way=$2 res
        shift 2
        check "evict the 96 MiB file ($what)" warm --evict /huge
        check "warmup of the 96 MiB file, $what" warm --threads 50 "$@" /huge
        expect_line "96 MiB fetched again ($what)" "^warmed 1 files, 96\\.0 MiB \\(96\\.0 MiB fetched"
        res=$(resident_4m)
        if [ "$way" = through ] && [ "$res" -ge $((90 << 20)) ]; then
            pass "$what: the 96 MiB file is in memory ($res bytes)"
        elif [ "$way" = around ] && [ "$res" -eq 0 ]; then
            pass "$what: none of the 96 MiB file is in memory"
        else
            fail "$what: want $way the page cache, $res bytes of 96 MiB in it"
        fi
    }
    export SHIMFS_WARMUP_MEMORY=1G
    warm_huge "96 MiB within half of 1G free" through
    expect_line "the choice is said: 96 MiB fits in half of 1G" \
        "^page cache: through it: the 96\\.0 MiB to warm fit in 512\\.0 MiB \\(0\\.5 of 1024\\.0 MiB free, SHIMFS_WARMUP_MEMORY\\)$"
    warm_huge "--no-page-cache" around --no-page-cache
    expect_line "--no-page-cache is said" "^page cache: around it \\(--no-page-cache\\)$"
    SHIMFS_WARMUP_MEMORY=128M warm_huge "--page-cache" through --page-cache
    expect_line "--page-cache is said" "^page cache: through it \\(--page-cache\\)$"
    SHIMFS_WARMUP_MEMORY_SHARE=0.05 warm_huge "96 MiB more than a share of 0.05 of 1G" around
    unset SHIMFS_WARMUP_MEMORY
fi

# Measured: MemAvailable, or the container's room when that is less; a
# figure above zero and at most the machine's memory.
check "warmup with the memory measured" warm /tree/big
total_mib=$(awk '/^MemTotal:/ { print int($2 / 1024) + 1 }' /proc/meminfo)
free_mib=$(sed -nE 's/^page cache: (through|around) it: .* of ([0-9.]+) MiB free, (MemAvailable|the container.s memory limit)\)$/\2/p' "$OUT")
if [ -n "$free_mib" ] && awk -v f="$free_mib" -v t="$total_mib" 'BEGIN { exit !(f > 0 && f <= t) }'; then
    pass "the memory free for the page cache is measured ($free_mib MiB of $total_mib)"
else
    fail "no measured memory in '$(cat "$OUT")' (MemTotal $total_mib MiB)"
fi
check "--check says nothing about the page cache" warm --check /tree/big
if grep -q "^page cache" "$OUT"; then fail "--check printed a page-cache line"; else pass "--check has no page-cache line"; fi

# --- reading under the shim makes no GET ---
misses0=$(cache_counter misses)
hits0=$(cache_counter hits)
# (SHIMFS_NODE_META=0: every process asks PostgreSQL itself, so the trace
# must show connects; test_node_meta covers the shared case)
(cd / && env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_LOG=error SHIMFS_NODE_META=0 \
    strace -f -qq --seccomp-bpf -e trace=connect -o "$TRACE" \
    sh -c 'find "$1/tree" -type f | LC_ALL=C sort | xargs cat' sh "$PREFIX") \
    | md5sum > "$TEST_SCRATCH/shim.md5"
(cd "$SRC" && find . -type f | LC_ALL=C sort | xargs cat) | md5sum > "$TEST_SCRATCH/local.md5"
assert_files_equal "$TEST_SCRATCH/local.md5" "$TEST_SCRATCH/shim.md5" "the tree reads back right under the shim"
assert_eq "$misses0" "$(cache_counter misses)" "no cache miss while reading the warm tree"
hits1=$(cache_counter hits)
if [ "$hits1" -gt "$hits0" ]; then pass "the read was served by the cache ($((hits1 - hits0)) hits)"
else fail "the read made no cache hit ($hits0 -> $hits1)"; fi
if [ "$(pg_connects)" -gt 0 ]; then pass "strace saw the PostgreSQL connects"
else fail "strace saw no PostgreSQL connect: $(head -c 400 "$TRACE")"; fi
if grep -q "htons($S3_PORT)" "$TRACE"; then fail "a process connected to S3 while reading a warm tree"
else pass "no connect to the S3 server while reading the warm tree"; fi

# --- stats ---
check "stats" sh -c "'$CLI' stats > /dev/null"
"$CLI" stats > "$OUT"
expect_line "stats shows the cache directory" "^node cache: +$SHIMFS_CACHE_DIR$"
expect_line "stats shows hits" "^  hits: +[1-9][0-9]* "
check "stats --json is one JSON object" sh -c "'$CLI' stats --json | '$PY' -c 'import json,sys; d=json.load(sys.stdin); assert d[\"cache\"][\"enabled\"] and d[\"cache\"][\"used_bytes\"] >= 17*2**20'"

# --- evict ---
check "evict the tree" warm --evict /tree
expect_line "evict summary" "^evicted 17\\.5 MiB of $NFILES files"
check "check after evict" warm --check /tree
expect_line "check after evict says 0%" "^0 of $NFILES files fully cached, 0\\.0 of 17\\.5 MiB cached \\(0\\.0%\\)$"

# --- errors ---
rc=0; warm /tree/no-such-file || rc=$?
assert_eq 1 "$rc" "a missing path exits 1"
assert_eq 1 "$(wc -l < "$ERR")" "a missing path is one line"
expect_err() {
    if grep -Eq -- "$2" "$ERR"; then pass "$1"; else fail "$1: stderr '$(cat "$ERR")'"; fi
}
expect_err "the line names the path" "^shimfs warmup: /tree/no-such-file: No such file or directory$"
rc=0; warm /tree/no-such-file /tree/small/d0001 || rc=$?
assert_eq 1 "$rc" "a missing path among good ones exits 1"
expect_line "the good path is still warmed" "^warmed 20 files"
rc=0; warm --threads 0 /tree || rc=$?
assert_eq 2 "$rc" "a bad --threads is a usage error"
rc=0; warm --check --evict /tree || rc=$?
assert_eq 2 "$rc" "--check with --evict is a usage error"
rc=0; warm --page-cache --no-page-cache /tree || rc=$?
assert_eq 2 "$rc" "--page-cache with --no-page-cache is a usage error"
rc=0; warm --page-cache --check --no-page-cache /tree || rc=$?
assert_eq 2 "$rc" "--page-cache with --no-page-cache is a usage error, another choice between them"
rc=0; warm --check --page-cache --evict /tree || rc=$?
assert_eq 2 "$rc" "--check with --evict is a usage error, another choice between them"
rc=0; warm || rc=$?
assert_eq 2 "$rc" "no PATH is a usage error"

# A block gone from the bucket: counted, reported at the end, exit 1.
warm --evict /tree
"$PY" - "$SHIMFS_TEST_S3_ENDPOINT" "${BUCKET##*/}" <<'EOF'
import os, sys
import botocore.config, botocore.session
endpoint, bucket = sys.argv[1:3]
c = botocore.session.get_session().create_client(
    "s3", endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"),
    config=botocore.config.Config(s3={"addressing_style": "path"}))
keys = sorted(o["Key"] for o in c.list_objects_v2(Bucket=bucket).get("Contents", [])
              if "/chunks/" in o["Key"])
c.delete_object(Bucket=bucket, Key=keys[0])
EOF
rc=0; warm /tree || rc=$?
assert_eq 1 "$rc" "a block missing from the bucket makes warmup exit 1"
expect_err "the failure is one line naming the count" "^shimfs warmup: /tree/.*: 1 block failed; first .*/chunks/.*: "
assert_eq 1 "$(wc -l < "$ERR")" "one line for the failed block"
expect_line "the other files are still warmed" "^warmed $NFILES files"
