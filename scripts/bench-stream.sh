#!/usr/bin/env bash
# scripts/bench-stream.sh — one big file through the shim next to plain
# clients of the same S3 server in the same run (issue 16, items 1 and 2):
#  read:  a cold `dd bs=1M` of a 512 MiB file under the shim (empty node
#         cache), against curl GETting the same bytes stored as one object:
#         one GET, and BENCH_RANGES (16) parallel ranged GETs; and, for
#         reference, curl GETting the volume's own block objects of that
#         file, 16 in parallel (the ceiling of the volume's layout).
#  write: `cp` of a 256 MiB file into the volume followed by `sync` (the
#         machine-wide sync: slow while other processes write), `cp` alone
#         (its close commits: durable), `dd bs=1M`, and Python writing
#         128 KiB pieces, against curl PUTting the same bytes as 4 MiB objects, 16
#         in parallel.
# s3fs and rclone rows only where installed (they are not dependencies).
# Each figure is the median of BENCH_RUNS (3); the targets are ratios of
# throughput in the same run: read >= 0.8 x the parallel ranged GETs, write
# >= 0.8 x the parallel PUT. Prints the load average before and after (the
# machine is shared). Sources are random (they do not compress).
# Services: reuses the running ones (scripts/services.sh env), else starts
# them and stops them at the end. Knobs: BENCH_RUNS, BENCH_READ_SIZE (512M),
# BENCH_WRITE_SIZE (256M), BENCH_RANGES (16), BENCH_PARALLEL (16),
# BENCH_DROP_CACHES=1 (drop the page cache before each cold read: needs
# root, and touches every process on the machine), SHIMFS_* for the shim.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLI=${SHIMFS_CLI:-$ROOT/build/shimfs}
PRELOAD=${SHIMFS_PRELOAD:-$ROOT/build/libshimfs.so}
SVC=$ROOT/scripts/services.sh
SCR=$ROOT/.scratch/bench-stream
RUNS=${BENCH_RUNS:-3}
READ_SIZE=${BENCH_READ_SIZE:-512M}
WRITE_SIZE=${BENCH_WRITE_SIZE:-256M}
RANGES=${BENCH_RANGES:-16}
PAR=${BENCH_PARALLEL:-16}
TMO=${BENCH_TIMEOUT:-300}
PREFIX=/mnt/shimfs-bench-stream-$$
PY=/usr/bin/python3

bench_log() { printf 'bench-stream: %s\n' "$*" >&2; }
bench_die() { bench_log "$*"; exit 1; }

for f in "$CLI" "$PRELOAD"; do [ -e "$f" ] || bench_die "$f missing: make all"; done
for c in curl timeout split "$PY"; do command -v "$c" > /dev/null || bench_die "$c missing"; done
[[ $RUNS =~ ^[1-9][0-9]?$ ]] || bench_die "BENCH_RUNS must be 1 to 99"

started=0
if ! "$SVC" env > /dev/null 2>&1; then
    bench_log "starting the services"
    "$SVC" start > /dev/null
    started=1
