#!/usr/bin/env bash
# tests/integration/test_read_versions.sh — an open never mixes two versions
# of a file. Node A caches a file's attributes (a stat, TTL 30 s); node B
# then replaces the file (a checkpoint renamed over it, or rewritten in
# place with O_TRUNC and another size); A's next open must read one whole
# version, never the old size filled from the new slices or from none (the
# soak saw whole files of zeros: the old inode was gone, so its block map
# came back empty and the cached size read as a hole).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

PREFIX=/mnt/shimfs-versions-$$
test_volume versions
PY=/usr/bin/python3

# node NAME CMD...: a process of simulated node NAME (its own cache folder).
node() {
    local name=$1; shift
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache-$name" SHIMFS_LOG=error \
        SHIMFS_ATTR_TTL=30 SHIMFS_ENTRY_TTL=30 SHIMFS_AGENT=0 "$@"
}

# write_file PATH SEED SIZE [tmp-then-rename]: deterministic bytes.
write_py='
import os, random, sys
path, seed, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = random.Random(seed).randbytes(size)
tmp = path + ".tmp" if len(sys.argv) > 4 else path
with open(tmp, "wb") as f:
    f.write(data); f.flush(); os.fsync(f.fileno())
if tmp != path:
    os.replace(tmp, path)
'
sha_of() { "$PY" -c 'import hashlib, random, sys
print(hashlib.sha256(random.Random(int(sys.argv[1])).randbytes(int(sys.argv[2]))).hexdigest())' "$1" "$2"; }

# Node A: stat (attributes cached, no block map yet), wait for B, then read.
# A shares no metadata with its node (SHIMFS_NODE_META=0): a process that
# does lists the stat'ed folder whole, block maps included, and its open then
# reads the version it stat'ed, so the window never opened and this test
# passed without the fix; a plain walk caches the attributes alone.
reader_py='
import hashlib, os, sys, time
path, go = sys.argv[1], sys.argv[2]
os.stat(path)
print("ready", flush=True)
for _ in range(300):
    if os.path.exists(go):
        break
    time.sleep(0.05)
with open(path, "rb") as f:
    print(hashlib.sha256(f.read()).hexdigest(), flush=True)
'

# one_case LABEL HOW: HOW is "rename" or "rewrite".
one_case() {
    local label=$1 how=$2 file go out old new got
    file=$PREFIX/$label/f; go=$TEST_SCRATCH/go-$label; out=$TEST_SCRATCH/out-$label
    rm -f "$go"; : > "$out"
    node b mkdir "$PREFIX/$label"
    node b "$PY" -c "$write_py" "$file" 1 3000000 rename
    old=$(sha_of 1 3000000); new=$(sha_of 2 700000)
    SHIMFS_NODE_META=0 node "a-$label" "$PY" -c "$reader_py" "$file" "$go" > "$out" &
    local pid=$!
    wait_for 20 grep -q ready "$out" || { fail "$label: reader not ready"; kill "$pid"; return; }
    if [ "$how" = rename ]; then
        node b "$PY" -c "$write_py" "$file" 2 700000 rename
    else
        node b "$PY" -c "$write_py" "$file" 2 700000
    fi
    [ "${GC:-0}" = 0 ] || "$SHIMFS_CLI" gc --delete --grace 0 >/dev/null
    touch "$go"
    wait "$pid" || true
    got=$(sed -n 2p "$out")
    if [ "$got" = "$new" ] || [ "$got" = "$old" ]; then
        pass "$label: the open read one whole version"
    else
        fail "$label: read $got, neither version (old $old, new $new)"
    fi
}

one_case ckpt rename
one_case inplace rewrite
