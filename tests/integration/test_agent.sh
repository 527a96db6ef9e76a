#!/usr/bin/env bash
# tests/integration/test_agent.sh — the node agent (`shimfs agent`, core/agent/agent.c):
#  - the first process that asks the database starts one; it is nobody's
#    child (the starting shell's `wait` returns at once), holds no pipe of
#    the host's (a pipeline ends), and `shimfs agent --status` sees it;
#  - past the TTL (1 s here), a `find | xargs cat` of the tree reads the
#    right bytes with no PostgreSQL connection at all, while it polls;
#  - a change committed by another node (another cache folder) is never
#    hidden by it: after the TTL the reader sees the new bytes and name,
#    and it went to the database for them;
#  - killed, the node falls back to the TTL (a reader connects again);
#  - it leaves when unused for SHIMFS_AGENT_IDLE (and says why in
#    agent.log), and when its cache folder is wiped;
#  - a second one in the foreground refuses; an unreachable database gives
#    one warning line with no password in it; SHIMFS_AGENT=0 starts none;
#  - the process that starts it does not wait for `shimfs agent --detach`
#    to exit (a launcher held on a fifo): it answers first, and the
#    launcher, once let go, is reaped.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

CLI=$SHIMFS_CLI
PREFIX=/mnt/shimfs-agent-$$              # need not exist on the host
SRC=$TEST_SCRATCH/src
export SHIMFS_CACHE_DIR=$TEST_SCRATCH/cache
export SHIMFS_AGENT_IDLE=60

need_cmd strace  # scripts/deps.sh installs it
[ ! -e "$PREFIX" ] || { fail "$PREFIX exists on the host"; exit 1; }

test_volume agent
"$TEST_ROOT/scripts/gen-dataset.sh" "$SRC/data" 40 4 20K 5
"$CLI" import "$SRC" /t > /dev/null

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_LOG=error \
        SHIMFS_ATTR_TTL=1 SHIMFS_ENTRY_TTL=1 SHIMFS_NEGATIVE_TTL=1 "$@"
}
tree_md5() { (cd "$1" && find . -type f | LC_ALL=C sort | xargs cat) | md5sum; }
# The pid of the agent serving cache folder $1, once one serves it (up to
# 10 s); empty if none does.
agent_pid() {
    local i out
    for i in $(seq 1 50); do
        if out=$(SHIMFS_CACHE_DIR=$1 "$CLI" agent --status); then
            sed -n 's/.*(pid \([0-9]*\)).*/\1/p' <<< "$out"
            return 0
        fi
        sleep 0.2
    done
}
# Wait up to 15 s for process $1 to be gone; 0 when it is.
gone() {
    local i
    for i in $(seq 1 75); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.2
    done
    return 1
}
stop_agent_of() {
    local pid
    pid=$(SHIMFS_CACHE_DIR=$1 "$CLI" agent --status 2>/dev/null | sed -n 's/.*(pid \([0-9]*\)).*/\1/p')
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
}
on_exit 'stop_agent_of "$SHIMFS_CACHE_DIR"; stop_agent_of "$TEST_SCRATCH/other"; stop_agent_of "$TEST_SCRATCH/c2"'

# --- started by a shell's own glob, it is not the shell's child ---
out=$(timeout 20 env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_LOG=error \
    bash -c 'cd "$1/t/data" && echo d*; sleep 0.1 & wait; echo waited' bash "$PREFIX" | tr '\n' ' ')
assert_eq "d0000 d0001 d0002 d0003 waited " "$out" "a shell that started the agent waits only for its own jobs"
pid=$(agent_pid "$SHIMFS_CACHE_DIR")
if [ -n "$pid" ]; then pass "the first process that asked the database started an agent (pid $pid)"
else fail "no agent serves the node after a listing"; fi
pid=${pid:-0}
check "the agent's command line is shimfs agent" grep -qa "agent" "/proc/$pid/cmdline"
if [ "$(awk '{ print $4 }' "/proc/$pid/stat")" != "$$" ]; then pass "the agent is not a child of the test shell"
else fail "the agent is the test shell's child"; fi
pipes=$(find "/proc/$pid/fd" -lname 'pipe:*' 2>/dev/null | wc -l)
assert_eq 0 "$pipes" "the agent holds no pipe of the host's"
out=$(timeout 20 bash -c 'env LD_PRELOAD="$1" SHIMFS_PREFIX="$2" SHIMFS_CACHE_DIR="$3" ls "$2/t" | cat' \
    bash "$SHIMFS_PRELOAD" "$PREFIX" "$TEST_SCRATCH/c2")
assert_eq "data" "$out" "a pipeline whose first process started an agent ends"

