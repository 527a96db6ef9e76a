#!/usr/bin/env bash
# scripts/bench.sh — the read benchmark (`make bench`): how fast a job
# reads a dataset through shimfs next to local disk and next to the S3
# server's own ceiling, and what the shim costs programs that never touch
# the prefix.
#
# One run: starts its own services (PostgreSQL + s3rver under
# .scratch/bench/services, stopped at the end), makes the dataset once
# (5,000 files of 128 KiB in 50 directories, and one 512 MiB file, kept in
# .scratch/bench/data for the next run), formats an S3 volume and imports
# it, then measures, each the median of BENCH_RUNS (3) runs:
#  (a) native:   find DIR -type f | xargs cat > /dev/null, page cache warm
#  (b) cold:     the same under LD_PRELOAD, into an empty cache (fresh
#                SHIMFS_CACHE_DIR every run)
#  (c) warm:     the same again right after, the cache filled by (b)
#  (d) warmup:   `shimfs warmup` of the whole dataset into an empty cache
#  (e) ceiling:  every object of the volume GET with 50 parallel
#                connections by curl (C, no shimfs), small files and the big
#                file's blocks separately; and, for reference, the same
#                GETs written to local files (what filling a disk costs)
#  (f) 512 MiB:  cat big > /dev/null: native, cold shim (one reader: this
#                measures prefetch overlap), warm shim, and warm with
#                SHIMFS_CACHE_VERIFY=entry (what the first-use check costs)
#  (g) epoch:    the whole dataset (small files and the big file) read
#                cold by one reader: the target's single-threaded epoch
# then a correctness pass (ls -lR and md5sum of the 5,000-file tree through
# the shim in fresh processes, against local disk), and the pass-through
# overhead for programs outside the prefix (tar -cf /dev/null /usr/include
# and find /usr -type f | xargs stat, with and without LD_PRELOAD,
# alternated, medians of BENCH_PASS_RUNS (9) and BENCH_RUNS runs).
# Prints raw medians, every run, and the ratios against the targets; the
# same text goes to .scratch/bench/results.txt. Exit 1 if a step failed or
# read wrong bytes; a missed target is reported, not an error.
# Emptied caches (and the disk floor's files) are moved aside, not
# deleted, until the end: on ext4 without a journal (this machine's disk) a
# file created within 1 to 6 minutes of thousands of deletions skips every
# recently freed inode, and deleting the last run's cache right before a
# measurement cost its fills 0.9 CPU-s, the bench's doing, not shimfs's.
# They are deleted at the end (an interrupted run's, at the start); that needs
# about 2.3 GiB of disk a run (BENCH_KEEP_FREE_GB, 20: below that much
# free space they are deleted at once).
# Bounded: every command runs under `timeout` (BENCH_TIMEOUT, 300 s); the
# whole run takes about 5 minutes on 2 cores.
# Knobs: BENCH_RUNS, BENCH_PASS_RUNS, BENCH_FILES (5000), BENCH_DIRS (50),
# BENCH_SIZE (128K), BENCH_BIG (512M), BENCH_THREADS (warmup, 50),
# BENCH_TIMEOUT, SHIMFS_BUILD (build/).
# shellcheck disable=SC2016 # bash -c '...' "$1": expanded by the inner shell
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${SHIMFS_BUILD:-$ROOT/build}
CLI=$BUILD/shimfs
PRELOAD=$BUILD/libshimfs.so
SCR=$ROOT/.scratch/bench
RESULTS=$SCR/results.txt
RUNS=${BENCH_RUNS:-3}
PASS_RUNS=${BENCH_PASS_RUNS:-9}
FILES=${BENCH_FILES:-5000}
DIRS=${BENCH_DIRS:-50}
SIZE=${BENCH_SIZE:-128K}
BIG=${BENCH_BIG:-512M}
THREADS=${BENCH_THREADS:-50}
TMO=${BENCH_TIMEOUT:-300}
PREFIX=/mnt/shimfs-bench-$$             # need not exist on the host
CACHE=$SCR/cache
export SHIMFS_SERVICES_DIR=$SCR/services
SVC=$ROOT/scripts/services.sh
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"

bench_log() { printf 'bench: %s\n' "$*" >&2; }
bench_die() { bench_log "$*"; exit 1; }

