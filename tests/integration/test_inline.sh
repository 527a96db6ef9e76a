#!/usr/bin/env bash
# tests/integration/test_inline.sh — tiny files keep their bytes in
# PostgreSQL (SHIMFS_INLINE_MAX, schema 4), against the real services:
#  - a 4 KiB file's create+write+close makes no PUT, one inline row; a
#    reader on another "node" (its own cache folder) reads it with no GET,
#    and its second read comes from its node cache; with SHIMFS_INLINE_MAX=0
#    the same write makes a PUT (the counters can see one);
#  - overwrite in place, truncate, rename, a hard link: bytes as on disk;
#  - a file grown past the threshold moves to the bucket: its new version
#    references no inline block;
#  - unlink, then gc --delete removes the row; fsck counts a deleted row as
#    a missing object (exit 1), and a clean volume as clean;
#  - kill -9 in the middle of a write loses nothing committed;
#  - a second local user cannot read a 0600 inline file through the shim;
#  - warmup fills a node cache from the database (no GET);
#  - a version 3 volume: a reader reads it as it is, the first writer
#    upgrades it to 4 and its tiny files then go inline;
#  - a new file's create does not wait for the database's disk
#    (META_CREATE_LAZY), but its creator's exit makes it durable (group
#    commit, test_group_commit): an empty file survives a database crash
#    right after (a control commit that nobody flushed does not).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd python3 runuser psql

CLI=$SHIMFS_CLI
PY=/usr/bin/python3
PREFIX=/mnt/shimfs-inline-$$
test_volume inline
sql() { psql "$META" -XAtqc "$1"; }
shim() {   # the writer's node (cache w) unless NODE says otherwise
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache-${NODE:-w}" SHIMFS_LOG="${SHIM_LOG:-error}" \
        SHIMFS_AGENT=0 "$@"
}
# the node's counter NAME (cache folder of NODE)
counter() {
    SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache-$1" "$CLI" stats --format prometheus |
        awk -v n="$2" '$1 == n { print $2 + 0 }'
}
rows() { sql "SELECT count(*) FROM inline_block"; }
inline_refs() { sql "SELECT count(*) FROM slice WHERE id >= 4611686018427387904"; }

head -c 4096 /dev/urandom > "$TEST_SCRATCH/a4k"
check "mkdir" shim mkdir "$PREFIX/d"

# ---- a tiny file: no PUT, one row; read elsewhere: no GET ----
check "write a 4 KiB file" shim cp "$TEST_SCRATCH/a4k" "$PREFIX/d/a"
assert_eq 0 "$(counter w shimfs_object_puts_total)" "the writer's node made no PUT"
assert_eq 1 "$(rows)" "one inline row"
assert_eq 1 "$(inline_refs)" "one slice record names it"
NODE=r shim cat "$PREFIX/d/a" > "$TEST_SCRATCH/back"
assert_files_equal "$TEST_SCRATCH/a4k" "$TEST_SCRATCH/back" "another node reads the bytes"
assert_eq 0 "$(counter r shimfs_object_gets_total)" "with no GET"
NODE=r shim cat "$PREFIX/d/a" > "$TEST_SCRATCH/back"
assert_files_equal "$TEST_SCRATCH/a4k" "$TEST_SCRATCH/back" "and again"
hits=$(counter r shimfs_cache_hits_total)
[ "${hits:-0}" -ge 1 ] && pass "the second read came from the node cache ($hits hits)" ||
    fail "the second read did not hit the node cache ($hits)"
assert_eq 0 "$(counter r shimfs_object_gets_total)" "still no GET"

# the control: inlining off, the same write PUTs (the counter works)
SHIMFS_INLINE_MAX=0 NODE=off shim cp "$TEST_SCRATCH/a4k" "$PREFIX/d/off"
assert_eq 1 "$(counter off shimfs_object_puts_total)" "SHIMFS_INLINE_MAX=0: one PUT"
assert_eq 1 "$(rows)" "and no inline row"
NODE=r2 shim cat "$PREFIX/d/off" > /dev/null
assert_eq 1 "$(counter r2 shimfs_object_gets_total)" "and its reader GETs it"

