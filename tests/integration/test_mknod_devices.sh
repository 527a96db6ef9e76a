#!/usr/bin/env bash
# tests/integration/test_mknod_devices.sh — mknod of every file type makes
# a volume inode: character and block devices (root only, EPERM for another
# user, as CAP_MKNOD rules on a local disk) keep their st_rdev and type in
# stat and in readdir; they unlink like any file; opening one answers ENXIO
# (a volume never reaches a node's devices). FIFOs and sockets made by
# mknod are volume inodes for any user who may write the directory; a
# device over an existing name is EEXIST for any user; opening a FIFO
# checks permission first (EACCES), then answers ENXIO.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd python3 runuser

PREFIX=/mnt/shimfs-mknod-$$
test_volume mknod
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}
mkdir -p "$TEST_SCRATCH/cache"
chmod 777 "$TEST_SCRATCH/cache"
check "a world-writable folder" shim sh -c "mkdir $PREFIX/d && chmod 777 $PREFIX/d"

cat > "$TEST_SCRATCH/mknod.py" <<'PY'
import errno, os, stat, sys
d = sys.argv[1]
def attempt(name, mode, dev=0):
    try:
        os.mknod(os.path.join(d, name), mode, dev)
        return "0"
    except OSError as e:
        return errno.errorcode[e.errno]
who = sys.argv[2]
print("chr", attempt("c-" + who, stat.S_IFCHR | 0o644, os.makedev(1, 2)))
print("blk", attempt("b-" + who, stat.S_IFBLK | 0o600, os.makedev(7, 9)))
print("fifo", attempt("p-" + who, stat.S_IFIFO | 0o644))
print("chr over a name", attempt("p-" + who, stat.S_IFCHR | 0o644, os.makedev(1, 2)))
for name in ("p-root", "p-nobody"):
    try:
        os.close(os.open(os.path.join(d, name), os.O_WRONLY | os.O_NONBLOCK)); r = "0"
    except OSError as e:
        r = errno.errorcode[e.errno]
    print("open", name, r)
for name in ("c-" + who, "b-" + who):
    p = os.path.join(d, name)
    try:
        st = os.lstat(p)
    except OSError as e:
        print(name, "stat", errno.errorcode[e.errno]); continue
    kind = "chr" if stat.S_ISCHR(st.st_mode) else "blk" if stat.S_ISBLK(st.st_mode) else "other"
    print(name, kind, "%o" % stat.S_IMODE(st.st_mode), os.major(st.st_rdev), os.minor(st.st_rdev))
    try:
        os.close(os.open(p, os.O_RDONLY)); print(name, "open 0")
    except OSError as e:
        print(name, "open", errno.errorcode[e.errno])
def kind(m):
    return ("chr" if stat.S_ISCHR(m) else "blk" if stat.S_ISBLK(m) else
            "fifo" if stat.S_ISFIFO(m) else "other")
types = {e.name: kind(e.stat(follow_symlinks=False).st_mode) for e in os.scandir(d)}
print("listed", " ".join("%s=%s" % kv for kv in sorted(types.items())))
PY
out=$(shim python3 "$TEST_SCRATCH/mknod.py" "$PREFIX/d" root 2>&1) || true
echo "$out" | grep -q '^chr 0$' && pass "root: mknod of a character device" || fail "root chr: $out"
echo "$out" | grep -q '^blk 0$' && pass "root: mknod of a block device" || fail "root blk: $out"
echo "$out" | grep -q '^c-root chr 644 1 2$' && pass "character device: type, mode and rdev" || fail "c stat: $out"
echo "$out" | grep -q '^b-root blk 600 7 9$' && pass "block device: type, mode and rdev" || fail "b stat: $out"
echo "$out" | grep -q '^c-root open ENXIO$' && pass "opening a device node: ENXIO" || fail "c open: $out"
echo "$out" | grep -q 'listed b-root=blk c-root=chr p-root=fifo' && pass "listed with their types" || fail "listed: $out"

out=$(shim env -u LD_PRELOAD runuser -u nobody -- env LD_PRELOAD="$SHIMFS_PRELOAD" python3 "$TEST_SCRATCH/mknod.py" "$PREFIX/d" nobody 2>&1) || true
echo "$out" | grep -q '^chr EPERM$' && pass "nobody: character device EPERM" || fail "nobody chr: $out"
echo "$out" | grep -q '^blk EPERM$' && pass "nobody: block device EPERM" || fail "nobody blk: $out"
echo "$out" | grep -q '^fifo 0$' && pass "nobody: a FIFO" || fail "nobody fifo: $out"
echo "$out" | grep -q '^chr over a name EEXIST$' && pass "nobody: a device over a name: EEXIST" ||
    fail "nobody chr over a name: $out"
echo "$out" | grep -q '^open p-root EACCES$' && pass "nobody: opening root's 0644 FIFO for writing: EACCES" ||
    fail "nobody open fifo: $out"
echo "$out" | grep -q '^open p-nobody ENXIO$' && pass "nobody: opening its FIFO: ENXIO" ||
    fail "nobody open own fifo: $out"

check "unlink a device node" shim rm "$PREFIX/d/c-root" "$PREFIX/d/b-root"
assert_eq "p-nobody p-root" "$(shim ls "$PREFIX/d" | tr '\n' ' ' | sed 's/ $//')" "what is left"
