#!/usr/bin/env bash
# tests/integration/test_prefetch.sh — reads ahead of a sequential reader
# and posix_fadvise(WILLNEED) on an S3 volume holding one 64 MiB file
# (16 blocks of 4 MiB, random bytes so nothing compresses away):
#  - a cold sequential read under the shim (cat, and dd with 64 KiB reads)
#    returns exactly the file's bytes with SHIMFS_PREFETCH=0 and =16, each
#    time into an empty cache, and leaves the whole file cached;
#  - a 200 MiB file (past the cache's 64 MiB write queue) read cold by cat
#    is all cached when cat ends; a reader that then idles gives its block
#    buffers back within seconds;
#  - os.posix_fadvise(WILLNEED) over the whole file from a Python process
#    under the shim, which reads nothing itself, fills the cache: `shimfs
#    warmup --check` goes from 0% to 100% while that process waits (bounded
#    at 60 s).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

CLI=$SHIMFS_CLI
PY=/usr/bin/python3
PREFIX=/mnt/shimfs-prefetch-$$          # need not exist on the host
SRC=$TEST_SCRATCH/src
OUT=$TEST_SCRATCH/stdout
VFILE=/big/d0000/f0000000.bin
LFILE=$SRC/d0000/f0000000.bin

[ ! -e "$PREFIX" ] || { fail "$PREFIX exists on the host"; exit 1; }

test_volume prefetch
"$TEST_ROOT/scripts/gen-dataset.sh" "$SRC" 1 1 64M 11
"$CLI" import "$SRC" /big > /dev/null

# Run under the shim with a given cache directory and prefetch window.
shim() {
    local cache=$1 window=$2; shift 2
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_LOG=error \
        SHIMFS_CACHE_DIR="$cache" SHIMFS_PREFETCH="$window" "$@"
}

cached_line() { SHIMFS_CACHE_DIR=$1 "$CLI" warmup --check "$VFILE"; }

for window in 0 16; do
    cache=$TEST_SCRATCH/cache-cat-$window
    check "cold cat with SHIMFS_PREFETCH=$window" shim "$cache" "$window" \
        sh -c 'cat "$1" > "$2"' sh "$PREFIX$VFILE" "$TEST_SCRATCH/cat.out"
    assert_files_equal "$LFILE" "$TEST_SCRATCH/cat.out" "cold cat bytes, SHIMFS_PREFETCH=$window"
    assert_eq "1 of 1 files fully cached, 64.0 of 64.0 MiB cached (100.0%)" \
        "$(cached_line "$cache")" "a cold read leaves the file cached, SHIMFS_PREFETCH=$window"

    cache=$TEST_SCRATCH/cache-dd-$window
    check "cold dd bs=64k with SHIMFS_PREFETCH=$window" shim "$cache" "$window" \
        sh -c 'dd if="$1" of="$2" bs=64k status=none' sh "$PREFIX$VFILE" "$TEST_SCRATCH/dd.out"
    assert_files_equal "$LFILE" "$TEST_SCRATCH/dd.out" "cold dd bytes, SHIMFS_PREFETCH=$window"
done

# A file larger than the cache's write queue (64 MiB), read cold at the
# default window: every block is cached when cat ends, none dropped by a
# full queue (the 512 MiB bench file lost up to 13 of 128 that way).
"$TEST_ROOT/scripts/gen-dataset.sh" "$SRC/huge" 1 1 200M 12
"$CLI" import "$SRC/huge" /huge > /dev/null
cache=$TEST_SCRATCH/cache-huge
check "cold cat of a 200 MiB file" shim "$cache" 32 \
    sh -c 'cat "$1" > "$2"' sh "$PREFIX/huge/d0000/f0000000.bin" "$TEST_SCRATCH/huge.out"
assert_files_equal "$SRC/huge/d0000/f0000000.bin" "$TEST_SCRATCH/huge.out" "cold cat bytes of the 200 MiB file"
assert_eq "1 of 1 files fully cached, 200.0 of 200.0 MiB cached (100.0%)" \
    "$(SHIMFS_CACHE_DIR=$cache "$CLI" warmup --check /huge)" "a cold read of a file past the write queue leaves all of it cached"
rm -f "$TEST_SCRATCH/huge.out"

# A process that read a big file cold and then computes does not keep the
# block buffers: after FETCH_SPARE_IDLE (5 s) of an idle read-ahead pool
# they go back to the system, so its anonymous memory drops by at least
# 48 MiB (it holds 64 MiB of landed blocks and up to 64 MiB of spares).
cache=$TEST_SCRATCH/cache-idle
shim "$cache" 32 "$PY" - "$PREFIX/huge/d0000/f0000000.bin" > "$OUT" 2>&1 <<'EOF' || true
import sys, time
def rss_anon():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) // 1024
with open(sys.argv[1], "rb") as f:
    while f.read(1 << 20):
        pass
after = rss_anon()
low = after
for _ in range(30):                     # bounded: 15 s
    time.sleep(0.5)
    low = min(low, rss_anon())
    if after - low >= 48:
        break
print("rss_anon_mib", after, low)
EOF
read -r tag after low < "$OUT" || true
if [ "${tag:-}" = rss_anon_mib ] && [ $((after - low)) -ge 48 ]; then
    pass "an idle reader gave its block buffers back ($after -> $low MiB anonymous)"
else
    fail "an idle reader kept its block buffers: $(head -c 300 "$OUT")"
fi

# posix_fadvise(WILLNEED): the hint alone fills the cache. The Python
# process holds the file open (its prefetch threads live in it) until the
# cache is full or 60 s passed; a flag file tells it to go.
cache=$TEST_SCRATCH/cache-fadvise
FLAG=$TEST_SCRATCH/fadvise.done
rm -f "$FLAG"
assert_eq "0 of 1 files fully cached, 0.0 of 64.0 MiB cached (0.0%)" "$(cached_line "$cache")" \
    "the fadvise cache starts empty"
shim "$cache" 8 "$PY" - "$PREFIX$VFILE" "$FLAG" > "$OUT" 2>&1 <<'EOF' &
import os, sys, time
path, flag = sys.argv[1:3]
fd = os.open(path, os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
print("advised", flush=True)
deadline = time.monotonic() + 60
while not os.path.exists(flag) and time.monotonic() < deadline:
    time.sleep(0.1)
os.close(fd)
EOF
pypid=$!
on_exit "kill $pypid 2>/dev/null"
full=0
for _ in $(seq 1 120); do
    if [ "$(cached_line "$cache")" = "1 of 1 files fully cached, 64.0 of 64.0 MiB cached (100.0%)" ]; then
        full=1
        break
    fi
    sleep 0.5
done
touch "$FLAG"
wait "$pypid" || fail "the fadvise process failed: $(cat "$OUT")"
assert_eq "advised" "$(cat "$OUT")" "posix_fadvise(WILLNEED) succeeded under the shim"
assert_eq 1 "$full" "posix_fadvise(WILLNEED) alone filled the cache ($(cached_line "$cache"))"
check "the prefetched blocks read back right" \
    shim "$cache" 0 sh -c 'cmp "$1" "$2"' sh "$PREFIX$VFILE" "$LFILE"
