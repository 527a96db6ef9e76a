#!/usr/bin/env bash
# tests/integration/test_agent_ask.sh — questions a process hands to the
# node agent instead of connecting (core/agent/agent_ask.h, vfs_agent.c):
#  - with an agent serving the node, a cold process (nothing of its path in
#    the node's files) stats a deep file, lists a folder (one of 1,500
#    files too) and reads a file with no PostgreSQL connection of its own
#    (strace), and right: the agent walked and listed for it over
#    agent.sock;
#  - SHIMFS_AGENT_ASK=0: the same process connects (so the trace sees it);
#  - a missing name still answers ENOENT; a process that opens many
#    missing names has the agent poll once, and makes no connection;
#  - another node's new file opens on this node at once, while this
#    node's listing of its folder is still vouched for;
#  - the agent's log counts the questions it answered;
#  - another user can reach neither the node's folder nor the socket, and
#    junk on the socket (a bad header, a half question, a closed peer)
#    costs the agent nothing: it answers the next process right;
#  - an agent killed with SIGKILL leaves its socket behind: a process then
#    asks the database itself, right, within a second or two, not the
#    question's 3 s bound times each name.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd strace  # scripts/deps.sh installs it
need_cmd python3

CLI=$SHIMFS_CLI
PREFIX=/mnt/shimfs-ask-$$                # need not exist on the host
SRC=$TEST_SCRATCH/src
export SHIMFS_CACHE_DIR=$TEST_SCRATCH/cache
export SHIMFS_AGENT_IDLE=60
[ ! -e "$PREFIX" ] || { fail "$PREFIX exists on the host"; exit 1; }

test_volume ask
"$TEST_ROOT/scripts/gen-dataset.sh" "$SRC/data" 40 4 20K 11
"$TEST_ROOT/scripts/gen-dataset.sh" "$SRC/big" 1500 1 100 12   # past a first page
"$CLI" import "$SRC" /t > /dev/null

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_LOG=error "$@"
}
on_exit 'stop_agent_of "$SHIMFS_CACHE_DIR"; stop_agent_of "$TEST_SCRATCH/c2"; stop_agent_of "$TEST_SCRATCH/c3"; stop_agent_of "$TEST_SCRATCH/c4"'
agent_asks() { grep -c 'agent.sock' "$TRACE" || true; }

# ---- a cold process of a node whose agent serves ----
check "an agent serves the fresh node" start_agent "$SHIMFS_CACHE_DIR"
F=t/data/d0002/f0000006.bin
want_stat=$(stat -c '%s %a' "$SRC/data/d0002/f0000006.bin")
got=$(traced stat -c '%s %a' "$PREFIX/$F")
assert_eq "$want_stat" "$got" "a cold stat of a deep file answers right"
assert_eq 0 "$(pg_connects)" "...with no PostgreSQL connection of its own"
if [ "$(agent_asks)" -ge 1 ]; then pass "...the agent walked for it ($(agent_asks) questions)"
else fail "the cold stat never asked the agent"; fi
got=$(traced ls "$PREFIX/t/data/d0003" | tr '\n' ' ')
assert_eq "$(ls "$SRC/data/d0003" | tr '\n' ' ')" "$got" "a cold listing answers right"
assert_eq 0 "$(pg_connects)" "...with no connection"
got=$(traced ls "$PREFIX/t/big/d0000" | wc -l)
assert_eq 1500 "$got" "a cold listing of a folder of 1,500 files answers right"
assert_eq 0 "$(pg_connects)" "...with no connection (the agent lists it whole, up to 16,384)"
traced cat "$PREFIX/t/data/d0001/f0000005.bin" > "$TEST_SCRATCH/out"
assert_files_equal "$SRC/data/d0001/f0000005.bin" "$TEST_SCRATCH/out" "a cold read returns the file's bytes"
assert_eq 0 "$(pg_connects)" "...with no connection (its block map came with the agent's listing)"
set +e
traced stat "$PREFIX/t/data/d0001/nothing-here" > /dev/null 2>&1
rc=$?
set -e
assert_eq 1 "$rc" "a missing name is still ENOENT"

# ---- names a process opens and does not find (a compiler's include
# search, ld.so's library search): the agent polls once for the process,
# no query and no connection a miss (before, each failing open asked the
# database for its name: a connection, and a round trip a name) ----
MISS='
import sys
for d in sys.argv[1:]:
    for i in range(8):
        try:
            open("%s/missing-%d.h" % (d, i))
        except FileNotFoundError:
            continue
        sys.exit("found %s/missing-%d.h" % (d, i))
'
shim ls "$PREFIX/t/data/d0001" "$PREFIX/t/data/d0002" > /dev/null  # the node's listings
traced python3 -c "$MISS" "$PREFIX/t/data/d0001" "$PREFIX/t/data/d0002"
pass "16 opens of missing names in listed folders fail with ENOENT"
assert_eq 0 "$(pg_connects)" "...with no PostgreSQL connection of the process"

# ---- a name another node created just before the process started: found,
# though this node's listing of its folder, vouched for by the agent, is
# older (a poll every 5 s here: the listing stays vouched past the
# creation until the process has the agent poll) ----
rm -rf "$TEST_SCRATCH/c4"
check "an agent serves a fourth fresh node" env SHIMFS_AGENT_POLL=5 bash -c \
    "$(declare -f start_agent agent_pid); SHIMFS_CLI=$SHIMFS_CLI start_agent $TEST_SCRATCH/c4"