# ---- overwrite, truncate, rename, hard link ----
cp "$TEST_SCRATCH/a4k" "$TEST_SCRATCH/ref"
check "write a copy to modify" shim cp "$TEST_SCRATCH/a4k" "$PREFIX/d/m"
modify() {   # path: the same edits on disk and in the volume
    "$PY" - "$1" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.pwrite(fd, b"overwritten in place", 100)
os.pwrite(fd, b"tail", 5000)          # past the end: a hole, then bytes
os.close(fd)
EOF
}
modify "$TEST_SCRATCH/ref"
shim "$PY" -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDWR); os.pwrite(fd, b"overwritten in place", 100); os.pwrite(fd, b"tail", 5000); os.close(fd)' "$PREFIX/d/m"
NODE=r3 shim cat "$PREFIX/d/m" > "$TEST_SCRATCH/back"
assert_files_equal "$TEST_SCRATCH/ref" "$TEST_SCRATCH/back" "overwrite in place and past the end"
truncate -s 3000 "$TEST_SCRATCH/ref"
check "truncate" shim truncate -s 3000 "$PREFIX/d/m"
NODE=r4 shim cat "$PREFIX/d/m" > "$TEST_SCRATCH/back"
assert_files_equal "$TEST_SCRATCH/ref" "$TEST_SCRATCH/back" "truncated to 3000"
check "rename" shim mv "$PREFIX/d/m" "$PREFIX/d/m2"
check "hard link" shim ln "$PREFIX/d/m2" "$PREFIX/d/m3"
NODE=r5 shim cat "$PREFIX/d/m3" > "$TEST_SCRATCH/back"
assert_files_equal "$TEST_SCRATCH/ref" "$TEST_SCRATCH/back" "through a renamed name's hard link"
assert_eq 0 "$(counter w shimfs_object_puts_total)" "all of it without a PUT"

# ---- grows past the threshold: to the bucket, inline bytes included ----
check "write a 4 KiB file to grow" shim cp "$TEST_SCRATCH/a4k" "$PREFIX/d/g"
ino=$(sql "SELECT ino FROM entry WHERE name = 'g'::bytea")
head -c 100000 /dev/urandom > "$TEST_SCRATCH/more"
cat "$TEST_SCRATCH/a4k" "$TEST_SCRATCH/more" > "$TEST_SCRATCH/grown"
shim "$PY" -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(4096); f.write(open(sys.argv[2], "rb").read()); f.close()' \
    "$PREFIX/d/g" "$TEST_SCRATCH/more"
assert_eq 0 "$(sql "SELECT count(*) FROM slice WHERE ino = $ino AND id >= 4611686018427387904")" \
    "the grown file's new version names no inline block"
NODE=r6 shim cat "$PREFIX/d/g" > "$TEST_SCRATCH/back"
assert_files_equal "$TEST_SCRATCH/grown" "$TEST_SCRATCH/back" "the grown file reads back whole"
[ "$(counter w shimfs_object_puts_total)" -ge 1 ] && pass "it went to the bucket" ||
    fail "the grown file made no PUT"

# ---- unlink, gc, fsck ----
check "fsck: clean" shim "$CLI" fsck > "$TEST_SCRATCH/fsck0.out"
grep -q "inline blocks" "$TEST_SCRATCH/fsck0.out" && pass "fsck counts inline blocks" ||
    fail "fsck does not mention inline blocks: $(cat "$TEST_SCRATCH/fsck0.out")"
before=$(rows)
check "unlink" shim rm "$PREFIX/d/a"
SHIMFS_META=$META "$CLI" gc --delete --grace 0 > "$TEST_SCRATCH/gc.out"
assert_eq "$((before - 2))" "$(rows)" "gc --delete removed the unlinked file's row and the grown file's old one"
assert_eq 0 "$(sql "SELECT count(*) FROM inline_block b WHERE NOT EXISTS (SELECT 1 FROM slice s WHERE s.id = b.id)")" \
    "no unreferenced inline row is left"
grep -q "inline blocks deleted from the database: 2" "$TEST_SCRATCH/gc.out" && pass "gc reports them" ||
    fail "gc's report: $(cat "$TEST_SCRATCH/gc.out")"
