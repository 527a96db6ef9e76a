#!/usr/bin/env bash
# tests/integration/test_numpy_memmap.sh — numpy.memmap on volume files, as
# nanoGPT-style data preparation writes token files (issue 12: mode 'w+'
# and 'r+' failed with ENODEV).
#  - 'w+': a 3M-token uint16 file filled through the map, flushed; then
#    'r+' changes a slice and flushes; both round-trip: a fresh process
#    ('r' map, np.fromfile) and a process of another node (its own cache
#    folder) read exactly the expected tokens;
#  - 'r+' without flush: deleting the memmap (munmap) commits too.
# numpy is installed for /usr/bin/python3 (not the pyenv python on PATH).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

PY=/usr/bin/python3
"$PY" -c 'import numpy' 2> /dev/null || skip_test "numpy is not installed for $PY"
PREFIX=/mnt/shimfs-npmm-$$
VOL=$PREFIX/v
test_volume npmm

shim_on() {
    local node=$1
    shift
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache-$node" SHIMFS_LOG=error "$@"
}
shim() { shim_on a "$@"; }
check "mkdir" shim mkdir -p "$VOL"

EXPECT='
import numpy as np
N = 3_000_000
def expected(stage):
    e = (np.arange(N, dtype=np.uint64) * 2654435761 % 50257).astype(np.uint16)
    if stage >= 2:
        e[1000:200000] = 7
    if stage >= 3:
        e[N - 5:] = 65535
    return e
'

out=$(shim "$PY" -c "$EXPECT"'
import sys
m = np.memmap(sys.argv[1], dtype=np.uint16, mode="w+", shape=(N,))
m[:] = expected(1)
m.flush()
del m
r = np.memmap(sys.argv[1], dtype=np.uint16, mode="r+", shape=(N,))
r[1000:200000] = 7
r.flush()
del r
print("written")' "$VOL/train.bin" 2>&1)
assert_eq "written" "$out" "memmap w+ fills and flushes, r+ changes a slice and flushes"

reader='
import sys
a = np.fromfile(sys.argv[1], dtype=np.uint16)
b = np.memmap(sys.argv[1], dtype=np.uint16, mode="r")
e = expected(int(sys.argv[2]))
print(a.shape == e.shape and bool((a == e).all()), b.shape == e.shape and bool((b == e).all()))'
assert_eq "True True" "$(shim "$PY" -c "$EXPECT$reader" "$VOL/train.bin" 2 2>&1)" \
    "a new process reads the tokens back (fromfile and a read-only memmap)"
assert_eq "True True" "$(shim_on b "$PY" -c "$EXPECT$reader" "$VOL/train.bin" 2 2>&1)" \
    "a process of another node too"

out=$(shim "$PY" -c "$EXPECT"'
import sys
r = np.memmap(sys.argv[1], dtype=np.uint16, mode="r+", shape=(N,))
r[N - 5:] = 65535
del r
print("changed")' "$VOL/train.bin" 2>&1)
assert_eq "changed" "$out" "r+ changes the tail, no flush"
assert_eq "True True" "$(shim_on b "$PY" -c "$EXPECT$reader" "$VOL/train.bin" 3 2>&1)" \
    "deleting the memmap (munmap) committed the change: another node reads it"
