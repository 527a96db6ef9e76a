#!/usr/bin/env bash
# tests/integration/test_writer_follow.sh — a descriptor open for writing
# with nothing buffered follows the commits of its node's other processes
# at once (docs/design.md, "Writers follow their node"): what sqlite's
# processes need from the database and -wal files they all hold O_RDWR.
#  - process A holds the file O_RDWR; process B of the node overwrites a
#    range and appends, and fsyncs; A's next pread and fstat show B's bytes
#    and size without waiting for any TTL (SHIMFS_ATTR_TTL=1000 here);
#  - A, once it has buffered writes of its own, keeps its own view until
#    its fsync (then it sees both);
#  - a commit from another node (its own cache folder) is not followed by
#    A's reads before A's own next commit (close-to-open across nodes).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

PY=/usr/bin/python3
PREFIX=/mnt/shimfs-wfollow-$$
VOL=$PREFIX/v
SIG=$TEST_SCRATCH/sig
test_volume wfollow
mkdir -p "$SIG"

shim_on() {
    local node=$1
    shift
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache-$node" SHIMFS_ATTR_TTL=1000 SHIMFS_LOG=error "$@"
}
shim() { shim_on a "$@"; }
check "mkdir" shim mkdir -p "$VOL"
check "the file" shim "$PY" -c 'open("'"$VOL/f"'", "wb").write(b"a" * 100)'

# A: waits for a signal file between its looks (bounded), prints what it sees
shim "$PY" -c '
import os, sys, time
path, sig = sys.argv[1], sys.argv[2]
def wait(name):
    for _ in range(300):
        if os.path.exists(os.path.join(sig, name)):
            return
        time.sleep(0.1)
    print("timeout", name)
fd = os.open(path, os.O_RDWR)
print("start", os.fstat(fd).st_size, os.pread(fd, 200, 0).count(b"a"))
open(os.path.join(sig, "a-ready"), "w").close()
wait("b-done")
d = os.pread(fd, 300, 0)
print("after B", os.fstat(fd).st_size, d[:10].decode(), d[100:].decode())
os.pwrite(fd, b"A", 99)
open(os.path.join(sig, "a-wrote"), "w").close()
wait("b2-done")
print("own buffer", os.fstat(fd).st_size, os.pread(fd, 300, 0)[100:].decode())
os.fsync(fd)
print("after fsync", os.fstat(fd).st_size, os.pread(fd, 300, 0)[100:].decode())
open(os.path.join(sig, "a-synced"), "w").close()
wait("c-done")
print("other node", os.fstat(fd).st_size, os.pread(fd, 300, 0)[:3].decode())
os.close(fd)
' "$VOL/f" "$SIG" > "$TEST_SCRATCH/a.out" 2>&1 &
pa=$!
wait_for 30 test -e "$SIG/a-ready" || true
check "B overwrites and appends, fsync" shim "$PY" -c '
import os
fd = os.open("'"$VOL/f"'", os.O_RDWR)
os.pwrite(fd, b"bbbbbbbbbb", 0)
os.pwrite(fd, b"B1", 100)
os.fsync(fd)
os.close(fd)'
touch "$SIG/b-done"
wait_for 30 test -e "$SIG/a-wrote" || true
check "B appends again" shim "$PY" -c '
import os
fd = os.open("'"$VOL/f"'", os.O_WRONLY | os.O_APPEND)
os.write(fd, b"B2")
os.close(fd)'
touch "$SIG/b2-done"
wait_for 30 test -e "$SIG/a-synced" || true
check "node C overwrites the start" shim_on c "$PY" -c '
import os
fd = os.open("'"$VOL/f"'", os.O_RDWR)
os.pwrite(fd, b"ccc", 0)
os.close(fd)'
touch "$SIG/c-done"
wait_bounded "$pa" 60 "process A"
assert_eq "start 100 100
after B 102 bbbbbbbbbb B1
own buffer 102 B1
after fsync 104 B1B2
other node 104 bbb" "$(cat "$TEST_SCRATCH/a.out")" \
    "A follows B's commits at once, keeps its own view while it buffers, not another node's"
