#!/usr/bin/env bash
# tests/integration/test_write_pipeline.sh — big writes upload in the
# background while the writer goes on (core/vfs/vfs_upload.c). With
# SHIMFS_BUFFER_SIZE=8M a batch is 2 MiB and at most 4 MiB are held, so
# files of 12–20 MiB go through many batches:
#  - the bytes are intact after cp (copy_file_range), dd bs=1M, Python
#    writes of 128 KiB, os.sendfile and os.copy_file_range into the volume;
#  - a rewrite of bytes already handed to the pipeline, and reads through
#    the writer's descriptor, see the writes in their order; a truncate
#    and a fork in the middle of a stream leave what local disk would;
#  - the writer's memory stays bounded (dd of 96 MiB under 64 MiB of RSS);
#  - S3 resetting every connection in the middle of a stream: fsync (or
#    the write that finds the bound full of failed batches) fails with EIO
#    within its bound, other processes see none of it, and the same
#    descriptor's fsync commits every byte once S3 is back (the failed
#    write written again, as a program would); a close while S3 is down
#    fails with EIO.
# S3 is reached through faultproxy --http (tests/tools/faultproxy.c) with
# SHIMFS_S3_TIMEOUT=4.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

PY=/usr/bin/python3
CLI=$SHIMFS_CLI
PREFIX=/mnt/shimfs-wpipe-$$
VOL=$PREFIX/w
T=4
SIG=$TEST_SCRATCH/sig

proxy_volume wpipe

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_AGENT=0 SHIMFS_NODE_META=0 \
        SHIMFS_BUFFER_SIZE=8M SHIMFS_S3_TIMEOUT=$T SHIMFS_LOG="${SHIM_LOG:-warn}" "$@"
}
sum() { sha256sum | cut -d' ' -f1; }
# what a fresh process reads back, from an empty cache
readback() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$(mktemp -d "$TEST_SCRATCH/rcache-XXXXXX")" SHIMFS_AGENT=0 \
        SHIMFS_NODE_META=0 SHIMFS_LOG=warn cat "$1" | sum
}
mkdir -p "$SIG"
check "mkdir" shim mkdir -p "$VOL"

SRC=$TEST_SCRATCH/src
head -c $((20 << 20)) /dev/urandom > "$SRC"
head -c 12345 /dev/urandom >> "$SRC"     # not a multiple of anything
want=$(sum < "$SRC")

check "cp into the volume" shim cp "$SRC" "$VOL/cp"
assert_eq "$want" "$(readback "$VOL/cp")" "cp: the bytes read back intact"
check "dd bs=1M into the volume" shim dd if="$SRC" of="$VOL/dd" bs=1M status=none
assert_eq "$want" "$(readback "$VOL/dd")" "dd: the bytes read back intact"

cat > "$TEST_SCRATCH/writers.py" <<'EOF'
import os, sys
src, dst, how = sys.argv[1:4]
data = open(src, "rb").read()
if how == "write128k":
    with open(dst, "wb") as f:
        for i in range(0, len(data), 128 << 10):
            f.write(data[i:i + (128 << 10)])
else:
    inp = os.open(src, os.O_RDONLY)
    out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    left = len(data)
    while left:
        if how == "sendfile":
            n = os.sendfile(out, inp, None, min(left, 3 << 20))
        else:
            n = os.copy_file_range(inp, out, min(left, 5 << 20))
        assert n > 0
        left -= n
    os.close(out)
    os.close(inp)
EOF
for how in write128k sendfile copy_file_range; do
    check "python $how into the volume" shim "$PY" "$TEST_SCRATCH/writers.py" "$SRC" "$VOL/$how" "$how"
    assert_eq "$want" "$(readback "$VOL/$how")" "$how: the bytes read back intact"
done

# a rewrite of bytes already in the pipeline, and reads through the writer
cat > "$TEST_SCRATCH/rewrite.py" <<'EOF'
import hashlib, os, sys
path, local = sys.argv[1], sys.argv[2]
a = os.urandom(12 << 20)
x = b"X" * (3 << 20)
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, a)                          # six batches handed off
os.pwrite(fd, x, 1 << 20)                # over bytes already uploading
os.write(fd, a[:4 << 20])                # and on
want = bytearray(a); want[1 << 20:4 << 20] = x; want += a[:4 << 20]
got = os.pread(fd, len(want), 0)
print("read through the writer:", got == bytes(want))
os.close(fd)
open(local, "wb").write(want)
EOF
out=$(shim "$PY" "$TEST_SCRATCH/rewrite.py" "$VOL/rewrite" "$TEST_SCRATCH/rewrite")
assert_eq "read through the writer: True" "$out" "a read through the writer sees the pipelined writes in order"
assert_eq "$(sum < "$TEST_SCRATCH/rewrite")" "$(readback "$VOL/rewrite")" \
    "a rewrite of pipelined bytes wins, in a fresh process"

# a truncate in the middle of a pipelined stream, and a fork while batches
# are in flight (the child has no upload threads: its close uploads what it
# finds unfinished itself); the same program on local disk is the reference
cat > "$TEST_SCRATCH/edges.py" <<'EOF'
import os, sys
root = sys.argv[1]
a = bytes(range(256)) * (40 << 12)       # 40 MiB
fd = os.open(os.path.join(root, "trunc"), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, a)
os.ftruncate(fd, 10 << 20)
os.pwrite(fd, b"Z" * (6 << 20), 50 << 20)
os.close(fd)
fd = os.open(os.path.join(root, "fork"), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, a[:12 << 20])
pid = os.fork()
if pid == 0:
    os.pwrite(fd, b"C" * (1 << 20), 20 << 20)
    os.close(fd)
    os._exit(0)
