#!/usr/bin/env bash
# tests/integration/test_node_meta.sh — metadata shared between the
# processes of a node ($SHIMFS_CACHE_DIR/meta): directory snapshots and the
# volume's settings.
#  - a process that lists a tree (find) leaves snapshots; the processes of
#    a `find | xargs cat` reading every file of it within the TTL make no
#    PostgreSQL connection at all (strace), and read the right bytes;
#  - the same read with SHIMFS_NODE_META=0 does connect (so the trace sees
#    connects);
#  - find on a node with nothing shared fetches a folder's 4 subfolders in
#    one round trip (debug log);
#  - close-to-open on the node: after another process of the node rewrites
#    a file (and creates and removes names), a reader with a long TTL sees
#    the new content and names at once, not the snapshot's, and so does a
#    process that had listed the folder before (its own caches);
#  - an old snapshot (past SHIMFS_ATTR_TTL) is not used: the reader asks
#    the database again;
#  - a damaged snapshot file is ignored: right bytes, and a connect;
#  - such a reader loads neither libpq nor libcurl; without libshimfs-pg.so
#    beside the engine a read fails with EIO and one line naming it;
#  - an O_TRUNC open of a name another node renamed away (node A's snapshot
#    still has it, within its TTL) does not truncate the renamed file;
#  - nothing of the connection string (the password) is in the meta folder.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

CLI=$SHIMFS_CLI
PREFIX=/mnt/shimfs-nodemeta-$$          # need not exist on the host
SRC=$TEST_SCRATCH/src
export SHIMFS_CACHE_DIR=$TEST_SCRATCH/cache
export SHIMFS_AGENT=0    # snapshots and their TTL alone; test_agent has the agent

need_cmd strace  # scripts/deps.sh installs it
[ ! -e "$PREFIX" ] || { fail "$PREFIX exists on the host"; exit 1; }

test_volume nodemeta
"$TEST_ROOT/scripts/gen-dataset.sh" "$SRC/data" 40 4 20K 3
"$CLI" import "$SRC" /t > /dev/null

# Run a command under the shim (long TTLs unless the caller sets them).
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_LOG=error \
        SHIMFS_ATTR_TTL="${TTL:-60}" SHIMFS_ENTRY_TTL="${TTL:-60}" SHIMFS_NEGATIVE_TTL="${TTL:-60}" "$@"
}
tree_md5() { (cd "$1" && find . -type f | LC_ALL=C sort | xargs cat) | md5sum; }
local_md5=$(tree_md5 "$SRC/data")

# --- a lister leaves snapshots; a reader then needs no database ---
shim find "$PREFIX/t" > /dev/null       # lists every folder, asks statfs
snaps=$(find "$SHIMFS_CACHE_DIR/meta" -name 'd*' -type f | wc -l)
if [ "$snaps" -ge 6 ]; then pass "listing the tree left $snaps directory snapshots"
else fail "listing the tree left $snaps snapshots (want the root, /t, data and its 4 folders)"; fi
check "the settings were shared" test -s "$(find "$SHIMFS_CACHE_DIR/meta" -name settings | head -1)"

got=$(cd / && traced sh -c 'cd "$1/t/data" && find . -type f | LC_ALL=C sort | xargs cat' sh "$PREFIX" | md5sum)
assert_eq "$local_md5" "$got" "the tree reads back right from the node's metadata"
assert_eq 0 "$(pg_connects)" "reading every file after a listing made no PostgreSQL connection"

