# shellcheck shell=bash
# tests/integration/lib.sh — sourced by every tests/integration/*.sh.
# Owns: the services' environment (sourced from .scratch/services/env when
# it exists), a fresh scratch folder per test ($TEST_SCRATCH, kept after the
# run for inspection), pass/fail/skip counting, and the closing line
# `N passed, N failed, N skipped` that scripts/run-tests.sh and CI read.
# Promises: a test that asserts nothing, or dies early (set -e, a signal, an
# unset variable), ends with a failure counted and a non-zero exit; a test
# that cannot run (a service or tool missing) exits 77, counted as skipped.
#
#   source "$(dirname "$0")/lib.sh"
#   need_services                       # skip now when they are not running
#   need_cmd sqlite3 git                # skip now when a tool is missing
#   skip_test "why"                     # skip the rest of the test (exit 77)
#   skip "what"                         # count one check as skipped
#   assert_eq "$expected" "$actual" "what"
#   assert_files_equal a b "what"
#   check "what" cmd args...            # pass when cmd exits 0
#   url=$(test_db); url=$(test_bucket)  # fresh, named after the test
#   pass "what"; fail "what"            # count by hand; neither exits
#   on_exit 'kill "$pid"'               # cleanup; do not set your own EXIT trap

TEST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TEST_NAME=$(basename "$0" .sh)
TEST_SCRATCH=$TEST_ROOT/.scratch/tests/$TEST_NAME
TEST_PASSED=0
TEST_FAILED=0
TEST_SKIPPED=0
TEST_SKIP=77
TEST_CLEANUP=()
# The build under test (build/, or build/san/ under `make check
# SANITIZE=1`; scripts/sanitize.sh sets both variables).
SHIMFS_BUILD=${SHIMFS_BUILD:-$TEST_ROOT/build}
SHIMFS_CLI=${SHIMFS_CLI:-$SHIMFS_BUILD/shimfs}
# LD_PRELOAD for a shim library: the sanitizer runtime, when there is one,
# must come first.
preload_of() { printf '%s' "${SHIMFS_PRELOAD_FIRST:+$SHIMFS_PRELOAD_FIRST:}$1"; }
SHIMFS_PRELOAD=${SHIMFS_PRELOAD:-$(preload_of "$SHIMFS_BUILD/libshimfs.so")}

TEST_ENV_FILE=${SHIMFS_SERVICES_DIR:-$TEST_ROOT/.scratch/services}/env
if [ -f "$TEST_ENV_FILE" ]; then
    # shellcheck source=/dev/null
    . "$TEST_ENV_FILE"
fi

rm -rf "$TEST_SCRATCH"
mkdir -p "$TEST_SCRATCH"
# A node agent a test's processes start leaves soon after the test (its
# scratch cache folder outlives it); test_agent sets its own.
export SHIMFS_AGENT_IDLE=${SHIMFS_AGENT_IDLE:-3}
# No free-space floor for the node cache (the unit tests test the floor):
# with it, every check that looks for cached blocks depended on how full
# the machine's disk was (a shared disk under 10 % free kept no block).
export SHIMFS_FREE_SPACE_RATIO=0

# The node's FIFO pipes in a folder of the test's own, made by root as an
# admin does (a test run as nobody first would otherwise own the machine's
# /tmp/shimfs-fifo, which root then rightly refuses).
if [ "$(id -u)" = 0 ]; then
    export SHIMFS_FIFO_DIR=/tmp/shimfs-fifo-test-$TEST_NAME-$$
    rm -rf "$SHIMFS_FIFO_DIR" && install -d -m 1733 "$SHIMFS_FIFO_DIR"
    TEST_CLEANUP+=("rm -rf '$SHIMFS_FIFO_DIR'")
fi

pass() {
    TEST_PASSED=$((TEST_PASSED + 1))
    printf 'ok   %s\n' "$*"
}

fail() {
    TEST_FAILED=$((TEST_FAILED + 1))
    printf 'FAIL %s\n' "$*"
}