_, st = os.waitpid(pid, 0)
os.pwrite(fd, b"P" * (1 << 20), 30 << 20)
os.close(fd)
print("child", st)
EOF
mkdir -p "$TEST_SCRATCH/edges"
"$PY" "$TEST_SCRATCH/edges.py" "$TEST_SCRATCH/edges" > /dev/null
out=$(timeout 120 env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
    SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_AGENT=0 SHIMFS_NODE_META=0 SHIMFS_BUFFER_SIZE=8M \
    SHIMFS_S3_TIMEOUT=$T SHIMFS_LOG=warn "$PY" "$TEST_SCRATCH/edges.py" "$VOL" || echo "exit $?")
assert_eq "child 0" "$out" "truncate and fork in the middle of pipelined writes: no error, no hang"
for f in trunc fork; do
    assert_eq "$(sum < "$TEST_SCRATCH/edges/$f")" "$(readback "$VOL/$f")" "$f: the bytes read back as on local disk"
done

# bounded memory: 96 MiB through dd with 8 MiB of buffer
head -c $((96 << 20)) /dev/urandom > "$TEST_SCRATCH/src96"
rss=$(shim /usr/bin/time -f %M dd if="$TEST_SCRATCH/src96" of="$VOL/big96" bs=1M status=none 2>&1 | tail -n 1)
if [ "${SHIMFS_SANITIZE:-}" = 1 ]; then
    skip "the writer's RSS (ASan's shadow memory counts in it under SANITIZE=1)"
elif [[ $rss =~ ^[0-9]+$ ]] && [ "$rss" -lt $((64 << 10)) ]; then
    pass "the writer of 96 MiB stayed under 64 MiB of RSS (${rss} KiB)"
else
    fail "the writer of 96 MiB stayed under 64 MiB of RSS (got: $rss)"
fi
assert_eq "$(sum < "$TEST_SCRATCH/src96")" "$(readback "$VOL/big96")" "... and its bytes read back intact"

# ---- S3 down in the middle of a stream ----
cat > "$TEST_SCRATCH/midfail.py" <<'EOF'
import errno, hashlib, os, sys, time
path, sig, mode = sys.argv[1:4]
def wait(name):
    for _ in range(1200):
        if os.path.exists(os.path.join(sig, name)):
            return
        time.sleep(0.05)
    sys.exit("no %s signal" % name)
def tell(name):
    open(os.path.join(sig, name), "w").close()
a, b = os.urandom(6 << 20), os.urandom(5 << 20)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, a)
tell("written"); wait("down")
t0 = time.monotonic()
res, done = "ok", 0
try:
    for i in range(0, len(b), 1 << 20):
        os.write(fd, b[i:i + (1 << 20)])
        done = i + (1 << 20)
    if mode == "fsync":
        os.fsync(fd)
    else:
        os.close(fd)
except OSError as e:
    res = errno.errorcode.get(e.errno, str(e.errno))
print("%s: %s" % (mode, res), "in-bound" if time.monotonic() - t0 < 60 else "too-slow")
tell("failed"); wait("up")
if mode == "fsync":
    # a write that failed (the store down while the pipeline was full) is
    # written again, as a program would; then the same descriptor syncs
    if done < len(b):
        os.pwrite(fd, b[done:], len(a) + done)
    os.fsync(fd)
    os.close(fd)
    print("after: ok")
    print(hashlib.sha256(a + b).hexdigest())
EOF
for mode in fsync close; do
    rm -f "$SIG"/*
    shim "$PY" "$TEST_SCRATCH/midfail.py" "$VOL/mid-$mode" "$SIG" "$mode" \
        > "$TEST_SCRATCH/mid-$mode.out" 2> "$TEST_SCRATCH/mid-$mode.err" &
    writer=$!
    wait_for 60 test -e "$SIG/written" || fail "$mode: the writer did not write"
    fault_ctl reset
    touch "$SIG/down"
    wait_for 120 test -e "$SIG/failed" || fail "$mode: the writer did not come back while S3 was down"
    # nothing of it is visible meanwhile (the proxy still resets: metadata only)
    assert_eq 0 "$(shim stat -c %s "$VOL/mid-$mode" 2> /dev/null || echo gone)" \
        "$mode: other processes see none of the stream while S3 is down"
    fault_ctl pass
    touch "$SIG/up"
    wait_bounded "$writer" 120 "$mode writer" || true
    assert_eq "$mode: EIO in-bound" "$(sed -n 1p "$TEST_SCRATCH/mid-$mode.out")" \
        "$mode with S3 down mid-stream: EIO within its bound"
    if [ "$mode" = fsync ]; then
        assert_eq "after: ok" "$(sed -n 2p "$TEST_SCRATCH/mid-$mode.out")" "the same descriptor's fsync commits once S3 is back"
        assert_eq "$(sed -n 3p "$TEST_SCRATCH/mid-$mode.out")" "$(readback "$VOL/mid-$mode")" \
            "... every byte of the stream"
    fi
    n=$(grep -c . "$TEST_SCRATCH/mid-$mode.err" || true)
    if [ "$n" -ge 1 ] && [ "$n" -le 12 ]; then
        pass "$mode: the failure is logged, a few lines ($n)"
    else
        fail "$mode: the failure is logged, a few lines (got $n: $(head -c 600 "$TEST_SCRATCH/mid-$mode.err"))"
    fi
done
