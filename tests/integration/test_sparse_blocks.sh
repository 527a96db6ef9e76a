#!/usr/bin/env bash
# tests/integration/test_sparse_blocks.sh — st_blocks counts what a file
# stores, not its size: an 8 MiB file holding 64 KiB of data (the rest a
# hole) says 128 blocks of 512 bytes in stat, 64 KiB in du, in the writer's
# process after close and in fresh processes (from the block map the
# directory listing already brought: no extra round trip); a dense file
# still says its size; a file truncated to 1 MiB with no data says 0. The
# writer's process knows the map from its commit: its close reads nothing
# back (no slice list asked) and its stat afterwards asks nothing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

PY=/usr/bin/python3
PREFIX=/mnt/shimfs-sparse-$$
test_volume sparse
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" "$@"
}

out=$(shim "$PY" - "$PREFIX" <<'EOF2'
import os, sys
p = sys.argv[1]
fd = os.open(p + "/sparse", os.O_CREAT | os.O_WRONLY, 0o644)
os.ftruncate(fd, 8 << 20)
os.pwrite(fd, b"x" * 65536, 1 << 20)
os.close(fd)
with open(p + "/dense", "wb") as f:
    f.write(os.urandom(3 << 20))
fd = os.open(p + "/hole", os.O_CREAT | os.O_WRONLY, 0o644)
os.ftruncate(fd, 1 << 20)
os.close(fd)
st = os.stat(p + "/sparse")
print(st.st_size, st.st_blocks)
EOF2
)
assert_eq "8388608 128" "$out" "the writer's stat after close: size 8 MiB, 128 blocks"
assert_eq "8388608 128" "$(shim stat -c '%s %b' "$PREFIX/sparse")" "a fresh process's stat"
assert_eq 64 "$(shim du -k "$PREFIX/sparse" | cut -f1)" "du counts 64 KiB"
assert_eq 6144 "$(shim stat -c '%b' "$PREFIX/dense")" "a dense file's blocks are its size"
assert_eq "1048576 0" "$(shim stat -c '%s %b' "$PREFIX/hole")" "a file that is all hole stores nothing"
round_trips "$PY" - "$PREFIX" <<'EOF2'
import os, sys
p = sys.argv[1]
fd = os.open(p + "/sparse2", os.O_CREAT | os.O_WRONLY, 0o644)
os.pwrite(fd, b"y" * 65536, 2 << 20)
os.close(fd)
print("closed", flush=True)
st = os.stat(p + "/sparse2")
print(st.st_size, st.st_blocks)
EOF2
assert_eq "closed
2162688 128" "$(cat "$TEST_SCRATCH/out")" "a sparse file written and closed: the writer's stat says 128 blocks"
assert_eq 0 "$(grep -c 'shimfs_chunks\|shimfs_getattr' "$TEST_SCRATCH/sends" || true)" \
    "its close read no map back and its stat asked nothing"
