#!/usr/bin/env bash
# scripts/conformance.sh — POSIX conformance of a volume through the shim,
# measured with two public suites built outside the repository:
#   pjdfstest (github:pjd/pjdfstest: its `pjdfstest` binary next to its
#   tests/ folder) and fsx (ltp/fsx.c of github:kdave/xfstests, built
#   standalone). This script fetches and builds nothing.
#
# usage: scripts/conformance.sh PJDFSTEST_DIR FSX_BINARY [pjdfstest-subdirs...]
#   PJDFSTEST_DIR  the pjdfstest checkout holding the built `pjdfstest`
#                  binary and tests/ (pass "" to skip the suite)
#   FSX_BINARY     the built fsx (pass "" to skip it)
#   subdirs        optional test folders (e.g. chmod mknod); default all
# Run as root (pjdfstest switches uids). Needs the test services
# (scripts/services.sh start); makes a fresh database, bucket and cache
# folder for each run. Every run is bounded with `timeout`.
# Environment: SHIMFS_BUILD (the build to measure, default build/),
# CONF_TIMEOUT (seconds per pjdfstest file, default 300),
# FSX_OPS (operations per fsx profile, default 10000), CONF_OUT (folder for
# the logs, default .scratch/conformance).
set -uo pipefail
# One compound command, read whole before it runs: editing this file during
# a run (which takes minutes) cannot change what the run does.
{

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PJD=${1-}
FSX=${2-}
shift 2 2>/dev/null || { echo "usage: $0 PJDFSTEST_DIR FSX_BINARY [subdirs...]" >&2; exit 2; }
SUBDIRS=("$@")
BUILD=${SHIMFS_BUILD:-$ROOT/build}
OUT=${CONF_OUT:-$ROOT/.scratch/conformance}
PER_FILE=${CONF_TIMEOUT:-300}
OPS=${FSX_OPS:-10000}

[ "$(id -u)" = 0 ] || { echo "conformance.sh: run as root" >&2; exit 2; }
# shellcheck disable=SC1090
source <("$ROOT/scripts/services.sh" env) || { echo "conformance.sh: start the services first" >&2; exit 2; }

rm -rf "$OUT"
mkdir -p "$OUT"
NAME=conf$$
META=$("$ROOT/scripts/services.sh" newdb "$NAME")
BUCKET=$("$ROOT/scripts/services.sh" newbucket "$NAME")
"$BUILD/shimfs" format "$NAME" --bucket "$BUCKET" --meta "$META" > /dev/null || exit 1
PREFIX=/mnt/shimfs-conf-$$
CACHE=$OUT/cache
mkdir -p "$CACHE"
chmod 755 "$OUT"
# the node's pipes behind volume FIFOs, made by root as an admin does
# (the suite's users share them; docs/configuration.md, SHIMFS_FIFO_DIR)
FIFOS=$OUT/fifos
rm -rf "$FIFOS" && install -d -m 1733 "$FIFOS"

shim() {
    env LD_PRELOAD="$BUILD/libshimfs.so" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$CACHE" SHIMFS_FIFO_DIR="$FIFOS" SHIMFS_LOG="${SHIMFS_LOG:-error}" "$@"
}
shim mkdir -p "$PREFIX/pjd" "$PREFIX/fsx" || exit 1
shim chmod 777 "$PREFIX/pjd" "$PREFIX/fsx"

if [ -n "$PJD" ]; then
    # A private copy of the tests whose conf names the file system type:
    # the suite reads it from `df -PT .`, which names the host's file
    # system; ext4 is the closest to what the volume promises.
    T=$OUT/pjdfstest
    mkdir -p "$T"
    cp "$PJD/pjdfstest" "$T/"
    cp -r "$PJD/tests" "$T/"
    printf '\nfs=EXT4\n' >> "$T/tests/conf"
    chmod -R a+rX "$T"
    files=()
    if [ ${#SUBDIRS[@]} -eq 0 ]; then SUBDIRS=($(cd "$T/tests" && ls -d */ | tr -d /)); fi
    for d in "${SUBDIRS[@]}"; do files+=("$T/tests/$d"/*.t); done
    : > "$OUT/pjdfstest.tap"
    for f in "${files[@]}"; do
        rel=${f#"$T/tests/"}
        echo "### $rel" >> "$OUT/pjdfstest.tap"
        (cd / && shim timeout -k 5 "$PER_FILE" sh -c 'cd "$1" && exec /bin/sh "$2"' _ "$PREFIX/pjd" "$f") \
            >> "$OUT/pjdfstest.tap" 2>&1
        rc=$?
        [ $rc -eq 124 ] || [ $rc -eq 137 ] && echo "not ok - TIMEOUT $rel" >> "$OUT/pjdfstest.tap"
        [ $rc -ge 128 ] && [ $rc -ne 137 ] && echo "not ok - CRASH($rc) $rel" >> "$OUT/pjdfstest.tap"
    done
    # As prove counts: a failing "# TODO" assertion (one ext4 fails too)
    # is not a failure.
    ok=$(grep -cE '^ok |^not ok [0-9]+ # TODO' "$OUT/pjdfstest.tap")
    bad=$(grep '^not ok' "$OUT/pjdfstest.tap" | grep -cvE '^not ok [0-9]+ # TODO')
    # Assertions a file planned but never reached (a crash or a timeout)
    # count as failures.
    planned=$(awk -F. '/^1\.\.[0-9]+$/{s+=$3} END{print s+0}' "$OUT/pjdfstest.tap")
    [ "$planned" -gt $((ok + bad)) ] && bad=$((planned - ok))
    awk '/^### /{f=$2} /^not ok/ && !/^not ok [0-9]+ # TODO/{n[f]++} END{for (k in n) print n[k], k}' "$OUT/pjdfstest.tap" |
        sort -rn > "$OUT/pjdfstest.failing"
    echo "pjdfstest: $ok of $((ok + bad)) assertions pass ($(awk -v a="$ok" -v b="$((ok + bad))" 'BEGIN{printf "%.1f", b ? 100*a/b : 0}')%)"
    echo "pjdfstest: files with failures: $(wc -l < "$OUT/pjdfstest.failing") (list: $OUT/pjdfstest.failing, log: $OUT/pjdfstest.tap)"
fi

if [ -n "$FSX" ]; then
    # fsx profiles: name, then options. -W -R: no mmap at all; default uses
    # mmap reads and writes; -N bounds every run.
    profiles=(
        "posix|-W -R"
        "mmap-reads|-W"
        "default|"
        "reopen|-W -R -c 20"
    )
    for p in "${profiles[@]}"; do
        name=${p%%|*}; opts=${p#*|}
        for seed in 1 3; do
            log=$OUT/fsx-$name-$seed.log
            # shellcheck disable=SC2086
            (cd / && shim timeout -k 5 600 "$FSX" -q -N "$OPS" -S "$seed" $opts -P "$OUT" \
                "$PREFIX/fsx/f-$name-$seed") > "$log" 2>&1
            rc=$?
            if [ $rc -eq 0 ]; then res=pass
            elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then res="fail (timeout)"
            else res="fail: $(head -1 "$log")"; fi  # fsx prints the failing call first
            echo "fsx $name -N $OPS -S $seed ($opts): $res"
        done
    done
fi
exit 0
}