check "write a victim" shim cp "$TEST_SCRATCH/a4k" "$PREFIX/d/victim"
victim=$(sql "SELECT s.id FROM slice s JOIN entry e ON e.ino = s.ino WHERE e.name = 'victim'::bytea")
sql "DELETE FROM inline_block WHERE id = $victim"
rc=0
SHIMFS_META=$META "$CLI" fsck > "$TEST_SCRATCH/fsck1.out" || rc=$?
assert_eq 1 "$rc" "fsck exits 1 when an inline row is missing"
grep -q "missing inline block .*slice $victim" "$TEST_SCRATCH/fsck1.out" && pass "and names it" ||
    fail "fsck: $(cat "$TEST_SCRATCH/fsck1.out")"
grep -q "^  1 missing objects" "$TEST_SCRATCH/fsck1.out" && pass "counted as a missing object" ||
    fail "fsck's count: $(cat "$TEST_SCRATCH/fsck1.out")"
rc=0
NODE=r7 shim cat "$PREFIX/d/victim" > /dev/null 2> "$TEST_SCRATCH/victim.err" || rc=$?
[ "$rc" -ne 0 ] && pass "reading it fails (EIO), no zeros" || fail "reading a lost inline block succeeded"
check "the victim goes" shim rm "$PREFIX/d/victim"

# ---- kill -9 mid-write: nothing committed is lost ----
cat > "$TEST_SCRATCH/crash.py" <<'EOF'
import os, sys, time
d = sys.argv[1]
for i in range(20):
    with open(os.path.join(d, "c%02d" % i), "wb") as f:
        f.write(bytes([i]) * 3000)
fd = os.open(os.path.join(d, "torn"), os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"x" * 2000)
print("ready", os.getpid(), flush=True)
time.sleep(60)
EOF
check "mkdir c" shim mkdir "$PREFIX/c"
shim "$PY" "$TEST_SCRATCH/crash.py" "$PREFIX/c" > "$TEST_SCRATCH/crash.out" &
crasher=$!
wait_for 60 grep -qs ready "$TEST_SCRATCH/crash.out" || fail "the writer did not get ready"
kill -9 "$(awk '{print $2}' "$TEST_SCRATCH/crash.out")"   # python itself, not the subshell
wait "$crasher" 2>/dev/null || true
ok=0
for i in $(seq 0 19); do
    want=$(head -c 3000 < /dev/zero | tr '\0' "\\$(printf '%03o' "$i")" | sha256sum)
    got=$(NODE=r8 shim cat "$PREFIX/c/$(printf 'c%02d' "$i")" | sha256sum)
    [ "$want" = "$got" ] && ok=$((ok + 1))
done
assert_eq 20 "$ok" "the 20 files closed before kill -9 read back whole"
assert_eq 0 "$(NODE=r8 shim stat -c %s "$PREFIX/c/torn")" "the uncommitted write is not seen"

