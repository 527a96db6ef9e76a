#!/usr/bin/env bash
# tests/integration/test_cache_trust.sh — another local user cannot feed
# this process bytes through the node cache (core/trust.h):
#  - `nobody` creates the cache folder first in a shared sticky folder (as
#    /var/tmp is) and plants a block file with the right name, size and
#    checksum (xattr and sidecar); root then reads the file through the
#    shim: it gets the real bytes (from the bucket), never the planted
#    ones, and one warn line says why the folder is not used (EPERM);
#  - the same through a symlink nobody plants at the configured name;
#  - a folder of root's own that group or others can write is refused too;
#  - root's own private folder is used without a word, and what it creates
#    there is 0700 / 0600;
#  (the per-user default, /var/tmp/shimfs-<euid>, is in tests/unit/test_config.c)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

CLI=$SHIMFS_CLI
PY=/usr/bin/python3
PREFIX=/mnt/shimfs-trust-$$
SHARED=$TEST_SCRATCH/shared
ERR=$TEST_SCRATCH/stderr
[ "$(id -u)" = 0 ] || { pass "skipped: needs root to act as a second user"; exit 0; }
id nobody > /dev/null 2>&1 || { pass "skipped: no user nobody"; exit 0; }

test_volume trust
shim() {
    local cache=$1; shift
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_CACHE_DIR="$cache" \
        SHIMFS_AGENT=0 SHIMFS_LOG=warn "$@"
}

head -c 100000 /dev/urandom > "$TEST_SCRATCH/real"
check "root writes the file" shim "$TEST_SCRATCH/own" cp "$TEST_SCRATCH/real" "$PREFIX/f"
key=$(cd "$TEST_SCRATCH/own/blocks" && find . -type f | sed 's|^\./||')
assert_eq 1 "$(printf '%s\n' "$key" | grep -c .)" "the writer cached its one block"
assert_eq 700 "$(stat -c %a "$TEST_SCRATCH/own")" "a new cache folder is 0700"
assert_eq 600 "$(stat -c %a "$TEST_SCRATCH/own/blocks/$key")" "a cache file is 0600"

mkdir -p "$SHARED"
chmod 1777 "$SHARED"
chmod 755 "$TEST_SCRATCH"