skip() {
    TEST_SKIPPED=$((TEST_SKIPPED + 1))
    printf 'skip %s\n' "$*"
}

# Ends the test now as skipped (unless something already failed).
skip_test() {
    skip "$TEST_NAME: $*"
    exit "$TEST_SKIP"
}

need_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || skip_test "$c is not installed"
    done
}

assert_eq() {
    local expected=$1 actual=$2 what=${3:-value}
    if [ "$expected" = "$actual" ]; then
        pass "$what"
    else
        fail "$what: expected '$expected', got '$actual'"
    fi
}

assert_files_equal() {
    local a=$1 b=$2 what=${3:-"$1 = $2"} diff
    if diff=$(cmp -- "$a" "$b" 2>&1); then
        pass "$what"
    else
        fail "$what: $diff"
    fi
}

check() {
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what: '$*' exited with $?"; fi
}

# Polls CMD until it succeeds, for at most SECONDS (tenths of a second apart).
wait_for() {
    local seconds=$1 i; shift
    for ((i = 0; i < seconds * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

need_services() {
    if [ -z "${SHIMFS_META:-}" ] || [ -z "${SHIMFS_TEST_S3_ENDPOINT:-}" ]; then
        skip_test "test services are not running (scripts/services.sh start)"
    fi
}

# A fresh database / bucket named after the test (and an optional suffix).
test_db() {
    local name
    name=$(printf '%s_%s' "$TEST_NAME" "${1:-db}" | tr 'A-Z-' 'a-z_' | tr -cd 'a-z0-9_')
    "$TEST_ROOT/scripts/services.sh" newdb "${name:0:63}"
}

test_bucket() {
    local name
    name=$(printf '%s-%s' "$TEST_NAME" "${1:-bucket}" | tr 'A-Z_' 'a-z-' | tr -cd 'a-z0-9-')
    "$TEST_ROOT/scripts/services.sh" newbucket "${name:0:63}"
}

# A fresh database and bucket with volume $1 formatted on them: sets META
# and BUCKET, and exports SHIMFS_META for the CLI and the shim.
test_volume() {
    META=$(test_db)
    BUCKET=$(test_bucket)
    export SHIMFS_META=$META
    "$SHIMFS_CLI" format "$1" --bucket "$BUCKET" > /dev/null ||
        { fail "cannot format volume $1"; exit 1; }
}

# A private PostgreSQL cluster in folder $1 (scripts/pg.sh), restarted
# once with the ALTER SYSTEM settings given as further arguments
# ("name = 'value'"): a WAL writer that waits (group commit tests), the
# default max_connections (fan-out)... Sets P, PGSH and PRIV_META, the URL
# of its shimfs database; stopped at the test's end. su_sql runs psql on
# it as the superuser.
private_pg() {
    P=$1
    shift
    PGSH=$TEST_ROOT/scripts/pg.sh
    on_exit '"$PGSH" stop "$P" >/dev/null 2>&1'
    "$PGSH" start "$P" 2>/dev/null
    local s
    for s in "$@"; do
        su_sql -d postgres -c "ALTER SYSTEM SET $s" > /dev/null
    done
    "$PGSH" stop "$P" && "$PGSH" start "$P" 2>/dev/null
    PRIV_META=postgresql://shimfs:shimfs-test@127.0.0.1:$("$PGSH" port "$P")/shimfs
}
su_sql() { psql -X -q -A -t -h "$("$PGSH" home "$P")" -p "$("$PGSH" port "$P")" -U postgres "$@"; }
# A volume named $1 on a private cluster in $TEST_SCRATCH/pg that counts
# statements (pg_stat_statements) and whose WAL writer waits 10 s (a commit
# nobody waited for stays unflushed): tests of what reaches the database
# and when it is durable. Skips the test without pg_stat_statements. Sets
# META and SHIMFS_META.
counting_pg_volume() {
    [ -f "$(ls /usr/lib/postgresql/*/lib/pg_stat_statements.so 2>/dev/null | head -n 1)" ] ||
        skip_test "pg_stat_statements is not installed"
    private_pg "$TEST_SCRATCH/pg" "wal_writer_delay = '10s'" "shared_preload_libraries = 'pg_stat_statements'"
    su_sql -d shimfs -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" > /dev/null
    META=$PRIV_META
    export SHIMFS_META=$META
    "$SHIMFS_CLI" format "$1" --bucket "$(test_bucket)" > /dev/null ||
        { fail "cannot format the volume"; exit 1; }
}

# Tests of upgrades make a volume of an older schema from a new one. One
# place knows what each version added (metadata-sql/schema/NNN_*.sql), so
# a new version is undone here once, not in every such test.
schema_latest() { find "$TEST_ROOT/metadata-sql/schema" -name '[0-9][0-9][0-9]_*.sql' | wc -l; }
# The SQL that takes a volume (sessions and reservations already emptied)
# back to version $1, newest version first.
schema_undo_sql() {
    local v=$1
    [ "$v" -ge 5 ] || echo "DROP TRIGGER entry_name_gone ON entry; DROP TRIGGER entry_name_moved ON entry;
        DROP FUNCTION shimfs_name_gone(); DROP TABLE entry_gone; DROP INDEX entry_by_ino;"
    [ "$v" -ge 4 ] || echo "DROP TABLE inline_block;"
    if [ "$v" -lt 3 ]; then
        echo "DROP TRIGGER inode_changed ON inode; DROP TRIGGER inode_dir_gone ON inode;
            DROP FUNCTION shimfs_inode_changed(), shimfs_dir_gone(); DROP TABLE inode_gone;
            ALTER TABLE inode DROP COLUMN chg;"
        # 003 replaced the walk (the row type had a column more): 001's again
        sed -n '/^CREATE FUNCTION shimfs_walk/,/^\$\$;/p' "$TEST_ROOT/metadata-sql/schema/001_init.sql" |
            sed 's/^CREATE FUNCTION/CREATE OR REPLACE FUNCTION/'
    fi
    [ "$v" -ge 2 ] || echo "ALTER TABLE session DROP COLUMN timeout; DROP TABLE reservation;"
    echo "DELETE FROM schema_version WHERE version > $v;
        UPDATE settings SET value = '$v' WHERE name = 'schema_version';"
}

# A command under the test's own shim() and strace: its connects go to
# $TRACE, and pg_connects counts those to the test's PostgreSQL.
TRACE=$TEST_SCRATCH/connects
traced() { shim strace -f -qq --seccomp-bpf -e trace=connect -o "$TRACE" "$@"; }
pg_connects() { grep -c "htons($SHIMFS_TEST_PG_PORT)" "$TRACE" || true; }
# Round trips to PostgreSQL of "$@" under the test's shim() (or the
# function RT_SHIM names: another node's) into RT: libpq sends each
# request, or pipelined batch, with one sendto. Its output goes to
# $TEST_SCRATCH/out.
round_trips() {
    "${RT_SHIM:-shim}" strace -f -qq -s 256 --seccomp-bpf -e trace=sendto -o "$TEST_SCRATCH/sends" "$@" \
        > "$TEST_SCRATCH/out"
    RT=$(grep -c 'sendto(' "$TEST_SCRATCH/sends" || true)
}
# The names of an `ls -f` listing in file $1, without . and .., sorted.
names() { grep -v '^\.\.\?$' "$1" | LC_ALL=C sort; }

# The node agent of cache folder $1: its pid ("" when none serves),
# started detached and waited for (up to 10 s; 1 when it never served),
# stopped (SIGTERM; nothing when none serves).
agent_pid() {
    SHIMFS_CACHE_DIR=$1 "$SHIMFS_CLI" agent --status 2>/dev/null | sed -n 's/.*(pid \([0-9]*\)).*/\1/p'
}
start_agent() {
    local i
    SHIMFS_CACHE_DIR=$1 "$SHIMFS_CLI" agent --detach > /dev/null 2>&1 || true
    for i in $(seq 1 50); do
        [ -z "$(agent_pid "$1")" ] || return 0
        sleep 0.2
    done
    return 1
}
stop_agent_of() {
    local pid
    pid=$(agent_pid "$1")
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
}

on_exit() {
    TEST_CLEANUP+=("$1")
}

# A faultproxy (tests/tools/faultproxy.c) in front of 127.0.0.1:$1 (more
# arguments go to it, e.g. --http): sets FP_PORT (where clients connect)
# and FP_CTL; `fault_ctl COMMAND` steers it and fails on a refusal.
fault_proxy() {
    local dir=$TEST_SCRATCH/faultproxy target=$1; shift
    mkdir -p "$dir"
    rm -f "$dir/ports"
    "$SHIMFS_BUILD/tools/faultproxy" --target "$target" --ports "$dir/ports" --max-seconds 900 "$@" &
    FP_PID=$!
    on_exit "kill $FP_PID 2>/dev/null"
    wait_for 10 test -s "$dir/ports" || { fail "faultproxy did not start"; exit 1; }
    read -r FP_PORT FP_CTL < "$dir/ports"
}

# A volume named $1 whose bucket is reached through faultproxy --http (so
# fault_ctl can freeze or break S3 under it): sets META, BUCKET (the
# bucket's own URL) and PBUCKET (the one behind the proxy).
proxy_volume() {
    local s3_port=${SHIMFS_TEST_S3_ENDPOINT##*:}
    fault_proxy "$s3_port" --http
    BUCKET=$(test_bucket)
    PBUCKET=${BUCKET/:$s3_port\//:$FP_PORT/}
    [ "$PBUCKET" != "$BUCKET" ] || { fail "cannot point $BUCKET at the proxy"; exit 1; }
    META=$(test_db)
    check "format a volume behind the proxy" "$SHIMFS_CLI" format "$1" --bucket "$PBUCKET" --meta "$META" > /dev/null
}

fault_ctl() {
    local fd reply=
    exec {fd}<>"/dev/tcp/127.0.0.1/$FP_CTL"
    printf '%s\n' "$*" >&"$fd"
    read -r -t 5 reply <&"$fd" || reply="no reply"
    exec {fd}>&-
    [ "${reply%% *}" = ok ] || { fail "faultproxy $*: $reply"; return 1; }
}

# Stops a command started with `FUNCTION ... &` (a test's shim()): $! is
# the subshell running the function, and its command (env's exec of the
# program) is that subshell's child, which a plain kill would leave behind.
kill_bg() {
    pkill -P "$1" 2>/dev/null || true
    kill "$1" 2>/dev/null || true
}

# Waits at most SECONDS for process PID; kills it (and fails) if it is
# still running then.
wait_bounded() {
    local pid=$1 seconds=$2 what=$3
    if wait_for "$seconds" eval '! kill -0 '"$pid"' 2>/dev/null'; then
        wait "$pid" || true
        return 0
    fi
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    fail "$what: still running after $seconds s (killed)"
    return 1
}

test_finish() {
    local rc=$? cmd
    trap - EXIT
    for cmd in "${TEST_CLEANUP[@]}"; do
        eval "$cmd" || true
    done
    if [ "$rc" -eq "$TEST_SKIP" ] && [ "$TEST_FAILED" -eq 0 ]; then
        printf '%d passed, %d failed, %d skipped\n' "$TEST_PASSED" 0 "$TEST_SKIPPED"
        exit "$TEST_SKIP"
    fi
    if [ "$rc" -ne 0 ] && [ "$TEST_FAILED" -eq 0 ]; then
        fail "$TEST_NAME stopped early with status $rc"
    fi
    if [ $((TEST_PASSED + TEST_FAILED)) -eq 0 ]; then
        fail "$TEST_NAME asserted nothing"
    fi
    printf '%d passed, %d failed, %d skipped\n' "$TEST_PASSED" "$TEST_FAILED" "$TEST_SKIPPED"
    if [ "$TEST_FAILED" -eq 0 ]; then exit 0; else exit 1; fi
}
trap test_finish EXIT
