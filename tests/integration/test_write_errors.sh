#!/usr/bin/env bash
# tests/integration/test_write_errors.sh — failures are reported, never
# swallowed. The volume lives on a private S3 server (its own s3rver in the
# test's scratch folder), which the test stops and restarts:
#  - a write whose upload cannot happen fails at fsync with EIO, and the
#    same descriptor's next fsync commits the data once the server is back;
#  - close with the server down fails with EIO (close(2) reports the
#    commit), and other processes never see half the data;
#  - a Python file's close and a C stdio stream's fclose report it too;
#  - namespace errors: EEXIST, ENOENT, ENOTEMPTY, EISDIR, ENOTDIR, EXDEV as
#    on local disk (Python's errno names, both sides).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# about objects in the bucket: tiny files stay out of the database
# (SHIMFS_INLINE_MAX; test_inline covers those)
export SHIMFS_INLINE_MAX=0
need_services

CLI=$SHIMFS_CLI
PY=/usr/bin/python3
S3=$TEST_ROOT/scripts/s3.sh
S3DIR=$TEST_SCRATCH/s3
PREFIX=/mnt/shimfs-werr-$$
VOL=$PREFIX/e
SIG=$TEST_SCRATCH/sig

check "a private S3 server" "$S3" start "$S3DIR"
on_exit '"$S3" stop "$S3DIR"'
BUCKET=http://127.0.0.1:$("$S3" port "$S3DIR")/shimfs-test
META=$(test_db)
check "format a volume on it" "$CLI" format werr --bucket "$BUCKET" --meta "$META" > /dev/null

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG="${SHIM_LOG:-error}" "$@"
}
mkdir -p "$SIG"
check "mkdir" shim mkdir -p "$VOL"

# ---- fsync with the server down, then up again, on one descriptor ----
# The writer and the test take turns through files in $SIG (bounded waits).
cat > "$TEST_SCRATCH/fsync_retry.py" <<'EOF'
import errno, os, sys, time
path, sig = sys.argv[1], sys.argv[2]
def wait(name):
    for _ in range(1200):
        if os.path.exists(os.path.join(sig, name)):
            return
        time.sleep(0.05)
    sys.exit("no %s signal" % name)
def tell(name):
    open(os.path.join(sig, name), "w").close()
data = os.urandom(3 << 20)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, data)
tell("written"); wait("stopped")
t0 = time.monotonic()
try:
    os.fsync(fd)
    print("fsync while down: ok")
except OSError as e:
    print("fsync while down: %s" % errno.errorcode[e.errno])
print("gave up within 120 s:", time.monotonic() - t0 < 120)
tell("failed"); wait("started")
os.fsync(fd)
print("fsync when back: ok")
os.close(fd)
with open(path + ".sum", "w") as f:
    f.write("%d %s\n" % (len(data), __import__("hashlib").sha256(data).hexdigest()))
EOF
shim "$PY" "$TEST_SCRATCH/fsync_retry.py" "$VOL/retry" "$SIG" > "$TEST_SCRATCH/retry.out" 2> "$TEST_SCRATCH/retry.err" &
writer=$!
wait_for 60 test -e "$SIG/written" || fail "the writer did not write"
check "stop the S3 server" "$S3" stop "$S3DIR"
touch "$SIG/stopped"
wait_for 150 test -e "$SIG/failed" || fail "fsync did not come back while the server was down"
# another process must not see the uncommitted data meanwhile
assert_eq 0 "$(shim stat -c %s "$VOL/retry")" "other processes see no uncommitted bytes"
check "start the S3 server again" "$S3" start "$S3DIR"
touch "$SIG/started"
rc=0
wait "$writer" || rc=$?
assert_eq 0 "$rc" "the writer finished"
assert_eq "fsync while down: EIO" "$(sed -n 1p "$TEST_SCRATCH/retry.out")" "fsync with the server down: EIO"
assert_eq "gave up within 120 s: True" "$(sed -n 2p "$TEST_SCRATCH/retry.out")" "fsync gave up in bounded time"
assert_eq "fsync when back: ok" "$(sed -n 3p "$TEST_SCRATCH/retry.out")" "the same descriptor's next fsync commits"
want=$(shim cat "$VOL/retry.sum")
got=$(shim "$PY" -c 'import hashlib,sys; d=open(sys.argv[1],"rb").read(); print(len(d), hashlib.sha256(d).hexdigest())' "$VOL/retry")
assert_eq "$want" "$got" "a fresh process reads the data committed after the outage"

