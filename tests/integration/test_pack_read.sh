#!/usr/bin/env bash
# tests/integration/test_pack_read.sh — files packed many to one object
# (`shimfs import --pack-max`) read through the shim, cold and warm, with
# every kind of read a program makes: cat, small and odd-sized reads, pread
# (dd skip), seeks from the end (tail -c), mmap, sendfile and
# copy_file_range (cp), stdio, a descriptor a child inherits, exec of a
# packed script, and many at once. Each is compared with the same file on local disk.
# A packed file's descriptor is a placeholder whose reads the shim serves
# from the cached pack ("shimfs:<ino>"), not a memfd filled with a copy of
# the file at every open ("shimfs-data:<ino>": a warm `cat` of 2,000 packed
# 128 KiB files cost 2.5x what the same files unpacked cost).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd python3 md5sum

CLI=$SHIMFS_CLI
PREFIX=/mnt/shimfs-pack-$$
SRC=$TEST_SCRATCH/src
CACHE=$TEST_SCRATCH/cache
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$CACHE" SHIMFS_LOG=error "$@"
}
# The md5 of every file of the tree, in name order (local, or through the shim).
tree_sums() { (cd "$1" && find . -type f | LC_ALL=C sort | xargs md5sum); }

# Packed files of sizes around the 4 KiB page and odd ones (1 B, 4095,
# 4097, 100,003), a pack's worth of 60 KiB files, and one file just above
# --pack-max, which gets an object of its own.
mkdir -p "$SRC/d" "$SRC/e"
printf x > "$SRC/d/one"
for n in 4095 4096 4097 100003 131072; do head -c "$n" /dev/urandom > "$SRC/d/r$n"; done
for i in $(seq 1 40); do head -c 61440 /dev/urandom > "$SRC/e/f$i"; done
head -c 131073 /dev/urandom > "$SRC/d/above"
printf '#!/bin/sh\necho packed script "$@"\n' > "$SRC/d/run.sh"
chmod 755 "$SRC/d/run.sh"
test_volume packread
check "import --pack-max 128K" "$CLI" import --meta "$META" --pack-max 128K "$SRC" /t

