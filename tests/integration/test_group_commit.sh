#!/usr/bin/env bash
# tests/integration/test_group_commit.sh — group commit of closes
# (SHIMFS_SYNC_CLOSE), against a private PostgreSQL cluster whose WAL
# writer waits 10 s and which counts statements (pg_stat_statements):
#  - a close commits with synchronous_commit off: each close of a file runs
#    the async-commit statement once (none before group commit), and the
#    file and its bytes are visible to another node at once, while the
#    writer lives (close-to-open);
#  - fsync (here of a read-only descriptor of a file closed before), sync()
#    in the writer, fsync of the writer's closed file in another process,
#    the `sync` command and `sync -f` (syncfs) in other processes each
#    flush the WAL: one flush statement each, and the
#    server's WAL flush position passes the closes' commits;
#  - the writer's exit flushes (its session's close: no extra statement);
#  - a writer killed with SIGKILL after close loses nothing close returned;
#  - a fork child's exit does not flush its parent's closes (no round trip);
#  - SHIMFS_SYNC_CLOSE=1: closes commit synchronously (no async commit).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd python3 psql sync

PY=/usr/bin/python3
PREFIX=/mnt/shimfs-gc-$$
counting_pg_volume groupcommit

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache-${NODE:-w}" SHIMFS_LOG=error SHIMFS_AGENT=0 "$@"
}
# calls of a statement of the shim's, by its text as pg_stat_statements
# normalises it: the async-commit setting and the WAL flush (meta_stmt.c)
calls() {
    su_sql -d shimfs -c "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query = '$1'"
}
async_calls() { calls 'SELECT set_config($1, $2, $3)'; }
flush_calls() { calls 'SELECT pg_logical_emit_message($1, $2, $3)::text'; }
insert_lsn() { su_sql -d shimfs -c "SELECT pg_current_wal_insert_lsn()"; }
flushed_past() { # LSN: the server's WAL is on disk at least up to it
    [ "$(su_sql -d shimfs -c "SELECT pg_current_wal_flush_lsn() >= '$1'::pg_lsn")" = t ]
}
assert_flushed() { flushed_past "$1" && pass "$2" || fail "$2: flushed to $(su_sql -d shimfs -c \
    "SELECT pg_current_wal_flush_lsn()"), not past $1"; }
# Around one durability point: flush_begin before it; flush_once WHAT after
# it: exactly one flush statement ran, and the WAL is on disk past every
# commit acknowledged before flush_begin.
flush_begin() { lsn=$(insert_lsn); f0=$(flush_calls); }
flush_once() {
    assert_eq 1 "$(($(flush_calls) - f0))" "$1 flushed (one flush)"
    assert_flushed "$lsn" "the server's WAL is on disk past the closes after $1"
}

head -c 4096 /dev/urandom > "$TEST_SCRATCH/a4k"
check "mkdir" shim mkdir "$PREFIX/d"
for i in 1 2 3; do
    check "file x$i" shim cp "$TEST_SCRATCH/a4k" "$PREFIX/d/x$i"
done

# The writer: steps separated by flag files, each step's end printed.
FLAGS=$TEST_SCRATCH/flags
mkdir -p "$FLAGS"
cat > "$TEST_SCRATCH/writer.py" <<'EOF'
import os, sys, time
d, flags, data = sys.argv[1], sys.argv[2], open(sys.argv[3], "rb").read()
def step(name):
    print(name, flush=True)
    for _ in range(600):                  # bounded: 60 s
        if os.path.exists(os.path.join(flags, name)):
            return
        time.sleep(0.1)
    sys.exit("no go after " + name)
def write(name, flags=os.O_WRONLY):
    fd = os.open(os.path.join(d, name), flags, 0o644)
    os.write(fd, data[::-1])              # other bytes than before
    os.close(fd)
for i in (1, 2, 3):
    write("x%d" % i)                      # existing files: no create
step("closed")
fd = os.open(os.path.join(d, "x1"), os.O_RDONLY)
os.fsync(fd)
os.close(fd)
step("fsynced")
write("y", os.O_WRONLY | os.O_CREAT)
step("closed2")
os.sync()
step("synced")
write("z", os.O_WRONLY | os.O_CREAT)
step("closed3")
write("e", os.O_WRONLY | os.O_CREAT)
step("closed4")
EOF
rev4k() { "$PY" -c 'import sys; sys.stdout.buffer.write(open(sys.argv[1], "rb").read()[::-1])' \
    "$TEST_SCRATCH/a4k"; }
rev4k > "$TEST_SCRATCH/r4k"
at_step() { wait_for 60 grep -qx "$1" "$TEST_SCRATCH/writer.out"; }
go() { touch "$FLAGS/$1"; }

a0=$(async_calls)
shim "$PY" "$TEST_SCRATCH/writer.py" "$PREFIX/d" "$FLAGS" "$TEST_SCRATCH/a4k" \
    > "$TEST_SCRATCH/writer.out" 2> "$TEST_SCRATCH/writer.err" &
writer=$!
at_step closed || fail "the writer did not close its files: $(cat "$TEST_SCRATCH/writer.err")"
# ---- closes commit asynchronously, visible at once ----
assert_eq 3 "$(($(async_calls) - a0))" "three closes, three commits not waited for"
NODE=r shim cat "$PREFIX/d/x2" > "$TEST_SCRATCH/back"
assert_files_equal "$TEST_SCRATCH/r4k" "$TEST_SCRATCH/back" \
    "another node reads the closed file's new bytes while the writer lives"
