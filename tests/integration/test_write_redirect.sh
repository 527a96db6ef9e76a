#!/usr/bin/env bash
# tests/integration/test_write_redirect.sh — output a shell redirects into
# the volume (`cmd > file` with cmd exec'ed by the shell) lands in the
# writer's placeholder behind the shim and is taken from there at close
# (shim/shim_settle.c):
#  - 3 MB of random bytes from `head` in `sh -c 'head ... > file'` read back
#    the same and are one upload, not one per run of non-zero bytes (random
#    data has a zero byte every ~256 bytes: before the fix this wrote
#    ~11,500 objects);
#  - output with long zero runs inside it and at page boundaries reads back
#    the same;
#  - `1<>` over an existing file replaces only the bytes written.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

CLI=$SHIMFS_CLI
PREFIX=/mnt/shimfs-redirect-$$
BUCKET_DIR=$TEST_SCRATCH/bucket
META=$(test_db)
export SHIMFS_META=$META
"$CLI" format redirect --bucket "file://$BUCKET_DIR" > /dev/null || { fail "format"; exit 1; }

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" \
        SHIMFS_LOG=error "$@"
}
objects() { find "$BUCKET_DIR" -path '*/chunks/*' -type f | wc -l; }

head -c 3000000 /dev/urandom > "$TEST_SCRATCH/random"
before=$(objects)
check "sh -c 'head > file'" shim sh -c 'head -c 3000000 "$1" > "$2"' _ "$TEST_SCRATCH/random" "$PREFIX/random"
check "random output reads back the same" shim cmp "$PREFIX/random" "$TEST_SCRATCH/random"
made=$(( $(objects) - before ))
assert_eq 1 "$([ "$made" -le 2 ] && echo 1 || echo 0)" "3 MB of redirected output is at most 2 objects (made $made)"

/usr/bin/python3 - "$TEST_SCRATCH/zeros" <<'PYEOF'
import os, sys
b = bytearray(os.urandom(1 << 20))
for start, n in ((0, 100), (4090, 12), (8192, 4096), (300000, 70000), (len(b) - 5000, 4999)):
    b[start:start + n] = bytes(n)
open(sys.argv[1], "wb").write(b)
PYEOF
check "sh -c 'head > file' with zero runs" shim sh -c 'head -c 1048576 "$1" > "$2"' _ "$TEST_SCRATCH/zeros" "$PREFIX/zeros"
check "output with zero runs reads back the same" shim cmp "$PREFIX/zeros" "$TEST_SCRATCH/zeros"

printf 'AAAAAAAAAA' > "$TEST_SCRATCH/ten"
check "an existing file" shim cp "$TEST_SCRATCH/ten" "$PREFIX/ten"
check "sh -c 'printf 1<> file'" shim sh -c 'printf xy 1<> "$1"' _ "$PREFIX/ten"
assert_eq "xyAAAAAAAA" "$(shim cat "$PREFIX/ten")" "1<> replaces only the bytes written"
