#!/usr/bin/env bash
# tests/integration/test_missing_object.sh — a block the metadata references
# but the bucket lost is data loss, not "no such file":
#  - read(2) of the file under the shim fails with EIO (never ENOENT, which
#    would tell a program the file is gone), and the process logs exactly
#    one warn line naming the object's key;
#  - the other file of the volume still reads back intact;
#  - `shimfs cat` fails the same way (EIO; the engine's line naming the key
#    shows with SHIMFS_LOG=warn);
#  - `shimfs fsck` still reports the object its own way ("missing object
#    KEY", exit 1), and `shimfs warmup` its own (covered in test_warmup).
# The volume sits on a file:// bucket in the test's scratch folder, so the
# object is removed with rm.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

CLI=$SHIMFS_CLI
PY=/usr/bin/python3
PREFIX=/mnt/shimfs-missing-$$
BUCKET_DIR=$TEST_SCRATCH/bucket
ERR=$TEST_SCRATCH/stderr

META=$(test_db)
export SHIMFS_META=$META
"$CLI" format missing --bucket "file://$BUCKET_DIR" > /dev/null || { fail "format"; exit 1; }

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" \
        SHIMFS_LOG=warn "$@"
}

head -c 300000 /dev/urandom > "$TEST_SCRATCH/a"
head -c 200000 /dev/urandom > "$TEST_SCRATCH/b"
check "write a" shim cp "$TEST_SCRATCH/a" "$PREFIX/a"
key_a=$(cd "$BUCKET_DIR" && find . -path '*/chunks/*' -type f | sed 's|^\./||')
check "write b" shim cp "$TEST_SCRATCH/b" "$PREFIX/b"
assert_eq 1 "$(printf '%s\n' "$key_a" | grep -c .)" "a is one object"
rm -f "$BUCKET_DIR/$key_a"
rm -rf "$TEST_SCRATCH/cache"          # nothing of a is left on the node

cat > "$TEST_SCRATCH/read.py" <<'EOF'
import errno, sys
try:
    with open(sys.argv[1], "rb") as f:
        f.read()
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
EOF
out=$(shim "$PY" "$TEST_SCRATCH/read.py" "$PREFIX/a" 2> "$ERR")
assert_eq EIO "$out" "reading a file whose object is gone fails with EIO"
assert_eq 1 "$(grep -c "warn" "$ERR" || true)" "one warn line (got: $(cat "$ERR"))"
assert_eq 1 "$(grep -cF "$key_a" "$ERR" || true)" "the line names the key"

shim cat "$PREFIX/b" > "$TEST_SCRATCH/b.back" 2> "$ERR" || true
assert_files_equal "$TEST_SCRATCH/b" "$TEST_SCRATCH/b.back" "the other file reads back intact"

rc=0; "$CLI" cat /a > /dev/null 2> "$ERR" || rc=$?
assert_eq 1 "$rc" "shimfs cat of it fails"
assert_eq "shimfs cat: /a: Input/output error" "$(cat "$ERR")" "shimfs cat says EIO in one line"
rc=0; SHIMFS_LOG=warn "$CLI" cat /a > /dev/null 2> "$ERR" || rc=$?
assert_eq 1 "$(grep -cF "$key_a" "$ERR" || true)" "with SHIMFS_LOG=warn, the engine's line names the key"

rc=0; "$CLI" fsck > "$TEST_SCRATCH/fsck" 2>&1 || rc=$?
assert_eq 1 "$rc" "fsck exits 1"
assert_eq 1 "$(grep -cF "missing object $key_a" "$TEST_SCRATCH/fsck" || true)" \
    "fsck names the missing object its own way"
