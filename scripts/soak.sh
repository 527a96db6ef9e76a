#!/usr/bin/env bash
# scripts/soak.sh — a bounded soak of a whole volume under faults, by hand:
#   scripts/soak.sh [MINUTES [WRITERS [READERS]]]      (defaults 10 4 4)
#
# Starts its own PostgreSQL and s3rver (in .scratch/soak/, apart from the
# test services), formats a volume, and for MINUTES runs WRITERS checkpoint
# writers and READERS readers (scripts/soak_worker.py, under the shim), a
# maintenance loop (`shimfs gc --delete --grace 0`, then `shimfs fsck`) and
# a fault loop that pauses (SIGSTOP) and restarts PostgreSQL and s3rver and
# terminates the volume's database backends. Then it lets everything settle
# and checks, from fresh processes: every file whose writer was told 0 holds
# exactly its bytes (0 lost, 0 corrupt), fsck finds 0 missing objects, no
# reader ever saw bytes no writer wrote, and no call took longer than its
# bound (SHIMFS_META_TIMEOUT + SHIMFS_S3_TIMEOUT + 5 s). Exits 0 only then.
# Every loop ends at the deadline; the services are stopped on any exit.
# Knobs for a faster reproduction: SOAK_GC=0 (no gc), SOAK_FAULTS=0 (no
# fault loop), SOAK_PAUSE (seconds between maintenance rounds, default 5),
# SOAK_SIZES and SOAK_NAMES (scripts/soak_worker.py); SHIMFS_* settings
# (SHIMFS_NODE_META=0, TTLs...) pass through to every process.
set -uo pipefail

SOAK_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOAK_ROOT=$(dirname "$SOAK_SCRIPTS")
SOAK_DIR=$SOAK_ROOT/.scratch/soak
SOAK_MINUTES=${1:-10}
SOAK_WRITERS=${2:-4}
SOAK_READERS=${3:-4}
SOAK_CLI=$SOAK_ROOT/build/shimfs
export SHIMFS_SERVICES_DIR=$SOAK_DIR/services
export SHIMFS_PREFIX=/mnt/soak
export SHIMFS_CACHE_DIR=$SOAK_DIR/cache
export SHIMFS_META_TIMEOUT=${SHIMFS_META_TIMEOUT:-5}
export SHIMFS_S3_TIMEOUT=${SHIMFS_S3_TIMEOUT:-10}
export SHIMFS_AGENT_IDLE=10
SOAK_BOUND=$((SHIMFS_META_TIMEOUT + SHIMFS_S3_TIMEOUT + 5))
SOAK_PIDS=()

soak_log() { printf 'soak: %s\n' "$*"; }

soak_cleanup() {
    local pid
    for pid in "${SOAK_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    soak_resume_all
    wait 2>/dev/null
    "$SOAK_SCRIPTS/services.sh" stop >/dev/null 2>&1
}

soak_pg_pids() {
    local home pm
    home=$("$SOAK_SCRIPTS/pg.sh" home "$SHIMFS_SERVICES_DIR/pg")
    pm=$(head -n 1 "$home/data/postmaster.pid" 2>/dev/null) || return 0
    echo "$pm"; pgrep -P "$pm"
}

soak_s3_pid() { cat "$SHIMFS_SERVICES_DIR/s3/pid" 2>/dev/null; }

soak_resume_all() {
    # shellcheck disable=SC2046 # one pid per word
    kill -CONT $(soak_pg_pids) $(soak_s3_pid) 2>/dev/null
}

soak_pause() {
    local what=$1 secs=$2 pids
    case $what in
        pg) pids=$(soak_pg_pids) ;;
        s3) pids=$(soak_s3_pid) ;;
    esac
    soak_log "fault: $what paused for $secs s"
    # shellcheck disable=SC2086
    kill -STOP $pids 2>/dev/null
    sleep "$secs"
    # shellcheck disable=SC2086
    kill -CONT $pids 2>/dev/null
}

soak_restart() {
    soak_log "fault: $1 restarted"
    "$SOAK_SCRIPTS/$1.sh" stop "$SHIMFS_SERVICES_DIR/$1" >/dev/null 2>&1
    sleep 2
    "$SOAK_SCRIPTS/$1.sh" start "$SHIMFS_SERVICES_DIR/$1" >/dev/null 2>&1 ||
        soak_log "fault: $1 did not come back"
}

soak_kill_backends() {
    soak_log "fault: the volume's database backends terminated"
    psql -X -q -h "$("$SOAK_SCRIPTS/pg.sh" home "$SHIMFS_SERVICES_DIR/pg")" \
        -p "$("$SOAK_SCRIPTS/pg.sh" port "$SHIMFS_SERVICES_DIR/pg")" -U postgres -d postgres \
        -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE datname = 'soak' AND pid <> pg_backend_pid()" >/dev/null 2>&1
}

soak_faults() {
    local deadline=$1 i
    for ((i = 0; i < 100000; i++)); do
        [ "$(date +%s)" -lt "$deadline" ] || return 0
        sleep $((10 + RANDOM % 10))
        [ "$(date +%s)" -lt "$deadline" ] || return 0
        case $((i % 5)) in
            0) soak_pause pg $((3 + RANDOM % 8)) ;;
            1) soak_pause s3 $((3 + RANDOM % 8)) ;;
            2) soak_kill_backends ;;
            3) soak_restart pg ;;
            4) soak_restart s3 ;;
        esac
    done
}

soak_maintenance() {
    local deadline=$1 i
    for ((i = 0; i < 100000; i++)); do
        [ "$(date +%s)" -lt "$deadline" ] || return 0
        [ "${SOAK_GC:-1}" = 0 ] || timeout 120 "$SOAK_CLI" gc --delete --grace 0 >>"$SOAK_DIR/gc.log" 2>&1
        timeout 120 "$SOAK_CLI" fsck >>"$SOAK_DIR/fsck.log" 2>&1
        sleep "${SOAK_PAUSE:-5}"
    done
}