for tool in "$CLI" "$PRELOAD"; do [ -e "$tool" ] || bench_die "$tool missing: make all"; done
for cmd in curl timeout /usr/bin/python3; do command -v "$cmd" >/dev/null || bench_die "$cmd missing: scripts/deps.sh"; done
[[ $RUNS =~ ^[1-9][0-9]?$ ]] || bench_die "BENCH_RUNS must be 1 to 99"
[[ $PASS_RUNS =~ ^[1-9][0-9]?$ ]] || bench_die "BENCH_PASS_RUNS must be 1 to 99"
[ ! -e "$PREFIX" ] || bench_die "$PREFIX exists on the host"

TRASH=$SCR/emptied
mkdir -p "$SCR"
rm -rf "$TRASH" "$CACHE" "$SCR/ceiling-files"
sync
mkdir -p "$TRASH"
bench_cleanup() { "$SVC" stop >/dev/null 2>&1 || true; rm -rf "$CACHE" "$TRASH" "$SCR/ceiling-files"; }
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
bench_log "starting the services in $SHIMFS_SERVICES_DIR"
"$SVC" start >/dev/null
# shellcheck source=/dev/null
eval "$("$SVC" env)"
export SHIMFS_CACHE_DIR=$CACHE

# ---------------------------------------------------------------- dataset
SMALL=$SCR/data/small
BIGDIR=$SCR/data/big
bench_dataset "$SMALL" "$FILES" "$DIRS" "$SIZE"
bench_dataset "$BIGDIR" 1 1 "$BIG"
BIGREL=d0000/f0000000.bin
small_mib=$(bench_tree_mib "$SMALL")
big_mib=$(stat -c %s "$BIGDIR/$BIGREL" | awk '{ printf "%.3f", $1 / 1048576 }')

# ----------------------------------------------------------------- volume
META=$("$SVC" newdb bench)
BUCKET=$("$SVC" newbucket bench)
export SHIMFS_META=$META
"$CLI" format bench --bucket "$BUCKET" >/dev/null
bench_log "importing the dataset"
import_small=$(timeout "$TMO" "$CLI" import "$SMALL" /small)
keys_small=$SCR/keys-small
keys_big=$SCR/keys-big

list_keys() { bench_list_keys "$SHIMFS_TEST_S3_ENDPOINT" "${BUCKET##*/}"; }
list_keys | sort > "$keys_small"
import_big=$(timeout "$TMO" "$CLI" import "$BIGDIR" /big)
list_keys | sort | comm -13 "$keys_small" - > "$keys_big"
bench_log "$(wc -l < "$keys_small") small objects, $(wc -l < "$keys_big") objects for the big file"

# ----------------------------------------------------------------- timing
# Seconds taken by a command (EPOCHREALTIME: no fork to read the clock);
# its standard output is kept in $SCR/last.out.
secs() {
    local t0 t1
    t0=$EPOCHREALTIME
    timeout "$TMO" "$@" > "$SCR/last.out" || bench_die "failed: $*"
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}
median() { bench_median "$@"; }

