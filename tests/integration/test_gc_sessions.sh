#!/usr/bin/env bash
# tests/integration/test_gc_sessions.sh — gc never deletes what a live
# writer may still commit, and what a dead writer leaves is reclaimed:
#  - a writer that reserved slice ids before two gc runs (--grace 0, so the
#    marker is aged) and uploads and commits after them keeps its blocks:
#    fsck finds 0 missing objects and the file reads back (the bug of
#    issue 14: gc deleted them and close still returned 0);
#  - a writer killed with SIGKILL: once its session expired (a short
#    SHIMFS_SESSION_TIMEOUT), gc --delete reaps it, its reservations go,
#    the file it had unlinked while open is dropped, its uploaded but
#    uncommitted blocks are deleted, and fsck is clean;
#  - a writer stopped (SIGSTOP) past its session timeout and reaped: its
#    commit fails with EIO and one log line, nothing dangling is
#    committed, and a later fsync under a new session commits the data;
#  - unlinked and renamed-over files stay readable to their holder, are
#    owned by its session, and are dropped at its last close;
#  - a file appended to 60 times is compacted to one slice and reads back
#    identical;
#  - a volume formatted at schema version 1 is read as it is and upgraded
#    once by the first writers (three at once), and works;
#  - a fork child writes under a session of its own;
#  - the node agent reaps a killed writer's session and orphan by itself.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

CLI=$SHIMFS_CLI
PY=/usr/bin/python3
PREFIX=/mnt/shimfs-gcs-$$
SIG=$TEST_SCRATCH/sig
mkdir -p "$SIG"
test_volume gcs

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG="${SHIM_LOG:-error}" "$@"
}
# Reads from the bucket itself: a fresh cache folder every time.
fresh() {
    local c
    c=$(mktemp -d "$TEST_SCRATCH/fresh.XXXXXX")
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$c" SHIMFS_LOG=error SHIMFS_NODE_META=0 SHIMFS_AGENT=0 "$@"
}
sql() { psql "$META" -XAtq -F ' ' -c "$1"; }
gc() { "$CLI" gc --delete --grace 0 "$@"; }
fsck_missing() { "$CLI" fsck 2>&1 | sed -n 's/^ *\([0-9]*\) missing objects$/\1/p'; }

