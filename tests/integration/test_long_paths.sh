#!/usr/bin/env bash
# tests/integration/test_long_paths.sh — a path argument shorter than
# PATH_MAX works even when, joined to a cwd in the volume, it is longer
# (the kernel limits each argument, not the walk: pjdfstest's */03.t);
# an argument of PATH_MAX bytes or more is ENAMETOOLONG, relative or
# absolute, as on a local disk.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd python3

PREFIX=/mnt/shimfs-longpath-$$
test_volume longpath
mkdir -p "$TEST_SCRATCH/cache"
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=warn "$@"
}
check "a folder" shim mkdir -p "$PREFIX/some/where/deeper"
cat > "$TEST_SCRATCH/long.py" <<'PY'
import errno, os, sys
os.chdir(sys.argv[1])
comp = "a" * 127
p = ""
while len(p) < 3900:
    p += comp + "/"
p += "b" * (4095 - len(p))           # PATH_MAX - 1 bytes, relative
def res(f, *a):
    try:
        f(*a); return "0"
    except OSError as e:
        return errno.errorcode[e.errno]
print("len", len(p), len(os.getcwd()) + 1 + len(p))
print("makedirs", res(os.makedirs, p.rsplit("/", 1)[0]))
print("mkdir", res(os.mkdir, p))
print("stat", res(os.stat, p))
print("rename", res(os.rename, p, p[:-1] + "c"))
print("rmdir", res(os.rmdir, p[:-1] + "c"))
print("create", res(lambda q: os.close(os.open(q, os.O_CREAT | os.O_WRONLY, 0o644)), p))
print("unlink", res(os.unlink, p))
print("mkdir-too-long", res(os.mkdir, p + "x"))
print("abs-too-long", res(os.stat, os.path.join(os.getcwd(), p)))
PY
out=$(shim python3 "$TEST_SCRATCH/long.py" "$PREFIX/some/where/deeper" 2>&1) || true
want() { echo "$out" | grep -qx -- "$1" && pass "$2" || fail "$2: expected '$1' in: $out"; }
echo "$out" | grep -qE '^len 4095 (4[1-9][0-9]{2})$' && pass "a 4095-byte argument, over PATH_MAX joined to the cwd" ||
    fail "lengths: $out"
want 'makedirs 0' "makedirs of the long path's folders"
want 'mkdir 0' "mkdir"
want 'stat 0' "stat"
want 'rename 0' "rename"
want 'rmdir 0' "rmdir"
want 'create 0' "open(O_CREAT)"
want 'unlink 0' "unlink"
want 'mkdir-too-long ENAMETOOLONG' "an argument of PATH_MAX bytes: ENAMETOOLONG"
want 'abs-too-long ENAMETOOLONG' "an absolute argument over PATH_MAX: ENAMETOOLONG"
