#!/usr/bin/env bash
# test_bucket_prefix.sh - volumes on key prefixes of one bucket
# (http://host/bucket/prefix): formatted, written and read back through the
# shim from a fresh cache, gc and fsck see only their own prefix, and two
# volumes on two prefixes of one bucket never see each other's objects
# (gc --delete on one leaves the other's objects alone). The same through
# s3://bucket/prefix with AWS_ENDPOINT_URL_S3. Before prefixes existed,
# `shimfs format --bucket http://host/bucket/prefix` was refused.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# about objects in the bucket: tiny files stay out of the database
# (SHIMFS_INLINE_MAX; test_inline covers those)
export SHIMFS_INLINE_MAX=0
need_services

CLI=$SHIMFS_CLI
OBJ_CLI=$SHIMFS_BUILD/tools/obj_cli
ROOT_URL=$(test_bucket)
BUCKET=${ROOT_URL##*/}
MNT=/mnt/shimfs-prefix-$$

shim_on() {  # META then the command
    local meta=$1; shift
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$MNT" SHIMFS_META="$meta" \
        SHIMFS_CACHE_DIR="$(mktemp -d "$TEST_SCRATCH/cache.XXXXXX")" SHIMFS_LOG=error \
        SHIMFS_NODE_META=0 SHIMFS_AGENT=0 "$@"
}
keys_under() { "$OBJ_CLI" "$ROOT_URL" list "$1" | wc -l; }

META_A=$(test_db a)
META_B=$(test_db b)
META_C=$(test_db c)
check "format volume a on $ROOT_URL/team/a" \
    env SHIMFS_META="$META_A" "$CLI" format pa --bucket "$ROOT_URL/team/a"
check "format volume b on $ROOT_URL/team/b/" \
    env SHIMFS_META="$META_B" "$CLI" format pb --bucket "$ROOT_URL/team/b/"
out=$(env SHIMFS_META="$META_A" "$CLI" status 2>&1 || true)
case $out in *"/$BUCKET/team/a"*) pass "status names the prefix" ;; *) fail "status: $out" ;; esac

head -c 3000000 /dev/urandom > "$TEST_SCRATCH/big"
printf 'hello from a\n' > "$TEST_SCRATCH/small"
check "a: write files" shim_on "$META_A" sh -c "cp '$TEST_SCRATCH/big' $MNT/big && cp '$TEST_SCRATCH/small' $MNT/small && cp '$TEST_SCRATCH/small' $MNT/gone"
check "b: write a file" shim_on "$META_B" cp "$TEST_SCRATCH/big" "$MNT/bfile"
check "a: reads back from the bucket" shim_on "$META_A" cmp "$TEST_SCRATCH/big" "$MNT/big"
check "b: reads back from the bucket" shim_on "$META_B" cmp "$TEST_SCRATCH/big" "$MNT/bfile"
out=$(shim_on "$META_B" ls "$MNT" 2>&1 || true)
assert_eq "bfile" "$out" "b lists only its own file"

total=$(keys_under "")
na=$(keys_under team/a/)
nb=$(keys_under team/b/)
echo "  keys: $total in the bucket, $na under team/a/, $nb under team/b/"
[ "$na" -gt 0 ] && [ "$nb" -gt 0 ] && pass "both volumes wrote objects" || fail "a=$na b=$nb objects"
assert_eq "$total" "$((na + nb))" "every key lives under one of the two prefixes"

# gc and fsck list only their prefix: no foreign keys, nothing missing.
out=$(env SHIMFS_META="$META_A" "$CLI" gc 2>&1)
case $out in *"foreign keys: 0"*) pass "gc on a sees none of b's objects" ;; *) fail "gc a: $out" ;; esac
case $out in *"objects: $na "*) pass "gc on a counts exactly the keys under team/a/ ($na)" ;; *) fail "gc a counted: $out" ;; esac
for v in A B; do
    meta_var=META_$v
    out=$(env SHIMFS_META="${!meta_var}" "$CLI" fsck 2>&1 || true)
    case $out in *" 0 missing objects"*) pass "fsck $v: 0 missing objects" ;; *) fail "fsck $v: $out" ;; esac
done

# Releasing a's file and gc --delete: b's objects are untouched.
check "a: remove a file" shim_on "$META_A" rm "$MNT/gone"
keys_b_before=$("$OBJ_CLI" "$ROOT_URL" list team/b/)
out=$(env SHIMFS_META="$META_A" "$CLI" gc --delete --grace 0 2>&1)
case $out in *"deleted 0 objects"*) fail "gc --delete on a deleted nothing: $out" ;;
             *"deleted "*) pass "gc --delete on a deleted its released objects" ;; *) fail "gc: $out" ;; esac
assert_eq "$keys_b_before" "$("$OBJ_CLI" "$ROOT_URL" list team/b/)" "b's objects are all still there"
check "b still reads back" shim_on "$META_B" cmp "$TEST_SCRATCH/big" "$MNT/bfile"
check "a still reads back" shim_on "$META_A" cmp "$TEST_SCRATCH/big" "$MNT/big"

# s3://bucket/prefix with the endpoint from the environment.
export AWS_ENDPOINT_URL_S3=$SHIMFS_TEST_S3_ENDPOINT
check "format volume c on s3://$BUCKET/team/c" \
    env SHIMFS_META="$META_C" "$CLI" format pc --bucket "s3://$BUCKET/team/c"
check "c: write and read back" shim_on "$META_C" sh -c "cp '$TEST_SCRATCH/small' $MNT/c && cmp '$TEST_SCRATCH/small' $MNT/c"
out=$(shim_on "$META_C" ls "$MNT" 2>&1 || true)
assert_eq "c" "$out" "c lists only its own file"
[ "$(keys_under team/c/)" -gt 0 ] && pass "c's objects are under team/c/" || fail "nothing under team/c/"
assert_eq "$nb" "$(keys_under team/b/)" "b's key count is unchanged"
