#!/usr/bin/env bash
# tests/integration/test_stream_read.sh — the parallel read path of big
# files (core/fetch.c, vfs_readahead): read-ahead GETs many blocks at once,
# the reader copies landed blocks from memory, and a stream's blocks are
# written to the node cache around the page cache (SHIMFS_STREAM_PAGE_CACHE,
# 0 here: every read-ahead block of a sequential reader). Checked, each from
# an empty cache unless said otherwise, against sha256 of the source:
#  - sequential reads (dd bs=128K, cat), a backwards reader of odd-sized
#    pieces, a file with holes, four threads and two processes at once;
#  - a cold sequential read copies every piece from memory, none from the
#    cache file (the debug counters logged at exit), GETs each block once
#    and lands them in reused buffers (at most half of them mapped afresh),
#    and the blocks it left
#    in the cache read back right in a new process without one GET;
#  - a block whose object is missing, or corrupt, in the middle of the
#    file: the read fails with EIO within 20 s, one warn line.
# The volume sits on a file:// bucket with 64 KiB blocks (a 6 MiB file is
# 96 blocks: the window of 32 blocks is reached and moves).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

CLI=$SHIMFS_CLI
PY=/usr/bin/python3
PREFIX=/mnt/shimfs-stream-$$
BUCKET_DIR=$TEST_SCRATCH/bucket
ERR=$TEST_SCRATCH/stderr

META=$(test_db)
export SHIMFS_META=$META
"$CLI" format stream --bucket "file://$BUCKET_DIR" --block-size 64K > /dev/null ||
    { fail "format"; exit 1; }

# Each run its own empty cache, so reads go to the bucket (a counter would
# not survive $(...)); shim_warm uses the last run's.
shim() {
    mktemp -d "$TEST_SCRATCH/cache-XXXXXX" > "$TEST_SCRATCH/last-cache"
    shim_warm "$@"
}
shim_warm() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_AGENT=0 SHIMFS_NODE_META=0 \
        SHIMFS_CACHE_DIR="$(cat "$TEST_SCRATCH/last-cache")" SHIMFS_STREAM_PAGE_CACHE=0 \
        SHIMFS_LOG="${SHIM_LOG:-warn}" "$@"
}
sum() { sha256sum | cut -d' ' -f1; }

SRC=$TEST_SCRATCH/src
head -c $((6 << 20)) /dev/urandom > "$SRC"
want=$(sum < "$SRC")
check "write the file" shim cp "$SRC" "$PREFIX/big"

# a file with holes: data, 2 MiB of nothing, data, a hole to the end
cat > "$TEST_SCRATCH/holes.py" <<'EOF'
import os, sys
path, local = sys.argv[1], sys.argv[2]
a, b = os.urandom(1 << 20), os.urandom((1 << 20) + 12345)
for p in (path, local):
    with open(p, "wb") as f:
        f.write(a)
        f.seek(3 << 20)
        f.write(b)
        f.truncate(7 << 20)
EOF
check "write a file with holes" shim "$PY" "$TEST_SCRATCH/holes.py" "$PREFIX/holes" "$TEST_SCRATCH/holes"
want_holes=$(sum < "$TEST_SCRATCH/holes")

assert_eq "$want" "$(shim dd if="$PREFIX/big" bs=128K status=none | sum)" "cold dd bs=128K reads the right bytes"
assert_eq "$want" "$(shim cat "$PREFIX/big" | sum)" "cold cat reads the right bytes"
assert_eq "$want_holes" "$(shim cat "$PREFIX/holes" | sum)" "cold read of a file with holes"

cat > "$TEST_SCRATCH/readers.py" <<'EOF'
import hashlib, os, sys, threading
path, mode = sys.argv[1], sys.argv[2]
size = os.stat(path).st_size
def backwards(piece):
    fd = os.open(path, os.O_RDONLY)
    parts, end = [], size
    while end > 0:
        start = max(0, end - piece)
        parts.append(os.pread(fd, end - start, start))
        end = start
    os.close(fd)
    return hashlib.sha256(b"".join(reversed(parts))).hexdigest()
def forwards(piece, out, i):
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(piece)
            if not b:
                break
            h.update(b)
    out[i] = h.hexdigest()
if mode == "backwards":
    print(backwards(200001))
else:
    out = [None] * 4
    ts = [threading.Thread(target=forwards, args=(p, out, i))
          for i, p in enumerate((4096, 65536, 131072 + 7, 1 << 20))]
    for t in ts: t.start()
    for t in ts: t.join()
    print(" ".join(out))
EOF
assert_eq "$want" "$(shim "$PY" "$TEST_SCRATCH/readers.py" "$PREFIX/big" backwards)" \
    "cold backwards reader of 200001-byte pieces"
assert_eq "$want $want $want $want" "$(shim "$PY" "$TEST_SCRATCH/readers.py" "$PREFIX/big" threads)" \
    "four threads reading at once, cold"
# two processes on one empty cache at once
mktemp -d "$TEST_SCRATCH/cache-XXXXXX" > "$TEST_SCRATCH/last-cache"
shim_warm "$PY" "$TEST_SCRATCH/readers.py" "$PREFIX/big" threads > "$TEST_SCRATCH/p1" &
p1=$!
shim_warm dd if="$PREFIX/big" bs=1M status=none | sum > "$TEST_SCRATCH/p2" &
p2=$!
wait_bounded "$p1" 60 "reader process 1"
wait_bounded "$p2" 60 "reader process 2"
assert_eq "$want $want $want $want" "$(cat "$TEST_SCRATCH/p1")" "process 1 of two, same cache"
assert_eq "$want" "$(cat "$TEST_SCRATCH/p2")" "process 2 of two, same cache"

