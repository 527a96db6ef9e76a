#!/usr/bin/env bash
# tests/integration/test_write_scattered.sh — scattered small writes to a
# file (databases, dbench, stress-ng --seek) commit as few objects: the
# dirty pieces are flattened (newer bytes over older, disjoint runs) and
# packed into shared objects (vfs_pack.c). 20,000 random 512-byte writes
# used to make one object and one slice record each, PUT one after another
# at close (20,000 ids and records; 1 id and 1,865 records now). The bytes must be exactly what a local file holds after the
# same writes: from the writer, from a new process and from another node.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd python3 psql

PREFIX=/mnt/shimfs-scatter-$$
test_volume scatter
mkdir -p "$TEST_SCRATCH/cache" "$TEST_SCRATCH/cache2"
# no compaction: the records counted are the commit's own
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_COMPACT_SLICES=0 SHIMFS_LOG=warn "$@"
}
node2() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache2" SHIMFS_LOG=warn "$@"
}
sql() { env -u LD_PRELOAD psql "$META" -XAtq -c "$1"; }

cat > "$TEST_SCRATCH/scatter.py" <<'PY'
import os, random, sys
vol, local, seed, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
size = 8 << 20
rng = random.Random(seed)
fds = []
for p in (vol, local):
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(fd, size)
    fds.append(fd)
for i in range(n):
    off = rng.randrange(0, size - 4096)
    ln = rng.choice((1, 7, 512, 513, 4096))
    b = rng.randbytes(ln)
    for fd in fds:
        os.pwrite(fd, b, off)
    if i % 5000 == 4999:   # the writer's own view, mid-way
        a = os.pread(fds[0], 4096, off)
        if a != os.pread(fds[1], 4096, off):
            print("midway mismatch at", off); sys.exit(1)
for fd in fds:
    os.close(fd)
print("ok")
PY
check "a folder" shim mkdir "$PREFIX/d"
out=$(shim python3 "$TEST_SCRATCH/scatter.py" "$PREFIX/d/f" "$TEST_SCRATCH/ref" 7 20000 2>&1) || true
assert_eq "ok" "$out" "20,000 scattered writes of 1 to 4096 bytes (the writer reads its own bytes)"
shim cat "$PREFIX/d/f" > "$TEST_SCRATCH/back1"
assert_files_equal "$TEST_SCRATCH/ref" "$TEST_SCRATCH/back1" "a new process reads what a local file holds"
node2 cat "$PREFIX/d/f" > "$TEST_SCRATCH/back2"
assert_files_equal "$TEST_SCRATCH/ref" "$TEST_SCRATCH/back2" "another node reads what a local file holds"
ino=$(shim stat -c %i "$PREFIX/d/f")
ids=$(sql "SELECT count(DISTINCT id) FROM slice WHERE ino = $ino")
recs=$(sql "SELECT count(*) FROM slice WHERE ino = $ino")
[ "$ids" -le 4 ] && pass "few objects: $ids slice ids for 20,000 writes" ||
    fail "$ids slice ids for 20,000 writes (one object per write is the bug)"
[ "$recs" -le 5000 ] && pass "overwritten bytes dropped: $recs records for 20,000 writes" ||
    fail "$recs slice records for 20,000 writes"

# the same through fsync every 1,000 writes (several commits), seed 11
cat > "$TEST_SCRATCH/scatter2.py" <<'PY'
import os, random, sys
vol, local = sys.argv[1], sys.argv[2]
rng = random.Random(11)
fds = [os.open(p, os.O_RDWR) for p in (vol, local)]
for i in range(6000):
    off = rng.randrange(0, (8 << 20) - 600)
    b = rng.randbytes(rng.choice((3, 600)))
    for fd in fds:
        os.pwrite(fd, b, off)
    if i % 1000 == 999:
        os.fsync(fds[0])
for fd in fds:
    os.close(fd)
print("ok")
PY
out=$(shim python3 "$TEST_SCRATCH/scatter2.py" "$PREFIX/d/f" "$TEST_SCRATCH/ref" 2>&1) || true
assert_eq "ok" "$out" "6,000 more writes with an fsync every 1,000"
node2 cat "$PREFIX/d/f" > "$TEST_SCRATCH/back3"
assert_files_equal "$TEST_SCRATCH/ref" "$TEST_SCRATCH/back3" "another node reads the overlaid versions right"
