#!/usr/bin/env bash
# tests/integration/test_fifo.sh — a FIFO made in the volume is a volume
# entry (stat, ls, unlink) whose pipe is the node's: a writer and a reader
# of the node talk through it by its volume path, across users, with the
# kernel's FIFO rules (O_RDONLY|O_NONBLOCK opens with no writer, O_WRONLY|
# O_NONBLOCK with no reader is ENXIO, O_RDWR opens); the volume's
# permission bits are checked first (EACCES for another user); the pipes'
# folder is made 01733 (nobody else lists it), a name that is not a pipe
# is never opened, a folder of another user is refused; unlink removes
# the node's pipe.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd python3 runuser

PREFIX=/mnt/shimfs-fifo-$$
FIFODIR="$TEST_SCRATCH/fifos"
test_volume fifo
shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_FIFO_DIR="$FIFODIR" SHIMFS_LOG=warn "$@"
}
# the second user's command gets the preload, runuser does not (SANITIZE=1)
NOBODY_CACHE=$(mktemp -d /tmp/shimfs-fifo-nobody.XXXXXX)
TEST_CLEANUP+=("rm -rf '$NOBODY_CACHE'")
chown nobody "$NOBODY_CACHE"
as_nobody() {
    shim env -u LD_PRELOAD SHIMFS_CACHE_DIR="$NOBODY_CACHE" \
        runuser -u nobody -- env LD_PRELOAD="$SHIMFS_PRELOAD" "$@"
}
mkdir -p "$TEST_SCRATCH/cache"
chmod 755 "$TEST_SCRATCH"
check "a folder" shim sh -c "mkdir $PREFIX/d && chmod 777 $PREFIX/d"
check "mkfifo" shim mkfifo -m 666 "$PREFIX/d/p"
assert_eq "fifo" "$(shim stat -c %F "$PREFIX/d/p" | sed 's/^.*fifo.*$/fifo/')" "stat: a fifo"
assert_eq "p" "$(shim ls "$PREFIX/d")" "ls lists it"

cat > "$TEST_SCRATCH/flags.py" <<'PY'
import errno, os, sys
path = sys.argv[1]
for name, fl in (("rdonly_nonblock", os.O_RDONLY | os.O_NONBLOCK),
                 ("wronly_nonblock", os.O_WRONLY | os.O_NONBLOCK),
                 ("rdwr", os.O_RDWR)):
    try:
        fd = os.open(path, fl); os.close(fd); print(name, 0)
    except OSError as e:
        print(name, errno.errorcode[e.errno])
PY
out=$(shim python3 "$TEST_SCRATCH/flags.py" "$PREFIX/d/p" 2>&1)
echo "$out" | grep -qx 'rdonly_nonblock 0' && pass "O_RDONLY|O_NONBLOCK without a writer opens" || fail "$out"
echo "$out" | grep -qx 'wronly_nonblock ENXIO' && pass "O_WRONLY|O_NONBLOCK without a reader: ENXIO" || fail "$out"
echo "$out" | grep -qx 'rdwr 0' && pass "O_RDWR opens" || fail "$out"
mode=$(stat -c %a "$FIFODIR")
assert_eq "1733" "$mode" "SHIMFS_FIFO_DIR made 01733 (sticky, not listable by others)"

# a reader as root, a writer as nobody (another process, another user)
timeout 30 env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
    SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_FIFO_DIR="$FIFODIR" SHIMFS_LOG=warn \
    sh -c "cat $PREFIX/d/p > $TEST_SCRATCH/got" &
rd=$!
out=$(as_nobody timeout 30 sh -c "printf 'through the pipe\n' > $PREFIX/d/p" 2>&1) || true
wait_bounded "$rd" 30 "the reader"
assert_eq "through the pipe" "$(cat "$TEST_SCRATCH/got")" "nobody writes, root reads: the data arrives ($out)"

check "chmod 600" shim chmod 600 "$PREFIX/d/p"
out=$(as_nobody python3 "$TEST_SCRATCH/flags.py" "$PREFIX/d/p" 2>&1) || true
echo "$out" | grep -qx 'rdonly_nonblock EACCES' && pass "nobody, mode 600: EACCES (the volume's bits)" || fail "$out"

# the folder: nobody cannot list it; a name holding something else than a
# pipe is never opened; a folder of another user is refused
out=$(runuser -u nobody -- ls "$FIFODIR" 2>&1) && fail "nobody lists the pipes: $out" ||
    pass "nobody cannot list the pipes"
check "a second fifo" shim mkfifo -m 666 "$PREFIX/d/q"
pipes=$(ls "$FIFODIR" | wc -l)
assert_eq 1 "$pipes" "one pipe made so far (the first FIFO's)"
shim python3 "$TEST_SCRATCH/flags.py" "$PREFIX/d/q" >/dev/null 2>&1 || true
qpipe=$(ls -t "$FIFODIR" | head -1)
rm -f "$FIFODIR/$qpipe" && ln -s /etc/hostname "$FIFODIR/$qpipe"
out=$(shim python3 "$TEST_SCRATCH/flags.py" "$PREFIX/d/q" 2>&1) || true
echo "$out" | grep -qx 'rdonly_nonblock ELOOP\|rdonly_nonblock EACCES' &&
    pass "a symlink at a pipe's name is never followed" || fail "$out"
rm -f "$FIFODIR/$qpipe"
OTHER="$NOBODY_CACHE/fifos"
runuser -u nobody -- mkdir -m 1733 "$OTHER"
out=$(SHIMFS_FIFO_DIR="$OTHER" env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" \
    SHIMFS_META="$META" SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_FIFO_DIR="$OTHER" \
    SHIMFS_LOG=warn python3 "$TEST_SCRATCH/flags.py" "$PREFIX/d/q" 2>&1) || true
echo "$out" | grep -qx 'rdonly_nonblock EACCES' && pass "a folder of another user: EACCES" || fail "$out"
echo "$out" | grep -q 'belongs to another user' && pass "one warning says why" || fail "no warning: $out"

check "unlink the fifo" shim rm "$PREFIX/d/p" "$PREFIX/d/q"
assert_eq "" "$(shim ls "$PREFIX/d")" "nothing left"
assert_eq 0 "$(ls "$FIFODIR" | wc -l)" "unlink removed the node's pipes"
