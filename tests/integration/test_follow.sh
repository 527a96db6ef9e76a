#!/usr/bin/env bash
# tests/integration/test_follow.sh — followers (issue 12): a reader holding
# a descriptor sees what other processes append and fsync, once its view is
# older than SHIMFS_ATTR_TTL (1 s), at fstat and at a read at end of file.
#  - `tail -f` of a small log (a native descriptor) and of a large one (a
#    placeholder) shows another process's appended lines within 2 s;
#  - a reader at end of file reads the new bytes and fstat shows the new
#    size, for both kinds of descriptor; within the TTL nothing changes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

PY=/usr/bin/python3
PREFIX=/mnt/shimfs-follow-$$
VOL=$PREFIX/v
test_volume follow

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}
check "mkdir" shim mkdir -p "$VOL"

APPEND='
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
for i in range(1, 6):
    os.write(fd, ("%s-%d\n" % (sys.argv[2], i)).encode())
    os.fsync(fd)
    time.sleep(0.3)
os.close(fd)'

# follow_tail NAME FILE: tail -f FILE while another process appends 5 lines
follow_tail() {
    local name=$1 file=$2 out=$TEST_SCRATCH/tail-$1
    shim tail -n 1 -f "$file" > "$out" 2> "$out.err" &
    local tp=$!
    on_exit "kill_bg $tp"
    wait_for 20 test -s "$out" || fail "$name: tail printed nothing"
    shim "$PY" -c "$APPEND" "$file" "$name"
    local shown=0
    for _ in $(seq 20); do   # within 2 s of the last fsync
        shown=$(grep -c "^$name-" "$out" || true)
        [ "$shown" -eq 5 ] && break
        sleep 0.1
    done
    kill_bg "$tp"
    assert_eq 5 "$shown" "$name: tail -f shows the 5 appended lines within 2 s"
}

printf 'start\n' > "$TEST_SCRATCH/small"
check "small log" shim cp "$TEST_SCRATCH/small" "$VOL/small.log"
follow_tail small "$VOL/small.log"

{ head -c $((5 * 1024 * 1024)) /dev/zero | tr '\0' 'x'; printf '\nstart\n'; } > "$TEST_SCRATCH/big"
check "big log" shim cp "$TEST_SCRATCH/big" "$VOL/big.log"
follow_tail big "$VOL/big.log"

# A reader at end of file, another writer commits: not within the TTL,
# then after it (read and fstat).
READER='
import os, sys, subprocess, time
path = sys.argv[1]
fd = os.open(path, os.O_RDONLY)
size = os.fstat(fd).st_size
os.lseek(fd, 0, os.SEEK_END)
subprocess.run([sys.executable, "-c", sys.argv[2], path, "r"], check=True)
early = (os.read(fd, 100), os.fstat(fd).st_size - size)
time.sleep(1.2)
late = os.read(fd, 100)
grown = os.fstat(fd).st_size - size
print(early[0] == b"" and early[1] == 0, late.decode().split(), grown)'
APPEND1='
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
os.write(fd, b"r-1\nr-2\n")
os.fsync(fd)
os.close(fd)'
for kind in small big; do
    got=$(SHIMFS_ATTR_TTL=1 shim "$PY" -c "$READER" "$VOL/$kind.log" "$APPEND1")
    assert_eq "True ['r-1', 'r-2'] 8" "$got" \
        "$kind: read at end of file and fstat show another process's commit after the TTL, not before"
done