# ... nor loads libpq or libcurl at all (they are loaded on first use)
maps=$(shim /usr/bin/python3 -c '
import sys
open(sys.argv[1], "rb").read()
m = open("/proc/self/maps").read()
print("core" if "libshimfs-core.so" in m else "no-core", "pq" if "libpq" in m else "no-pq",
      "curl" if "libcurl" in m else "no-curl")' "$PREFIX/t/data/d0001/f0000001.bin")
assert_eq "core no-pq no-curl" "$maps" "a process served by the node loads neither libpq nor libcurl"

got=$(cd / && SHIMFS_NODE_META=0 traced sh -c 'cd "$1/t/data" && find . -type f | LC_ALL=C sort | xargs cat' sh "$PREFIX" | md5sum)
assert_eq "$local_md5" "$got" "the tree reads back right with SHIMFS_NODE_META=0"
if [ "$(pg_connects)" -ge 1 ]; then pass "with SHIMFS_NODE_META=0 the reader connects (the trace sees connects)"
else fail "with SHIMFS_NODE_META=0 strace saw no PostgreSQL connect: $(head -c 300 "$TRACE")"; fi

# --- a walk fetches a folder's subfolders together ---
(cd / && env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_LOG=debug \
    SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache-walk" find "$PREFIX/t" -type f 2> "$TEST_SCRATCH/walk.log" | wc -l) > "$TEST_SCRATCH/walk.count"
assert_eq 40 "$(cat "$TEST_SCRATCH/walk.count")" "find lists every file of a fresh node"
check "find fetched the 4 subfolders of data in one round trip" \
    grep -q "descending into directory [0-9]*: 4 subdirectories, 1 round trips" "$TEST_SCRATCH/walk.log"

# --- close-to-open between processes of the node ---
shim ls -lR "$PREFIX/t" > /dev/null       # fresh snapshots
F=t/data/d0001/f0000001.bin
printf 'rewritten by another process\n' > "$TEST_SCRATCH/new"
shim cp "$TEST_SCRATCH/new" "$PREFIX/$F"
shim sh -c 'echo fresh > "$1/t/data/d0002/created.txt" && rm "$1/t/data/d0003/f0000003.bin"' sh "$PREFIX"
assert_eq "rewritten by another process" "$(shim cat "$PREFIX/$F")" "a reader sees the rewritten content at once"
assert_eq "29" "$(shim stat -c %s "$PREFIX/$F")" "a reader sees the new size at once"
assert_eq "fresh" "$(shim cat "$PREFIX/t/data/d0002/created.txt")" "a reader sees a created file at once"
if shim test -e "$PREFIX/t/data/d0003/f0000003.bin"; then fail "a removed file is still seen"
else pass "a reader sees a removal at once"; fi
shim ls "$PREFIX/t/data/d0002" > "$TEST_SCRATCH/ls2"
check "a listing after the change shows the created file" grep -qx created.txt "$TEST_SCRATCH/ls2"

# --- ... and in a process that listed before the change (its own caches) ---
out=$(shim /usr/bin/python3 - "$PREFIX/t/data/d0002" <<'EOF'
import os, subprocess, sys
d = sys.argv[1]
before = sorted(os.listdir(d))
gone = os.path.join(d, before[0])
os.stat(gone)
subprocess.run(["sh", "-c", 'echo made-elsewhere > "$1/late.txt" && rm "$2"', "sh", d, gone], check=True)
seen = os.path.exists(os.path.join(d, "late.txt"))
content = open(os.path.join(d, "late.txt")).read().strip() if seen else ""
print(seen, content, os.path.exists(gone), "late.txt" in os.listdir(d))
EOF
)
assert_eq "True made-elsewhere False True" "$out" "a process that listed before sees another process's create and remove at once"

# --- an old snapshot is not used ---
shim ls -R "$PREFIX/t" > /dev/null
sleep 1.2
TTL=1 traced cat "$PREFIX/t/data/d0000/f0000000.bin" > "$TEST_SCRATCH/f0"
check "the file reads right after its snapshot expired" cmp -s "$TEST_SCRATCH/f0" "$SRC/data/d0000/f0000000.bin"
if [ "$(pg_connects)" -ge 1 ]; then pass "a snapshot older than the TTL sent the reader to the database"
else fail "a snapshot older than the TTL was used"; fi

# --- a damaged snapshot is ignored ---
shim ls -R "$PREFIX/t" > /dev/null
for f in "$SHIMFS_CACHE_DIR"/meta/*/d*; do
    size=$(stat -c %s "$f")
    printf 'XXXXXXXX' | dd of="$f" bs=1 seek=$((size - 12)) conv=notrunc status=none
done
traced cat "$PREFIX/t/data/d0000/f0000000.bin" > "$TEST_SCRATCH/f0"
check "the file reads right with every snapshot damaged" cmp -s "$TEST_SCRATCH/f0" "$SRC/data/d0000/f0000000.bin"
if [ "$(pg_connects)" -ge 1 ]; then pass "damaged snapshots were not trusted"
else fail "a damaged snapshot was used"; fi

# --- the metadata library missing, or from another build (another table
# size): EIO and one line, not a crash ---
LIBS=$TEST_SCRATCH/libs
mkdir -p "$LIBS"
cp "$SHIMFS_BUILD/libshimfs.so" "$SHIMFS_BUILD/libshimfs-core.so" "$LIBS/"
pg_unusable() { # LOG_LINE WHAT
    local rc
    set +e
    env LD_PRELOAD="$(preload_of "$LIBS/libshimfs.so")" SHIMFS_PREFIX="$PREFIX" SHIMFS_NODE_META=0 \
        cat "$PREFIX/t/data/d0000/f0000000.bin" > /dev/null 2> "$TEST_SCRATCH/pglib.err"
    rc=$?
    set -e
    assert_eq 1 "$rc" "cat fails when libshimfs-pg.so is $2"
    check "the error says so" grep -qF "$1" "$TEST_SCRATCH/pglib.err"
    assert_eq 1 "$(grep -c 'cannot load' "$TEST_SCRATCH/pglib.err")" "one line about it"
    check "the program saw EIO" grep -q "Input/output error" "$TEST_SCRATCH/pglib.err"
}
pg_unusable "cannot load the metadata engine (PostgreSQL) ($LIBS/libshimfs-pg.so)" missing
printf 'const unsigned long meta_pg_ops[2] = { 16, 0 };\n' > "$TEST_SCRATCH/otherpg.c"
if "${CC:-cc}" -shared -fPIC -o "$LIBS/libshimfs-pg.so" "$TEST_SCRATCH/otherpg.c" 2>/dev/null; then
    pg_unusable "cannot load the metadata engine (PostgreSQL) ($LIBS/libshimfs-pg.so): its table is from another build" \
        "from another build"
else
    skip "no C compiler to build a library from another build"
fi

# --- a writer's open never goes through a stale name ---
# Node A lists a folder while ckpt.tmp exists; node B (another cache
# folder, as a writer killed before it could tell its node) renames
# ckpt.tmp over ckpt. Within A's TTL its snapshot still says ckpt.tmp is
# that inode: a read may see the old name, but an O_TRUNC open of ckpt.tmp
# must not truncate what is now ckpt.
D=t/stale
shim sh -c 'mkdir "$1" && echo one > "$1/ckpt" && echo two > "$1/ckpt.tmp"' sh "$PREFIX/$D"
shim ls "$PREFIX/$D" > /dev/null                           # A's snapshot: ckpt.tmp exists
SHIMFS_CACHE_DIR=$TEST_SCRATCH/node-b shim mv "$PREFIX/$D/ckpt.tmp" "$PREFIX/$D/ckpt"
shim sh -c 'echo three > "$1/ckpt.tmp"' sh "$PREFIX/$D"   # O_WRONLY|O_CREAT|O_TRUNC on node A
assert_eq "two" "$(SHIMFS_CACHE_DIR=$TEST_SCRATCH/node-c shim cat "$PREFIX/$D/ckpt")" \
    "a truncating open through a name renamed away on another node left the renamed file alone"
assert_eq "three" "$(SHIMFS_CACHE_DIR=$TEST_SCRATCH/node-c shim cat "$PREFIX/$D/ckpt.tmp")" \
    "...and created the name afresh"

# --- no secret on disk ---
if grep -rqa -- "shimfs-test" "$SHIMFS_CACHE_DIR/meta"; then fail "the password is in the meta folder"
else pass "nothing of the password is in the meta folder"; fi