VOL=$PREFIX/t
# the two halves of the test, cold (empty node cache) and warm
for pass in cold warm; do
    [ "$pass" = cold ] && rm -rf "$CACHE"
    mkdir -p "$CACHE"
    assert_eq "$(tree_sums "$SRC")" "$(cd / && shim bash -c 'cd "$1" && find . -type f | LC_ALL=C sort | xargs md5sum' _ "$VOL")" \
        "$pass: every file's bytes (cat by md5sum)"
    # Python: 1-byte, 4,000-byte and whole reads, unbuffered
    out=$(shim python3 - "$VOL" "$SRC" <<'EOF'
import os, sys
vol, src = sys.argv[1], sys.argv[2]
bad = []
for rel in ["d/one", "d/r4095", "d/r4096", "d/r4097", "d/r100003", "d/r131072", "e/f7", "d/above"]:
    want = open(os.path.join(src, rel), "rb").read()
    for size in (1, 4000, 1 << 20):
        got = bytearray()
        with open(os.path.join(vol, rel), "rb", buffering=0) as f:
            while True:
                b = f.read(size)
                if not b:
                    break
                got += b
        if bytes(got) != want:
            bad.append("%s/%d" % (rel, size))
print("ok" if not bad else "differ: " + " ".join(bad))
EOF
)
    assert_eq ok "$out" "$pass: python reads of 1, 4,000 and 1 MiB bytes"
    assert_eq "$(dd if="$SRC/d/r100003" bs=999 skip=37 count=20 2>/dev/null | md5sum)" \
        "$(shim dd if="$VOL/d/r100003" bs=999 skip=37 count=20 2>/dev/null | md5sum)" "$pass: dd skip (pread at an offset)"
    assert_eq "$(tail -c 5000 "$SRC/e/f9" | md5sum)" "$(shim tail -c 5000 "$VOL/e/f9" | md5sum)" \
        "$pass: tail -c (a seek from the end)"
    out=$(shim python3 -c '
import mmap, sys
with open(sys.argv[1], "rb") as f, open(sys.argv[2], "rb") as g:
    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    print("ok" if m[:] == g.read() and m[4096:4099] == m[4096:4099] else "differ")' "$VOL/d/r4097" "$SRC/d/r4097")
    assert_eq ok "$out" "$pass: mmap"
    out=$(shim python3 -c '
import os, sys
src = os.open(sys.argv[1], os.O_RDONLY)
r, w = os.pipe()
n = os.sendfile(w, src, 0, 4096)
os.close(w)
print(n, os.read(r, 8192) == open(sys.argv[2], "rb").read()[:4096])' "$VOL/e/f3" "$SRC/e/f3")
    assert_eq "4096 True" "$out" "$pass: sendfile of 4 KiB"
    rm -f "$TEST_SCRATCH/copy"
    shim cp "$VOL/e/f11" "$TEST_SCRATCH/copy"
    assert_files_equal "$SRC/e/f11" "$TEST_SCRATCH/copy" "$pass: cp out of the volume (copy_file_range)"
    assert_eq "$(md5sum < "$SRC/d/r131072")" "$(shim bash -c 'md5sum < "$1"' _ "$VOL/d/r131072")" \
        "$pass: a descriptor the child inherits (md5sum < file)"
    assert_eq "$(head -n 3 "$SRC/e/f2" | md5sum)" "$(shim python3 -c '
import sys
with open(sys.argv[1], "rb") as f:
    sys.stdout.buffer.write(b"".join(f.readline() for _ in range(3)))' "$VOL/e/f2" | md5sum)" "$pass: stdio lines"
    assert_eq "packed script a b" "$(shim sh -c '"$0" a b' "$VOL/d/run.sh")" "$pass: a packed script executed"
done

# Without a node cache (SHIMFS_CACHE_SIZE=0) every file still reads right
assert_eq "$(tree_sums "$SRC")" "$(cd / && shim env SHIMFS_CACHE_SIZE=0 bash -c 'cd "$1" && find . -type f | LC_ALL=C sort | xargs md5sum' _ "$VOL")" \
    "no node cache: every file's bytes"

# What the program holds: a placeholder, not a copy of the file (seen by
# readlink without the shim, which shows a program the volume path).
out=$(shim python3 -c '
import os, subprocess, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
link = subprocess.run(["readlink", "/proc/%d/fd/%d" % (os.getpid(), fd)], env=env,
                      capture_output=True, text=True).stdout
print(link.split(":")[1] if link.count(":") >= 2 else link.strip())' "$VOL/e/f5")
assert_eq shimfs "$out" "a packed file's descriptor is the shim's placeholder, not a filled copy"

# A cold reader of a folder of packed files has the next files' packs
# fetched ahead of it, as for whole files (the directory read-ahead)
rm -rf "$CACHE"; mkdir -p "$CACHE"
(cd / && shim env SHIMFS_LOG=debug bash -c 'cd "$1" && cat $(ls | LC_ALL=C sort) > /dev/null' _ "$VOL/e") 2> "$TEST_SCRATCH/ahead.log"
ahead=$(grep -c 'directory read-ahead in' "$TEST_SCRATCH/ahead.log" || true)
if [ "$ahead" -ge 1 ]; then pass "cold packed files: the folder is read ahead ($ahead times)"
else fail "cold packed files: no directory read-ahead"; fi

# Many readers of the same packs at once, each process cold for itself
rm -rf "$CACHE"; mkdir -p "$CACHE"
want=$(cd "$SRC/e" && cat f* | md5sum)
pids=()
for i in $(seq 1 8); do
    (cd / && shim bash -c 'cd "$1" && cat f* | md5sum' _ "$VOL/e" > "$TEST_SCRATCH/par.$i") &
    pids+=($!)
done
wait_ok=0
for p in "${pids[@]}"; do wait "$p" || wait_ok=1; done
same=0
for i in $(seq 1 8); do [ "$(cat "$TEST_SCRATCH/par.$i")" = "$want" ] && same=$((same + 1)); done
assert_eq "0 8" "$wait_ok $same" "8 processes reading the same packs at once read identical bytes"
