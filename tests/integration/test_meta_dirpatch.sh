#!/usr/bin/env bash
# tests/integration/test_meta_dirpatch.sh — large folders shared whole with
# the node, and patched in place by the node's own changes (docs/design.md,
# "Large directories").
#  - a folder of 20,000 entries (over VFS_SNAP_MAX) listed once on a node
#    is listed again by the node's next process with no round trip (before:
#    keyset pages from the database each time, 17 round trips for 100 k);
#  - process A creates, renames and removes names in it, process B on the
#    same node then lists it and looks the names up with no round trip and
#    sees exactly A's changes (before: the folder's snapshot was dropped by
#    A's commits, and B read it again whole);
#  - a rename between two folders patches both;
#  - a file written through a descriptor (a data commit) patches its
#    folder by inode; when its name changed hands meanwhile, the folder is
#    read afresh;
#  - a torn delta (a group half written) is not trusted: the next lister
#    reads the folder afresh and sees the truth;
#  - another node's create shows within the TTL even while this node keeps
#    patching the folder (a patch never makes a snapshot younger);
#  - concurrent creates and renames on the node while a process of it lists
#    the folder again and again: every unchanged name exactly once in each
#    listing, and the node's patched snapshot equals the database at the end.
#  - a delta that fills up (12,000 creates) is folded into the snapshot:
#    the node's next lister makes no round trip, and names, attributes and
#    block maps survive the fold.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd psql python3 strace  # scripts/deps.sh installs them

PREFIX=/mnt/shimfs-dirpatch-$$
export SHIMFS_AGENT=0   # the TTL alone decides what another node's change waits for
# long TTLs: what is checked is what the node shares, not what expired
export SHIMFS_ATTR_TTL=600 SHIMFS_ENTRY_TTL=600
NODE1=$TEST_SCRATCH/node1
NODE2=$TEST_SCRATCH/node2
mkdir -p "$NODE1" "$NODE2"

test_volume dirpatch
"$TEST_ROOT/scripts/meta-tree.sh" "$META" flat big 20000 1000000
"$TEST_ROOT/scripts/meta-tree.sh" "$META" flat small 50 1100000

# nothing but the test's processes reads the tables meanwhile
psql "$META" -XAtq -c "ALTER TABLE inode SET (autovacuum_enabled = false); ALTER TABLE entry SET (autovacuum_enabled = false)"
shim() { env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_CACHE_DIR="$NODE1" SHIMFS_LOG=error "$@"; }
shim2() { env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_CACHE_DIR="$NODE2" SHIMFS_LOG=error "$@"; }
# the database's names of a top folder, sorted
db_names() {
    psql "$META" -XAtq -c "SELECT convert_from(e.name, 'UTF8') FROM entry e JOIN entry t ON t.ino = e.parent
                           WHERE t.parent = 1 AND t.name = convert_to('$1', 'UTF8')" | LC_ALL=C sort
}

# --- a big folder listed once is the node's ---
shim ls -f "$PREFIX/big" > "$TEST_SCRATCH/first"
assert_eq 20002 "$(wc -l < "$TEST_SCRATCH/first")" "the first listing of a 20,000-entry folder is whole"
round_trips ls -f "$PREFIX/big"
assert_eq 0 "$RT" "the node's next process lists it with no round trip"
assert_files_equal <(names "$TEST_SCRATCH/first") <(names "$TEST_SCRATCH/out") "and the same names"
ino_of() {
    psql "$META" -XAtq -c "SELECT e.ino FROM entry e WHERE e.parent = $1 AND e.name = convert_to('$2', 'UTF8')"
}
round_trips stat -c %i "$PREFIX/big/g012345"
assert_eq "$(ino_of 1000000 g012345) 0" "$(cat "$TEST_SCRATCH/out") $RT" \
    "a name of it is looked up in the node's listing, with no round trip"

