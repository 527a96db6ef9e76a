#!/usr/bin/env bash
# tests/integration/test_xfer_raw.sh — in-kernel copies of a placeholder
# reached through syscall() (issue 12: a raw copy_file_range answered 0
# forever and the caller spun at 100% CPU). Raw SYS_copy_file_range,
# SYS_sendfile and SYS_splice (through a pipe, out of and into the volume)
# copy the real bytes, each within a bounded time.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

TOOL=$SHIMFS_BUILD/tools/shim_xfer_raw
[ -x "$TOOL" ] || { fail "missing $TOOL (make integration builds it)"; exit 1; }
PREFIX=/mnt/shimfs-xfer-$$
VOL=$PREFIX/v
test_volume xfer

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}

SRC=$TEST_SCRATCH/src
OUT=$TEST_SCRATCH/out
mkdir -p "$OUT"
head -c $((9 * 1024 * 1024 + 4321)) /dev/urandom > "$SRC"   # over a block: a placeholder
check "mkdir" shim mkdir -p "$VOL"
check "copy in" shim cp "$SRC" "$VOL/src"

rc=0
got=$(timeout 60 env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
    SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$TOOL" "$VOL/src" "$OUT" "$VOL/back") || rc=$?
size=$(stat -c %s "$SRC")
assert_eq "0" "$rc" "raw copies finish (no spin, exit 0)"
assert_eq "cfr $size ok
sendfile $size ok
splice $size ok
splice-out $size ok
splice $size ok
splice-into-volume $size ok" "$got" "every raw copy moves the whole file"
for k in cfr sendfile splice; do
    assert_files_equal "$SRC" "$OUT/$k" "raw $k copies the real bytes"
done
check "splice into the volume holds the bytes" shim cmp "$SRC" "$VOL/back"