# nobody's block: same key, same length, a valid checksum of other bytes
cat > "$TEST_SCRATCH/plant.py" <<'EOF'
import ctypes, os, struct, sys
cache, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
xxh = ctypes.CDLL("libxxhash.so.0")
xxh.XXH3_64bits.restype = ctypes.c_uint64
xxh.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
data = (b"PLANTED!" * (n // 8 + 1))[:n]
s = xxh.XXH3_64bits(data, n)
for sub in ("blocks", "sums"):
    os.makedirs(os.path.join(cache, sub, os.path.dirname(key)), exist_ok=True)
with open(os.path.join(cache, "blocks", key), "wb") as f:
    f.write(data)
try:
    os.setxattr(os.path.join(cache, "blocks", key), "user.shimfs.xxh3", struct.pack("<Q", s))
except OSError:
    pass
with open(os.path.join(cache, "sums", key), "w") as f:
    f.write("%016x\n" % s)
for root, dirs, files in os.walk(cache):
    for d in dirs:
        os.chmod(os.path.join(root, d), 0o777)
try:
    os.chmod(cache, 0o755)
except OSError:
    pass                        # not nobody's folder
EOF
as_nobody() { runuser -u nobody -- "$@"; }
check "nobody creates the cache folder first and plants a block" \
    as_nobody "$PY" "$TEST_SCRATCH/plant.py" "$SHARED/cache" "$key" 100000
read_back() {   # cache folder, output
    shim "$1" cat "$PREFIX/f" > "$2" 2> "$ERR" || true
}
read_back "$SHARED/cache" "$TEST_SCRATCH/back1"
assert_files_equal "$TEST_SCRATCH/real" "$TEST_SCRATCH/back1" "root reads the real bytes, not nobody's"
assert_eq 1 "$(grep -c "warn trust: .*owned by another user.*EPERM" "$ERR" || true)" \
    "one warn line says why the folder is refused ($(cat "$ERR"))"
assert_eq 1 "$(grep -c . "$ERR" || true)" "and nothing else is logged"
assert_eq "" "$(find "$SHARED/cache" -user root | head -n 1)" "root wrote nothing into nobody's folder"

# a symlink nobody put where root's folder is expected
check "nobody links the expected name to its folder" as_nobody ln -s "$SHARED/cache" "$SHARED/link"
read_back "$SHARED/link" "$TEST_SCRATCH/back2"
assert_files_equal "$TEST_SCRATCH/real" "$TEST_SCRATCH/back2" "through a planted symlink: the real bytes"
assert_eq 1 "$(grep -c "warn trust: .*EPERM" "$ERR" || true)" "one warn line for the symlinked folder"

# root's own folder, but writable by others: someone may have planted
mkdir -p "$TEST_SCRATCH/open"
chmod 0777 "$TEST_SCRATCH/open"
check "nobody plants in a folder root owns but anyone can write" \
    as_nobody "$PY" "$TEST_SCRATCH/plant.py" "$TEST_SCRATCH/open" "$key" 100000
chmod 0777 "$TEST_SCRATCH/open"
read_back "$TEST_SCRATCH/open" "$TEST_SCRATCH/back3"
assert_files_equal "$TEST_SCRATCH/real" "$TEST_SCRATCH/back3" "writable by others: the real bytes"
assert_eq 1 "$(grep -c "warn trust: .*writable by group or others.*EPERM" "$ERR" || true)" \
    "one warn line for the folder others can write"

# a private folder of root's: used, and a hit the second time
check "a private folder: first read" read_back "$TEST_SCRATCH/mine" "$TEST_SCRATCH/back4"
assert_files_equal "$TEST_SCRATCH/real" "$TEST_SCRATCH/back4" "a private folder serves the real bytes"
wait_for 10 test -f "$TEST_SCRATCH/mine/blocks/$key" || true
assert_eq "" "$(cat "$ERR")" "a private folder is used without a word"
assert_eq 600 "$(stat -c %a "$TEST_SCRATCH/mine/blocks/$key" 2>/dev/null || echo none)" \
    "the block it cached is 0600"
assert_eq 700 "$(stat -c %a "$TEST_SCRATCH/mine/meta" 2>/dev/null || echo none)" "meta/ is 0700"


# the shim's cwd markers (SHIMFS_CACHE_DIR/cwd/...): a symlink nobody plants
# there must not move root's kernel cwd (nor make root create folders) into
# a place of nobody's choosing
mkdir -p "$TEST_SCRATCH/elsewhere"
check "nobody plants cwd -> elsewhere in its folder" \
    as_nobody sh -c "mkdir -p '$SHARED/c3' && ln -s '$TEST_SCRATCH/elsewhere' '$SHARED/c3/cwd'"
shim "$SHARED/c3" "$PY" -c 'import os, sys, time; os.chdir(sys.argv[1]); print(os.getpid(), flush=True); time.sleep(3)' \
    "$PREFIX" > "$TEST_SCRATCH/cwd.out" 2> "$ERR" &
cwd_pid=$!
wait_for 10 grep -q . "$TEST_SCRATCH/cwd.out" || true
kernel_cwd=$(readlink "/proc/$(cat "$TEST_SCRATCH/cwd.out")/cwd" || true)
wait "$cwd_pid" || true
case "$kernel_cwd" in
    "$TEST_SCRATCH/elsewhere"*) fail "chdir into the volume followed nobody's symlink to $kernel_cwd" ;;
    *) pass "chdir into the volume did not follow nobody's symlink (kernel cwd $kernel_cwd)" ;;
esac
assert_eq "" "$(ls -A "$TEST_SCRATCH/elsewhere")" "and made nothing there"