# --- process A changes names, process B sees them with no round trip ---
shim ls -f "$PREFIX/small" > /dev/null
shim python3 - "$PREFIX" <<'EOF'
import os, sys
p = sys.argv[1]
os.close(os.open(f"{p}/big/new1", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
os.close(os.open(f"{p}/big/new2", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
os.rename(f"{p}/big/new2", f"{p}/big/moved2")
os.rename(f"{p}/big/g000007", f"{p}/big/g000008")   # over an existing name
os.unlink(f"{p}/big/g000005")
os.chmod(f"{p}/big/new1", 0o600)
os.rename(f"{p}/big/g000009", f"{p}/small/from_big")
os.rename(f"{p}/small/g000001", f"{p}/big/from_small")
EOF
round_trips ls -f "$PREFIX/big"
assert_eq 0 "$RT" "another process of the node lists the changed folder with no round trip"
db_names big > "$TEST_SCRATCH/want.big"
assert_files_equal "$TEST_SCRATCH/want.big" <(names "$TEST_SCRATCH/out") \
    "and sees exactly the changes (creates, renames, a replaced and a removed name)"
round_trips ls -f "$PREFIX/small"
assert_eq 0 "$RT" "the other folder of a rename between two is patched too"
assert_files_equal <(db_names small) <(names "$TEST_SCRATCH/out") "with the name moved in and out"
round_trips stat -c '%i %a' "$PREFIX/big/moved2" "$PREFIX/big/g000008" "$PREFIX/big/new1"
assert_eq "$(ino_of 1000000 moved2) $(ino_of 1000000 g000008)" \
    "$(head -2 "$TEST_SCRATCH/out" | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//')" \
    "a moved name and a replaced one point to the right inodes"
assert_eq "600 0" "$(tail -1 "$TEST_SCRATCH/out" | cut -d' ' -f2-) $RT" \
    "and a chmod by name shows, all with no round trip"
shim stat "$PREFIX/big/g000005" > /dev/null 2>&1 && fail "a removed name is still there" ||
    pass "a removed name is gone for the node's other processes"

# a new subfolder changes the folder's link count: its parent's snapshot
# (the root's) is asked again, the folder itself is still not read
# entry rows read so far (pg_stat_user_tables); a backend publishes its
# counters as it exits, just after its client has gone: read until two
# reads agree
entry_rows() {
    local prev="" cur
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        sleep 0.2
        cur=$(psql "$META" -XAtq -c "SELECT coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0)
                                      FROM pg_stat_user_tables WHERE relname = 'entry'")
        [ "$cur" = "$prev" ] && break
        prev=$cur
    done
    echo "$cur"
}
shim mkdir "$PREFIX/big/sub"
r0=$(entry_rows)
round_trips ls -f "$PREFIX/big"
rows=$(($(entry_rows) - r0))
if [ "$(grep -cx sub "$TEST_SCRATCH/out")" = 1 ] && [ "$rows" -lt 1000 ]; then
    pass "a mkdir in it is seen without reading the folder again ($rows entry rows read)"
else
    fail "a mkdir in it: $(grep -cx sub "$TEST_SCRATCH/out") times listed, $rows entry rows read: $(grep -o 'shimfs_[a-z_]*' "$TEST_SCRATCH/sends" | tr '\n' ' ')"
fi

# --- a file written through a descriptor patches its folder by inode ---
# (before: the data commit at close made the folder stale for the node,
# and the next process read all 20,000 entries again)
shim ls -f "$PREFIX/big" > /dev/null
shim python3 - "$PREFIX" <<'EOF'
import os, sys
p = sys.argv[1]
with open(f"{p}/big/data1", "wb") as f:     # a create, then a data commit at close
    f.write(b"x" * 5000)
with open(f"{p}/big/g000011", "r+b") as f:  # an existing file rewritten
    f.write(b"y" * 3000)
with open(f"{p}/big/data3", "wb") as f:     # past the inline size: a block in the bucket
    f.write(b"w" * 300000)
EOF
round_trips stat -c '%n %s' "$PREFIX/big/data1" "$PREFIX/big/g000011"
assert_eq "$PREFIX/big/data1 5000|$PREFIX/big/g000011 3000|0" "$(tr '\n' '|' < "$TEST_SCRATCH/out")$RT" \
    "files written on the node show their new sizes to its next process, with no round trip"
# and a file past the inline size, its block map: the node's next process
# opens and reads it with no question (before: a connection and the
# folder's maps). Tiny files' commits carry none (vfs_write.c): their
# reader asks, once for the folder.
round_trips python3 -c 'import sys; print(*(len(open(f, "rb").read()) for f in sys.argv[1:]))' \
    "$PREFIX/big/data3"
assert_eq "300000|0" "$(tr '\n' '|' < "$TEST_SCRATCH/out")$RT" \
    "and reads its bytes with no round trip (its map came with the patch)"
shim python3 -c 'import sys; print(*(len(open(f, "rb").read()) for f in sys.argv[1:]))' \
    "$PREFIX/big/data1" "$PREFIX/big/g000011" > "$TEST_SCRATCH/out"
assert_eq "5000 3000" "$(cat "$TEST_SCRATCH/out")" "and the tiny files' bytes"
# a file truncated and written again (a checkpoint saved over the last):
# its map is again what the commit wrote
shim python3 -c 'import sys; open(sys.argv[1], "wb").write(b"v" * 200000)' "$PREFIX/big/data3"
round_trips python3 -c 'import sys; b = open(sys.argv[1], "rb").read(); print(len(b), set(b) == {ord("v")})' \
    "$PREFIX/big/data3"
assert_eq "200000 True|0" "$(tr '\n' '|' < "$TEST_SCRATCH/out")$RT" \
    "a file written over on the node is read by its next process with no round trip"
# the descriptor's name changes hands before its commit: the record cannot
# be placed, and the node's next process reads the folder afresh (never
# the old size under the new name)
shim python3 - "$PREFIX" <<'EOF'
import os, sys
p = sys.argv[1]
fd = os.open(f"{p}/big/data2", os.O_CREAT | os.O_WRONLY, 0o644)
os.rename(f"{p}/big/data2", f"{p}/big/data2b")
os.close(os.open(f"{p}/big/other", os.O_CREAT | os.O_WRONLY, 0o644))
os.rename(f"{p}/big/other", f"{p}/big/data2")
os.write(fd, b"z" * 7000)
os.close(fd)
EOF
shim stat -c '%n %s' "$PREFIX/big/data2" "$PREFIX/big/data2b" > "$TEST_SCRATCH/out"
assert_eq "$PREFIX/big/data2 0|$PREFIX/big/data2b 7000|" "$(tr '\n' '|' < "$TEST_SCRATCH/out")" \
    "a descriptor whose name changed hands: the right sizes under both names"

# --- a torn delta is not trusted ---
shim python3 -c "import os; os.close(os.open('$PREFIX/big/torn1', os.O_CREAT | os.O_WRONLY, 0o644))"
delta=$(ls "$NODE1"/meta/*/xf4240 2>/dev/null || true)   # the delta of /big (inode 1,000,000)
if [ -n "$delta" ]; then
    # the last group loses its tail, as a writer killed in its write leaves it
    size=$(stat -c %s "$delta")
    truncate -s $((size - 100)) "$delta"
    round_trips ls -f "$PREFIX/big"
    assert_files_equal <(db_names big) <(names "$TEST_SCRATCH/out") \
        "a torn delta is not trusted: the next listing is the database's"
    [ "$RT" -gt 0 ] && pass "(it read the folder afresh: $RT round trips)" || fail "a torn delta was used"
else
    fail "no delta file in the node's folder"
fi

# --- another node's change shows within the TTL, patches or not ---
export SHIMFS_ATTR_TTL=2 SHIMFS_ENTRY_TTL=2
shim ls -f "$PREFIX/big" > /dev/null
shim2 python3 -c "import os; os.close(os.open('$PREFIX/big/remote1', os.O_CREAT | os.O_WRONLY, 0o644))"
shim python3 -c "import os; os.close(os.open('$PREFIX/big/local1', os.O_CREAT | os.O_WRONLY, 0o644))"
sleep 2.5
shim ls -f "$PREFIX/big" > "$TEST_SCRATCH/ttl"
assert_eq "local1 remote1" "$(grep -E '^(local1|remote1)$' "$TEST_SCRATCH/ttl" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')" \
    "another node's create shows within the TTL while this node patched the folder"
export SHIMFS_ATTR_TTL=600 SHIMFS_ENTRY_TTL=600

# --- concurrent creates and renames, a process of the node listing ---
shim ls -f "$PREFIX/big" > /dev/null
WRITER_PY='
import os, sys
d, p, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    os.close(os.open(f"{d}/w{p}_{i:03d}", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
    if i % 3 == 0:
        os.rename(f"{d}/w{p}_{i:03d}", f"{d}/r{p}_{i:03d}")
'
READER_PY='
import os, sys
d, rounds = sys.argv[1], int(sys.argv[2])
for _ in range(rounds):
    names = os.listdir(d)
    print(len(names) - len(set(names)), sum(1 for x in names if x.startswith("g")))
'
W=3; N=80
pids=()
for p in $(seq 1 $W); do
    (shim python3 -c "$WRITER_PY" "$PREFIX/big" "$p" "$N" 2> "$TEST_SCRATCH/writer$p.err"
     echo $? > "$TEST_SCRATCH/writer$p.rc") &
    pids+=($!)
done
(for _ in 1 2 3; do shim python3 -c "$READER_PY" "$PREFIX/big" 2; done > "$TEST_SCRATCH/reader.out" 2> "$TEST_SCRATCH/reader.err"
 echo $? > "$TEST_SCRATCH/reader.rc") &
rpid=$!
ok=1
for pid in "${pids[@]}"; do
    wait_bounded "$pid" 300 "a writer" || ok=0
done
wait_bounded "$rpid" 300 "the reader" || ok=0
[ "$(cat "$TEST_SCRATCH"/writer*.rc "$TEST_SCRATCH/reader.rc" 2>/dev/null | tr -d '\n')" = 0000 ] || ok=0
if [ "$ok" -eq 1 ]; then pass "$W writers and a lister of the same node finished without error"
else fail "a writer or the lister failed: $(cat "$TEST_SCRATCH"/writer*.err "$TEST_SCRATCH/reader.err" | head -c 400)"; fi
gs=$(db_names big | grep -c '^g')
assert_eq "$(printf '0 %s|' "$gs" "$gs" "$gs" "$gs" "$gs" "$gs" | sed 's/|$//')" \
    "$(tr '\n' '|' < "$TEST_SCRATCH/reader.out" | sed 's/|$//')" \
    "each listing had every unchanged name exactly once"
shim ls -f "$PREFIX/big" > "$TEST_SCRATCH/end"
assert_files_equal <(db_names big) <(names "$TEST_SCRATCH/end") \
    "the node's folder equals the database's at the end"
shim2 ls -f "$PREFIX/big" > "$TEST_SCRATCH/end2"
assert_files_equal <(db_names big) <(names "$TEST_SCRATCH/end2") "and another node's"


# --- a full delta is folded into the snapshot, not left to go stale ---
# (before: past 4 MiB of groups, about 10,000 one-name changes, the node's
# next lister read the folder again from the database). What is counted is
# the questions about the folder's names and maps: the root's own
# attributes may be asked again (see the mkdir above), whatever the fold.
folder_questions() {
    grep -c 'shimfs_\(readdir\|dir_slices\|chunks\|walk\|lookup\|entries\)' "$TEST_SCRATCH/sends" || true
}
shim ls -f "$PREFIX/big" > /dev/null
shim python3 - "$PREFIX/big" <<'PY'
import os, sys
d = sys.argv[1]
with open(f"{d}/fold_data", "wb") as f:      # a file with a map, before the fold
    f.write(b"m" * 300000)
os.rename(f"{d}/g000021", f"{d}/fold_moved")  # a moved name (no map: asked)
os.chmod(f"{d}/g000022", 0o600)
for i in range(12000):                       # past the 4 MiB cap of the delta
    os.close(os.open(f"{d}/fold{i:05d}", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
os.unlink(f"{d}/fold00007")
PY
delta=$(ls "$NODE1"/meta/*/xf4240)
[ "$(stat -c %s "$delta")" -lt $((4 << 20)) ] && pass "the delta was folded ($(stat -c %s "$delta") bytes left)" \
    || fail "the delta is $(stat -c %s "$delta") bytes: not folded"
r0=$(entry_rows)
round_trips ls -f "$PREFIX/big"
rows=$(($(entry_rows) - r0))
assert_eq "0 rows<1000" "$(folder_questions) rows$([ "$rows" -lt 1000 ] && echo '<1000' || echo "=$rows")" \
    "after 12,000 creates the node's next process lists the folder without reading it"
assert_files_equal <(db_names big) <(names "$TEST_SCRATCH/out") "and the folded listing is the database's"
round_trips stat -c '%n %s %a' "$PREFIX/big/fold_data" "$PREFIX/big/fold11999" "$PREFIX/big/g000022"
assert_eq "$PREFIX/big/fold_data 300000 644|$PREFIX/big/fold11999 0 644|$PREFIX/big/g000022 0 600|0" \
    "$(tr '\n' '|' < "$TEST_SCRATCH/out")$(folder_questions)" \
    "the folded entries keep their attributes, with no question about the folder"
round_trips python3 -c 'import sys; b = open(sys.argv[1], "rb").read(); print(len(b), set(b) == {ord("m")})' \
    "$PREFIX/big/fold_data"
assert_eq "300000 True|0" "$(tr '\n' '|' < "$TEST_SCRATCH/out")$(folder_questions)" \
    "a file's block map survives the fold: read with no question for it"
shim cat "$PREFIX/big/fold_moved" > /dev/null && pass "a moved name of the fold opens (its map asked)" \
    || fail "a moved name of the fold does not open"
shim python3 -c "import os; os.close(os.open('$PREFIX/big/after_fold', os.O_CREAT | os.O_WRONLY, 0o644))"
round_trips ls -f "$PREFIX/big"
assert_eq 0 "$(folder_questions)" "a change after the fold patches the folded snapshot"
assert_files_equal <(db_names big) <(names "$TEST_SCRATCH/out") "and shows"
