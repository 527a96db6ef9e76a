#!/usr/bin/env bash
# tests/integration/test_meta_remote_patch.sh — another node's changes reach
# this node's snapshots through the change log as patches, never as a
# re-list (docs/design.md, "Large directories"; schema 5).
#  - node B (its own cache folder and agent) lists a folder of 20,000
#    entries; node A creates, renames, replaces, removes, chmods and writes
#    files in it; past the TTL, B's next process lists it without reading
#    its entries again, then stats the names with no round trip, and sees
#    exactly A's changes (before: B's agent marked the folder and the next
#    reader read all 20,000 entries again);
#  - a removed name never shows again on B, even while the agent vouches
#    for the patched snapshot;
#  - a storm of renames and creates on A, B listing meanwhile: at the end
#    B's listing equals the database's;
#  - a small folder (2,000 entries) too: A writes files in it and B's next
#    process reads them with no PostgreSQL round trip and no entry read
#    again (the agent's patch carries the files' block maps; before, B's
#    agent marked a folder that small and the next reader re-listed it);
#    a name made at the root on A costs B's new processes nothing either
#    (the patch carries the root's own row).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd psql python3 strace  # scripts/deps.sh installs them

PREFIX=/mnt/shimfs-remote-patch-$$
CLI=$SHIMFS_CLI
NODEA=$TEST_SCRATCH/nodeA
NODEB=$TEST_SCRATCH/nodeB
mkdir -p "$NODEA" "$NODEB"
# short TTLs: past them only the agent's vouching keeps a snapshot in use
export SHIMFS_ATTR_TTL=2 SHIMFS_ENTRY_TTL=2 SHIMFS_NEGATIVE_TTL=2 SHIMFS_AGENT_IDLE=600

test_volume remotepatch
"$TEST_ROOT/scripts/meta-tree.sh" "$META" flat big 20000 1000000
# (made before B lists the root: the root's own attributes then stay in
# B's snapshot of it, which a change of the root's names would drop)
"$TEST_ROOT/scripts/meta-tree.sh" "$META" flat small 2000 1100000
# nothing but the test's processes reads the tables meanwhile
psql "$META" -XAtq -c "ALTER TABLE inode SET (autovacuum_enabled = false); ALTER TABLE entry SET (autovacuum_enabled = false)"

serving() { [ -n "$(agent_pid "$1")" ]; }
on_exit 'stop_agent_of "$NODEA"; stop_agent_of "$NODEB"'
# each node's agent, started here (never a child of a traced process),
# logging what it patches and marks into its folder's agent.log
for n in "$NODEA" "$NODEB"; do
    SHIMFS_CACHE_DIR=$n SHIMFS_LOG="debug,file=$n/agent.log" "$CLI" agent --detach > /dev/null
    wait_for 10 serving "$n" || { fail "no agent serves $n"; exit 1; }
done

shima() { env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_CACHE_DIR="$NODEA" SHIMFS_LOG=error "$@"; }
shimb() { env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_CACHE_DIR="$NODEB" SHIMFS_LOG=error "$@"; }
RT_SHIM=shimb   # round_trips (lib.sh) on node B
db_names() {
    psql "$META" -XAtq -c "SELECT convert_from(e.name, 'UTF8') FROM entry e WHERE e.parent = 1000000" | LC_ALL=C sort
}
db_attr() {  # "mode size" of big/$1 in octal permission bits, as stat -c '%a %s'
    psql "$META" -XAtq -c "SELECT to_char(n.mode & 4095, 'FM9999'), n.size FROM entry e JOIN inode n ON n.ino = e.ino
                           WHERE e.parent = 1000000 AND e.name = convert_to('$1', 'UTF8')" |
        awk -F'|' '{ printf "%o %s\n", $1, $2 }'
}
# entry rows read so far (pg_stat_user_tables); a backend publishes its
# counters as it exits: read until two reads agree
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
# --- B holds the folder ---
shimb ls -f "$PREFIX" > /dev/null
# (by the process itself: asked first, B's agent would read the folder's
# first 1,024 entries in vain (it takes only folders that small), and its
# long-lived backend reports those reads late, up to seconds, so they
# would be counted below as a re-list's)
SHIMFS_AGENT_ASK=0 shimb ls -f "$PREFIX/big" > "$TEST_SCRATCH/first"
assert_eq 20002 "$(wc -l < "$TEST_SCRATCH/first")" "node B lists the 20,000-entry folder whole"
SHIMFS_AGENT_ASK=0 shimb ls -f "$PREFIX/small" > "$TEST_SCRATCH/small0"
shima ls -f "$PREFIX/big" > /dev/null