# The writers take turns with the test through files in $SIG.
cat > "$TEST_SCRATCH/writer.py" <<'PYEOF'
import errno, hashlib, os, sys, time
vol, sig, mode = sys.argv[1], sys.argv[2], sys.argv[3]
with open(os.path.join(sig, "pid.tmp"), "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(os.path.join(sig, "pid.tmp"), os.path.join(sig, "pid"))
def wait(name):
    for _ in range(1200):
        if os.path.exists(os.path.join(sig, name)):
            return
        time.sleep(0.05)
    sys.exit("no %s signal" % name)
def tell(name):
    open(os.path.join(sig, name), "w").close()
def put(path, data):
    with open(path, "wb") as f:
        f.write(data)
data = bytes((i * 7 + 3) % 251 for i in range(3 << 20))
open(os.path.join(vol, "b"), "wb").close()          # exists, no slices yet
put(os.path.join(vol, "a"), b"first batch reserved\n")   # reserves a batch of ids
tell("reserved"); wait("go")
if mode == "race":
    fd = os.open(os.path.join(vol, "b"), os.O_WRONLY)
    os.write(fd, data)
    os.close(fd)                  # uploads, then its commit waits for the test's lock
    print("close ok")
elif mode == "crash":
    keep = open(os.path.join(vol, "doomed"), "rb")
    os.unlink(os.path.join(vol, "doomed"))
    fd = os.open(os.path.join(vol, "b"), os.O_WRONLY)
    os.write(fd, data)
    tell("unlinked")
    os.fsync(fd)                  # blocks on the test's lock; killed there
elif mode == "pause":
    fd = os.open(os.path.join(vol, "b"), os.O_WRONLY)
    os.write(fd, data)
    tell("written"); wait("stopped")
    try:
        os.fsync(fd)
        print("fsync after reap: ok")
    except OSError as e:
        print("fsync after reap: %s" % errno.errorcode[e.errno])
    wait("resumed")
    os.fsync(fd)
    print("second fsync: ok")
    os.close(fd)
PYEOF
expected=$TEST_SCRATCH/expected
"$PY" -c 'import sys; sys.stdout.buffer.write(bytes((i * 7 + 3) % 251 for i in range(3 << 20)))' > "$expected"

# Holds a row lock on b's inode from a psql session fed through a FIFO, so
# a writer's commit of b waits after its upload, as long as the test wants.
lock_b() {
    rm -f "$TEST_SCRATCH/lockfifo"
    mkfifo "$TEST_SCRATCH/lockfifo"
    psql "$META" -Xq < "$TEST_SCRATCH/lockfifo" > /dev/null &
    lockpid=$!
    exec 7> "$TEST_SCRATCH/lockfifo"
    rm -f "$TEST_SCRATCH/locked"
    echo "BEGIN;" >&7
    echo "SELECT ino FROM inode WHERE ino = (SELECT ino FROM entry WHERE parent =
          (SELECT ino FROM entry WHERE parent = 1 AND name = convert_to('$1', 'UTF8'))
          AND name = convert_to('b', 'UTF8')) FOR UPDATE \\g $TEST_SCRATCH/locked" >&7
    wait_for 30 test -s "$TEST_SCRATCH/locked" || fail "cannot lock $1/b"
}
unlock_b() {
    echo "COMMIT;" >&7
    exec 7>&-
    wait "$lockpid" || true
}
commit_waits() { [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%UPDATE inode n SET size%'")" -ge 1 ]; }

# ---- 1. the data loss of issue 14: reserve, gc, gc, upload, commit ----
check "mkdir race" shim mkdir -p "$PREFIX/race"
shim "$PY" "$TEST_SCRATCH/writer.py" "$PREFIX/race" "$SIG/race" race > "$TEST_SCRATCH/race.out" 2> "$TEST_SCRATCH/race.err" &
writer=$!
mkdir -p "$SIG/race"
wait_for 60 test -e "$SIG/race/reserved" || fail "the writer did not reserve"
lock_b race
gc > "$TEST_SCRATCH/gc1.out" && pass "gc run 1 (--grace 0) after the reservation" || fail "gc run 1"
touch "$SIG/race/go"
wait_for 60 commit_waits || fail "the writer's commit did not reach the lock"
gc > "$TEST_SCRATCH/gc2.out" && pass "gc run 2 (--grace 0, marker aged) between upload and commit" || fail "gc run 2"
grep -q "^held by running writers (reserved by live sessions): [1-9]" "$TEST_SCRATCH/gc2.out" &&
    pass "gc reports the writer's blocks as held" || fail "gc did not hold them: $(cat "$TEST_SCRATCH/gc2.out")"
unlock_b
rc=0; wait "$writer" || rc=$?
assert_eq "0 close ok" "$rc $(cat "$TEST_SCRATCH/race.out")" "the writer's close returned 0"
gc > "$TEST_SCRATCH/gc3.out" && pass "gc run 3" || fail "gc run 3"
assert_eq 0 "$(fsck_missing)" "fsck: 0 missing objects"
fresh cat "$PREFIX/race/b" > "$TEST_SCRATCH/race.b" || true
assert_files_equal "$expected" "$TEST_SCRATCH/race.b" "the file reads back correct"
assert_eq 0 "$(sql "SELECT count(*) FROM session")" "the writer's session ended at exit"
assert_eq 0 "$(sql "SELECT count(*) FROM reservation")" "with its reservations"

# ---- 2. a writer killed with SIGKILL: reclaimed once its session expires ----
check "mkdir crash" shim mkdir -p "$PREFIX/crash"
shim bash -c 'echo doomed > "$1"' sh "$PREFIX/crash/doomed"
mkdir -p "$SIG/crash"
SHIMFS_SESSION_TIMEOUT=2 shim "$PY" "$TEST_SCRATCH/writer.py" "$PREFIX/crash" "$SIG/crash" crash \
    > /dev/null 2> "$TEST_SCRATCH/crash.err" &
writer=$!
wait_for 60 test -e "$SIG/crash/reserved" || fail "the crash writer did not reserve"
lock_b crash
touch "$SIG/crash/go"
wait_for 60 test -e "$SIG/crash/unlinked" || fail "the crash writer did not unlink"
wait_for 60 commit_waits || fail "the crash writer's commit did not reach the lock"
assert_eq 1 "$(sql "SELECT count(*) FROM inode n JOIN orphan_owner w ON w.ino = n.ino JOIN session s ON s.sid = w.sid WHERE n.orphan")" \
    "the unlinked-while-open file is an orphan owned by the writer's session"
kill -9 "$(cat "$SIG/crash/pid")"; wait "$writer" 2> /dev/null || true
unlock_b
before=$(sql "SELECT count(*) FROM reservation")
[ "$before" -ge 1 ] && pass "the dead writer's reservations are still there" || fail "no reservations left: $before"
SHIMFS_SESSION_TIMEOUT=2 gc > "$TEST_SCRATCH/gc4.out"
grep -q "^expired sessions reaped: 0" "$TEST_SCRATCH/gc4.out" &&
    pass "a session within its timeout is not reaped" || fail "reaped too early: $(head -1 "$TEST_SCRATCH/gc4.out")"
reaped=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
    sleep 1
    SHIMFS_SESSION_TIMEOUT=2 gc > "$TEST_SCRATCH/gc5.out"
    if grep -q "^expired sessions reaped: 1 (orphans dropped: 1)" "$TEST_SCRATCH/gc5.out"; then reaped=1; break; fi
done
assert_eq 1 "$reaped" "gc reaps the expired session and drops its orphan"
assert_eq "0 0 0" "$(sql "SELECT (SELECT count(*) FROM session), (SELECT count(*) FROM reservation), (SELECT count(*) FROM inode WHERE orphan)")" \
    "no session, reservation or orphan left"
SHIMFS_SESSION_TIMEOUT=2 gc > "$TEST_SCRATCH/gc6.out"
grep -q "^unreferenced but younger than the grace period: 0 objects" "$TEST_SCRATCH/gc6.out" &&
grep -q "^held by running writers (reserved by live sessions): 0 objects" "$TEST_SCRATCH/gc6.out" &&
    pass "the dead writer's uploaded blocks are deleted" || fail "blocks left: $(cat "$TEST_SCRATCH/gc6.out")"
assert_eq 0 "$(fsck_missing)" "fsck after the crash: 0 missing objects"
assert_eq "$(stat -c %s "$expected")" "$(stat -c %s "$TEST_SCRATCH/race.b")" "earlier data intact"

# ---- 3. stopped between upload and commit, past its session timeout ----
# On a private S3 server: the test stops it so the writer's upload waits
# for its answer, stops the writer, lets the server store the block, and
# lets gc reap the silent session and delete the block. Resumed, the
# writer's commit must fail with EIO instead of committing a reference to
# a deleted block.
S3=$TEST_ROOT/scripts/s3.sh
S3DIR=$TEST_SCRATCH/s3
check "a private S3 server" "$S3" start "$S3DIR"
on_exit '"$S3" stop "$S3DIR"'
META_MAIN=$META
META=$(test_db pause)
"$CLI" format gcsp --bucket "http://127.0.0.1:$("$S3" port "$S3DIR")/shimfs-test" --meta "$META" > /dev/null
gcp() { SHIMFS_META=$META SHIMFS_SESSION_TIMEOUT=1 "$CLI" gc --delete --grace 0; }
check "mkdir pause" shim mkdir -p "$PREFIX/pause"
mkdir -p "$SIG/pause"
SHIMFS_SESSION_TIMEOUT=1 SHIM_LOG=warn shim "$PY" "$TEST_SCRATCH/writer.py" "$PREFIX/pause" "$SIG/pause" pause \
    > "$TEST_SCRATCH/pause.out" 2> "$TEST_SCRATCH/pause.err" &
writer=$!
wait_for 60 test -e "$SIG/pause/reserved" || fail "the paused writer did not reserve"
gcp > "$TEST_SCRATCH/gc7.out" && pass "gc run after the reservation" || fail "gc run"
touch "$SIG/pause/go"
wait_for 60 test -e "$SIG/pause/written" || fail "the paused writer did not write"
s3pid=$(cat "$S3DIR/pid")
kill -STOP "$s3pid"
touch "$SIG/pause/stopped"
sleep 1                      # its fsync sends the block and waits for the answer
kill -STOP "$(cat "$SIG/pause/pid")"
kill -CONT "$s3pid"          # the block is stored; the answer waits in the socket
reaped=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
    sleep 1
    gcp > "$TEST_SCRATCH/gc8.out"
    if grep -q "^expired sessions reaped: 1" "$TEST_SCRATCH/gc8.out"; then reaped=1; break; fi
done
assert_eq 1 "$reaped" "the stopped writer's session is reaped"
grep -q "^leaked by writers that never committed: [1-9]" "$TEST_SCRATCH/gc8.out" &&
    pass "and its uploaded block deleted" || fail "its block was not deleted: $(cat "$TEST_SCRATCH/gc8.out")"
kill -CONT "$(cat "$SIG/pause/pid")"
touch "$SIG/pause/resumed"
rc=0; wait "$writer" || rc=$?
assert_eq 0 "$rc" "the paused writer finished"
assert_eq "fsync after reap: EIO" "$(sed -n 1p "$TEST_SCRATCH/pause.out")" "its commit fails with EIO"
assert_eq 1 "$(grep -c "commit refused" "$TEST_SCRATCH/pause.err")" "with one log line"
assert_eq "second fsync: ok" "$(sed -n 2p "$TEST_SCRATCH/pause.out")" "a later fsync uploads again and commits"
assert_eq 0 "$(SHIMFS_META=$META fsck_missing)" "fsck after the refused commit: 0 missing objects"
fresh cat "$PREFIX/pause/b" > "$TEST_SCRATCH/pause.b" || true
assert_files_equal "$expected" "$TEST_SCRATCH/pause.b" "the re-uploaded file reads back correct"
META=$META_MAIN

# ---- 4. unlinked and renamed over while open ----
cat > "$TEST_SCRATCH/orphans.py" <<'PYEOF'
import os, subprocess, sys
vol = sys.argv[1]
def put(p, b):
    with open(p, "wb") as f:
        f.write(b)
put(vol + "/u", b"unlinked but open\n"); put(vol + "/r", b"renamed over but open\n")
put(vol + "/new", b"the new r\n")
# psql asks the database, not the volume: it runs without the preload.
# Under SANITIZE=1 the preload holds the ASan runtime, and psql with the ASan
# runtime alone (no shim) deadlocks in its first connection: ASan's glob
# interceptor -> fnmatch -> __wcsmbs_load_conv takes __libc_setlocale_lock
# (GSSAPI globbing /etc/gss/mech.d/*.conf after psql's setlocale).
fu, fr = open(vol + "/u", "rb"), open(vol + "/r", "rb")
os.unlink(vol + "/u"); os.rename(vol + "/new", vol + "/r")
q = "SELECT count(*) FROM inode n JOIN orphan_owner w ON w.ino = n.ino WHERE n.orphan"
print("owned", subprocess.run(["env", "-u", "LD_PRELOAD", "psql", os.environ["TEST_META"], "-XAtqc", q], capture_output=True, text=True).stdout.strip())
print(fu.read().decode().strip(), "|", fr.read().decode().strip(), "|", open(vol + "/r").read().strip())
fu.close(); fr.close()
print("left", subprocess.run(["env", "-u", "LD_PRELOAD", "psql", os.environ["TEST_META"], "-XAtqc", "SELECT count(*) FROM inode WHERE orphan"], capture_output=True, text=True).stdout.strip())
PYEOF
check "mkdir orphans" shim mkdir -p "$PREFIX/orph"
out=$(TEST_META=$META shim "$PY" "$TEST_SCRATCH/orphans.py" "$PREFIX/orph")
assert_eq "owned 2
unlinked but open | renamed over but open | the new r
left 0" "$out" "orphans readable to their holder, owned by its session, dropped at last close"

# ---- 5. appends are compacted ----
check "mkdir app" shim mkdir -p "$PREFIX/app"
: > "$TEST_SCRATCH/app.expected"
shim "$PY" - "$PREFIX/app/log" "$TEST_SCRATCH/app.expected" <<'PYEOF'
import sys
for i in range(60):
    line = ("record %03d " % i + "x" * (i * 37 % 500) + "\n").encode()
    with open(sys.argv[1], "ab") as f:
        f.write(line)
    with open(sys.argv[2], "ab") as f:
        f.write(line)
PYEOF
slices=$(sql "SELECT count(*) FROM slice s JOIN entry e ON e.ino = s.ino WHERE e.name = convert_to('log', 'UTF8')")
[ "$slices" -le 32 ] && pass "60 appends leave $slices slices (threshold 32)" || fail "60 appends left $slices slices"
fresh cat "$PREFIX/app/log" > "$TEST_SCRATCH/app.got" || true
assert_files_equal "$TEST_SCRATCH/app.expected" "$TEST_SCRATCH/app.got" "the compacted file reads back identical"
for i in 1 2 3 4 5 6; do
    SHIMFS_COMPACT_SLICES=4 shim bash -c 'echo "line $2" >> "$1"' sh "$PREFIX/app/small" "$i"
done
assert_eq 2 "$(sql "SELECT count(*) FROM slice s JOIN entry e ON e.ino = s.ino WHERE e.name = convert_to('small', 'UTF8')")" \
    "six appends by six processes, SHIMFS_COMPACT_SLICES=4: the 5th compacts at its exit, the 6th adds one"
assert_eq "$(printf 'line %s\n' 1 2 3 4 5 6)" "$(fresh cat "$PREFIX/app/small")" "and the same lines"
for i in 1 2 3 4 5 6; do
    SHIMFS_WRITEBACK=1 SHIMFS_COMPACT_SLICES=4 shim bash -c 'echo "line $2" >> "$1"' sh "$PREFIX/app/wb" "$i"
done
assert_eq 2 "$(sql "SELECT count(*) FROM slice s JOIN entry e ON e.ino = s.ino WHERE e.name = convert_to('wb', 'UTF8')")" \
    "the same with SHIMFS_WRITEBACK=1 (the uploader's commit queues it)"
assert_eq "$(printf 'line %s\n' 1 2 3 4 5 6)" "$(fresh cat "$PREFIX/app/wb")" "and the same lines"
assert_eq 0 "$(fsck_missing)" "fsck after compaction: 0 missing objects"
gc > "$TEST_SCRATCH/gc9.out" && pass "gc after compaction" || fail "gc after compaction"
assert_eq 0 "$(fsck_missing)" "fsck after gc of the compacted slices: 0 missing objects"
assert_files_equal "$TEST_SCRATCH/app.expected" <(fresh cat "$PREFIX/app/log") "still identical after gc"

# ---- 6. a read-only process opens no session ----
shim cat "$PREFIX/app/log" > /dev/null
assert_eq 0 "$(sql "SELECT count(*) FROM session")" "readers open no session"

# ---- 7. a volume formatted at schema version 1 ----
# Made by formatting and undoing 002 by hand; checked equal to a database
# where only 001_init.sql ran (pg_dump of both schemas).
META=$(test_db v1)
V1REF=$(test_db v1ref)
"$CLI" format gcsv1 --bucket "$(test_bucket v1)" --meta "$META" > /dev/null
echo 'x' | SHIMFS_INLINE_MAX=0 shim sh -c 'cat > "$1"' sh "$PREFIX/before" 2> /dev/null || true
sql "DELETE FROM session; DELETE FROM reservation; $(schema_undo_sql 1)" > /dev/null
LATEST=$(schema_latest)
psql "$V1REF" -Xq1 -f "$TEST_ROOT/metadata-sql/schema/001_init.sql" > /dev/null
dump() { pg_dump -s -O -x "$1" | grep -v '^--\|^$\|^SET \|^SELECT pg_catalog\|restrict '; }
if diff <(dump "$META") <(dump "$V1REF") > "$TEST_SCRATCH/v1.diff"; then
    pass "the downgraded volume has exactly the version 1 schema"
else
    fail "not a version 1 schema: $(head -20 "$TEST_SCRATCH/v1.diff")"
fi
assert_eq "x" "$(fresh cat "$PREFIX/before")" "a new client reads a version 1 volume"
assert_eq 1 "$(sql "SELECT max(version) FROM schema_version")" "and a reader does not upgrade it"
for i in 1 2 3; do
    SHIM_LOG=info shim bash -c 'echo "w$2" > "$1/w$2"' sh "$PREFIX" "$i" 2> "$TEST_SCRATCH/up$i.err" &
done
wait
assert_eq "w1 w2 w3" "$(fresh cat "$PREFIX/w1" "$PREFIX/w2" "$PREFIX/w3" | tr '\n' ' ' | sed 's/ $//')" \
    "three concurrent first writers all write"
assert_eq "$(seq -s ' ' 1 "$LATEST")" "$(sql "SELECT string_agg(version::text, ' ' ORDER BY version) FROM schema_version")" \
    "the volume is at version $LATEST, upgraded once"
assert_eq 1 "$(cat "$TEST_SCRATCH"/up*.err | grep -c "upgraded the volume's schema from version 1 to $LATEST")" \
    "one upgrade log line among them"
assert_eq "$LATEST" "$(SHIMFS_META=$META "$CLI" status | sed -n 's/^schema: *//p')" "shimfs status reports version $LATEST"
SHIMFS_META=$META gc > "$TEST_SCRATCH/gcv1.out" && pass "gc on the upgraded volume" || fail "gc on the upgraded volume"
assert_eq 0 "$(SHIMFS_META=$META fsck_missing)" "fsck on the upgraded volume: 0 missing objects"

# ---- 8. fork: the child writes under a session of its own ----
META=$META_MAIN
out=$(TEST_META=$META shim "$PY" - "$PREFIX" <<'PYEOF'
import os, subprocess, sys
vol = sys.argv[1]
def sessions():
    q = "SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM session"
    return subprocess.run(["env", "-u", "LD_PRELOAD", "psql", os.environ["TEST_META"], "-XAtqc", q], capture_output=True, text=True).stdout.strip()
with open(vol + "/parent1", "w") as f:
    f.write("p1\n")
pid = os.fork()
if pid == 0:
    with open(vol + "/child", "w") as f:
        f.write("c\n")
    print("during", sorted(sessions().split()) == sorted([str(os.getppid()), str(os.getpid())]))
    sys.stdout.flush()
    sys.exit(0)
os.waitpid(pid, 0)
with open(vol + "/parent2", "w") as f:
    f.write("p2\n")
print("after", sessions() == str(os.getpid()))
PYEOF
)
assert_eq "during True
after True" "$out" "a fork child opens its own session and ends it; the parent's lives on"
assert_eq "p1 c p2" "$(fresh cat "$PREFIX/parent1" "$PREFIX/child" "$PREFIX/parent2" | tr '\n' ' ' | sed 's/ $//')" \
    "parent and child writes all committed"
assert_eq 0 "$(fsck_missing)" "fsck after fork: 0 missing objects"

# ---- 9. the node agent reaps a crashed writer's session by itself ----
# Its own cache folder, so the agent serving it has this test's timeout.
agentshim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache-agent" SHIMFS_SESSION_TIMEOUT=1 \
        SHIMFS_LOG="info,file=$TEST_SCRATCH/agent-test.log" SHIMFS_AGENT_IDLE=30 "$@"
}
check "mkdir agent" agentshim mkdir -p "$PREFIX/agent"
agentshim bash -c 'echo kept > "$1/kept"' sh "$PREFIX/agent"
(exec env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
    SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache-agent" SHIMFS_LOG=error SHIMFS_SESSION_TIMEOUT=1 \
    "$PY" -c '
import os, sys, time
vol = sys.argv[1]
keep = open(vol + "/kept", "rb")
os.unlink(vol + "/kept")
with open(vol + "/w", "w") as f:
    f.write("w\n")
open(vol + "/ready", "w").close()
time.sleep(60)' "$PREFIX/agent") &
writer=$!
wait_for 30 agentshim test -e "$PREFIX/agent/ready" || fail "the agent test's writer did not start"
assert_eq 1 "$(sql "SELECT count(*) FROM inode WHERE orphan")" "its unlinked file is an orphan"
kill -9 "$writer"; wait "$writer" 2> /dev/null || true
agentshim ls "$PREFIX/agent" > /dev/null      # the node's agent runs (and keeps polling)
gone() { [ "$(sql "SELECT (SELECT count(*) FROM session) + (SELECT count(*) FROM inode WHERE orphan)")" = 0 ]; }
if wait_for 20 gone; then
    pass "the node agent reaped the dead writer's session and its orphan"
else
    fail "not reaped by the agent: $(sql "SELECT count(*) FROM session")"
fi
grep -q "agent: reaped 1 expired sessions, dropped 1 orphans" "$TEST_SCRATCH/agent-test.log" &&
    pass "the agent's log says so" || fail "agent log: $(grep agent "$TEST_SCRATCH/agent-test.log" | tail -3)"