shim env SHIMFS_CACHE_DIR="$TEST_SCRATCH/c4" ls "$PREFIX/t/data/d0003" > /dev/null
sleep 0.3
shim sh -c 'echo fresh > "$1"' _ "$PREFIX/t/data/d0003/new-from-a.txt"
assert_eq "fresh" "$(shim env SHIMFS_CACHE_DIR="$TEST_SCRATCH/c4" cat "$PREFIX/t/data/d0003/new-from-a.txt" 2>&1)" \
    "another node's new file opens on this node at once"
stop_agent_of "$TEST_SCRATCH/c4"

# ---- SHIMFS_AGENT_ASK=0: the process asks itself ----
rm -rf "$TEST_SCRATCH/c2"
check "an agent serves a second fresh node" start_agent "$TEST_SCRATCH/c2"
got=$(SHIMFS_CACHE_DIR=$TEST_SCRATCH/c2 SHIMFS_AGENT_ASK=0 traced stat -c '%s %a' "$PREFIX/$F")
assert_eq "$want_stat" "$got" "with SHIMFS_AGENT_ASK=0 the stat answers right"
if [ "$(pg_connects)" -ge 1 ]; then pass "...and connects itself ($(pg_connects) connections)"
else fail "SHIMFS_AGENT_ASK=0 made no connection: the trace sees none at all?"; fi
assert_eq 0 "$(agent_asks)" "...asking the agent nothing"

# ---- trust and junk ----
NODE=$(dirname "$(find "$SHIMFS_CACHE_DIR/meta" -name agent.sock -print -quit)")
[ -S "$NODE/agent.sock" ] || { fail "no agent.sock in the node's folder"; exit 1; }
assert_eq 700 "$(stat -c %a "$NODE")" "the node's folder is its user's alone"
if runuser -u nobody -- python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1])' "$NODE/agent.sock" 2>/dev/null
then fail "another user connected to the agent's socket"
else pass "another user cannot reach the agent's socket"; fi
python3 - "$NODE/agent.sock" <<'EOF'
import socket, struct, sys
p = sys.argv[1]
def talk(data, close_early=False):
    s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(p)
    if data: s.sendall(data)
    if close_early: s.close(); return
    try: s.recv(4)
    except OSError: pass
    s.close()
talk(b"\x00" * 3)                                    # half a header, then nothing
talk(b"junk" * 40)                                   # a bad magic
hdr = struct.pack("<IIIIIIQ", 0x31515341, ord("w"), 17, 1, 1, 0, 2) + b"\0" * 32
talk(hdr)                                            # too many names
hdr = struct.pack("<IIIIIIQ", 0x31515341, ord("w"), 1, 300, 1, 0, 2) + struct.pack("<H", 300) + b"\0" * 30
talk(hdr + b"x" * 300)                               # a name too long
hdr = struct.pack("<IIIIIIQ", 0x31515341, ord("w"), 1, 5, 1, 0, 2) + struct.pack("<H", 5) + b"\0" * 30
talk(hdr + b"ab", close_early=True)                  # a name cut short by a closed peer
talk(b"", close_early=True)
hdr = struct.pack("<IIIIIIQ", 0x31515341, ord("d"), 0, 0, 0, 0, 2) + b"\0" * 32
talk(hdr)                                            # a listing of no entries
EOF
pid=$(agent_pid "$SHIMFS_CACHE_DIR")
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then pass "junk on the socket leaves the agent serving"
else fail "the agent is gone after junk on its socket"; fi
got=$(traced stat -c '%s %a' "$PREFIX/t/data/d0000/f0000000.bin")
assert_eq "$(stat -c '%s %a' "$SRC/data/d0000/f0000000.bin")" "$got" "...and it answers the next process right"
assert_eq 0 "$(pg_connects)" "...with no connection"

# ---- the agent's log ----
stop_agent_of "$SHIMFS_CACHE_DIR"
for i in $(seq 1 50); do grep -q "leaving" "$SHIMFS_CACHE_DIR/agent.log" 2>/dev/null && break; sleep 0.2; done
n=$(sed -n 's/.*answered \([0-9]*\) questions.*/\1/p' "$SHIMFS_CACHE_DIR/agent.log" | tail -1)
if [ "${n:-0}" -ge 3 ]; then pass "the agent's log counts the questions it answered ($n)"
else fail "agent.log: $(tail -3 "$SHIMFS_CACHE_DIR/agent.log" | tr '\n' '|')"; fi

# ---- an agent killed: its socket stays, nobody listens ----
rm -rf "$TEST_SCRATCH/c3"
check "an agent serves a third fresh node" start_agent "$TEST_SCRATCH/c3"
kill -KILL "$(agent_pid "$TEST_SCRATCH/c3")"
t0=$(date +%s%N)
got=$(SHIMFS_CACHE_DIR=$TEST_SCRATCH/c3 SHIMFS_AGENT=0 traced stat -c '%s %a' "$PREFIX/$F")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
assert_eq "$want_stat" "$got" "with the agent killed, a cold stat answers right"
if [ "$(pg_connects)" -ge 1 ]; then pass "...asking the database itself"
else fail "no connection with the agent killed"; fi
if [ "$ms" -le 2500 ]; then pass "...in $ms ms (no wait for a dead agent)"
else fail "a cold stat with a killed agent took $ms ms"; fi
test_finish
