#!/usr/bin/env bash
# tests/integration/test_cli_format.sh — `shimfs format` and `status` against
# the real PostgreSQL and S3 server (scripts/services.sh), and every way they
# must refuse: each refusal is one clear line on stderr and the right exit
# status (2 for usage errors, 1 for failures).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_services

CLI=$SHIMFS_CLI
ERR=$TEST_SCRATCH/stderr
OUT=$TEST_SCRATCH/stdout

# expect_fail CODE REGEX WHAT CMD...: CMD exits CODE with exactly one line
# on stderr matching REGEX.
expect_fail() {
    local code=$1 pattern=$2 what=$3 rc=0
    shift 3
    "$@" >"$OUT" 2>"$ERR" || rc=$?
    if [ "$rc" -ne "$code" ]; then
        fail "$what: exit $rc, expected $code: $(head -c 400 "$ERR")"
    elif [ "$(wc -l < "$ERR")" -ne 1 ]; then
        fail "$what: expected one line on stderr, got: $(cat "$ERR")"
    elif ! grep -qE -- "$pattern" "$ERR"; then
        fail "$what: stderr '$(cat "$ERR")' does not match /$pattern/"
    else
        pass "$what"
    fi
}

# expect_ok WHAT CMD...: exit 0, nothing on stderr.
expect_ok() {
    local what=$1 rc=0
    shift
    "$@" >"$OUT" 2>"$ERR" || rc=$?
    if [ "$rc" -ne 0 ]; then
        fail "$what: exit $rc: $(head -c 400 "$ERR")"
    elif [ -s "$ERR" ]; then
        fail "$what: unexpected stderr: $(cat "$ERR")"
    else
        pass "$what"
    fi
}

field() { sed -n "s/^ *$1: *//p" "$OUT" | head -n1; }

db=$(test_db s3)
bucket=$(test_bucket s3)