# Prefix of a command run under the shim (the cache is SHIMFS_CACHE_DIR),
# and of its baseline: the same env(1) exec without the preload, so the
# two differ by LD_PRELOAD only (env's own exec is ~1 ms, 3% of the tar).
SHIM=(env LD_PRELOAD="$PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_LOG="${SHIMFS_LOG:-error}")
BASE=(env SHIMFS_LOG="${SHIMFS_LOG:-error}")
# Empty a folder by moving it aside (see the top); deleted right away
# when the disk is short.
ntrash=0
fresh_dir() {
    if [ -e "$1" ]; then
        ntrash=$((ntrash + 1))
        if [ "$(df -P -k "$SCR" | awk 'NR == 2 { print int($4 / 1048576) }')" -ge "${BENCH_KEEP_FREE_GB:-20}" ]; then
            mv "$1" "$TRASH/$ntrash"
        else
            rm -rf "$1"
        fi
    fi
    mkdir -p "$1"
}
fresh_cache() { fresh_dir "$CACHE"; }
# The commands as specified (the generated names are plain).
# shellcheck disable=SC2038
read_tree() { find "$1" -type f | xargs cat > /dev/null; }
read_file() { cat "$1" > /dev/null; }
export -f read_tree read_file

# The ceiling: GET every key of a list with 50 connections, by curl
# (scripts/bench-lib.sh). Output to /dev/null, or (for the disk-write
# floor) to files under $3.
curl_config() { bench_curl_get_cfg "$1" "$2" "$SHIMFS_TEST_S3_ENDPOINT/${BUCKET##*/}" "${3:-}"; }
CEILDIR=$SCR/ceiling-files
curl_config "$keys_small" "$SCR/curl-small.cfg"
curl_config "$keys_big" "$SCR/curl-big.cfg"
curl_config "$keys_small" "$SCR/curl-small-disk.cfg" "$CEILDIR"
curl_config "$keys_big" "$SCR/curl-big-disk.cfg" "$CEILDIR"
bench_curl_init 50
CEILING=("${BENCH_CURL_GET[@]}")

# Warm the page cache so native reads are memory reads, as budgeted.
read_tree "$SMALL"
read_file "$BIGDIR/$BIGREL"

declare -a ecold=() nat=() cold=() warm=() wup=() ceil_s=() ceil_b=() disk_s=() disk_b=() bnat=() bcold=() bwarm=() bentry=()
declare -a cold_misses=() warm_misses=() wup_lines=()
counter() { "$CLI" stats --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["cache"][sys.argv[1]])' "$1"; }
for run in $(seq 1 "$RUNS"); do
    bench_log "run $run of $RUNS"
    nat+=("$(secs "${BASE[@]}" bash -c 'read_tree "$1"' _ "$SMALL")")
    fresh_cache
    m0=$(counter misses)
    cold+=("$(secs "${SHIM[@]}" bash -c 'read_tree "$1"' _ "$PREFIX/small")")
    m1=$(counter misses)
    warm+=("$(secs "${SHIM[@]}" bash -c 'read_tree "$1"' _ "$PREFIX/small")")
    m2=$(counter misses)
    cold_misses+=("$((m1 - m0))")
    warm_misses+=("$((m2 - m1))")

    bnat+=("$(secs "${BASE[@]}" bash -c 'read_file "$1"' _ "$BIGDIR/$BIGREL")")
    fresh_cache
    bcold+=("$(secs "${SHIM[@]}" bash -c 'read_file "$1"' _ "$PREFIX/big/$BIGREL")")
    bwarm+=("$(secs "${SHIM[@]}" bash -c 'read_file "$1"' _ "$PREFIX/big/$BIGREL")")
    # what the default first-use check costs: the same with checks on entry only
    bentry+=("$(secs "${SHIM[@]}" SHIMFS_CACHE_VERIFY=entry bash -c 'read_file "$1"' _ "$PREFIX/big/$BIGREL")")

    # the issue's single-threaded cold epoch: the whole dataset (the small
    # files and the big file) read once by one reader into an empty cache
    fresh_cache
    ecold+=("$(secs "${SHIM[@]}" bash -c 'read_tree "$1"' _ "$PREFIX")")

    fresh_cache
    wup+=("$(secs "$CLI" warmup --threads "$THREADS" /small /big)")
    wup_lines+=("$(cat "$SCR/last.out")")
    ceil_s+=("$(secs "${CEILING[@]}" -K "$SCR/curl-small.cfg")")
    ceil_b+=("$(secs "${CEILING[@]}" -K "$SCR/curl-big.cfg")")
    fresh_dir "$CEILDIR"
    disk_s+=("$(secs "${CEILING[@]}" -K "$SCR/curl-small-disk.cfg")")
    fresh_dir "$CEILDIR"
    disk_b+=("$(secs "${CEILING[@]}" -K "$SCR/curl-big-disk.cfg")")
    fresh_dir "$CEILDIR"
done
warmup_line=$("$CLI" warmup --check /small /big)

# ------------------------------------------------------------ correctness
bench_log "ls -lR and md5sum through the shim"
bad=0
LS_SHIM=$SCR/ls-shim.txt LS_LOCAL=$SCR/ls-local.txt
MD5_SHIM=$SCR/md5-shim.txt MD5_LOCAL=$SCR/md5-local.txt
ls_local=$(secs "${BASE[@]}" bash -c 'cd "$1" && ls -lR --time-style=+%s . > "$2"' _ "$SMALL" "$LS_LOCAL")
ls_shim=$(secs "${SHIM[@]}" bash -c 'cd "$1" && ls -lR --time-style=+%s . > "$2"' _ "$PREFIX/small" "$LS_SHIM")
# Directory sizes and link counts are the file system's own; files must match.
ls_files_equal=yes
cmp -s <(grep '^-' "$LS_LOCAL") <(grep '^-' "$LS_SHIM") || { ls_files_equal=NO; bad=1; }
ls_diff=$(diff "$LS_LOCAL" "$LS_SHIM" | grep -c '^[<>]' || true)
md5_local=$(secs "${BASE[@]}" bash -c 'cd "$1" && find . -type f | LC_ALL=C sort | xargs md5sum > "$2"' _ "$SMALL" "$MD5_LOCAL")
md5_shim=$(secs "${SHIM[@]}" bash -c 'cd "$1" && find . -type f | LC_ALL=C sort | xargs md5sum > "$2"' _ "$PREFIX/small" "$MD5_SHIM")
md5_equal=yes
cmp -s "$MD5_LOCAL" "$MD5_SHIM" || { md5_equal=NO; bad=1; }
md5_count=$(wc -l < "$MD5_SHIM")

# ----------------------------------------------------------- pass-through
bench_log "pass-through overhead"
tar_run() { tar -cf /dev/null /usr/include 2>/dev/null; }
stat_run() { find /usr -type f -print0 | xargs -0 stat > /dev/null 2>&1 || true; }
export -f tar_run stat_run
declare -a tar_off=() tar_on=() st_off=() st_on=()
tar_run; stat_run   # page cache warm for both sides
for run in $(seq 1 "$PASS_RUNS"); do
    tar_off+=("$(secs "${BASE[@]}" bash -c tar_run)")
    tar_on+=("$(secs "${SHIM[@]}" bash -c tar_run)")
done
for run in $(seq 1 "$RUNS"); do
    st_off+=("$(secs "${BASE[@]}" bash -c stat_run)")
    st_on+=("$(secs "${SHIM[@]}" bash -c stat_run)")
done

# ----------------------------------------------------------------- report
m() { median "$@"; }
report() {
awk -v runs="$RUNS" -v pruns="$PASS_RUNS" -v files="$FILES" -v sm="$small_mib" -v bm="$big_mib" \
    -v th="$THREADS" \
    -v nat="$(m "${nat[@]}")" -v cold="$(m "${cold[@]}")" -v warm="$(m "${warm[@]}")" \
    -v wup="$(m "${wup[@]}")" -v cs="$(m "${ceil_s[@]}")" -v cb="$(m "${ceil_b[@]}")" \
    -v ds="$(m "${disk_s[@]}")" -v db="$(m "${disk_b[@]}")" \
    -v bnat="$(m "${bnat[@]}")" -v bcold="$(m "${bcold[@]}")" -v bwarm="$(m "${bwarm[@]}")" \
    -v bentry="$(m "${bentry[@]}")" -v ecold="$(m "${ecold[@]}")" \
    -v toff="$(m "${tar_off[@]}")" -v ton="$(m "${tar_on[@]}")" \
    -v soff="$(m "${st_off[@]}")" -v son="$(m "${st_on[@]}")" 'BEGIN {
    printf "shimfs read benchmark: medians of %d runs (pass-through tar: %d), s3rver and PostgreSQL on 127.0.0.1\n", runs, pruns
    printf "dataset: %d files of %.0f KiB (%.1f MiB) and one %.0f MiB file\n\n", files, sm * 1024 / files, sm, bm
    printf "%-58s %9s %9s\n", "", "seconds", "MiB/s"
    row("(a) small files, native (page cache warm)", nat, sm)
    row("(b) small files, shim, cold cache", cold, sm)
    row("(c) small files, shim, warm cache", warm, sm)
    row(sprintf("(d) shimfs warmup --threads %d, all %.0f MiB, empty cache", th, sm + bm), wup, sm + bm)
    row("(e) ceiling: GET the small-file objects, 50 connections", cs, sm)
    row("(e) ceiling: GET the big file'"'"'s blocks, 50 connections", cb, bm)
    row("(e) ceiling: all objects", cs + cb, sm + bm)
    row("(e) for reference: the same GETs written to local files", ds + db, sm + bm)
    row(sprintf("(f) %.0f MiB file, native cat (page cache warm)", bm), bnat, bm)
    row(sprintf("(f) %.0f MiB file, shim, cold cache (one reader)", bm), bcold, bm)
    row(sprintf("(f) %.0f MiB file, shim, warm cache", bm), bwarm, bm)
    row("(f) same, SHIMFS_CACHE_VERIFY=entry (no first-use check)", bentry, bm)
    row("(g) whole dataset, one reader, shim, cold cache", ecold, sm + bm)
    row("pass-through: tar -cf /dev/null /usr/include", toff, 0)
    row("pass-through: same under LD_PRELOAD", ton, 0)
    row("pass-through: find /usr -type f | xargs stat", soff, 0)
    row("pass-through: same under LD_PRELOAD", son, 0)
    printf "\n%-58s %9s %9s  %s\n", "target", "measured", "target", "verdict"
    le("warm small-file epoch time / native time", warm / nat, 1.10)
    ge(sprintf("warm %.0f MiB throughput / native throughput", bm), bnat / bwarm, 0.90)
    ge("warmup throughput / server ceiling (all objects)", (cs + cb) / wup, 0.80)
    ge("cold epoch of the whole dataset, one reader / ceiling (all)", (cs + cb) / ecold, 0.50)
    le("pass-through tar: with / without LD_PRELOAD", ton / toff, 1.02)
    le("pass-through find|stat: with / without LD_PRELOAD", son / soff, 1.02)
    printf "\nfor information: cold small epoch is %.1fx native; warm %.0f MiB read is %.2fx native time;\n", cold / nat, bm, bwarm / bnat
    printf "its parts, one reader / ceiling: the small files %.3f, the %.0f MiB file %.3f (docs/benchmarks.md: this VM charges\n", cs / cold, bm, cb / bcold
    printf "  for growing the page cache); the %.0f MiB file / the same GETs written to local files: %.3f\n", bm, db / bcold
    printf "warmup / the same GETs written to local files: %.3f\n", (ds + db) / wup
    printf "warm %.0f MiB with checks on entry only / native throughput: %.3f (the first-use check costs %.0f%% of the warm read)\n", bm, bnat / bentry, (bwarm / bentry - 1) * 100
}
function row(name, s, mib) {
    if (mib > 0) printf "%-58s %9.3f %9.1f\n", name, s, mib / s
    else printf "%-58s %9.3f %9s\n", name, s, "-"
}
function le(name, v, t,   verdict) {
    verdict = (v <= t) ? "ok" : sprintf("MISSED by %.0f%%", (v / t - 1) * 100)
    printf "%-58s %9.3f %6s %.2f  %s\n", name, v, "<=", t, verdict
}
function ge(name, v, t,   verdict) {
    verdict = (v >= t) ? "ok" : sprintf("MISSED by %.0f%%", (1 - v / t) * 100)
    printf "%-58s %9.3f %6s %.2f  %s\n", name, v, ">=", t, verdict
}'
cat <<EOF

correctness (fresh processes under the shim, cache filled):
  ls -lR of the tree:  local ${ls_local} s, shim ${ls_shim} s; regular-file lines identical: ${ls_files_equal} ($ls_diff lines differ in all, directory lines included)
  md5sum of ${md5_count} files: local ${md5_local} s, shim ${md5_shim} s; identical: ${md5_equal}
  warmup --check after the runs: ${warmup_line}
warmup's own summary, each run:
$(printf '  %s\n' "${wup_lines[@]}")
node cache misses per small-file epoch: cold [${cold_misses[*]}] warm [${warm_misses[*]}]
import: ${import_small}
import: ${import_big}
all runs (s):
  native [${nat[*]}]
  cold [${cold[*]}]
  warm [${warm[*]}]
  warmup [${wup[*]}]
  ceiling small [${ceil_s[*]}] big [${ceil_b[*]}]
  GETs to local files: small [${disk_s[*]}] big [${disk_b[*]}]
  big file native [${bnat[*]}] cold [${bcold[*]}] warm [${bwarm[*]}] warm, verify=entry [${bentry[*]}]
  whole dataset cold [${ecold[*]}]
  tar off [${tar_off[*]}]
  tar on [${tar_on[*]}]
  find|stat off [${st_off[*]}] on [${st_on[*]}]
EOF
}
report > "$RESULTS"
cat "$RESULTS"
[ "$bad" -eq 0 ] || bench_die "the shim read something differently from local disk (see $SCR/*-shim.txt)"
