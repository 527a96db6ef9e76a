#!/usr/bin/env bash
# tests/integration/test_log_file.sh — SHIMFS_LOG=LEVEL,file=PATH, for the
# shim's logger (shim/shim_log.c) and the engine's (core/log.c):
#  - the file is created 0600 whatever the umask (lines name volume paths);
#  - a symlink at PATH is not followed (another user's link would make us
#    create or append to a file of their choosing): the lines go to stderr
#    and the link's target is never created;
#  - a FIFO nobody reads does not hang the program.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

D=$TEST_SCRATCH/logs
mkdir -p "$D"
# A relative prefix makes the shim log one line at start-up, then stay out.
shim_line() { local f=$1; shift; env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX=not-absolute SHIMFS_LOG="warn,file=$f" "$@"; }

(umask 022; shim_line "$D/shim.log" /bin/true)
assert_eq 600 "$(stat -c %a "$D/shim.log" 2>/dev/null || echo none)" "the shim's log file is created 0600"
assert_eq 1 "$(grep -c "SHIMFS_PREFIX=not-absolute" "$D/shim.log" || true)" "and holds the line"

ln -s "$D/shim-target" "$D/shim-link"
shim_line "$D/shim-link" /bin/true 2> "$TEST_SCRATCH/err"
assert_eq no "$(test -e "$D/shim-target" && echo yes || echo no)" "the shim follows no symlink to its log file"
assert_eq 1 "$(grep -c "SHIMFS_PREFIX=not-absolute" "$TEST_SCRATCH/err" || true)" "the line goes to stderr instead"

mkfifo "$D/fifo"
rc=0; timeout 20 env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX=not-absolute SHIMFS_LOG="warn,file=$D/fifo" \
    /bin/true 2> /dev/null || rc=$?
assert_eq 0 "$rc" "a FIFO nobody reads does not hang the program"

# The engine's logger, through the CLI: a bad setting is one warn line.
cli_line() {   # no database on port 1: the bad setting is read and logged before that fails
    SHIMFS_LOG="warn,file=$1" SHIMFS_PREFETCH=lots SHIMFS_META=postgresql://127.0.0.1:1/none \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" PGCONNECT_TIMEOUT=2 "$SHIMFS_CLI" ls / > /dev/null || true
}
(umask 022; cli_line "$D/core.log" 2> /dev/null)
assert_eq 600 "$(stat -c %a "$D/core.log" 2>/dev/null || echo none)" "the engine's log file is created 0600"
check "and holds the line" grep -q "SHIMFS_PREFETCH=lots" "$D/core.log"
ln -s "$D/core-target" "$D/core-link"
cli_line "$D/core-link" 2> "$TEST_SCRATCH/err"
assert_eq no "$(test -e "$D/core-target" && echo yes || echo no)" "the engine follows no symlink to its log file"
check "its line goes to stderr instead" grep -q "SHIMFS_PREFETCH=lots" "$TEST_SCRATCH/err"
