#!/usr/bin/env bash
# tests/integration/test_cache_verify.sh — first-use verification of cached
# blocks under the shim, with verify-ahead (a background thread checking the
# files a directory reader opens next):
#  - a warm tree whose every cache file then had one byte flipped (size and
#    stored checksum untouched) reads back byte-identical through
#    `find | xargs cat` (and through python's sequential open/read), the
#    node's corrupt counter counts each dropped block, and the blocks are
#    fetched again (cache misses) and cached right;
#  - a second pass reads the repaired cache with no further drop;
#  - the check also comes first where the bytes could reach a program
#    without a read through the shim, or with a partial first read: mmap,
#    a shell's `cat < file` (dup2 then exec), cp (copy_file_range or
#    sendfile), stdio (sed), a partial read (head -c), a read at an offset
#    (dd skip=); each gives the right bytes from a damaged cache file;
#  - a 10 MiB file (4 MiB blocks, checked 128 KiB piece by piece in the
#    reader's buffer): a byte flipped inside one piece of a cached block is
#    caught, by a sequential cat and by an unaligned dd, and the file reads
#    right.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

CLI=$SHIMFS_CLI
PY=/usr/bin/python3
PREFIX=/mnt/shimfs-verify-$$          # need not exist on the host
SRC=$TEST_SCRATCH/src
export SHIMFS_CACHE_DIR=$TEST_SCRATCH/cache
NFILES=60
[ ! -e "$PREFIX" ] || { fail "$PREFIX exists on the host"; exit 1; }

test_volume verify
"$TEST_ROOT/scripts/gen-dataset.sh" "$SRC/data" "$NFILES" 2 24K 5
"$TEST_ROOT/scripts/gen-dataset.sh" "$SRC/big" 1 1 10M 6
"$CLI" import "$SRC" /v > /dev/null

counter() {
    "$CLI" stats --json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["cache"][sys.argv[1]])' "$1"
}
shim_md5() {
    (cd / && env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_LOG=error "$@") | md5sum
}
read_all() { shim_md5 sh -c 'find "$1/v/data" -type f | LC_ALL=C sort | xargs cat' sh "$PREFIX"; }
local_md5=$( (cd "$SRC/data" && find . -type f | LC_ALL=C sort | xargs cat) | md5sum)

assert_eq "$local_md5" "$(read_all)" "the cold read is right"
check "warmup leaves every block cached" "$CLI" warmup /v
ncached=$(find "$SHIMFS_CACHE_DIR/blocks" -type f -name '*_24576' | wc -l)
assert_eq "$NFILES" "$ncached" "one cache file per file"

# Flip one byte at OFFSET in every cache file whose name ends with SUFFIX
# (size and stored checksum untouched); prints how many.
flip_files() {
    "$PY" - "$SHIMFS_CACHE_DIR/blocks" "$1" "$2" <<'EOF'
import os, sys
top, suffix, at = sys.argv[1], sys.argv[2], int(sys.argv[3])
n = 0
for root, _, files in os.walk(top):
    for f in files:
        if f.endswith(suffix):
            with open(os.path.join(root, f), "r+b") as fh:
                fh.seek(at)
                b = fh.read(1)
                fh.seek(at)
                fh.write(bytes([b[0] ^ 0x5A]))
            n += 1
print(n)
EOF
}
flip_all() { flip_files _24576 12345; }
assert_eq "$NFILES" "$(flip_all)" "every cache file damaged"
corrupt0=$(counter corrupt)
misses0=$(counter misses)
assert_eq "$local_md5" "$(read_all)" "find | xargs cat reads right bytes from a damaged cache"
corrupt1=$(counter corrupt)
assert_eq "$NFILES" "$((corrupt1 - corrupt0))" "each damaged block was dropped once"
misses1=$(counter misses)
if [ "$((misses1 - misses0))" -ge "$NFILES" ]; then pass "the dropped blocks were fetched again ($((misses1 - misses0)) misses)"
else fail "only $((misses1 - misses0)) misses after dropping $NFILES blocks"; fi
assert_eq "$local_md5" "$(read_all)" "the repaired cache reads right"
assert_eq "$corrupt1" "$(counter corrupt)" "nothing else was dropped on the second pass"

