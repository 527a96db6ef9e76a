#!/usr/bin/env bash
# tests/integration/test_mmap.sh — mmap of volume files shows the file as
# it is when mapped (issue 12: fsx, mapped reads, seed 3 read bytes from
# before a truncate). A descriptor's materialised copy is reused only while
# the file is the version it was made from:
#  - a writer maps, truncates and writes far beyond: a new map reads zeros
#    where the truncate cut and the new bytes where it wrote;
#  - a writer maps, overwrites: a new map shows the new bytes;
#  - a shared map made before through the same O_RDWR descriptor is the
#    file, as with the kernel: it shows the truncate and the new bytes
#    (it used to keep a snapshot of its time; the file is its working copy
#    since shared writable maps exist, test_mmap_write.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

PY=/usr/bin/python3
PREFIX=/mnt/shimfs-mmap-$$
VOL=$PREFIX/v
test_volume mmap

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}
check "mkdir" shim mkdir -p "$VOL"

# 1 MiB + 3 so the file is a placeholder, not a small native copy.
out=$(shim "$PY" -c '
import mmap, os, sys
SIZE = (1 << 20) + 3
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"A" * SIZE)
def mapped():
    m = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    b = bytes(m)
    m.close()
    return b
first = mapped()
old = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
os.ftruncate(fd, 1000)
os.pwrite(fd, b"B" * 100, 50000)
second = mapped()
print(first == b"A" * SIZE, len(second), second[:1000] == b"A" * 1000,
      second[1000:50000].count(0) == 49000, second[50000:] == b"B" * 100,
      old[:1000] == b"A" * 1000 and old[50000:50100] == b"B" * 100)
os.pwrite(fd, b"C" * 10, 0)
third = mapped()
print(third[:12] == b"C" * 10 + b"AA", len(third))
os.close(fd)' "$VOL/f")
assert_eq "True 50100 True True True True
True 50100" "$out" \
    "a map after truncate+write shows zeros and the new bytes; an old map shows them too; a map after an overwrite shows it"

if [ -x "${SHIMFS_TEST_FSX:-}" ]; then
    # optional: fsx built outside the repository (mapped reads on)
    check "fsx -W -S 3 (mapped reads), 3000 ops" shim "$SHIMFS_TEST_FSX" -W -T -S 3 -N 3000 -q \
        -P "$TEST_SCRATCH" "$VOL/fsx"
fi
