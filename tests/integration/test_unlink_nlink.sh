#!/usr/bin/env bash
# tests/integration/test_unlink_nlink.sh — a file this process unlinked
# while holding it open has no name left: fstat shows st_nlink 0 (and the
# data stays readable), as on a local disk.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd python3

PREFIX=/mnt/shimfs-nlink-$$
test_volume nlink
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}
mkdir -p "$TEST_SCRATCH/cache"
out=$(shim python3 -c '
import os, sys
d = sys.argv[1]
os.mkdir(d)
with open(d + "/f", "w") as f:
    f.write("hello")
fd = os.open(d + "/f", os.O_RDONLY)
print("before", os.fstat(fd).st_nlink)
os.unlink(d + "/f")
print("after", os.fstat(fd).st_nlink, os.pread(fd, 5, 0).decode())
' "$PREFIX/d" 2>&1) || true
assert_eq "before 1 after 0 hello" "$(echo $out)" "st_nlink before and after unlink"