soak_main() {
    local deadline t0 w r out rc=0 slow=0 corrupt max=0 readers=()
    [ -x "$SOAK_CLI" ] || { soak_log "build first: make"; exit 2; }
    rm -rf "$SOAK_DIR"; mkdir -p "$SOAK_DIR/ledgers" "$SOAK_DIR/out"
    trap soak_cleanup EXIT
    trap 'exit 130' INT TERM
    "$SOAK_SCRIPTS/services.sh" start || exit 1
    # shellcheck source=/dev/null
    . "$SHIMFS_SERVICES_DIR/env"
    SHIMFS_META=$("$SOAK_SCRIPTS/services.sh" newdb soak) || exit 1
    export SHIMFS_META
    "$SOAK_CLI" format soak --bucket "$("$SOAK_SCRIPTS/services.sh" newbucket soak)" >/dev/null || exit 1

    t0=$(date +%s); deadline=$((t0 + SOAK_MINUTES * 60))
    soak_log "$SOAK_MINUTES min, $SOAK_WRITERS writers, $SOAK_READERS readers, call bound $SOAK_BOUND s"
    for ((w = 0; w < SOAK_WRITERS; w++)); do
        LD_PRELOAD=$SOAK_ROOT/build/libshimfs.so python3 "$SOAK_SCRIPTS/soak_worker.py" write "$w" \
            "$SHIMFS_PREFIX" "$SOAK_DIR/ledgers/w$w" $((SOAK_MINUTES * 60)) "$SOAK_BOUND" \
            >"$SOAK_DIR/out/w$w" 2>&1 &
        SOAK_PIDS+=($!)
    done
    for ((r = 0; r < SOAK_READERS; r++)); do
        SOAK_SUSPECTS=$SOAK_DIR/out/r$r LD_PRELOAD=$SOAK_ROOT/build/libshimfs.so \
            python3 "$SOAK_SCRIPTS/soak_worker.py" read "$r" \
            "$SHIMFS_PREFIX" "$SOAK_DIR/ledgers/w*" $((SOAK_MINUTES * 60)) "$SOAK_BOUND" \
            >"$SOAK_DIR/out/r$r" 2>&1 &
        SOAK_PIDS+=($!)
    done
    soak_maintenance "$deadline" &
    SOAK_PIDS+=($!)
    if [ "${SOAK_FAULTS:-1}" = 0 ]; then
        t0=$((deadline - $(date +%s)))
        [ "$t0" -le 0 ] || sleep "$t0"
    else
        soak_faults "$deadline"
    fi
    soak_resume_all
    # Workers stop at the deadline, or one call bound after it.
    for w in "${SOAK_PIDS[@]}"; do
        timeout $((SOAK_BOUND * 3 + 60)) tail --pid="$w" -f /dev/null || kill -KILL "$w" 2>/dev/null
        wait "$w" 2>/dev/null
    done
    SOAK_PIDS=()

    for out in "$SOAK_DIR"/out/[rw][0-9]*; do
        case $out in *.suspect.*) continue ;; esac
        read -r _ _ _ _ _ s _ m _ _ < <(grep '^calls ' "$out" | tail -n 1) ||
            { soak_log "$(basename "$out") printed no summary: $(tail -n 3 "$out")"; rc=1; continue; }
        soak_log "$(basename "$out"): $(grep '^calls ' "$out" | tail -n 1)"
        slow=$((slow + s))
        max=$(python3 -c "print(max($max, $m))")
    done
    for out in "$SOAK_DIR"/out/r*; do
        [[ $out =~ /r[0-9]+$ ]] && readers+=("$out")
    done
    out=$(python3 "$SOAK_SCRIPTS/soak_worker.py" recheck "$SOAK_DIR/ledgers/w*" "${readers[@]}" 2>&1)
    printf '%s\n' "$out" | grep '^corrupt:' | head -n 20
    corrupt=$(printf '%s\n' "$out" | sed -n 's/^corrupt \([0-9]*\)$/\1/p')
    corrupt=${corrupt:-1}
    soak_log "settling: gc and fsck with every service up"
    timeout 300 "$SOAK_CLI" gc --delete --grace 0 >>"$SOAK_DIR/gc.log" 2>&1
    if timeout 300 "$SOAK_CLI" fsck >"$SOAK_DIR/fsck-final.log" 2>&1; then
        soak_log "fsck: $(grep -E 'problems|missing' "$SOAK_DIR/fsck-final.log" | tr -s ' \n' ' ')"
    else
        soak_log "fsck FAILED: $(tail -n 5 "$SOAK_DIR/fsck-final.log")"; rc=1
    fi
    out=$(LD_PRELOAD=$SOAK_ROOT/build/libshimfs.so SHIMFS_NODE_META=0 \
          python3 "$SOAK_SCRIPTS/soak_worker.py" verify "$SHIMFS_PREFIX" "$SOAK_DIR/ledgers/w*" 2>&1)
    printf '%s\n' "$out" | tail -n 20
    printf '%s\n' "$out" | grep -q ' lost 0 corrupt 0$' || rc=1
    soak_log "reads of bytes no writer wrote: $corrupt; calls over $SOAK_BOUND s: $slow (longest $max s)"
    [ "$corrupt" -eq 0 ] && [ "$slow" -eq 0 ] || rc=1
    soak_log "$([ $rc -eq 0 ] && echo PASSED || echo FAILED) (logs in $SOAK_DIR)"
    return $rc
}

soak_main "$@"