fi
bench_cleanup() {
    rm -rf "$SCR/cache" "$SCR/emptied" "$SCR/parts"
    [ "$started" -eq 0 ] || "$SVC" stop > /dev/null 2>&1 || true
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
# shellcheck source=/dev/null
eval "$("$SVC" env)"

mkdir -p "$SCR" "$SCR/emptied"
bytes_of() { numfmt --from=iec "$1"; }
make_src() {   # random bytes, kept for the next run
    local f=$1 n
    n=$(bytes_of "$2")
    if [ "$(stat -c %s "$f" 2> /dev/null || echo 0)" != "$n" ]; then
        bench_log "generating $f ($2)"
        head -c "$n" /dev/urandom > "$f.tmp" && mv "$f.tmp" "$f"
    fi
}
RSRC=$SCR/read.bin
WSRC=$SCR/write.bin
make_src "$RSRC" "$READ_SIZE"
make_src "$WSRC" "$WRITE_SIZE"
read_mib=$(stat -c %s "$RSRC" | awk '{ printf "%.3f", $1 / 1048576 }')
write_mib=$(stat -c %s "$WSRC" | awk '{ printf "%.3f", $1 / 1048576 }')
cat "$RSRC" "$WSRC" > /dev/null    # warm: the sources are read from memory

META=$("$SVC" newdb bench_stream)
BUCKET=$("$SVC" newbucket bench-stream)
RAW=$("$SVC" newbucket bench-stream-raw)
PUTB=$("$SVC" newbucket bench-stream-put)
export SHIMFS_META=$META
"$CLI" format benchs --bucket "$BUCKET" > /dev/null
SHIM=(env LD_PRELOAD="$PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_CACHE_DIR="$SCR/cache"
      SHIMFS_LOG="${SHIMFS_LOG:-error}")
shim() { "${SHIM[@]}" "$@"; }
CURL=(curl -sS --no-progress-meter --fail --aws-sigv4 "aws:amz:${AWS_REGION:-us-east-1}:s3"
      --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY")
EMPTY_SHA=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

bench_log "storing the read file: through the shim, and as one object"
mkdir -p "$SCR/src" && ln -f "$RSRC" "$SCR/src/read.bin"
timeout "$TMO" "$CLI" import "$SCR/src" /r > /dev/null
"${CURL[@]}" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -T "$RSRC" "$RAW/read.bin" > /dev/null
# the volume's block objects (everything under chunks/ of this new bucket)
"$PY" - "$SHIMFS_TEST_S3_ENDPOINT" "${BUCKET##*/}" > "$SCR/keys" <<'EOF'
import os, sys
import botocore.config, botocore.session
c = botocore.session.get_session().create_client(
    "s3", endpoint_url=sys.argv[1], region_name=os.environ.get("AWS_REGION", "us-east-1"),
    config=botocore.config.Config(s3={"addressing_style": "path"}))
for page in c.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[2]):
    for o in page.get("Contents", []):
        if "/chunks/" in o["Key"]:
            print(o["Key"])
EOF
awk -v e="$BUCKET" '{ printf "url = \"%s/%s\"\noutput = \"/dev/null\"\n", e, $1 }' "$SCR/keys" > "$SCR/blocks.cfg"
size=$(stat -c %s "$RSRC")
awk -v u="$RAW/read.bin" -v n="$RANGES" -v size="$size" 'BEGIN {
    step = int((size + n - 1) / n)
    for (s = 0; s < size; s += step) {
        e = s + step - 1; if (e >= size) e = size - 1
        printf "url = \"%s\"\noutput = \"/dev/null\"\nrange = \"%d-%d\"\n", u, s, e
    }
}' > "$SCR/ranges.cfg"
rm -rf "$SCR/parts" && mkdir -p "$SCR/parts"
(cd "$SCR/parts" && split -b 4M -d -a 4 "$WSRC" p)
n_put=$(find "$SCR/parts" -type f | wc -l)

