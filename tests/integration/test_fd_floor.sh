#!/usr/bin/env bash
# tests/integration/test_fd_floor.sh — the engine's descriptors stay at 10
# or above (core/io.h, IO_FD_FLOOR), where no shell or program picks a
# number by hand (`exec 4> file` dup2s onto 4 and silently replaces what
# was there):
#  - after cold reads (S3 GETs: libcurl's lanes, their connections and
#    their wakeup socketpairs), a write uploaded to the bucket, a tiny
#    file kept inline (the node cache's temp file) and metadata queries,
#    a process holds nothing of the engine's below 10; before, each S3
#    lane's wakeup socketpair (and its connections) sat at 4–9;
#  - a shell that reads the volume, then redirects 4–9 to files of its
#    own and reads the volume again, reads the right bytes and finds
#    nothing of the engine's written into its files.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services
need_cmd python3 bash

PREFIX=/mnt/shimfs-fdfloor-$$
export SHIMFS_CACHE_DIR=$TEST_SCRATCH/cache
test_volume fdfloor
shim() { env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_LOG=error "$@"; }

SRC=$TEST_SCRATCH/src
mkdir -p "$SRC"
for i in 1 2 3; do head -c 300000 /dev/urandom > "$SRC/f$i"; done
SHIMFS_CACHE_DIR=$TEST_SCRATCH/writer shim sh -c 'for i in 1 2 3; do cp "$1/f$i" "$2/f$i"; done' _ "$SRC" "$PREFIX"

# ---- nothing of the engine's below 10 ----
out=$(shim python3 - "$PREFIX" "$SRC" <<'EOF' 2>&1 || true
import os, sys
vol, src = sys.argv[1], sys.argv[2]
bad = 0
for i in (1, 2):
    if open(f"{vol}/f{i}", "rb").read() != open(f"{src}/f{i}", "rb").read():
        print(f"f{i}: wrong bytes"); bad += 1
with open(f"{vol}/big-out", "wb") as f:      # uploaded to the bucket
    f.write(os.urandom(5 << 20))
with open(f"{vol}/tiny-out", "wb") as f:     # inline, copied to the node cache
    f.write(b"tiny\n")
os.listdir(vol)
# what the engine keeps, not what its background threads hold for a moment
# (a read-ahead's transfer may be running): below 10 in every one of 5
# looks over a second
import time
def what(link):
    # a socket's kind and far end, so a failure says whose it is
    if not link.startswith("socket:["):
        return link
    ino = link[8:-1]
    for kind in ("tcp", "tcp6", "unix"):
        try:
            for line in open(f"/proc/self/net/{kind}").read().splitlines()[1:]:
                f = line.split()
                if kind == "unix" and len(f) >= 7 and f[6] == ino:
                    return f"{link} unix {f[7] if len(f) > 7 else '(unnamed)'}"
                if kind != "unix" and len(f) > 9 and f[9] == ino:
                    return f"{link} {kind} to port {int(f[2].split(':')[1], 16)}"
        except OSError:
            pass
    return link
kept = None
for _ in range(5):
    now = set()
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= 2 or fd >= 10:
            continue
        try:
            now.add(f"{fd}->{what(os.readlink('/proc/self/fd/' + name))}")
        except OSError:
            pass                              # the listing's own descriptor, gone
    kept = now if kept is None else kept & now
    time.sleep(0.25)
print("low:", " ".join(sorted(kept)) if kept else "none")
print("ok" if bad == 0 else "bad")
EOF
)
assert_eq "low: none|ok" "$(grep -E '^(low|ok|bad)' <<<"$out" | tr '\n' '|' | sed 's/|$//')" \
    "after cold reads, an upload and an inline write, no engine descriptor below 10"

# ---- a shell's own redirections over 4-9 ----
out=$(shim bash -c '
read -r -N 100 a < "$1/f1"
for fd in 4 5 6 7 8 9; do eval "exec $fd>\"$2/out.$fd\""; done
read -r -N 100 b < "$1/f3"
for fd in 4 5 6 7 8 9; do eval "exec $fd>&-"; done
printf "%s" "$b" | od -An -tx1 | tr -d " \n"
' _ "$PREFIX" "$TEST_SCRATCH" 2>&1 || true)
want=$(bash -c 'read -r -N 100 b < "$1"; printf "%s" "$b"' _ "$SRC/f3" | od -An -tx1 | tr -d ' \n')
assert_eq "$want" "$out" "a shell that redirected 4-9 to its own files reads the volume right"
assert_eq 0 "$(cat "$TEST_SCRATCH"/out.* | wc -c)" "...and finds nothing of the engine's written into them"

test_finish