# --- past the TTL, no process of the node connects ---
# Any commit in the cluster (autovacuum's ANALYZE after the import counts)
# rightly ends the agent's vouching for older snapshots; so: list (fresh
# snapshots), wait past the TTL, read, up to 3 times; a broken agent fails
# all 3.
past_ttl_connects() {
    local i
    for i in 1 2 3; do
        shim find "$PREFIX/t" > /dev/null
        sleep 1.5
        (cd / && traced sh -c "$1" sh "$PREFIX") > "$TEST_SCRATCH/out"
        [ "$(pg_connects)" -ne 0 ] || { echo 0; return; }
    done
    pg_connects
}
local_md5=$(tree_md5 "$SRC/data")
n=$(past_ttl_connects 'cd "$1/t/data" && find . -type f | LC_ALL=C sort | xargs cat')
assert_eq "$local_md5" "$(md5sum < "$TEST_SCRATCH/out")" "the tree reads right past its snapshots' TTL"
assert_eq 0 "$n" "past the TTL, find | xargs cat made no PostgreSQL connection (the agent vouched)"

# --- a commit on another node is not hidden ---
F=t/data/d0001/f0000001.bin
shim cat "$PREFIX/$F" > /dev/null
printf 'written on another node\n' > "$TEST_SCRATCH/new"
SHIMFS_CACHE_DIR=$TEST_SCRATCH/other SHIMFS_AGENT=0 shim sh -c \
    'cp "$1" "$2/t/data/d0001/f0000001.bin" && echo hi > "$2/t/data/d0001/elsewhere.txt"' sh "$TEST_SCRATCH/new" "$PREFIX"
sleep 1.5
got=$(traced cat "$PREFIX/$F")
assert_eq "written on another node" "$got" "after the TTL a reader sees another node's rewrite"
if [ "$(pg_connects)" -ge 1 ]; then pass "...and asked the database for it (the agent did not vouch for the old snapshot)"
else fail "the reader used the old snapshot's map and still read the new bytes?"; fi
assert_eq "hi" "$(shim cat "$PREFIX/t/data/d0001/elsewhere.txt")" "a name created on another node is seen"
assert_eq 0 "$(past_ttl_connects 'cat "$1/t/data/d0001/f0000001.bin"')" "once fetched again, the new snapshots are vouched for in turn"
assert_eq "written on another node" "$(cat "$TEST_SCRATCH/out")" "...with the new bytes"

# --- killed: back to the TTL ---
kill "$pid"
check "the agent leaves on SIGTERM" gone "$pid"
if "$CLI" agent --status > /dev/null; then fail "--status still sees an agent after it left"
else pass "--status says none serves the node"; fi
sleep 1.5
got=$(SHIMFS_AGENT=0 traced cat "$PREFIX/t/data/d0000/f0000000.bin" | md5sum)
assert_eq "$(md5sum < "$SRC/data/d0000/f0000000.bin")" "$got" "without an agent the file reads right"
if [ "$(pg_connects)" -ge 1 ]; then pass "without an agent a reader past the TTL connects again"
else fail "a snapshot older than the TTL was used with no agent"; fi

# --- answers asked before an agent's first poll ---
# 256 workers of a cold node ask their folders before the agent one of
# them starts has polled (seconds later on a busy node, past the TTL);
# those of the very state its first poll saw are vouched for too. A commit
# in between (autovacuum) rightly ends that: up to 3 tries.
pre_chain_connects() {
    local i apid
    for i in 1 2 3; do
        stop_agent_of "$SHIMFS_CACHE_DIR"
        sleep 1.2
        SHIMFS_AGENT=0 shim find "$PREFIX/t" > /dev/null    # no agent: listed afresh
        "$CLI" agent --detach > /dev/null 2>&1 || true
        apid=$(agent_pid "$SHIMFS_CACHE_DIR")
        [ -n "$apid" ] || { echo "no agent"; return; }
        sleep 1.5
        (cd / && traced sh -c 'cd "$1/t/data" && find . -type f | LC_ALL=C sort | xargs cat' sh "$PREFIX") \
            > "$TEST_SCRATCH/out"
        [ "$(pg_connects)" -ne 0 ] || { echo 0; return; }
    done
    pg_connects
}
assert_eq 0 "$(pre_chain_connects)" "past the TTL, folders listed before the agent's first poll were vouched for (no connection)"
fresh_md5=$(SHIMFS_CACHE_DIR=$TEST_SCRATCH/fresh SHIMFS_AGENT=0 shim sh -c \
    'cd "$1/t/data" && find . -type f | LC_ALL=C sort | xargs cat' sh "$PREFIX" | md5sum)