assert_eq "$NFILES" "$(flip_all)" "every cache file damaged again"
got=$(shim_md5 "$PY" -c '
import os, sys
root = sys.argv[1]
for d in sorted(os.listdir(root)):
    for f in sorted(os.listdir(os.path.join(root, d))):
        with open(os.path.join(root, d, f), "rb") as fh:
            sys.stdout.buffer.write(fh.read())
' "$PREFIX/v/data")
assert_eq "$local_md5" "$got" "python reads right bytes from a damaged cache"
assert_eq "$NFILES" "$(( $(counter corrupt) - corrupt1 ))" "python's read dropped each damaged block once"

assert_eq "$NFILES" "$(flip_all)" "every cache file damaged once more"
corrupt2=$(counter corrupt)
shim() { (cd / && env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_LOG=error "$@"); }
V=$PREFIX/v/data/d0000 L=$SRC/data/d0000
names=($(cd "$L" && ls | LC_ALL=C sort | head -6))
got=$(shim "$PY" -c '
import mmap, sys
with open(sys.argv[1], "rb") as f:
    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    sys.stdout.buffer.write(m[:])' "$V/${names[0]}" | md5sum)
assert_eq "$(md5sum < "$L/${names[0]}")" "$got" "mmap of a damaged cache file gives the right bytes"
got=$(shim bash -c 'cat < "$1"' sh "$V/${names[1]}" | md5sum)
assert_eq "$(md5sum < "$L/${names[1]}")" "$got" "cat < file (dup2, exec) gives the right bytes"
shim cp "$V/${names[2]}" "$TEST_SCRATCH/copied"
assert_eq "$(md5sum < "$L/${names[2]}")" "$(md5sum < "$TEST_SCRATCH/copied")" "cp out of the volume gives the right bytes"
got=$(shim sed -n p "$V/${names[3]}" | md5sum)
assert_eq "$(sed -n p "$L/${names[3]}" | md5sum)" "$got" "sed (stdio) gives the right bytes"
got=$(shim head -c 1000 "$V/${names[4]}" | md5sum)
assert_eq "$(head -c 1000 "$L/${names[4]}" | md5sum)" "$got" "a partial first read gives the right bytes"
got=$(shim dd if="$V/${names[5]}" bs=4096 skip=3 count=2 status=none | md5sum)
assert_eq "$(dd if="$L/${names[5]}" bs=4096 skip=3 count=2 status=none | md5sum)" "$got" "a read at an offset gives the right bytes"
assert_eq 6 "$(( $(counter corrupt) - corrupt2 ))" "each of the six damaged blocks was dropped"

# --- a big file: blocks checked piece by piece where the reader's buffer is ---
BIGV=$PREFIX/v/big/d0000/f0000000.bin BIGL=$SRC/big/d0000/f0000000.bin
assert_eq "$(md5sum < "$BIGL")" "$(shim cat "$BIGV" | md5sum)" "the 10 MiB file reads right (cold)"
flip_big() { flip_files _4194304 1234567; }   # inside the 10th 128 KiB piece
assert_eq 2 "$(flip_big)" "both 4 MiB cache files of the big file damaged"
c0=$(counter corrupt)
assert_eq "$(md5sum < "$BIGL")" "$(shim cat "$BIGV" | md5sum)" "cat of the big file gives the right bytes from damaged blocks"
assert_eq 2 "$(( $(counter corrupt) - c0 ))" "both damaged blocks were dropped"
assert_eq 2 "$(flip_big)" "both 4 MiB cache files damaged again"
c0=$(counter corrupt)
got=$(shim dd if="$BIGV" bs=1000 skip=1234 count=7 status=none | md5sum)
assert_eq "$(dd if="$BIGL" bs=1000 skip=1234 count=7 status=none | md5sum)" "$got" "an unaligned read of a damaged block gives the right bytes"