now() { date +%s.%N; }
secs() {   # seconds a command took; fails the bench when it fails
    local t0 t1
    t0=$(now)
    timeout "$TMO" "$@" > /dev/null || bench_die "failed: $*"
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
nmove=0
fresh_cache() {   # moved aside, not deleted (see scripts/bench.sh)
    if [ -e "$SCR/cache" ]; then nmove=$((nmove + 1)); mv "$SCR/cache" "$SCR/emptied/$nmove"; fi
    mkdir -p "$SCR/cache"
    if [ "${BENCH_DROP_CACHES:-0}" = 1 ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi
}
put_cfg() {   # the parts, PUT to fresh keys of run $1
    find "$SCR/parts" -type f | sort | awk -v e="$PUTB" -v r="$1" \
        '{ n = split($0, p, "/"); printf "url = \"%s/run%s/%s\"\nupload-file = \"%s\"\noutput = \"/dev/null\"\n", e, r, p[n], $0 }' \
        > "$SCR/put.cfg"
}
load() { cut -d' ' -f1-3 /proc/loadavg; }

shim mkdir -p "$PREFIX/w"
load_before=$(load)
declare -a r_dd=() r_one=() r_rng=() r_blk=() w_cp=() w_cp1=() w_dd=() w_py=() w_put=() r_s3fs=()
check_read=ok check_write=ok
for run in $(seq 1 "$RUNS"); do
    bench_log "run $run of $RUNS (load $(load))"
    r_one+=("$(secs "${CURL[@]}" -H "x-amz-content-sha256: $EMPTY_SHA" -o /dev/null "$RAW/read.bin")")
    r_rng+=("$(secs "${CURL[@]}" -H "x-amz-content-sha256: $EMPTY_SHA" -Z --parallel-max "$RANGES" --parallel-immediate -K "$SCR/ranges.cfg")")
    r_blk+=("$(secs "${CURL[@]}" -H "x-amz-content-sha256: $EMPTY_SHA" -Z --parallel-max "$PAR" --parallel-immediate -K "$SCR/blocks.cfg")")
    fresh_cache
    r_dd+=("$(secs "${SHIM[@]}" dd if="$PREFIX/r/read.bin" of=/dev/null bs=1M status=none)")
    [ "$run" != 1 ] || [ "$(shim cat "$PREFIX/r/read.bin" | cmp - "$RSRC" > /dev/null 2>&1 && echo ok)" = ok ] ||
        check_read=DIFFERENT

    put_cfg "$run"
    w_put+=("$(secs "${CURL[@]}" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -Z --parallel-max "$PAR" --parallel-immediate -K "$SCR/put.cfg")")
    w_cp+=("$(secs "${SHIM[@]}" bash -c 'cp "$1" "$2" && sync' _ "$WSRC" "$PREFIX/w/cp$run")")
    w_cp1+=("$(secs "${SHIM[@]}" cp "$WSRC" "$PREFIX/w/cpo$run")")
    w_dd+=("$(secs "${SHIM[@]}" dd if="$WSRC" of="$PREFIX/w/dd$run" bs=1M status=none)")
    w_py+=("$(secs "${SHIM[@]}" "$PY" -c '
import sys
src, dst = sys.argv[1:3]
with open(src, "rb") as i, open(dst, "wb") as o:
    while True:
        b = i.read(128 << 10)
        if not b:
            break
        o.write(b)
' "$WSRC" "$PREFIX/w/py$run")")
    if [ "$run" = 1 ]; then
        for w in cp dd py; do
            shim cmp "$WSRC" "$PREFIX/w/${w}1" > /dev/null 2>&1 || check_write=DIFFERENT
        done
    fi
    shim rm -f "$PREFIX/w/cp$run" "$PREFIX/w/cpo$run" "$PREFIX/w/dd$run" "$PREFIX/w/py$run"
done
load_after=$(load)
s3fs_note="s3fs: not installed"; command -v s3fs > /dev/null && s3fs_note="s3fs: installed, not measured by this script"
rclone_note="rclone: not installed"; command -v rclone > /dev/null && rclone_note="rclone: installed, not measured by this script"

awk -v runs="$RUNS" -v rm="$read_mib" -v wm="$write_mib" -v ranges="$RANGES" -v par="$PAR" -v nput="$n_put" \
    -v dd="$(median "${r_dd[@]}")" -v one="$(median "${r_one[@]}")" -v rng="$(median "${r_rng[@]}")" \
    -v blk="$(median "${r_blk[@]}")" -v cp="$(median "${w_cp[@]}")" -v cp1="$(median "${w_cp1[@]}")" -v wdd="$(median "${w_dd[@]}")" \
    -v py="$(median "${w_py[@]}")" -v put="$(median "${w_put[@]}")" 'BEGIN {
    printf "stream benchmark: medians of %d runs, s3rver on 127.0.0.1\n", runs
    printf "%-60s %9s %9s %7s\n", "", "seconds", "MiB/s", "ratio"
    printf "read (ratio: throughput / curl, %d parallel ranges)\n", ranges
    row(sprintf("shimfs: dd bs=1M of a %.0f MiB file, cold cache", rm), dd, rm, rng)
    row("curl: one GET of the same bytes as one object", one, rm, rng)
    row(sprintf("curl: %d parallel ranged GETs of that object", ranges), rng, rm, rng)
    row(sprintf("curl: the volume'"'"'s block objects, %d in parallel", par), blk, rm, rng)
    printf "write (ratio: throughput / curl parallel PUT)\n"
    row(sprintf("shimfs: cp of a %.0f MiB file + sync (durable)", wm), cp, wm, put)
    row("shimfs: cp alone (its close commits: durable too)", cp1, wm, put)
    row("shimfs: dd bs=1M of it (close = commit)", wdd, wm, put)
    row("shimfs: python, 128 KiB writes", py, wm, put)
    row(sprintf("curl: PUT it as %d objects of 4 MiB, %d in parallel", nput, par), put, wm, put)
    printf "\n%-60s %9s %9s  %s\n", "target", "measured", "target", "verdict"
    ge(sprintf("cold dd / curl %d ranges (throughput)", ranges), rng / dd, 0.8)
    ge("cp + sync / curl parallel PUT (throughput)", put / cp, 0.8)
    ge("dd / curl parallel PUT (throughput)", put / wdd, 0.8)
    ge("python writes / curl parallel PUT (throughput)", put / py, 0.8)
    printf "for information: cold dd / the volume'"'"'s blocks GET by curl: %.3f; / one GET: %.3f\n", blk / dd, one / dd
}
function row(name, s, mib, base) { printf "%-60s %9.3f %9.1f %7.3f\n", name, s, mib / s, base / s }
function ge(name, v, t,   verdict) {
    verdict = (v >= t) ? "ok" : sprintf("MISSED by %.0f%%", (1 - v / t) * 100)
    printf "%-60s %9.3f %6s %.2f  %s\n", name, v, ">=", t, verdict
}' | tee "$SCR/results.txt"
{
    echo "load average (1, 5, 15 min): before $load_before, after $load_after; $(nproc) cores"
    echo "bytes read back intact: $check_read; written files intact: $check_write"
    echo "$s3fs_note; $rclone_note"
    echo "all runs (s): dd [${r_dd[*]}] one GET [${r_one[*]}] ranges [${r_rng[*]}] blocks [${r_blk[*]}]"
    echo "  cp+sync [${w_cp[*]}] cp [${w_cp1[*]}] dd [${w_dd[*]}] python [${w_py[*]}] curl PUT [${w_put[*]}]"
} | tee -a "$SCR/results.txt"
[ "$check_read" = ok ] && [ "$check_write" = ok ] || bench_die "the shim returned different bytes"
