#!/usr/bin/env bash
# scripts/bench-peers.sh — issue 16's side-by-side run: every row of its
# table for native disk, s3fs-fuse, rclone mount (--vfs-cache-mode full)
# and shimfs, next to the raw server ceiling measured by curl in the same
# run, with the ratios and whether each issue-16 target is met.
#   bench-peers.sh                 (`make bench-peers`; `make bench` ends with it)
#   BENCH_PEERS=s3fs bench-peers.sh   one peer only; "" for none
# Rows (each the median of BENCH_RUNS (3) runs, all in one run):
#   ls -lR of the 5,000-file tree, cold
#   small-file epoch (find | xargs cat of 5,000 x 128 KiB in 50 dirs), cold
#   and warm (right after the cold one)
#   512 MiB `dd bs=1M`, cold
#   256 MiB `cp` + `sync`, durable (peers: until the object is in the
#   bucket at full size: rclone uploads after its write-back delay)
#   1,000 x 4 KiB files `cp -r` + `sync`, durable (files/s)
#   `shimfs warmup` of the whole dataset against GETting all its objects
#   (by default, where the page cache choice is made by what fits in
#   memory; and with --no-page-cache)
# plus, for issue 16's items 4 and 5: the same small files imported packed
# (`import --pack-max BENCH_PACK_MAX`, 128K: 8 files a 1 MiB object), their
# cold and warm epoch and warmup, the GETs each made (`shimfs stats`), and
# dbench and fio 4 KiB randrw with verify (psync engine: the shim is an
# LD_PRELOAD) on native disk and in the volume.
# Cold: empty client cache (a fresh SHIMFS_CACHE_DIR; s3fs's use_cache and
# rclone's cache-dir moved aside and the mount remade) and, as root, the page
# cache dropped (`echo 3 > /proc/sys/vm/drop_caches`, BENCH_DROP_CACHES=1 by
# default when root: it touches every process of the machine).
# Ceilings (curl, no file system): the 5,000 small objects GET with
# BENCH_PARALLEL (50) connections; the 512 MiB object in one GET and in
# BENCH_RANGES (16) parallel ranges, and the big file's own block objects
# in volume A with as many connections (context for the cold dd: s3rver
# serves 128 objects of 4 MiB slower than 16 ranges of one file); the
# volume's block objects (warmup's ceiling); each read ceiling after the
# page cache was dropped, as before the file systems' cold rows; the
# 256 MiB file PUT as 4 MiB parts and the 1,000 files PUT,
# BENCH_PUT_PARALLEL (16) in parallel, each followed by `sync` as the file
# systems' write rows are (the server's objects are on this machine's disk).
# Every write row starts with nothing dirty (a `sync` before it, untimed).
# s3fs and rclone read the dataset as plain objects of one bucket of the
# same s3rver (path-style, 127.0.0.1, the test credentials), uploaded by
# rclone before the runs; a peer that is not installed is left out (its
# column says so). Mounts are undone on exit, whatever happens.
# Bounded: each command under `timeout` (BENCH_TIMEOUT, 300 s), each wait
# for a mount or an upload under BENCH_WAIT (120 s). About 15 minutes with
# both peers on 2 cores. Datasets are kept in .scratch/bench/data (shared
# with scripts/bench.sh); results in .scratch/bench-peers/results.txt.
# Services: reuses the running ones (scripts/services.sh env), else starts
# them and stops them at the end.
# Knobs: BENCH_RUNS, BENCH_PEERS, BENCH_FILES (5000), BENCH_DIRS (50),
# BENCH_SIZE (128K), BENCH_BIG (512M), BENCH_WRITE (256M), BENCH_TINY (1000),
# BENCH_PACK_MAX, BENCH_THREADS (warmup, 50), BENCH_PARALLEL, BENCH_RANGES,
# BENCH_PUT_PARALLEL, BENCH_DBENCH_SECS (10), BENCH_FIO_SIZE (64m),
# BENCH_DROP_CACHES, BENCH_TIMEOUT, BENCH_WAIT, SHIMFS_BUILD.
# shellcheck disable=SC2016 # bash -c '...' "$1": expanded by the inner shell
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${SHIMFS_BUILD:-$ROOT/build}
CLI=$BUILD/shimfs
PRELOAD=$BUILD/libshimfs.so
SVC=$ROOT/scripts/services.sh
SCR=$ROOT/.scratch/bench-peers
DATA=$ROOT/.scratch/bench/data
RUNS=${BENCH_RUNS:-3}
PEERS=${BENCH_PEERS-s3fs rclone}
FILES=${BENCH_FILES:-5000}
DIRS=${BENCH_DIRS:-50}
SIZE=${BENCH_SIZE:-128K}
BIG=${BENCH_BIG:-512M}
WRITE=${BENCH_WRITE:-256M}
TINY=${BENCH_TINY:-1000}
PACK_MAX=${BENCH_PACK_MAX:-128K}
THREADS=${BENCH_THREADS:-50}
PAR=${BENCH_PARALLEL:-50}
RANGES=${BENCH_RANGES:-16}
PUTPAR=${BENCH_PUT_PARALLEL:-16}
DBENCH_SECS=${BENCH_DBENCH_SECS:-10}
FIO_SIZE=${BENCH_FIO_SIZE:-64m}
TMO=${BENCH_TIMEOUT:-300}
WAIT=${BENCH_WAIT:-120}
DROP=${BENCH_DROP_CACHES:-$([ "$(id -u)" = 0 ] && echo 1 || echo 0)}
PREFIX=/mnt/shimfs-bench-peers-$$    # need not exist on the host
PY=/usr/bin/python3
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"