# ---- a volume on S3 ----
expect_ok "format on S3" "$CLI" format vol1 --bucket "$bucket" --meta "$db"
assert_eq "formatted volume vol1" "$(head -n1 "$OUT")" "format prints its summary"
uuid=$(field uuid)
if [[ $uuid =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]; then
    pass "volume uuid is RFC 4122 v4 ($uuid)"
else
    fail "volume uuid '$uuid' is not RFC 4122 v4"
fi
assert_eq "4 MiB" "$(field 'block size')" "default block size"
assert_eq "zstd:1" "$(field compression)" "default compression"

expect_ok "status" "$CLI" status --meta "$db"
assert_eq "vol1" "$(field volume)" "status: name"
assert_eq "$uuid" "$(field uuid)" "status: uuid"
assert_eq "$bucket" "$(field bucket)" "status: bucket"
if grep -q 'shimfs-test' "$OUT"; then fail "status prints the database password"; else pass "status hides the password"; fi
if grep -qE '^inodes: +1 ' "$OUT"; then pass "status: a new volume holds the root only"; else fail "status: $(cat "$OUT")"; fi

# The probe object was deleted again: nothing of the volume in the bucket.
left=$(/usr/bin/python3 - "$SHIMFS_TEST_S3_ENDPOINT" "${bucket##*/}" <<'EOF'
import sys, botocore.session
s = botocore.session.get_session()
c = s.create_client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
print(c.list_objects_v2(Bucket=sys.argv[2]).get("KeyCount", 0))
EOF
)
assert_eq 0 "$left" "the bucket probe leaves no object behind"

# ---- refusing to wipe, then wiping with --force ----
expect_fail 1 'volume vol1 already exists in database .*; use --force to wipe it' \
    "format refuses an existing volume" "$CLI" format vol2 --bucket "$bucket" --meta "$db"
expect_ok "status still shows the old volume" "$CLI" status --meta "$db"
assert_eq "vol1" "$(field volume)" "refused format changed nothing"
expect_ok "format --force" "$CLI" format vol2 --bucket "$bucket" --block-size 1M \
    --compress zstd:3 --meta "$db" --force
expect_ok "status after --force" "$CLI" status --meta "$db"
assert_eq "vol2" "$(field volume)" "--force replaced the volume"
assert_eq "1 MiB" "$(field 'block size')" "--block-size 1M stored"
assert_eq "zstd:3" "$(field compression)" "--compress zstd:3 stored"

# ---- SHIMFS_META and libpq's PG* variables ----
expect_ok "status from SHIMFS_META" env SHIMFS_META="$db" "$CLI" status
assert_eq "vol2" "$(field volume)" "SHIMFS_META names the database"
hostport=${db#*@}; hostport=${hostport%%/*}
expect_ok "status from PG* variables" env -u SHIMFS_META PGHOST="${hostport%:*}" \
    PGPORT="${hostport#*:}" PGUSER=shimfs PGPASSWORD=shimfs-test PGDATABASE="${db##*/}" \
    "$CLI" status
assert_eq "vol2" "$(field volume)" "PG* variables name the database"

# ---- a volume on file:// ----
fdb=$(test_db file)
fdir=$TEST_SCRATCH/file-bucket/sub
expect_ok "format on file://" "$CLI" format fvol --bucket "file://$fdir" --block-size 64K \
    --compress none --meta "$fdb"
check "format creates the file:// directory" test -d "$fdir"
assert_eq "" "$(find "$fdir" -type f)" "file:// probe object removed"
expect_ok "status of the file:// volume" "$CLI" status --meta "$fdb"
assert_eq "none" "$(field compression)" "--compress none stored"
assert_eq "64 KiB" "$(field 'block size')" "--block-size 64K stored"

# ---- usage errors: exit 2 ----
ndb=$(test_db fresh)
for bs in 3M 32K 32M 0 junk 4X; do
    expect_fail 2 "bad --block-size '$bs'" "block size $bs refused" \
        "$CLI" format v --bucket "$bucket" --block-size "$bs" --meta "$ndb"
done
for c in lz4 zstd:abc zstd:99 ''; do
    expect_fail 2 "bad --compress" "compression '$c' refused" \
        "$CLI" format v --bucket "$bucket" --compress "$c" --meta "$ndb"
done
expect_fail 2 'missing --bucket' "format without --bucket" "$CLI" format v --meta "$ndb"
expect_fail 2 'missing volume NAME' "format without NAME" "$CLI" format --bucket "$bucket"
expect_fail 2 "bad --bucket URL 'ftp://x/y'" "bad bucket URL" \
    "$CLI" format v --bucket ftp://x/y --meta "$ndb"
expect_fail 2 'credentials do not belong' "credentials in the bucket URL" \
    "$CLI" format v --bucket "http://key:secret@127.0.0.1:1/b" --meta "$ndb"
expect_fail 2 "unknown option '--bogus'" "unknown option" "$CLI" format v --bogus
expect_fail 2 "unknown command 'bogus'" "unknown command" "$CLI" bogus
expect_fail 2 "option '--meta' needs a value" "option without its value" "$CLI" status --meta
expect_fail 2 'missing VOLUME_PATH' "ls without a path" "$CLI" ls

# ---- failures: exit 1, one line naming the cause ----
expect_fail 1 'bucket check: put of probe object [0-9a-f-]{36}/probe-[0-9a-f]{16} failed: Connection refused .*store http://127.0.0.1:1/nobucket' \
    "unreachable bucket" "$CLI" format v --bucket http://127.0.0.1:1/nobucket --meta "$ndb"
expect_fail 1 'bucket check: put of probe object .* failed: .*store' \
    "missing S3 bucket" "$CLI" format v --bucket "$SHIMFS_TEST_S3_ENDPOINT/no-such-bucket-here" \
    --meta "$ndb"
expect_fail 1 'database .*: Connection refused \(database unreachable\)' "unreachable database" \
    "$CLI" format v --bucket "$bucket" --meta "postgresql://shimfs:x@127.0.0.1:1/none"
expect_fail 1 'database .*authentication refused' "wrong password" \
    "$CLI" format v --bucket "$bucket" --meta "${db/shimfs-test/wrong-password}"
if grep -q wrong-password "$ERR"; then fail "the password shows in the message"; else pass "no password in the message"; fi
expect_fail 1 'no shimfs volume in this database; run `shimfs format` first' \
    "status of an unformatted database" "$CLI" status --meta "$ndb"
expect_fail 1 'no shimfs volume in this database' \
    "ls in an unformatted database" "$CLI" ls / --meta "$ndb"
expect_fail 1 'database .*unreachable' "status with the database unreachable" \
    "$CLI" status --meta "postgresql://shimfs:x@127.0.0.1:1/none"

# ---- help and version ----
expect_ok "shimfs --help" "$CLI" --help
for c in format import ls stat cat status version; do
    if grep -qE "^  $c " "$OUT"; then pass "--help lists $c"; else fail "--help lacks $c"; fi
done
expect_ok "format --help" "$CLI" format --help
if grep -q -- '--block-size' "$OUT"; then pass "format --help"; else fail "format --help: $(cat "$OUT")"; fi
expect_ok "version" "$CLI" version
if grep -qE '^shimfs [0-9]+\.[0-9]+\.[0-9]+ \(metadata schema [0-9]+\)$' "$OUT"; then
    pass "version line"
else
    fail "version line: $(cat "$OUT")"
fi