# ---- close with the server down ----
rm -f "$SIG"/*
cat > "$TEST_SCRATCH/close_down.py" <<'EOF'
import ctypes, errno, os, sys, time
path, sig = sys.argv[1], sys.argv[2]
def wait(name):
    for _ in range(1200):
        if os.path.exists(os.path.join(sig, name)):
            return
        time.sleep(0.05)
    sys.exit("no %s signal" % name)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"x" * (1 << 20))
f = open(path + ".py", "w")
f.write("python bytes\n")
libc = ctypes.CDLL(None, use_errno=True)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.fputs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
fp = libc.fopen((path + ".stdio").encode(), b"w")
libc.fputs(b"stdio bytes\n", fp)
open(os.path.join(sig, "written"), "w").close()
wait("stopped")
try:
    os.close(fd)
    print("close while down: ok")
except OSError as e:
    print("close while down: %s" % errno.errorcode[e.errno])
try:
    f.close()
    print("file.close while down: ok")
except OSError as e:
    print("file.close while down: %s" % errno.errorcode[e.errno])
r = libc.fclose(fp)
print("fclose while down: %s" % ("ok" if r == 0 else errno.errorcode[ctypes.get_errno()]))
EOF
shim "$PY" "$TEST_SCRATCH/close_down.py" "$VOL/lost" "$SIG" > "$TEST_SCRATCH/close.out" 2> "$TEST_SCRATCH/close.err" &
writer=$!
wait_for 60 test -e "$SIG/written" || fail "the writer did not write"
check "stop the S3 server" "$S3" stop "$S3DIR"
touch "$SIG/stopped"
rc=0
wait "$writer" || rc=$?
check "start the S3 server again" "$S3" start "$S3DIR"
assert_eq 0 "$rc" "the closing writer finished"
assert_eq "close while down: EIO" "$(sed -n 1p "$TEST_SCRATCH/close.out")" "close(2) with the server down: EIO"
assert_eq "file.close while down: EIO" "$(sed -n 2p "$TEST_SCRATCH/close.out")" "a Python file's close: EIO"
assert_eq "fclose while down: EIO" "$(sed -n 3p "$TEST_SCRATCH/close.out")" "a C stdio stream's fclose: EIO"
assert_eq 0 "$(shim stat -c %s "$VOL/lost")" "nothing half-committed after the failed close"

# ---- namespace errors, as on local disk ----
cat > "$TEST_SCRATCH/ns_errors.py" <<'EOF'
import errno, os, sys
os.chdir(sys.argv[1])
host = sys.argv[2]
def t(what, fn, *a):
    try:
        fn(*a)
        r = "ok"
    except OSError as e:
        r = errno.errorcode[e.errno]
    print("%s: %s" % (what, r))
os.mkdir("d"); os.mkdir("d/sub"); open("f", "w").close(); open("d/g", "w").close()
t("mkdir existing", os.mkdir, "d")
t("mkdir under a file", os.mkdir, "f/x")
t("mkdir in a missing dir", os.mkdir, "no/x")
t("rmdir non-empty", os.rmdir, "d")
t("rmdir a file", os.rmdir, "f")
t("rmdir missing", os.rmdir, "nope")
t("unlink a dir", os.unlink, "d")
t("unlink missing", os.unlink, "nope")
t("unlink through a file", os.unlink, "f/x")
t("open a dir for writing", os.open, "d", os.O_WRONLY)
t("open O_EXCL existing", os.open, "f", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
t("open missing", os.open, "nope", os.O_RDONLY)
t("open O_DIRECTORY a file", os.open, "f", os.O_RDONLY | os.O_DIRECTORY)
t("rename missing", os.rename, "nope", "x")
t("rename a file onto a dir", os.rename, "f", "d")
t("rename a dir onto a file", os.rename, "d", "f")
t("rename a dir onto a non-empty dir", os.rename, "d/sub", ".")
t("rename into itself", os.rename, "d", "d/sub/x")
t("link existing", os.link, "f", "d/g")
t("link a dir", os.link, "d", "d2")
t("symlink existing", os.symlink, "x", "f")
t("rename to the host", os.rename, "f", os.path.join(host, "f"))
t("link to the host", os.link, "f", os.path.join(host, "f"))
t("rename from the host", os.rename, os.path.join(host, "h"), "h")
EOF
mkdir -p "$TEST_SCRATCH/local-ns" "$TEST_SCRATCH/host"
echo h > "$TEST_SCRATCH/host/h"
shim mkdir "$VOL/ns"
"$PY" "$TEST_SCRATCH/ns_errors.py" "$TEST_SCRATCH/local-ns" "$TEST_SCRATCH/host" 2>&1 | grep -v host > "$TEST_SCRATCH/ns.local"
shim "$PY" "$TEST_SCRATCH/ns_errors.py" "$VOL/ns" "$TEST_SCRATCH/host" > "$TEST_SCRATCH/ns.vol" 2>&1
if cmp -s "$TEST_SCRATCH/ns.local" <(grep -v host "$TEST_SCRATCH/ns.vol"); then
    pass "namespace errnos as on local disk ($(wc -l < "$TEST_SCRATCH/ns.local") cases)"
else
    fail "namespace errnos: $(diff "$TEST_SCRATCH/ns.local" <(grep -v host "$TEST_SCRATCH/ns.vol") | head -n 8 | tr '\n' '|')"
fi
assert_eq "rename to the host: EXDEV|link to the host: EXDEV|rename from the host: EXDEV" \
    "$(grep host "$TEST_SCRATCH/ns.vol" | tr '\n' '|' | sed 's/|$//')" "EXDEV across the boundary"