assert_eq "$fresh_md5" "$(md5sum < "$TEST_SCRATCH/out")" "...and read what a fresh node reads"

# --- leaving when idle, and when the folder is wiped ---
IDLE=$TEST_SCRATCH/idle
env -u SHIMFS_LOG SHIMFS_CACHE_DIR="$IDLE" SHIMFS_AGENT_IDLE=1 LD_PRELOAD="$SHIMFS_PRELOAD" \
    SHIMFS_PREFIX="$PREFIX" ls "$PREFIX/t" > /dev/null
ipid=$(agent_pid "$IDLE")
if [ -n "$ipid" ] && gone "$ipid"; then pass "an agent unused for SHIMFS_AGENT_IDLE leaves"
else fail "the idle agent (pid ${ipid:-none}) did not leave"; fi
check "agent.log says why it left" grep -q "leaving: no process used the node's metadata" "$IDLE/agent.log"
WIPE=$TEST_SCRATCH/wipe
SHIMFS_CACHE_DIR=$WIPE shim ls "$PREFIX/t" > /dev/null
wpid=$(agent_pid "$WIPE")
rm -rf "$WIPE"
if [ -n "$wpid" ] && gone "$wpid"; then pass "an agent whose cache folder is wiped leaves"
else fail "the agent of a wiped folder (pid ${wpid:-none}) stayed"; fi

# --- one per node; an unreachable database; SHIMFS_AGENT=0 ---
shim ls "$PREFIX/t" > /dev/null
pid=$(agent_pid "$SHIMFS_CACHE_DIR")
set +e
"$CLI" agent > /dev/null 2> "$TEST_SCRATCH/second.err"
rc=$?
set -e
assert_eq 1 "$rc" "a second agent for the node refuses to start"
check "...saying another serves it" grep -q "another agent already serves this node" "$TEST_SCRATCH/second.err"
set +e
SHIMFS_CACHE_DIR=$TEST_SCRATCH/down SHIMFS_LOG=warn timeout 3 "$CLI" agent \
    --meta "postgresql://shimfs:sekret-pw@127.0.0.1:1/none?connect_timeout=2" > /dev/null 2> "$TEST_SCRATCH/down.err"
rc=$?
set -e
assert_eq 124 "$rc" "an agent with its database down keeps trying (until told to stop)"
assert_eq 1 "$(grep -c 'cannot poll the database' "$TEST_SCRATCH/down.err")" "one warning line for an unreachable database"
if grep -q "sekret-pw" "$TEST_SCRATCH/down.err"; then fail "the password reached the log"
else pass "no password in the agent's log"; fi
OFF=$TEST_SCRATCH/off
SHIMFS_CACHE_DIR=$OFF SHIMFS_AGENT=0 shim ls "$PREFIX/t" > /dev/null
sleep 0.5
if SHIMFS_CACHE_DIR=$OFF "$CLI" agent --status > /dev/null; then fail "SHIMFS_AGENT=0 started an agent"
else pass "SHIMFS_AGENT=0 starts none"; fi

# --- the caller does not wait for the launcher ---
# SHIMFS_AGENT names a launcher that stays until the test lets it go (at
# most 20 s): the process starting it must answer meanwhile (before, it
# waited for the launcher's exit: the 2-3 ms of loading the shimfs binary
# and forking, on every cold node's first question).
# pgrep runs without the preload: under SANITIZE=1 the ASan runtime alone
# deadlocks procps at its start (textdomain's lock), shim or not.
HOLD=$TEST_SCRATCH/hold-$$   # its own name: pgrep sees no other run's
printf '#!/bin/sh\nfor i in $(seq 1 400); do [ -e "%s.go" ] && exit 0; sleep 0.05; done\nexit 0\n' \
    "$HOLD" > "$HOLD.sh"
chmod +x "$HOLD.sh"
set +e
SHIMFS_CACHE_DIR=$TEST_SCRATCH/hold-cache SHIMFS_AGENT=$HOLD.sh timeout 30 \
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_LOG=error sh -c \
    'stat -c %F "$1" > /dev/null && env -u LD_PRELOAD pgrep -f "^/bin/sh $3" > "$2.pids"; echo answered > "$2"' \
    sh "$PREFIX/t" "$HOLD.out" "$HOLD.sh" > /dev/null 2>&1 &
runner=$!
set -e
for _ in $(seq 1 100); do [ -s "$HOLD.out" ] && break; sleep 0.1; done
touch "$HOLD.go"
wait "$runner" || true
check "a process answers while its agent launcher has not exited" grep -q answered "$HOLD.out"
check "...and the launcher was running then" test -s "$HOLD.out.pids"
