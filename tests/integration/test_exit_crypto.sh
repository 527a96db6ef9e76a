#!/usr/bin/env bash
# tests/integration/test_exit_crypto.sh — a host program exits cleanly while
# threads are inside libcrypto (issue 14: the sanitizer pass's SEGV at
# 0x18, a thread in pthread_rwlock_rdlock(NULL) at exit).
#
# The engine's first connection (libpq's SCRAM login) is usually the
# process's first use of libcrypto, and the first initialisation decides
# whether libcrypto registers its exit-time cleanup. Registered, it frees
# libcrypto's locks at exit under threads still using it (the engine's
# prefetch and upload workers sign S3 requests; its session thread may log
# in again), and the host dies of SIGSEGV after its work is done. The
# metadata engine asks for no exit-time cleanup when it is loaded
# (metadata-sql/meta_crypto.c), as the S3 library does.
#
# tests/tools/crypto_exit writes a volume file (connects: libcrypto starts
# here), then exits while 4 threads hash without pause; an exit handler of
# its own, run after libcrypto's, exits 3 if libcrypto was cleaned up, so
# one run tells without waiting for the race. Before the fix every run
# exited 3 (and some died of SIGSEGV or SIGBUS first); now all exit 0.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

PREFIX=/mnt/shimfs-exitcrypto-$$
test_volume exitcrypto

shim() {
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$PREFIX" SHIMFS_META="$META" \
        SHIMFS_CACHE_DIR="$TEST_SCRATCH/cache" SHIMFS_LOG=error "$@"
}

RUNS=10
bad=0 statuses=
for i in $(seq "$RUNS"); do
    rc=0
    shim timeout 60 "$SHIMFS_BUILD/tools/crypto_exit" "$PREFIX/f$i" 4 2> "$TEST_SCRATCH/err.$i" || rc=$?
    [ "$rc" = 0 ] || { bad=$((bad + 1)); statuses="$statuses $rc"; }
done
assert_eq 0 "$bad" "$RUNS exits while threads use libcrypto: all exit 0 (bad statuses:${statuses:- none})"
assert_eq "exit" "$(shim cat "$PREFIX/f$RUNS")" "the file written before exit reads back"