# the stream path itself: pieces from memory, none from the cache file
got=$(SHIM_LOG=debug shim dd if="$PREFIX/big" of=/dev/null bs=1M status=none 2>&1 |
      grep 'debug fetch: .* GETs' || true)
case $got in
    *" 0 from the cache, "*" from memory"*) pass "a cold sequential read copies every piece from memory" ;;
    *) fail "a cold sequential read copies from memory (got: $got)" ;;
esac
# the blocks a sequential reader is done with give their buffers back for
# the next GETs once the cache has them. The reader reads block by block
# and waits for each block's cache file before going on (bounded), so the
# count does not depend on how fast the cache writes: a window of 8 ahead,
# 4 GETs at once. All 96 were fresh buffers (each page faulted in and
# zeroed) when landed blocks were kept until half the memory budget had
# landed after them.
cat > "$TEST_SCRATCH/blockwise.py" <<'EOF'
import glob, os, sys, time
path, cache, bs = sys.argv[1], sys.argv[2], 65536
fd = os.open(path, os.O_RDONLY)
size = os.fstat(fd).st_size
for i in range(size // bs):
    assert len(os.pread(fd, bs, i * bs)) == bs
    pat = os.path.join(cache, "blocks", "**", "*_%d_%d" % (i, bs))
    for _ in range(1000):
        if glob.glob(pat, recursive=True):
            break
        time.sleep(0.01)
print("read")
EOF
mktemp -d "$TEST_SCRATCH/cache-XXXXXX" > "$TEST_SCRATCH/last-cache"
SHIM_LOG=debug shim_warm env SHIMFS_THREADS=4 SHIMFS_PREFETCH=8 \
    "$PY" "$TEST_SCRATCH/blockwise.py" "$PREFIX/big" "$(cat "$TEST_SCRATCH/last-cache")" \
    > /dev/null 2> "$ERR" || true
got=$(grep 'debug fetch: .* GETs' "$ERR" || true)
mapped=$(printf '%s\n' "$got" | sed -n 's/.* \([0-9]*\) block buffers mapped.*/\1/p')
gets=$(printf '%s\n' "$got" | sed -n 's/.*fetch: \([0-9]*\) GETs.*/\1/p')
assert_eq 96 "${gets:-none}" "a cold sequential read GETs each of its 96 blocks once ($got)"
if [ -n "$mapped" ] && [ "$mapped" -le 32 ]; then
    pass "a cold sequential read reuses block buffers ($mapped mapped for 96 blocks)"
else
    fail "a cold sequential read reuses block buffers (got: $got)"
fi
# what it left in the cache (around the page cache) reads back, no GET
assert_eq "$want" "$(SHIM_LOG=debug shim_warm dd if="$PREFIX/big" bs=1M status=none 2> "$ERR" | sum)" \
    "the blocks the stream cached read back right in a new process"
assert_eq 0 "$(grep -c 'GETs' "$ERR" || true)" "... without a GET ($(head -c 300 "$ERR"))"

# ---- a block lost or damaged in the middle of a cold stream ----
cat > "$TEST_SCRATCH/read_all.py" <<'EOF'
import errno, sys, time
t0 = time.monotonic()
try:
    with open(sys.argv[1], "rb", buffering=0) as f:
        while f.read(1 << 20):
            pass
    r = "ok"
except OSError as e:
    r = errno.errorcode.get(e.errno, str(e.errno))
print(r, "in-bound" if time.monotonic() - t0 < 20 else "too-slow")
EOF
# the block holding byte 3 MiB + 1 of big (slice keys end in _<index>_<len>)
key=$(cd "$BUCKET_DIR" && find . -path '*/chunks/*' -type f -name '*_48_65536*' | sed 's|^\./||' | head -n 1)
if [ -z "$key" ]; then
    fail "no object for block 48 (bucket: $(cd "$BUCKET_DIR" && find . -type f | head -3))"
else
    cp "$BUCKET_DIR/$key" "$TEST_SCRATCH/saved-object"
    rm -f "$BUCKET_DIR/$key"
    assert_eq "EIO in-bound" "$(shim "$PY" "$TEST_SCRATCH/read_all.py" "$PREFIX/big" 2> "$ERR")" \
        "a missing block mid-stream: EIO within 20 s"
    assert_eq 1 "$(grep -c . "$ERR" || true)" "... and one log line ($(cat "$ERR"))"
    assert_eq 1 "$(grep -cF "missing" "$ERR" || true)" "... saying the block is missing"
    # the same object with its bytes damaged
    cp "$TEST_SCRATCH/saved-object" "$BUCKET_DIR/$key"
    printf 'garbage' | dd of="$BUCKET_DIR/$key" bs=1 seek=100 conv=notrunc status=none
    assert_eq "EIO in-bound" "$(shim "$PY" "$TEST_SCRATCH/read_all.py" "$PREFIX/big" 2> "$ERR")" \
        "a corrupt block mid-stream: EIO within 20 s"
    assert_eq 1 "$(grep -c . "$ERR" || true)" "... and one log line ($(cat "$ERR"))"
    cp "$TEST_SCRATCH/saved-object" "$BUCKET_DIR/$key"
    assert_eq "$want" "$(shim cat "$PREFIX/big" | sum)" "with the object back, the file reads right"
fi
