#!/usr/bin/env bash
# tests/integration/test_mmap_write.sh — MAP_SHARED writable maps of volume
# files (issue 12: they answered ENODEV). The rule (docs/design.md,
# "Shared writable maps"): a map's changes reach other processes and nodes
# at msync(MS_SYNC), munmap, fsync/fdatasync, close of the last descriptor
# once no map remains, and exit; msync(MS_ASYNC) commits nothing.
#  - each commit point, with the writer still running after it: a process
#    of a second node (its own cache folder) reads the bytes back with
#    read() and with a fresh map; after MS_ASYNC it still sees the old
#    bytes, after the munmap that follows the new ones;
#  - mapped writes mixed with write(), ftruncate, mapped reads, pread
#    through a second open and its long-lived map, and a forked child's
#    write through an inherited map: every byte as the model says;
#  - the kernel's answers (EACCES for shared writable maps and
#    mprotect(PROT_WRITE) of O_RDONLY files, EACCES for O_WRONLY,
#    MAP_PRIVATE stays private): the same output as on a local directory.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

TOOL=$SHIMFS_BUILD/tools/shim_mmap_write
PREFIX=/mnt/shimfs-mmapw-$$
VOL=$PREFIX/v
test_volume mmapw

# node A and node B: separate cache folders (separate node caches and
# node metadata), as on two machines
shim_on() {
    local node=$1
    shift
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache-$node" SHIMFS_LOG=error "$@"
}
shim() { shim_on a "$@"; }
check "mkdir" shim mkdir -p "$VOL"

SIZE=$((300 * 1024 + 17))
seed=1
for how in msync munmap closefirst fsync; do
    seed=$((seed + 1))
    sig=$TEST_SCRATCH/sig-$how
    rm -f "$sig.ready" "$sig.go"
    shim "$TOOL" commit "$VOL/$how" "$SIZE" "$how" "$seed" "$sig.ready" "$sig.go" \
        > "$TEST_SCRATCH/$how.out" 2>&1 &
    pid=$!
    wait_for 30 test -e "$sig.ready" || true
    assert_eq "read ok map ok" "$(shim_on b "$TOOL" check "$VOL/$how" "$SIZE" "$seed" 2>&1)" \
        "$how: another node reads the mapped bytes (read and map) while the writer still runs"
    assert_eq "read ok map ok" "$(shim "$TOOL" check "$VOL/$how" "$SIZE" "$seed" 2>&1)" \
        "$how: another process of the node too"
    touch "$sig.go"
    wait "$pid" || true
    assert_eq "$how done" "$(cat "$TEST_SCRATCH/$how.out")" "$how: the writer finished cleanly"
done

# MS_ASYNC commits nothing: the old bytes until the munmap
sig=$TEST_SCRATCH/sig-async
check "a file of the old bytes" shim "$TOOL" commit "$VOL/async" "$SIZE" msync 40 \
    "$sig.r0" "$sig.r0"
shim "$TOOL" commit "$VOL/async" "$SIZE" async 41 "$sig.ready" "$sig.go" \
    > "$TEST_SCRATCH/async.out" 2>&1 &
pid=$!
wait_for 30 test -e "$sig.ready" || true
assert_eq "read ok map ok" "$(shim_on b "$TOOL" check "$VOL/async" "$SIZE" 40 2>&1)" \
    "msync(MS_ASYNC) commits nothing: another node still reads the old bytes"
touch "$sig.go"
wait "$pid" || true
assert_eq "read ok map ok" "$(shim_on b "$TOOL" check "$VOL/async" "$SIZE" 41 2>&1)" \
    "the munmap after it commits"

out=$(shim "$TOOL" commit "$VOL/exit" "$SIZE" exit 50 /dev/null /dev/null 2>&1)
assert_eq "exit" "$out" "a process exits with its map and descriptor still open"
assert_eq "read ok map ok" "$(shim_on b "$TOOL" check "$VOL/exit" "$SIZE" 50 2>&1)" \
    "exit commits the map"

for s in 1 2 3; do
    assert_eq "mix ok 1500" "$(shim "$TOOL" mix "$VOL/mix$s" 1500 "$s" 2>&1)" \
        "seed $s: mapped writes, write(), ftruncate, preads, a second open's map, fork"
done

mkdir -p "$TEST_SCRATCH/local"
check "mkdir calls" shim mkdir -p "$VOL/calls"
assert_eq "$("$TOOL" calls "$TEST_SCRATCH/local" 2>&1)" "$(shim "$TOOL" calls "$VOL/calls" 2>&1)" \
    "EACCES for read-only and write-only files, private maps private: as the kernel answers"