# ---- a second local user: permissions as for any file ----
head -c 2000 /dev/urandom > "$TEST_SCRATCH/secret"
check "a 0600 inline file" shim sh -c 'umask 077; cp "$1" "$2"' sh "$TEST_SCRATCH/secret" "$PREFIX/d/secret"
NOBODY_CACHE=/tmp/shimfs-inline-nobody-$$
on_exit 'rm -rf "$NOBODY_CACHE"'
as_nobody() {
    env -u LD_PRELOAD runuser -u nobody -- env LD_PRELOAD="$SHIMFS_PRELOAD" \
        SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" SHIMFS_CACHE_DIR="$NOBODY_CACHE" \
        SHIMFS_AGENT=0 SHIMFS_LOG=error "$@"
}
out=$(as_nobody "$PY" -c 'import errno, sys
try:
    open(sys.argv[1], "rb").read(); print("read")
except OSError as e:
    print(errno.errorcode[e.errno])' "$PREFIX/d/secret" 2>&1 || true)
assert_eq EACCES "$out" "nobody cannot read a 0600 inline file"
NODE=r9 shim cat "$PREFIX/d/secret" > "$TEST_SCRATCH/back"
assert_files_equal "$TEST_SCRATCH/secret" "$TEST_SCRATCH/back" "its owner can"

# ---- warmup: from the database into the node cache ----
check "warmup the tree" env SHIMFS_META="$META" SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache-wu" \
    SHIMFS_PREFIX="$PREFIX" SHIMFS_AGENT=0 \
    "$CLI" warmup /c > /dev/null
assert_eq 0 "$(counter wu shimfs_object_gets_total)" "warmup made no GET"
misses=$(counter wu shimfs_cache_misses_total)
NODE=wu shim cat "$PREFIX/c/c05" "$PREFIX/c/c06" > /dev/null
assert_eq "$misses" "$(counter wu shimfs_cache_misses_total)" "warmed files read from the cache (no new miss)"
assert_eq 0 "$(counter wu shimfs_object_gets_total)" "and no GET"

# ---- an older volume: read as it is, upgraded by its first writer ----
META_MAIN=$META
META=$(test_db v3)
SHIMFS_META=$META "$CLI" format inlv3 --bucket "$(test_bucket v3)" > /dev/null
# its file in the bucket, as a version 3 client wrote it
SHIMFS_INLINE_MAX=0 NODE=v3 shim sh -c 'echo before > "$1"' sh "$PREFIX/before"
sql "DELETE FROM session; DELETE FROM reservation; $(schema_undo_sql 3)"
LATEST=$(schema_latest)
NODE=v3b shim cat "$PREFIX/before" > "$TEST_SCRATCH/back3" 2>&1 || true
assert_eq before "$(cat "$TEST_SCRATCH/back3")" "a version 3 volume is read (its tiny file is in the bucket)"
assert_eq 3 "$(sql "SELECT max(version) FROM schema_version")" "and a reader does not upgrade it"
SHIM_LOG=info NODE=v3c shim cp "$TEST_SCRATCH/a4k" "$PREFIX/after" 2> "$TEST_SCRATCH/up.err"
assert_eq "$LATEST" "$(sql "SELECT max(version) FROM schema_version")" "the first writer upgraded it to $LATEST"
grep -q "upgraded the volume's schema from version 3 to $LATEST" "$TEST_SCRATCH/up.err" &&
    pass "and said so" || fail "no upgrade line: $(cat "$TEST_SCRATCH/up.err")"
assert_eq 1 "$(rows)" "its tiny file went inline"
NODE=v3d shim cat "$PREFIX/after" > "$TEST_SCRATCH/back"
assert_files_equal "$TEST_SCRATCH/a4k" "$TEST_SCRATCH/back" "and reads back"
META=$META_MAIN

# ---- a new file's lazy create is durable once its creator exited ----
# A private cluster whose WAL writer waits 10 s, crashed (immediate stop,
# no checkpoint) right after: the exit of the empty file's creator made its
# create durable (meta_sync: it had no session to close); the create of a
# file whose creator was killed
# before close, made after that, is lost (the control: the crash does lose
# what nobody flushed, so the first check can fail).
private_pg "$TEST_SCRATCH/pg" "wal_writer_delay = '10s'"
META=$PRIV_META
SHIMFS_META=$META "$CLI" format inlcrash --bucket "$(test_bucket crash)" > /dev/null
NODE=crash check "create an empty file and close it" \
    shim "$PY" -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644))' \
    "$PREFIX/empty"
NODE=crash shim "$PY" -c 'import os, sys, time
os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
print("ready", os.getpid(), flush=True)
time.sleep(60)' "$PREFIX/unclosed" > "$TEST_SCRATCH/unclosed.out" &
creator=$!
wait_for 60 grep -qs ready "$TEST_SCRATCH/unclosed.out" || fail "the creator did not get ready"
kill -9 "$(awk '{print $2}' "$TEST_SCRATCH/unclosed.out")"   # python itself, not the subshell
wait "$creator" 2>/dev/null || true
"$PGSH" crash "$P"
"$PGSH" start "$P" 2>/dev/null
assert_eq 1 "$(sql "SELECT count(*) FROM entry WHERE name = 'empty'::bytea")" \
    "the empty file closed before the database crashed is there"
assert_eq 0 "$(sql "SELECT count(*) FROM entry WHERE name = 'unclosed'::bytea")" \
    "a create nobody closed, made after it, was not flushed (control)"
META=$META_MAIN

test_finish
