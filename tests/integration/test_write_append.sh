#!/usr/bin/env bash
# tests/integration/test_write_append.sh — appenders of one file lose
# nothing (issue 12). An O_APPEND write lands at the end of the file as
# committed, whoever committed before it:
#  - three shells, each `echo $w-$i >> log` 100 times at once: 300 lines,
#    each exactly once;
#  - two processes holding O_APPEND descriptors, 200 writes each, fsync
#    every 25: 400 lines, each once, each whole;
#  - a descriptor opened before another process's append commits does not
#    overwrite it; its own reads see its unflushed appends at its end;
#    pwritev2(RWF_APPEND) on a descriptor without O_APPEND appends too;
#  - two simulated nodes (own cache and node-metadata folders) appending at
#    once; the same with SHIMFS_WRITEBACK=1;
#  - a writev on O_APPEND is one record even when each write commits;
#  - records placed across a 64 MiB chunk boundary at commit time stay whole.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

PY=/usr/bin/python3
PREFIX=/mnt/shimfs-append-$$
VOL=$PREFIX/v
test_volume append

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="${NODE_CACHE:-$TEST_SCRATCH/cache}" SHIMFS_LOG=error "$@"
}

check "mkdir" shim mkdir -p "$VOL"

# lines FILE EXPECTED_COUNT WHAT: every expected line exactly once, nothing else.
lines_once() {
    local file=$1 want=$2 what=$3 got
    got=$(shim cat "$file" | sort | uniq -c | awk '$1 != 1 { bad++ } END { print NR, bad + 0 }')
    assert_eq "$want 0" "$got" "$what: $want distinct lines, none twice"
}

# ---- three shells appending with >> ----
pids=()
for w in a b c; do
    shim bash -c 'for i in $(seq 100); do echo "$1-$i" >> "$2"; done' _ "$w" "$VOL/log" &
    pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
assert_eq 0 "$failed" "three shell appenders exit 0"
lines_once "$VOL/log" 300 "three shells x 100 appends"
assert_eq 300 "$(shim cat "$VOL/log" | grep -cE '^[abc]-([1-9][0-9]?|100)$')" \
    "every line is one whole record"

# ---- two processes holding O_APPEND descriptors ----
APPENDER='
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
ready, go = sys.argv[3], sys.argv[4]
open(ready, "w").close()
for _ in range(600):
    if os.path.exists(go): break
    __import__("time").sleep(0.05)
for i in range(1, 201):
    os.write(fd, ("%s-%03d %s\n" % (sys.argv[2], i, "x" * (i % 37))).encode())
    if i % 25 == 0: os.fsync(fd)
os.close(fd)
'
appenders() {
    local file=$1 sig=$2 p1 p2 r1=0 r2=0
    mkdir -p "$sig"
    shim "$PY" -c "$APPENDER" "$file" P "$sig/rP" "$sig/go" & p1=$!
    NODE_CACHE=${NODE2_CACHE:-${NODE_CACHE:-}} shim "$PY" -c "$APPENDER" "$file" Q "$sig/rQ" "$sig/go" & p2=$!
    wait_for 60 test -e "$sig/rP" -a -e "$sig/rQ" || fail "appenders not ready"
    touch "$sig/go"
    wait "$p1" || r1=$?
    wait "$p2" || r2=$?
    assert_eq "0 0" "$r1 $r2" "$3: both appenders exit 0"
    lines_once "$file" 400 "$3: two O_APPEND descriptors x 200 writes"
    assert_eq 400 "$(shim cat "$file" | grep -cE '^[PQ]-[0-9]{3} x*$')" "$3: every record whole"
}
appenders "$VOL/two" "$TEST_SCRATCH/sig1" "one node"

# ---- an open appender does not overwrite what others committed ----
out=$(shim "$PY" -c '
import os, sys, subprocess
path = sys.argv[1]
fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
subprocess.run(["sh", "-c", "printf bbb >> \"$1\"", "_", path], check=True)
os.write(fd, b"aaa")
seen = os.pread(fd, 16, 0)              # before commit: own appends at own end
pos = os.lseek(fd, 0, os.SEEK_CUR)
os.close(fd)
print(seen.decode(), pos, open(path).read())' "$VOL/late")
assert_eq "aaa 3 bbbaaa" "$out" "an append placed at commit goes after another process's append"

out=$(shim "$PY" -c '
import os, sys
path = sys.argv[1]
with open(path, "w") as f: f.write("0123456789")
fd = os.open(path, os.O_WRONLY)
os.pwritev(fd, [b"AB"], 2, os.RWF_APPEND)
os.pwrite(fd, b"z", 0)
os.close(fd)
print(open(path).read())' "$VOL/rwf")
assert_eq "z123456789AB" "$out" "pwritev2(RWF_APPEND) appends, a positioned write after it is positioned"

# ---- two nodes ----
NODE_CACHE=$TEST_SCRATCH/node1 NODE2_CACHE=$TEST_SCRATCH/node2 \
    appenders "$VOL/nodes" "$TEST_SCRATCH/sig2" "two nodes"
pids=()
for w in a b; do
    NODE_CACHE=$TEST_SCRATCH/node-$w shim bash -c \
        'for i in $(seq 60); do echo "$1-$i" >> "$2"; done' _ "$w" "$VOL/nodelog" &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || fail "node shell appender"; done
lines_once "$VOL/nodelog" 120 "two nodes' shells x 60 appends"

# ---- writeback: appends staged, placed when the journal commits ----
SHIMFS_WRITEBACK=1 appenders "$VOL/wb" "$TEST_SCRATCH/sig3" "writeback"

# ---- writev on O_APPEND is one record, even when every write commits ----
# (SHIMFS_BUFFER_SIZE=2: the buffer flushes after each engine write)
WRITEV='
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
for i in range(60):
    os.writev(fd, [("%s%02d" % (sys.argv[2], i)).encode(), b"-" * 20, b"\n"])
os.close(fd)'
pids=()
for w in V W; do
    SHIMFS_BUFFER_SIZE=2 shim "$PY" -c "$WRITEV" "$VOL/writev" "$w" &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || fail "writev appender"; done
assert_eq 120 "$(shim cat "$VOL/writev" | grep -cE '^[VW][0-9]{2}-{20}$')" \
    "120 whole writev records from two appenders committing every write"

# ---- records placed across a chunk boundary ----
CHUNK=$((64 * 1024 * 1024))
shim "$PY" -c 'import sys; open(sys.argv[1], "w").truncate(int(sys.argv[2]))' "$VOL/edge" $((CHUNK - 1000))
pids=()
for w in K L; do
    shim "$PY" -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
for i in range(40):
    os.write(fd, ("%s%02d" % (sys.argv[2], i) + "-" * 60 + "\n").encode())
    if i % 7 == 6: os.fsync(fd)
os.close(fd)' "$VOL/edge" "$w" &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || fail "chunk-boundary appender"; done
got=$(shim "$PY" -c '
import sys, collections
f = open(sys.argv[1], "rb"); f.seek(int(sys.argv[2]))
tail = f.read()
recs = tail.split(b"\n")
ok = [r for r in recs[:-1] if len(r) == 63 and r[3:] == b"-" * 60 and r[:1] in (b"K", b"L")]
print(len(tail), len(ok), len(set(ok)), recs[-1] == b"")' "$VOL/edge" $((CHUNK - 1000)))
assert_eq "5120 80 80 True" "$got" "80 whole records across the 64 MiB chunk boundary, none lost or torn"
