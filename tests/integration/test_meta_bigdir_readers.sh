#!/usr/bin/env bash
# tests/integration/test_meta_bigdir_readers.sh — cold readers of one big
# folder who open its files by name and never list it (the DataLoader
# workers of a flat dataset: COCO's 118,287 images in one folder)
# (docs/design.md, "a big folder read by name"):
#  - a lone process opening 2 files of a 20,000-entry folder leaves no
#    listing of it on the node: the agent lists a big folder for the node
#    only once a second process asks;
#  - 16 cold processes of one node whose agent serves, each opening 40
#    files of another 20,000-entry folder by name (30 of them with bytes,
#    written from another node, in the bucket and inline), all read the
#    right bytes; the agent lists that folder whole for the node in the
#    background meanwhile (its snapshot appears, with every entry);
#  - a new process of the node then opens 40 files there, the 30 with
#    bytes among them, and reads them right with no PostgreSQL connection
#    of its own: names and block maps come from the node's listing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd strace python3 md5sum  # scripts/deps.sh installs them

CLI=$SHIMFS_CLI
PREFIX=/mnt/shimfs-bigreaders-$$
export SHIMFS_CACHE_DIR=$TEST_SCRATCH/cache
export SHIMFS_AGENT_IDLE=60
[ ! -e "$PREFIX" ] || { fail "$PREFIX exists on the host"; exit 1; }

test_volume bigreaders
# /big and /other: 20,000 empty files each (gNNNNNN), folder inodes
# 1000000 and 2000000 (the node's snapshot files d<hex>)
"$TEST_ROOT/scripts/meta-tree.sh" "$META" flat big 20000 1000000
"$TEST_ROOT/scripts/meta-tree.sh" "$META" flat other 20000 2000000

shim() { env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_LOG=error "$@"; }
on_exit 'stop_agent_of "$SHIMFS_CACHE_DIR"'

# 30 files with bytes in /big, written from another node: 20 of 40 KiB (in
# the bucket) and 10 of 3 KiB (inline in the database)
SRC=$TEST_SCRATCH/src
mkdir -p "$SRC"
for i in $(seq 1 30); do
    size=$((i <= 20 ? 40960 + i : 3000 + i))
    head -c "$size" /dev/urandom > "$SRC/h$(printf %03d "$i")"
done
SHIMFS_CACHE_DIR=$TEST_SCRATCH/writer shim sh -c 'for f in "$1"/h*; do cp "$f" "$2/"; done' _ "$SRC" "$PREFIX/big"
(cd "$SRC" && md5sum h*) > "$TEST_SCRATCH/h.md5"

READ_PY='
import hashlib, os, sys
d, sums, first, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
want = dict(reversed(line.split()) for line in open(sums))
bad = 0
for name in sorted(want):
    with open(os.path.join(d, name), "rb") as f:
        if hashlib.md5(f.read()).hexdigest() != want[name]:
            print("wrong bytes:", name); bad += 1
for k in range(first, first + n):
    p = os.path.join(d, "g%06d" % k)
    os.stat(p)
    with open(p, "rb") as f:
        if f.read() != b"":
            print("wrong bytes:", p); bad += 1
print("ok" if bad == 0 else "bad %d" % bad)
'
check "an agent serves the fresh node" start_agent "$SHIMFS_CACHE_DIR"
NODE=$(dirname "$(find "$SHIMFS_CACHE_DIR/meta" -name agent.lock -print -quit)")
[ -d "$NODE" ] || { fail "no node folder under $SHIMFS_CACHE_DIR/meta"; exit 1; }

# ---- a lone reader of two files leaves no listing ----
out=$(shim python3 -c "$READ_PY" "$PREFIX/other" /dev/null 10001 2 2>&1 || true)
assert_eq ok "$out" "a lone process opens 2 files of a 20,000-entry folder"
sleep 2
if [ -e "$NODE/d1e8480" ]; then fail "the node listed the folder a lone process read 2 files of"
else pass "...and the node does not list the folder for it"; fi

# ---- 16 cold readers by name ----
pids=()
for r in $(seq 0 15); do
    (shim python3 -c "$READ_PY" "$PREFIX/big" "$TEST_SCRATCH/h.md5" $((1 + r * 500)) 10 \
        > "$TEST_SCRATCH/reader$r.out" 2>&1
     echo $? > "$TEST_SCRATCH/reader$r.rc") &
    pids+=($!)
done
ok=1
for pid in "${pids[@]}"; do wait_bounded "$pid" 300 "a reader" || ok=0; done
for r in $(seq 0 15); do
    [ "$(cat "$TEST_SCRATCH/reader$r.rc" 2>/dev/null)" = 0 ] &&
        [ "$(tail -n 1 "$TEST_SCRATCH/reader$r.out")" = ok ] || ok=0
done
if [ "$ok" = 1 ]; then pass "16 cold readers opened 40 files each by name and read the right bytes"
else fail "a reader failed: $(cat "$TEST_SCRATCH"/reader*.out | grep -v '^ok$' | head -c 400)"; fi

# the agent's listing lands in the background (bounded wait)
for _ in $(seq 1 100); do [ -s "$NODE/df4240" ] && break; sleep 0.2; done
if [ -s "$NODE/df4240" ]; then pass "the agent listed the folder whole for the node ($(stat -c %s "$NODE/df4240") bytes)"
else fail "no node listing of the folder 16 processes read by name"; fi

# ---- a new process: names and block maps from the node's listing ----
traced python3 -c "$READ_PY" "$PREFIX/big" "$TEST_SCRATCH/h.md5" 15001 10 > "$TEST_SCRATCH/new.out" 2>&1 || true
assert_eq ok "$(tail -n 1 "$TEST_SCRATCH/new.out")" "a new process opens 40 files of the folder and reads the right bytes"
assert_eq 0 "$(pg_connects)" "...with no PostgreSQL connection of its own"

test_finish