# ---- fsync of a descriptor of a file closed before: the flush ----
flush_begin
go closed
at_step fsynced || fail "fsync: $(cat "$TEST_SCRATCH/writer.err")"
flush_once "the writer's fsync of a file closed before"
# ---- sync() in the writer ----
go fsynced
at_step closed2 || fail "the second close: $(cat "$TEST_SCRATCH/writer.err")"
flush_begin
go closed2
at_step synced || fail "sync: $(cat "$TEST_SCRATCH/writer.err")"
flush_once "sync() in the writer"
# ---- the sync command and sync -f (syncfs) in other processes ----
go synced
at_step closed3 || fail "the third close: $(cat "$TEST_SCRATCH/writer.err")"
flush_begin
NODE=s check "another process's fsync of the closed file" shim "$PY" -c \
    'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.close(fd)' "$PREFIX/d/z"
flush_once "another process's fsync of a file the writer closed"
flush_begin
NODE=s check "the sync command" shim sync
flush_once "another process's sync command"
flush_begin
NODE=s check "sync -f (syncfs) of the volume" shim sync -f "$PREFIX/d"
flush_once "syncfs"
# ---- exit flushes; SIGKILL after close loses nothing ----
go closed3
at_step closed4 || fail "the fourth close: $(cat "$TEST_SCRATCH/writer.err")"
flush_begin
go closed4
wait "$writer" || fail "the writer failed: $(cat "$TEST_SCRATCH/writer.err")"
assert_flushed "$lsn" "the writer's exit made its last close durable"
assert_eq 0 "$(($(flush_calls) - f0))" "for free: its session's close flushed it"
NODE=r2 shim cat "$PREFIX/d/e" > "$TEST_SCRATCH/back"
assert_files_equal "$TEST_SCRATCH/r4k" "$TEST_SCRATCH/back" "its last file reads back"
cat > "$TEST_SCRATCH/killed.py" <<'EOF'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, open(sys.argv[2], "rb").read())
os.close(fd)
print("ready", os.getpid(), flush=True)
time.sleep(60)
EOF
shim "$PY" "$TEST_SCRATCH/killed.py" "$PREFIX/d/k" "$TEST_SCRATCH/a4k" > "$TEST_SCRATCH/killed.out" &
killed=$!
wait_for 60 grep -qs ready "$TEST_SCRATCH/killed.out" || fail "the killed writer did not get ready"
kill -9 "$(awk '{print $2}' "$TEST_SCRATCH/killed.out")"   # python itself, not the subshell
wait "$killed" 2>/dev/null || true
NODE=r3 shim cat "$PREFIX/d/k" > "$TEST_SCRATCH/back"
assert_files_equal "$TEST_SCRATCH/a4k" "$TEST_SCRATCH/back" "a writer killed after close lost nothing"

# ---- a fork child that exits does not flush its parent's closes ----
cat > "$TEST_SCRATCH/forker.py" <<'EOF'
import os, sys, time
def wait_flag(path):
    for _ in range(600):                  # bounded: 60 s
        if os.path.exists(path):
            return
        time.sleep(0.1)
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"forked")
os.close(fd)
print("closed", flush=True)
wait_flag(sys.argv[2])
pid = os.fork()
if pid == 0:
    sys.exit(0)                           # exit(): the atexit handlers run
os.waitpid(pid, 0)
print("forked", flush=True)
wait_flag(sys.argv[3])
EOF
shim "$PY" "$TEST_SCRATCH/forker.py" "$PREFIX/d/f" "$FLAGS/fork" "$FLAGS/forkend" \
    > "$TEST_SCRATCH/forker.out" 2>&1 &
forker=$!
wait_for 60 grep -qx closed "$TEST_SCRATCH/forker.out" || fail "the forker did not close its file"
f0=$(flush_calls)
touch "$FLAGS/fork"
wait_for 60 grep -qx forked "$TEST_SCRATCH/forker.out" ||
    fail "the forker's child: $(cat "$TEST_SCRATCH/forker.out")"
assert_eq 0 "$(($(flush_calls) - f0))" "a fork child's exit made no flush for its parent's close"
touch "$FLAGS/forkend"
wait "$forker" || fail "the forker failed: $(cat "$TEST_SCRATCH/forker.out")"

# ---- SHIMFS_SYNC_CLOSE=1: every close waits, as before group commit ----
a0=$(async_calls)
SHIMFS_SYNC_CLOSE=1 check "rewrite three files, SHIMFS_SYNC_CLOSE=1" shim "$PY" -c '
import os, sys
for i in (1, 2, 3):
    fd = os.open(os.path.join(sys.argv[1], "x%d" % i), os.O_WRONLY)
    os.write(fd, open(sys.argv[2], "rb").read())
    os.close(fd)' "$PREFIX/d" "$TEST_SCRATCH/a4k"
assert_eq 0 "$(($(async_calls) - a0))" "SHIMFS_SYNC_CLOSE=1: no commit left unwaited"
NODE=r4 shim cat "$PREFIX/d/x3" > "$TEST_SCRATCH/back"
assert_files_equal "$TEST_SCRATCH/a4k" "$TEST_SCRATCH/back" "and the bytes are there"

test_finish