# --- A changes it ---
# (counted before: B's agent may poll and patch while A's changes run)
patched0=$(grep -c 'patched [1-9]' "$NODEB/agent.log" || true)
shima python3 - "$PREFIX" <<'EOF'
import os, sys
p = sys.argv[1]
os.close(os.open(f"{p}/big/new1", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
os.close(os.open(f"{p}/big/new2", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
os.rename(f"{p}/big/new2", f"{p}/big/moved2")
os.rename(f"{p}/big/g000007", f"{p}/big/g000008")   # over an existing name
os.unlink(f"{p}/big/g000005")
os.chmod(f"{p}/big/g000003", 0o600)
with open(f"{p}/big/data1", "wb") as f:
    f.write(b"x" * 5000)
EOF
# past the TTL: only B's agent vouching keeps its snapshot in use
sleep 2.5
r0=$(entry_rows)
round_trips ls -f "$PREFIX/big"
rows=$(($(entry_rows) - r0))
db_names > "$TEST_SCRATCH/want"
assert_files_equal "$TEST_SCRATCH/want" <(names "$TEST_SCRATCH/out") \
    "node B's next listing shows exactly A's changes (creates, renames, a replaced and a removed name)"
# (the root, a small folder, is read again: 1 row)
if [ "$rows" -lt 1000 ]; then
    pass "and B read no entry of the folder again ($rows entry rows read, $RT round trips)"
else
    fail "B re-listed the folder: $rows entry rows read, $RT round trips: $(grep -o 'shimfs_[a-z_]*' "$TEST_SCRATCH/sends" | sort | uniq -c | tr '\n' ' ')"
fi
check "B's agent logged patches" test "$(grep -c 'patched [1-9]' "$NODEB/agent.log" || true)" -gt "$patched0"
round_trips stat -c '%n %a %s' "$PREFIX/big/g000003" "$PREFIX/big/data1" "$PREFIX/big/moved2" "$PREFIX/big/g000008"
want="$PREFIX/big/g000003 $(db_attr g000003)|$PREFIX/big/data1 $(db_attr data1)|$PREFIX/big/moved2 $(db_attr moved2)|$PREFIX/big/g000008 $(db_attr g000008)|"
assert_eq "$want" "$(tr '\n' '|' < "$TEST_SCRATCH/out")" "B's stat shows A's chmod, write and renames"
assert_eq 0 "$RT" "with no round trip"
assert_eq "600 5000" "$(db_attr g000003 | cut -d' ' -f1) $(db_attr data1 | cut -d' ' -f2)" "(the database has them)"
got=$(shimb stat -c %i "$PREFIX/big/g000008")
assert_eq "$(psql "$META" -XAtq -c "SELECT ino FROM entry WHERE parent = 1000000 AND name = convert_to('g000008', 'UTF8')")" \
    "$got" "a name renamed over points to the moved inode on B"

# --- a removed name never shows again on B ---
shima rm "$PREFIX/big/g000010"
# within the TTL B may still see it (docs/design.md); once gone it stays gone
seen=""
for i in 1 2 3 4 5 6 7 8; do
    sleep 0.5
    if shimb stat "$PREFIX/big/g000010" > /dev/null 2>&1; then seen+=1; else seen+=0; fi
done
if [[ "$seen" =~ ^1*0+$ ]]; then pass "a name removed on A goes on B within the TTL and never shows again ($seen)"
else fail "a name removed on A, seen on B every half second: $seen"; fi
shimb ls -f "$PREFIX/big" > "$TEST_SCRATCH/after_rm"
assert_eq 0 "$(grep -cx g000010 "$TEST_SCRATCH/after_rm" || true)" "and B's listing has it no more"

# --- a small folder: patched too, block maps included ---
assert_eq 2002 "$(wc -l < "$TEST_SCRATCH/small0")" "node B lists the 2,000-entry folder"
patched0=$(grep -c 'patched [1-9]' "$NODEB/agent.log" || true)
# files of 100 KiB (objects, not inline: B reads their bytes from the
# bucket, never from the database): two new, one written over, one
# renamed after it was written
head -c 102400 /dev/urandom > "$TEST_SCRATCH/d1"
head -c 102400 /dev/urandom > "$TEST_SCRATCH/d2"
head -c 150000 /dev/urandom > "$TEST_SCRATCH/d3"
shima cp "$TEST_SCRATCH/d1" "$PREFIX/small/new1"
shima cp "$TEST_SCRATCH/d2" "$PREFIX/small/g000004"
shima cp "$TEST_SCRATCH/d3" "$PREFIX/small/tmp3"
shima mv "$PREFIX/small/tmp3" "$PREFIX/small/new3"
sleep 2.5
r0=$(entry_rows)
round_trips cat "$PREFIX/small/new1" "$PREFIX/small/g000004" "$PREFIX/small/new3"
rows=$(($(entry_rows) - r0))
# the database's words: a statement name, or a connection's start
pg=$(grep -c 'shimfs_\|database' "$TEST_SCRATCH/sends" || true)
assert_files_equal <(cat "$TEST_SCRATCH/d1" "$TEST_SCRATCH/d2" "$TEST_SCRATCH/d3") "$TEST_SCRATCH/out" \
    "B reads the bytes A wrote in the small folder"
assert_eq 0 "$pg" "with no PostgreSQL round trip (maps from the agent's patch)"
if [ "$rows" -lt 500 ]; then
    pass "and B read no entry of the small folder again ($rows entry rows read)"
else
    fail "B re-listed the small folder: $rows entry rows read"
fi
check "B's agent patched the small folder" test "$(grep -c 'patched [1-9]' "$NODEB/agent.log" || true)" -gt "$patched0"
shimb ls -f "$PREFIX/small" > "$TEST_SCRATCH/small1"
assert_files_equal <(psql "$META" -XAtq -c "SELECT convert_from(e.name, 'UTF8') FROM entry e WHERE e.parent = 1100000" | LC_ALL=C sort) \
    <(names "$TEST_SCRATCH/small1") "B's listing of the small folder equals the database's"
# a name made at the root on A: B's snapshot of the root is patched with
# the root's own new row too, so B's new processes, whose walks all start
# there, still ask nothing (before, each asked for the root's attributes)
shima touch "$PREFIX/topfile"
sleep 2.5
for i in 1 2; do
    round_trips stat -c %n "$PREFIX/small/g000001"
    assert_eq 0 "$(grep -c 'shimfs_\|database' "$TEST_SCRATCH/sends" || true)" \
        "B's new process $i after a create at the root on A: no PostgreSQL round trip"
done
# new processes on A, one after another, each copying a file into the
# small folder (A holds no listing of it): A's agent answers their walks
# by name once it knows the folder is past its first 1,024 entries, where
# it read those 1,024 rows again for every process past the TTL (4
# copies: about 4,100 rows; at most one such read now)
sleep 1.5
r0=$(entry_rows)
for i in 1 2 3 4; do shima cp "$TEST_SCRATCH/d1" "$PREFIX/small/more$i"; sleep 2.2; done
rows=$(($(entry_rows) - r0))
if [ "$rows" -lt 2000 ]; then
    pass "4 new processes copying into it on A, a TTL apart, read $rows entry rows (not the folder's first 1,024 each)"
else
    fail "4 new processes copying into the small folder on A, a TTL apart, read $rows entry rows"
fi

# --- one poll patches at most 64 folders (a round trip each), marks the rest ---
"$TEST_ROOT/scripts/meta-tree.sh" "$META" tree many 70 1 1 1200000
# (made on no node: B sees it once its agent's next poll patched the root)
wait_for 20 shimb test -d "$PREFIX/many" || fail "B never saw /many"
shimb ls -R "$PREFIX/many" > /dev/null     # B holds /many, each dI and dI/e1
# one transaction (one poll sees it all) moves the times of the 70 e1
# folders: each dI changed
patched0=$(grep -c 'patched 64$' "$NODEB/agent.log" || true)
psql "$META" -XAtq -c "UPDATE inode SET mtime = mtime + 5000000000 WHERE parent BETWEEN 1200001 AND 1200070"
patched_64() { [ "$(grep -c 'patched 64$' "$NODEB/agent.log" || true)" -gt "$patched0" ]; }
wait_for 10 patched_64 ||
    fail "B's agent did not patch 64 folders and mark 6 in one poll: $(grep ' changes since' "$NODEB/agent.log" | tail -3 | tr '\n' ' ')"
line=$(grep 'patched 64$' "$NODEB/agent.log" | tail -1)
marked=$(sed -n 's/.*marked \([0-9]*\) directories.*/\1/p' <<<"$line")
if [ -n "$line" ] && [ "${marked:-0}" -ge 6 ]; then
    pass "one poll of 70 changed folders the node holds patched 64, marked the rest ($line)"
fi
sleep 2.5
want=$(psql "$META" -XAtq -c "SELECT count(*) FROM inode WHERE parent BETWEEN 1200001 AND 1200070 AND mtime > 4000000000")
shimb bash -c 'for i in $(seq 1 70); do stat -c %Y "$1/many/d$i/e1"; done' _ "$PREFIX" > "$TEST_SCRATCH/many"
psql "$META" -XAtq -c "SELECT mtime / 1000000000 FROM inode WHERE parent BETWEEN 1200001 AND 1200070 ORDER BY parent" > "$TEST_SCRATCH/many.want"
assert_files_equal "$TEST_SCRATCH/many.want" "$TEST_SCRATCH/many" "and B shows the new times of all 70 ($want moved)"

# --- a storm of renames and creates on A while B lists ---
STORM_PY='
import os, sys
d, w, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    a = f"{d}/g{(int(w) * 1000 + i):06d}"
    b = f"{d}/s{w}_{i:03d}"
    os.rename(a, b)
    if i % 2:
        os.rename(b, a + "x")
    if i % 5 == 0:
        os.close(os.open(f"{d}/c{w}_{i:03d}", os.O_CREAT | os.O_WRONLY, 0o644))
    if i % 7 == 0:
        os.unlink(f"{d}/g{(int(w) * 1000 + 500 + i):06d}")
'
pids=()
for w in 1 2 3; do
    (shima python3 -c "$STORM_PY" "$PREFIX/big" "$w" 150 2> "$TEST_SCRATCH/storm$w.err"
     echo $? > "$TEST_SCRATCH/storm$w.rc") &
    pids+=($!)
done
(for _ in 1 2 3 4 5 6; do shimb ls -f "$PREFIX/big" > /dev/null || exit 1; sleep 0.3; done
 echo 0 > "$TEST_SCRATCH/lister.rc") &
lpid=$!
ok=1
for pid in "${pids[@]}"; do wait_bounded "$pid" 300 "a storm writer" || ok=0; done
wait_bounded "$lpid" 300 "B's lister" || ok=0
[ "$(cat "$TEST_SCRATCH"/storm*.rc "$TEST_SCRATCH/lister.rc" 2>/dev/null | tr -d '\n')" = 0000 ] || ok=0
if [ "$ok" -eq 1 ]; then pass "3 writers on A and a lister on B finished without error"
else fail "a writer or the lister failed: $(cat "$TEST_SCRATCH"/storm*.err | head -c 400)"; fi
sleep 2.5
shimb ls -f "$PREFIX/big" > "$TEST_SCRATCH/end"
assert_files_equal <(db_names) <(names "$TEST_SCRATCH/end") "after the storm B's listing equals the database's"
shimb ls -f "$PREFIX/big" > "$TEST_SCRATCH/end2"
assert_files_equal <(db_names) <(names "$TEST_SCRATCH/end2") "and again"

test_finish