bench_log() { printf 'bench-peers: %s\n' "$*" >&2; }
bench_die() { bench_log "$*"; exit 1; }

for f in "$CLI" "$PRELOAD"; do [ -e "$f" ] || bench_die "$f missing: make all"; done
for c in curl timeout split mountpoint "$PY"; do command -v "$c" > /dev/null || bench_die "$c missing: scripts/deps.sh bench"; done
[[ $RUNS =~ ^[1-9][0-9]?$ ]] || bench_die "BENCH_RUNS must be 1 to 99"
[ ! -e "$PREFIX" ] || bench_die "$PREFIX exists on the host"
# The peers that can run here; rclone also uploads the peers' bucket.
peers=()
for p in $PEERS; do
    case $p in
        s3fs | rclone) ;;
        *) bench_die "unknown peer '$p' (s3fs rclone)" ;;
    esac
    if command -v "$p" > /dev/null && command -v rclone > /dev/null && [ -c /dev/fuse ]; then
        peers+=("$p")
    else
        bench_log "$p left out: not installed (scripts/deps.sh bench) or no /dev/fuse"
    fi
done

# ------------------------------------------------------------- lifecycle
mkdir -p "$SCR"
rm -rf "$SCR/emptied" "$SCR/local" "$SCR/cache" "$SCR"/cache-* "$SCR/parts"
mkdir -p "$SCR/emptied" "$SCR/local"
started=0
declare -A mnt_pid=()
peer_umount() {   # $1: peer; idempotent
    local m=$SCR/mnt-$1 i
    if mountpoint -q "$m" 2> /dev/null; then
        fusermount -u "$m" 2> /dev/null || fusermount -uz "$m" 2> /dev/null || umount -l "$m" 2> /dev/null || true
    fi
    if [ -n "${mnt_pid[$1]:-}" ]; then
        for i in $(seq 1 100); do kill -0 "${mnt_pid[$1]}" 2> /dev/null || break; sleep 0.1; done
        kill "${mnt_pid[$1]}" 2> /dev/null || true
        mnt_pid[$1]=
    fi
}
bench_cleanup() {
    local p
    for p in s3fs rclone; do peer_umount "$p"; done
    rm -rf "$SCR/emptied" "$SCR/local" "$SCR/cache" "$SCR"/cache-* "$SCR/parts"
    [ "$started" -eq 0 ] || "$SVC" stop > /dev/null 2>&1 || true
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
if ! "$SVC" env > /dev/null 2>&1; then
    bench_log "starting the services"
    "$SVC" start > /dev/null
    started=1
fi
# shellcheck source=/dev/null
eval "$("$SVC" env)"
EP=$SHIMFS_TEST_S3_ENDPOINT
# Every shimfs command of the bench uses this cache, never the node's default.
export SHIMFS_CACHE_DIR=$SCR/cache

# --------------------------------------------------------------- datasets
SMALL=$DATA/small
BIGDIR=$DATA/big
TINYDIR=$SCR/tiny
bench_dataset "$SMALL" "$FILES" "$DIRS" "$SIZE"
bench_dataset "$BIGDIR" 1 1 "$BIG"
bench_dataset "$TINYDIR" "$TINY" $(((TINY + 99) / 100)) 4K
BIGREL=d0000/f0000000.bin
WSRC=$SCR/write.bin
wbytes=$(numfmt --from=iec "$WRITE")
if [ "$(stat -c %s "$WSRC" 2> /dev/null || echo 0)" != "$wbytes" ]; then
    head -c "$wbytes" /dev/urandom > "$WSRC.tmp" && mv "$WSRC.tmp" "$WSRC"
fi
small_mib=$(bench_tree_mib "$SMALL")
big_mib=$(bench_tree_mib "$BIGDIR")
write_mib=$(bench_tree_mib "$WSRC")
tiny_mib=$(bench_tree_mib "$TINYDIR")

# ---------------------------------------------------------------- volumes
# A: the dataset imported as a user would (default options: 128 KiB files
# are one object each); B: the small files packed.
META_A=$("$SVC" newdb bench_peers_a)
BUCKET_A=$("$SVC" newbucket bench-peers-a)
META_B=$("$SVC" newdb bench_peers_b)
BUCKET_B=$("$SVC" newbucket bench-peers-b)
RAW=$("$SVC" newbucket bench-peers-raw)
RAWB=${RAW##*/}
# ?payload=unsigned: the PUT ceiling's curl sends UNSIGNED-PAYLOAD, so
# shimfs's PUTs skip hashing their bodies too (its default over https; over
# plain http it signs them, docs/configuration.md). s3fs and rclone keep
# their own defaults.
"$CLI" format peersa --bucket "$BUCKET_A?payload=unsigned" --meta "$META_A" > /dev/null
"$CLI" format peersb --bucket "$BUCKET_B?payload=unsigned" --meta "$META_B" > /dev/null
bench_log "importing: volume A (defaults), volume B (--pack-max $PACK_MAX)"
t0=$EPOCHREALTIME
imp_a=$(timeout "$TMO" "$CLI" import --meta "$META_A" "$SMALL" /small)
t1=$EPOCHREALTIME
imp_b=$(timeout "$TMO" "$CLI" import --meta "$META_B" --pack-max "$PACK_MAX" "$SMALL" /small)
t2=$EPOCHREALTIME
imp_a_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
imp_b_s=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.3f", b - a }')
timeout "$TMO" "$CLI" import --meta "$META_A" "$BIGDIR" /big > /dev/null
bench_list_keys "$EP" "${BUCKET_A##*/}" > "$SCR/keys-a"
bench_list_keys "$EP" "${BUCKET_B##*/}" > "$SCR/keys-b"
objs_a=$(wc -l < "$SCR/keys-a")
objs_b=$(wc -l < "$SCR/keys-b")

# rclone: a remote of the same s3rver, in the environment (no config file).
export RCLONE_CONFIG_PEERS_TYPE=s3 RCLONE_CONFIG_PEERS_PROVIDER=Other RCLONE_CONFIG_PEERS_ENDPOINT=$EP \
    RCLONE_CONFIG_PEERS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_PEERS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
    RCLONE_CONFIG_PEERS_REGION=${AWS_REGION:-us-east-1} RCLONE_CONFIG_PEERS_FORCE_PATH_STYLE=true \
    RCLONE_CONFIG=/dev/null
# (rclone's S3 client refuses the AWS_CA_BUNDLE the services export: plain http here)
RCL=(env -u AWS_CA_BUNDLE rclone)
# The plain objects: the peers' dataset and the ceiling's objects.
if command -v rclone > /dev/null; then
    bench_log "uploading the dataset as plain objects (rclone copy)"
    timeout "$TMO" "${RCL[@]}" copy --transfers 16 "$SMALL" "peers:$RAWB/small" || bench_die "rclone copy failed"
    timeout "$TMO" "${RCL[@]}" copy --transfers 16 "$BIGDIR" "peers:$RAWB/big" || bench_die "rclone copy failed"
else
    bench_log "uploading the dataset as plain objects (curl)"
    (cd "$SMALL" && find . -type f | sed 's|^\./||' | sort) > "$SCR/raw-list"
    bench_curl_init "$PUTPAR"
    awk -v e="$RAW" -v d="$SMALL" '{ printf "url = \"%s/small/%s\"\nupload-file = \"%s/%s\"\noutput = \"/dev/null\"\n", e, $1, d, $1 }' \
        "$SCR/raw-list" > "$SCR/raw-put.cfg"
    timeout "$TMO" "${BENCH_CURL_PUT[@]}" -K "$SCR/raw-put.cfg" || bench_die "upload failed"
    timeout "$TMO" "${BENCH_CURL_PUT[@]}" -T "$BIGDIR/$BIGREL" "$RAW/big/$BIGREL" > /dev/null || bench_die "upload failed"
fi
(cd "$SMALL" && find . -type f | sed 's|^\./|small/|' | sort) > "$SCR/keys-raw-small"
# A folder object ("small/", "small/d0000/", ...) for every directory: s3rver
# 3.7.1's delimiter listing omits a prefix that holds only deeper prefixes
# (small/ holds only small/dNNNN/), so without them rclone showed no small/
# at all; on AWS S3 they change nothing a peer reads.
{ echo small/; echo big/
  (cd "$SMALL" && find . -mindepth 1 -type d | sed 's|^\./|small/|; s|$|/|')
  (cd "$BIGDIR" && find . -mindepth 1 -type d | sed 's|^\./|big/|; s|$|/|'); } |
    "$PY" -c 'import os, sys
import botocore.config, botocore.session
c = botocore.session.get_session().create_client("s3", endpoint_url=sys.argv[1],
    region_name=os.environ.get("AWS_REGION", "us-east-1"), config=botocore.config.Config(s3={"addressing_style": "path"}))
for k in sys.stdin.read().split():
    c.put_object(Bucket=sys.argv[2], Key=k, Body=b"", ContentType="application/x-directory")' "$EP" "$RAWB"

# ------------------------------------------------------------ the ceiling
bench_curl_init "$PAR"
GET=("${BENCH_CURL_GET[@]}")
bench_curl_get_cfg "$SCR/keys-raw-small" "$SCR/get-small.cfg" "$RAW"
bench_curl_get_cfg "$SCR/keys-a" "$SCR/get-vol.cfg" "$BUCKET_A"
# the big file's own block objects in volume A (keys end in _<len>: its
# blocks are the volume's block size, the small files' 128 KiB)
awk -F_ '$NF + 0 >= 1048576' "$SCR/keys-a" > "$SCR/keys-a-big"
bench_curl_get_cfg "$SCR/keys-a-big" "$SCR/get-bigblocks.cfg" "$BUCKET_A"
awk -v u="$RAW/big/$BIGREL" -v n="$RANGES" -v size="$(stat -c %s "$BIGDIR/$BIGREL")" 'BEGIN {
    step = int((size + n - 1) / n)
    for (s = 0; s < size; s += step) {
        e = s + step - 1; if (e >= size) e = size - 1
        printf "url = \"%s\"\noutput = \"/dev/null\"\nrange = \"%d-%d\"\n", u, s, e
    }
}' > "$SCR/get-ranges.cfg"
mkdir -p "$SCR/parts"
(cd "$SCR/parts" && split -b 4M -d -a 4 "$WSRC" p)
find "$SCR/parts" -type f | sort > "$SCR/parts.list"
find "$TINYDIR" -type f | sort > "$SCR/tiny.list"
bench_curl_init "$PUTPAR"
PUT=("${BENCH_CURL_PUT[@]}")
PUTB=$("$SVC" newbucket bench-peers-put)

# ----------------------------------------------------------------- timing
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.4f", b - a }'; }
# Empty a folder by moving it aside (see scripts/bench.sh); the moved ones
# are deleted after each run, or at once when the disk has less than
# BENCH_KEEP_FREE_GB (40) free: the node cache refuses blocks below its
# free-space floor (SHIMFS_FREE_SPACE_RATIO, 10% of the disk), and a run
# sets aside about 5 GiB of caches.
ntrash=0
aside() {
    if [ -e "$1" ]; then
        if [ "$(df -P -k "$SCR" | awk 'NR == 2 { print int($4 / 1048576) }')" -ge "${BENCH_KEEP_FREE_GB:-40}" ]; then
            ntrash=$((ntrash + 1))
            mv "$1" "$SCR/emptied/$ntrash"
        else
            rm -rf "$1"
        fi
    fi
    mkdir -p "$1"
}
drop() { if [ "$DROP" = 1 ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi; }
# Before each write row: its sources in memory, and nothing left dirty by
# the rows before it (the cold reads' cache files, the server's objects):
# the row's `sync` then writes back what that row wrote, in every column.
warm_sources() { cat "$WSRC" > /dev/null; find "$TINYDIR" -type f -print0 | xargs -0 cat > /dev/null; sync; }
# shellcheck disable=SC2038 # the generated names are plain
read_tree() { find "$1" -type f | xargs cat > /dev/null; }
export -f read_tree

# The shim: volume A or B, cache $SCR/cache.
shim_a=(env LD_PRELOAD="$PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META_A" SHIMFS_CACHE_DIR="$SCR/cache" SHIMFS_LOG="${SHIMFS_LOG:-error}")
shim_b=(env LD_PRELOAD="$PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META_B" SHIMFS_CACHE_DIR="$SCR/cache" SHIMFS_LOG="${SHIMFS_LOG:-error}")
gets() {   # the node's S3 GETs so far (counted in the cache folder $SCR/cache)
    SHIMFS_CACHE_DIR=$SCR/cache "$CLI" stats --format prometheus --meta "$1" |
        awk '$1 == "shimfs_object_gets_total" { print $2; found = 1 } END { if (!found) print 0 }'
}

# The peers' mounts: cache emptied, page cache dropped, mounted afresh.
S3FS_PASS=$SCR/s3fs.passwd
(umask 077 && printf '%s:%s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" > "$S3FS_PASS")
peer_mount() {   # $1: peer
    local p=$1 m=$SCR/mnt-$1 i
    peer_umount "$p"
    aside "$SCR/cache-$p"
    mkdir -p "$m"
    drop
    case $p in
        s3fs)
            s3fs "$RAWB" "$m" -o "url=$EP,use_path_request_style,passwd_file=$S3FS_PASS,use_cache=$SCR/cache-$p,endpoint=${AWS_REGION:-us-east-1},dbglevel=err" \
                > "$SCR/s3fs.log" 2>&1 || bench_die "s3fs mount failed ($SCR/s3fs.log)"
            ;;
        rclone)
            "${RCL[@]}" mount "peers:$RAWB" "$m" --vfs-cache-mode full --cache-dir "$SCR/cache-$p" --s3-force-path-style \
                --log-level ERROR > "$SCR/rclone.log" 2>&1 &
            mnt_pid[$p]=$!
            ;;
    esac
    for i in $(seq 1 $((WAIT * 10))); do mountpoint -q "$m" && return 0; sleep 0.1; done
    bench_die "$p did not mount $m within $WAIT s"
}
# Until $2 objects of $3 bytes in all are under key prefix $1 of the
# peers' bucket (a durable write): rclone lists them.
wait_stored() {
    local i got
    for i in $(seq 1 $((WAIT * 5))); do
        got=$("${RCL[@]}" size --json "peers:$RAWB/$1" 2> /dev/null | "$PY" -c 'import json,sys; j=json.load(sys.stdin); print(j["count"], j["bytes"])' || true)
        [ "$got" = "$2 $3" ] && return 0
        sleep 0.2
    done
    bench_die "$2 objects of $3 bytes not stored under $1 within $WAIT s (got: $got)"
}
write_big() { cp "$1" "$2" && sync; }
write_tiny() { cp -r "$1" "$2" && sync; }
export -f write_big write_tiny

# R[row.side]: the seconds of each run. tm ROW.SIDE CMD...: time CMD (in
# this shell, so that a failure ends the bench), its output in last.out.
declare -A R=()
add() { R[$1]="${R[$1]:-} $2"; }
tm() {
    local key=$1 t0
    shift
    t0=$EPOCHREALTIME
    timeout "$TMO" "$@" > "$SCR/last.out" || bench_die "failed: $*"
    add "$key" "$(since "$t0")"
}
declare -a gets_cold_a=() gets_cold_b=() gets_warm_b=()
wu_choice=
load_before=$(bench_load)
warm_sources

for run in $(seq 1 "$RUNS"); do
    bench_log "run $run of $RUNS (load $(bench_load))"
    # --- native
    drop
    tm ls.native bash -c 'ls -lR "$1" > /dev/null' _ "$SMALL"
    drop
    tm cold.native bash -c 'read_tree "$1"' _ "$SMALL"
    tm warm.native bash -c 'read_tree "$1"' _ "$SMALL"
    drop
    tm dd.native dd if="$BIGDIR/$BIGREL" of=/dev/null bs=1M status=none
    warm_sources
    tm cp.native bash -c 'write_big "$1" "$2"' _ "$WSRC" "$SCR/local/cp$run"
    warm_sources
    tm tiny.native bash -c 'write_tiny "$1" "$2"' _ "$TINYDIR" "$SCR/local/tiny$run"

    # --- the ceiling (curl), cold as the file systems' cold rows are: the
    # server's files out of the page cache
    drop
    tm cold.ceiling "${GET[@]}" -K "$SCR/get-small.cfg"
    drop
    tm dd.ceiling "${GET[@]}" -K "$SCR/get-ranges.cfg"
    drop
    tm dd.oneget "${GET[@]}" -o /dev/null "$RAW/big/$BIGREL"
    drop
    tm dd.blocks "${GET[@]}" --parallel-max "$RANGES" -K "$SCR/get-bigblocks.cfg"
    drop
    tm warmup.ceiling "${GET[@]}" -K "$SCR/get-vol.cfg"
    bench_curl_put_cfg "$SCR/parts.list" "$SCR/put-big.cfg" "$PUTB" "big$run"
    bench_curl_put_cfg "$SCR/tiny.list" "$SCR/put-tiny.cfg" "$PUTB" "tiny$run"
    # the PUTs, then the sync every file system's row ends with: the
    # server's objects are on this machine's disk, and that sync writes
    # them back in every column
    warm_sources
    tm cp.ceiling bash -c '"$@" && sync' _ "${PUT[@]}" -K "$SCR/put-big.cfg"
    warm_sources
    tm tiny.ceiling bash -c '"$@" && sync' _ "${PUT[@]}" -K "$SCR/put-tiny.cfg"

    # --- shimfs, volume A (defaults)
    aside "$SCR/cache"; drop
    tm ls.shimfs "${shim_a[@]}" bash -c 'ls -lR "$1" > /dev/null' _ "$PREFIX/small"
    aside "$SCR/cache"; drop
    g0=$(gets "$META_A")
    tm cold.shimfs "${shim_a[@]}" bash -c 'read_tree "$1"' _ "$PREFIX/small"
    gets_cold_a+=("$(($(gets "$META_A") - g0))")
    tm warm.shimfs "${shim_a[@]}" bash -c 'read_tree "$1"' _ "$PREFIX/small"
    aside "$SCR/cache"; drop
    tm dd.shimfs "${shim_a[@]}" dd if="$PREFIX/big/$BIGREL" of=/dev/null bs=1M status=none
    warm_sources
    "${shim_a[@]}" mkdir -p "$PREFIX/w"
    tm cp.shimfs "${shim_a[@]}" bash -c 'write_big "$1" "$2"' _ "$WSRC" "$PREFIX/w/cp$run"
    warm_sources
    tm tiny.shimfs "${shim_a[@]}" bash -c 'write_tiny "$1" "$2"' _ "$TINYDIR" "$PREFIX/w/tiny$run"
    aside "$SCR/cache"; drop
    tm warmup.shimfs env SHIMFS_CACHE_DIR="$SCR/cache" "$CLI" warmup --meta "$META_A" --threads "$THREADS" /small /big
    wu_choice=$(grep -m1 '^page cache:' "$SCR/last.out" || true)
    aside "$SCR/cache"; drop
    tm warmup.around env SHIMFS_CACHE_DIR="$SCR/cache" "$CLI" warmup --meta "$META_A" --threads "$THREADS" --no-page-cache /small /big

    # --- shimfs, volume B (packed)
    aside "$SCR/cache"; drop
    g0=$(gets "$META_B")
    tm cold.packed "${shim_b[@]}" bash -c 'read_tree "$1"' _ "$PREFIX/small"
    g1=$(gets "$META_B")
    tm warm.packed "${shim_b[@]}" bash -c 'read_tree "$1"' _ "$PREFIX/small"
    gets_cold_b+=("$((g1 - g0))")
    gets_warm_b+=("$(($(gets "$META_B") - g1))")
    aside "$SCR/cache"; drop
    tm warmup.packed env SHIMFS_CACHE_DIR="$SCR/cache" "$CLI" warmup --meta "$META_B" --threads "$THREADS" /small

    # --- the peers
    for p in "${peers[@]}"; do
        m=$SCR/mnt-$p
        peer_mount "$p"
        tm "ls.$p" bash -c 'ls -lR "$1" > /dev/null' _ "$m/small"
        peer_mount "$p"
        tm "cold.$p" bash -c 'read_tree "$1"' _ "$m/small"
        tm "warm.$p" bash -c 'read_tree "$1"' _ "$m/small"
        peer_mount "$p"
        tm "dd.$p" dd if="$m/big/$BIGREL" of=/dev/null bs=1M status=none
        warm_sources
        mkdir -p "$m/w-$p-$run"
        t0=$EPOCHREALTIME
        timeout "$TMO" bash -c 'write_big "$1" "$2"' _ "$WSRC" "$m/w-$p-$run/cp" || bench_die "$p: cp failed"
        wait_stored "w-$p-$run/cp" 1 "$wbytes"
        add "cp.$p" "$(since "$t0")"
        warm_sources
        t0=$EPOCHREALTIME
        timeout "$TMO" bash -c 'write_tiny "$1" "$2"' _ "$TINYDIR" "$m/w-$p-$run/tiny" || bench_die "$p: cp -r failed"
        wait_stored "w-$p-$run/tiny" "$TINY" "$((TINY * 4096))"
        add "tiny.$p" "$(since "$t0")"
    done
    rm -rf "$SCR/local/cp$run" "$SCR/local/tiny$run" "$SCR/emptied" && mkdir -p "$SCR/emptied"
done
for p in "${peers[@]}"; do peer_umount "$p"; done

# ------------------------------------------------- correctness of the run
bench_log "checking what the shim wrote and read"
check=ok
"${shim_a[@]}" cmp "$WSRC" "$PREFIX/w/cp1" > /dev/null 2>&1 || check="256 MiB file written by cp DIFFERS"
"${shim_a[@]}" diff -r "$TINYDIR" "$PREFIX/w/tiny1" > /dev/null 2>&1 || check="1,000 files written by cp -r DIFFER"
"${shim_b[@]}" bash -c 'cd "$1" && find . -type f | LC_ALL=C sort | xargs md5sum' _ "$PREFIX/small" > "$SCR/md5-packed.txt"
(cd "$SMALL" && find . -type f | LC_ALL=C sort | xargs md5sum) > "$SCR/md5-local.txt"
cmp -s "$SCR/md5-local.txt" "$SCR/md5-packed.txt" || check="packed small files read DIFFERENTLY"

# ------------------------------------------------------ dbench and fio
bench_log "dbench and fio: native and in the volume"
fio_run() {   # $1: directory; prints read+write IOPS and wall seconds
    local t0 out
    t0=$EPOCHREALTIME
    out=$(timeout "$TMO" "${@:2}" fio --name=r --directory="$1" --rw=randrw --bs=4k --size="$FIO_SIZE" \
          --ioengine=psync --verify=crc32c --verify_state_save=0 --output-format=json 2> "$SCR/fio.err") || {
        echo "failed"; return 0; }
    printf '%s' "$out" | "$PY" -c 'import json,sys
j = json.load(sys.stdin)["jobs"][0]
print("%.0f" % (j["read"]["iops"] + j["write"]["iops"]) if j["error"] == 0 else "error%d" % j["error"], end=" ")'
    since "$t0"; echo
}
dbench_run() {   # $1: directory; prints MB/s
    timeout "$((DBENCH_SECS * 3 + 60))" "${@:2}" dbench -c /usr/share/dbench/client.txt -D "$1" 2 -t "$DBENCH_SECS" 2>&1 |
        awk '/^Throughput/ { print $2; found = 1 } END { if (!found) print "failed" }'
}
declare -a fio_n=() fio_s=() db_n=() db_s=()
have_fio=no; have_dbench=no
command -v fio > /dev/null && have_fio=yes
command -v dbench > /dev/null && [ -f /usr/share/dbench/client.txt ] && have_dbench=yes
for run in $(seq 1 "$RUNS"); do
    if [ "$have_fio" = yes ]; then
        aside "$SCR/local/fio"
        fio_n+=("$(fio_run "$SCR/local/fio")")
        "${shim_a[@]}" mkdir -p "$PREFIX/fio$run"
        fio_s+=("$(fio_run "$PREFIX/fio$run" "${shim_a[@]}")")
    fi
    if [ "$have_dbench" = yes ]; then
        aside "$SCR/local/dbench"
        db_n+=("$(dbench_run "$SCR/local/dbench")")
        "${shim_a[@]}" mkdir -p "$PREFIX/dbench$run"
        db_s+=("$(dbench_run "$PREFIX/dbench$run" "${shim_a[@]}")")
    fi
done
load_after=$(bench_load)

# ----------------------------------------------------------------- report
med() { local v; read -ra v <<< "${R[$1]:-}"; [ "${#v[@]}" -gt 0 ] && bench_median "${v[@]}" || echo -; }
col() { local f; f=$(printf '%s\n' "$@" | awk '$1 ~ /^[0-9.]+$/'); [ -n "$f" ] && bench_median $f || echo -; }
first() { for x in "$@"; do echo "${x%% *}"; done; }
second() { for x in "$@"; do echo "${x#* }"; done; }
has() { local p; for p in "${peers[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }
report() {
    local p
    printf 'shimfs side by side (issue 16): medians of %d runs, %s, s3rver and PostgreSQL on 127.0.0.1\n' "$RUNS" "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf 'load average before %s, after %s; %d cores; page cache dropped before cold rows: %s\n' \
        "$load_before" "$load_after" "$(nproc)" "$([ "$DROP" = 1 ] && echo yes || echo no)"
    printf 'dataset: %d files of %s in %d dirs (%.1f MiB), one %.0f MiB file; writes: %.0f MiB, %d x 4 KiB\n' \
        "$FILES" "$SIZE" "$DIRS" "$small_mib" "$big_mib" "$write_mib" "$TINY"
    printf 'peers: %s\n\n' "${peers[*]:-none}"
    awk -v sm="$small_mib" -v bm="$big_mib" -v wm="$write_mib" -v tn="$TINY" -v files="$FILES" \
        -v par="$PAR" -v ranges="$RANGES" -v putpar="$PUTPAR" -v th="$THREADS" -v pm="$PACK_MAX" \
        -v s3="$(has s3fs && echo 1 || echo 0)" -v rc="$(has rclone && echo 1 || echo 0)" \
        -v ls_n="$(med ls.native)" -v ls_3="$(med ls.s3fs)" -v ls_r="$(med ls.rclone)" -v ls_s="$(med ls.shimfs)" \
        -v co_n="$(med cold.native)" -v co_3="$(med cold.s3fs)" -v co_r="$(med cold.rclone)" -v co_s="$(med cold.shimfs)" -v co_c="$(med cold.ceiling)" -v co_p="$(med cold.packed)" \
        -v wa_n="$(med warm.native)" -v wa_3="$(med warm.s3fs)" -v wa_r="$(med warm.rclone)" -v wa_s="$(med warm.shimfs)" -v wa_p="$(med warm.packed)" \
        -v dd_n="$(med dd.native)" -v dd_3="$(med dd.s3fs)" -v dd_r="$(med dd.rclone)" -v dd_s="$(med dd.shimfs)" -v dd_c="$(med dd.ceiling)" -v dd_1="$(med dd.oneget)" -v dd_b="$(med dd.blocks)" \
        -v cp_n="$(med cp.native)" -v cp_3="$(med cp.s3fs)" -v cp_r="$(med cp.rclone)" -v cp_s="$(med cp.shimfs)" -v cp_c="$(med cp.ceiling)" \
        -v ti_n="$(med tiny.native)" -v ti_3="$(med tiny.s3fs)" -v ti_r="$(med tiny.rclone)" -v ti_s="$(med tiny.shimfs)" -v ti_c="$(med tiny.ceiling)" \
        -v wu_s="$(med warmup.shimfs)" -v wu_c="$(med warmup.ceiling)" -v wu_p="$(med warmup.packed)" -v wu_a="$(med warmup.around)" 'BEGIN {
    printf "%-34s %8s %9s %9s %9s %9s %9s %9s\n", "row (seconds)", "native", "s3fs", "rclone", "shimfs", "ceiling", "/native", "/ceiling"
    row("ls -lR, cold", ls_n, ls_3, ls_r, ls_s, "-")
    row(sprintf("small-file epoch, cold"), co_n, co_3, co_r, co_s, co_c)
    row(sprintf("small-file epoch, warm"), wa_n, wa_3, wa_r, wa_s, co_c)
    row(sprintf("%.0f MiB dd bs=1M, cold", bm), dd_n, dd_3, dd_r, dd_s, dd_c)
    row(sprintf("%.0f MiB cp + sync, durable", wm), cp_n, cp_3, cp_r, cp_s, cp_c)
    row(sprintf("%d x 4 KiB cp -r + sync, durable", tn), ti_n, ti_3, ti_r, ti_s, ti_c)
    row(sprintf("warmup of all %.0f MiB", sm + bm), "-", "-", "-", wu_s, wu_c)
    row("  the same, --no-page-cache", "-", "-", "-", wu_a, wu_c)
    row(sprintf("packed (--pack-max %s): epoch cold", pm), co_n, "-", "-", co_p, co_c)
    row(sprintf("packed: epoch warm"), wa_n, "-", "-", wa_p, co_c)
    row(sprintf("packed: warmup of the %.0f MiB", sm), "-", "-", "-", wu_p, co_c)
    printf "/native and /ceiling: shimfs time / their time (below 1: shimfs is faster)\n"
    printf "ceiling (curl, no file system): small: %d GETs, %d connections; dd: %d parallel ranges of one object (one GET: %s s;\n", files, par, ranges, dd_1
    printf "  the file'"'"'s own block objects in volume A, %d connections: %s s);\n", ranges, cell(dd_b)
    printf "  cp: 4 MiB parts, %d in parallel, then sync; 4 KiB files: one PUT each, %d in parallel, then sync; warmup: volume A'"'"'s objects, %d connections\n", putpar, putpar, par
    printf "throughput: dd %s MiB/s; cp %s MiB/s (ceiling %s); 4 KiB files %s files/s (ceiling %s, s3fs %s, rclone %s)\n",
        rate(bm, dd_s), rate(wm, cp_s), rate(wm, cp_c), rate(tn, ti_s), rate(tn, ti_c), rate(tn, ti_3), rate(tn, ti_r)
    printf "\n%-66s %9s %9s  %s\n", "issue 16 target", "measured", "target", "verdict"
    ge(sprintf("1: cold dd throughput / curl %d ranges", ranges), dd_c / dd_s, 0.8)
    if (s3) lt("1: cold dd time / s3fs time (faster than s3fs)", dd_s / dd_3, 1.0)
    printf "%-66s %9.3f %9s  %s\n", "   (context: cold dd throughput / curl of its own block objects)", dd_b / dd_s, "-", "-"
    ge("2: cp + sync throughput / parallel PUT + sync", cp_c / cp_s, 0.8)
    ge("3: durable 4 KiB files/s (one writer)", tn / ti_s, 2000)
    if (s3) ge("3: 4 KiB files/s / s3fs files/s", ti_3 / ti_s, 10)
    le(sprintf("4: packed cold epoch / the %d parallel GETs (unpacked)", files), co_p / co_c, 0.8)
    ge("6: warmup throughput / GET ceiling (volume A)", wu_c / wu_s, 0.9)
    ge("6: packed warmup / GET ceiling (packs = bytes carried)", co_c / wu_p, 0.9)
    printf "every row faster than each peer:"
    n = split("ls co wa dd cp ti", k, " ")
    split("ls -lR|epoch cold|epoch warm|dd|cp|4 KiB", nm, "|")
    sv["ls"] = ls_s; sv["co"] = co_s; sv["wa"] = wa_s; sv["dd"] = dd_s; sv["cp"] = cp_s; sv["ti"] = ti_s
    s3v["ls"] = ls_3; s3v["co"] = co_3; s3v["wa"] = wa_3; s3v["dd"] = dd_3; s3v["cp"] = cp_3; s3v["ti"] = ti_3
    rcv["ls"] = ls_r; rcv["co"] = co_r; rcv["wa"] = wa_r; rcv["dd"] = dd_r; rcv["cp"] = cp_r; rcv["ti"] = ti_r
    for (i = 1; i <= n; i++) {
        w = ""
        if (s3 && sv[k[i]] + 0 >= s3v[k[i]] + 0) w = w " s3fs"
        if (rc && rcv[k[i]] != "-" && sv[k[i]] + 0 >= rcv[k[i]] + 0) w = w " rclone"
        printf " %s %s;", nm[i], w == "" ? "yes" : "NO (slower than" w ")"
    }
    printf "\n"
}
function rate(n, s) { return (s == "-" || s == 0) ? "-" : sprintf("%.0f", n / s) }
function cell(v) { return v == "-" ? "-" : sprintf("%.3f", v) }
function ratio(a, b) { return (a == "-" || b == "-" || b == 0) ? "-" : sprintf("%.2f", a / b) }
function row(name, n, a, b, s, c) {
    printf "%-34s %8s %9s %9s %9s %9s %9s %9s\n", name, cell(n), s3 ? cell(a) : (a == "-" ? "-" : "n/i"),
        rc ? cell(b) : "-", cell(s), cell(c), ratio(s, n), ratio(s, c)
}
function verdict(ok, v, t) { return ok ? "met" : sprintf("MISSED (%.0f%% off)", (v > t ? v / t - 1 : 1 - v / t) * 100) }
function ge(name, v, t) { printf "%-66s %9.3f %4s %-4s  %s\n", name, v, ">=", t, verdict(v >= t, v, t) }
function le(name, v, t) { printf "%-66s %9.3f %4s %-4s  %s\n", name, v, "<=", t, verdict(v <= t, v, t) }
function lt(name, v, t) { printf "%-66s %9.3f %4s %-4s  %s\n", name, v, "<", t, verdict(v < t, v, t) }'
    local fn fs dn ds fwn fws
    fn=$(col $(first "${fio_n[@]}")); fs=$(col $(first "${fio_s[@]}"))
    fwn=$(col $(second "${fio_n[@]}")); fws=$(col $(second "${fio_s[@]}"))
    dn=$(col "${db_n[@]}"); ds=$(col "${db_s[@]}")
    awk -v fn="$fn" -v fs="$fs" -v fwn="$fwn" -v fws="$fws" -v dn="$dn" -v ds="$ds" -v fsz="$FIO_SIZE" -v dsecs="$DBENCH_SECS" 'BEGIN {
    printf "\nitem 5 (measurement only): native, shimfs, ratio, target\n"
    if (dn != "-" && ds != "-") printf "  dbench 2 clients, %d s (MB/s):                 %9.1f %9.1f %7.3f  >= 0.3  %s\n", dsecs, dn, ds, ds / dn, (ds / dn >= 0.3 ? "met" : "MISSED")
    else printf "  dbench: native %s, shimfs %s (failed or not installed)\n", dn, ds
    if (fn != "-" && fs != "-") printf "  fio randrw 4k %s verify=crc32c psync (IOPS): %9.0f %9.0f %7.3f  >= 0.3  %s\n", fsz, fn, fs, fs / fn, (fs / fn >= 0.3 ? "met" : "MISSED")
    else printf "  fio: native %s, shimfs %s (failed or not installed)\n", fn, fs
    if (fwn != "-" && fws != "-") printf "  fio wall time incl. close/commit (s):          %9.3f %9.3f %7.3f (time ratio)\n", fwn, fws, fws / fwn
}'
    cat << EOF

GETs of a cold small-file epoch: volume A (one object a file) [${gets_cold_a[*]}], packed [${gets_cold_b[*]}], packed warm [${gets_warm_b[*]}]
objects: volume A $objs_a (small files and the big file's blocks), volume B $objs_b (small files packed)
warmup's page-cache choice by default (last run): ${wu_choice:-none said}
import of the small files: defaults ${imp_a_s} s, --pack-max $PACK_MAX ${imp_b_s} s
  $imp_a
  $imp_b
what the shim wrote and read back: $check
all runs (s):
$(for k in $(printf '%s\n' "${!R[@]}" | sort); do printf '  %-16s [%s]\n' "$k" "${R[$k]# }"; done)
  fio native [${fio_n[*]}] shimfs [${fio_s[*]}] (IOPS wall-s)
  dbench native [${db_n[*]}] shimfs [${db_s[*]}] (MB/s)
EOF
    [ ! -s "$SCR/fio.err" ] || { echo "fio's last stderr:"; tail -n 5 "$SCR/fio.err"; }
}
report > "$SCR/results.txt"
cat "$SCR/results.txt"
[ "$check" = ok ] || bench_die "$check"
