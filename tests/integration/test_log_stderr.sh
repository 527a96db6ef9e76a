#!/usr/bin/env bash
# tests/integration/test_log_stderr.sh — the engine's log lines never go
# through the shim (core/log.c, core/io.h): a program whose stdout and
# stderr are one file on the volume (how training jobs keep their logs)
# streams into it while S3 freezes. The writer waits for its upload holding
# the file's lock; the upload threads' failures are logged to descriptor 2.
# Through the shim's write those lines waited on the same lock, and the
# program hung for good (before the fix: killed at the bound, every run).
# Now the program ends within the S3 bound plus a margin, its write reports
# the failure as EIO (it was ETIMEDOUT, where fsync and close say EIO), and
# the node's next process still works.
# With S3 working, the engine's lines for such a stderr go to the node's
# log file (shimfs.log in the cache folder, 0600), and the program's file
# holds the program's bytes only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd python3

PREFIX=/mnt/shimfs-logerr-$$
VOL=$PREFIX/d
T=3                      # SHIMFS_S3_TIMEOUT, seconds

proxy_volume logerr
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_AGENT=0 \
        SHIMFS_S3_TIMEOUT=$T SHIMFS_LOG=warn "$@"
}
check "mkdir" shim mkdir -p "$VOL"

# the program points its stdout and stderr at one volume file (as a job's
# entrypoint does with `exec > log 2>&1`, or Python with os.dup2), writes a
# line to stderr, then 256 MiB to stdout in 1 MiB writes: past the writer's
# upload buffers, so it waits for an upload with the file's lock held
WRITER='import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.dup2(fd, 1)
os.dup2(fd, 2)
os.close(fd)
b = os.urandom(1 << 20)
try:
    os.write(2, b"starting\n")
    for i in range(256):
        os.write(1, b)
    os.close(1)
    os.close(2)
except OSError as e:
    os.write(3, ("writer: %s\n" % e.strerror).encode())
    sys.exit(1)'

fault_ctl stall
start=$(date +%s%N)
shim python3 -c "$WRITER" "$VOL/out" 3> "$TEST_SCRATCH/writer.err" &
pid=$!
if wait_bounded "$pid" 60 "a writer whose stderr is its own volume file, S3 frozen"; then
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    pass "the writer ended in $ms ms while S3 was frozen (no hang)"
fi
fault_ctl pass
assert_eq "writer: Input/output error" "$(head -n 1 "$TEST_SCRATCH/writer.err" 2>/dev/null)" \
    "its write or close reports the frozen upload as EIO"
check "the node's next process writes and reads the volume" \
    shim sh -c 'echo fine > "$1/after" && test "$(cat "$1/after")" = fine' _ "$VOL"

# ---- S3 working: the engine's lines stay out of the program's file ----
# its first S3 use logs "credentials from environment" at info; written to
# the file's stand-in that line landed out of place and overwrote the
# program's bytes (by hand: a line lost its newline)
LINES='import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.dup2(fd, 1)
os.dup2(fd, 2)
os.close(fd)
os.write(2, b"program line 1\n")
with open(sys.argv[2], "wb") as g:
    g.write(os.urandom(6 << 20))
os.write(1, b"program line 2\n")'
rm -f "$TEST_SCRATCH/cache/shimfs.log"
check "a program logs into its own volume file while it uploads" \
    env SHIMFS_LOG=info LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
    SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_AGENT=0 python3 -c "$LINES" "$VOL/log" "$VOL/data"
assert_eq "$(printf 'program line 1\nprogram line 2\n' | od -An -c | tr -s ' ')" \
    "$(shim cat "$VOL/log" | od -An -c | tr -s ' ')" "the program's file holds its own lines, whole, and nothing else"
assert_eq 1 "$(grep -c 'info credentials: .*credentials from environment' "$TEST_SCRATCH/cache/shimfs.log" 2>/dev/null || true)" \
    "the engine's line went to the node's log file"
assert_eq "-rw-------" "$(stat -c %A "$TEST_SCRATCH/cache/shimfs.log" 2>/dev/null)" "which only its owner reads"

# a shimfs.log another user planted (writable by all) is not written to
if id nobody > /dev/null 2>&1; then
    rm -f "$TEST_SCRATCH/cache/shimfs.log"
    install -m 0666 -o nobody /dev/null "$TEST_SCRATCH/cache/shimfs.log"
    env SHIMFS_LOG=info LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_AGENT=0 python3 -c "$LINES" "$VOL/log2" "$VOL/data2" || true
    assert_eq 0 "$(stat -c %s "$TEST_SCRATCH/cache/shimfs.log")" "a log file planted by another user gets nothing"
    rm -f "$TEST_SCRATCH/cache/shimfs.log"
fi

test_finish
