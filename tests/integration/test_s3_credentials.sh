#!/usr/bin/env bash
# test_s3_credentials.sh - the AWS credential chain (core/s3_cred*.c)
# against loopback stand-ins (cred_standin.py: STS, container credentials,
# IMDSv2, and an S3 front on s3rver that lets through only currently valid
# keys with their session token): each source alone, their precedence, a
# broken source (EIO and one log line naming it, no secret anywhere), the
# refresh of short-lived credentials during a long read by many threads
# (no request fails), and one retry after a server's ExpiredToken.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# about objects in the bucket: tiny files stay out of the database
# (SHIMFS_INLINE_MAX; test_inline covers those)
export SHIMFS_INLINE_MAX=0
need_services
need_cmd python3

OBJ_CLI=$SHIMFS_BUILD/tools/obj_cli
[ -x "$OBJ_CLI" ] || { fail "obj_cli not built: $OBJ_CLI"; exit 1; }
BUCKET_URL=$(test_bucket)
BUCKET=${BUCKET_URL##*/}
STATIC_KEY=S3RVER
PROFILE_KEY=PROFILEKEY

# The stand-ins, with credentials that live $1 seconds.
STANDIN_PID=
start_standin() {
    local ports=$TEST_SCRATCH/ports.$1
    rm -f "$ports"
    python3 "$(dirname "$0")/cred_standin.py" "$SHIMFS_TEST_S3_ENDPOINT" "$ports" "$1" \
        "$STATIC_KEY" "$PROFILE_KEY" &
    STANDIN_PID=$!
    on_exit "kill $STANDIN_PID 2>/dev/null"
    wait_for 10 test -s "$ports" || { fail "stand-in did not start"; exit 1; }
    read -r S3_PORT CRED_PORT < "$ports"
    S3_URL=http://127.0.0.1:$S3_PORT/$BUCKET
    CRED=http://127.0.0.1:$CRED_PORT
}
stop_standin() { kill "$STANDIN_PID" 2>/dev/null; wait "$STANDIN_PID" 2>/dev/null || true; }
stat_of() { curl -sf "$CRED/__stats" | python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# A clean slate: no source configured, nothing read from the user's home.
export STANDIN_WEB_TOKEN_FILE=$TEST_SCRATCH/web-token
export STANDIN_CONTAINER_TOKEN=container-auth-$RANDOM$RANDOM
printf 'eyJ.web-identity-token-%s\n' "$RANDOM$RANDOM" > "$STANDIN_WEB_TOKEN_FILE"
printf '%s\n' "$STANDIN_CONTAINER_TOKEN" > "$TEST_SCRATCH/container-token"
clean_env() {
    unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE \
          AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_SESSION_NAME AWS_ENDPOINT_URL \
          AWS_ENDPOINT_URL_STS AWS_CONTAINER_CREDENTIALS_FULL_URI \
          AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_AUTHORIZATION_TOKEN \
          AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE AWS_EC2_METADATA_SERVICE_ENDPOINT
    export HOME=$TEST_SCRATCH/home
    export AWS_SHARED_CREDENTIALS_FILE=$TEST_SCRATCH/none/credentials
    export AWS_CONFIG_FILE=$TEST_SCRATCH/none/config
    export AWS_EC2_METADATA_DISABLED=true
    export SHIMFS_LOG=info
}
set_env()       { export AWS_ACCESS_KEY_ID=$STATIC_KEY AWS_SECRET_ACCESS_KEY=static-secret-$$; }
set_web()       { export AWS_ROLE_ARN=arn:aws:iam::123456789012:role/shimfs \
                         AWS_WEB_IDENTITY_TOKEN_FILE=$STANDIN_WEB_TOKEN_FILE AWS_ENDPOINT_URL_STS=$CRED; }
set_shared()    { export AWS_SHARED_CREDENTIALS_FILE=$TEST_SCRATCH/aws/credentials AWS_PROFILE=dev; }
set_container() { export AWS_CONTAINER_CREDENTIALS_FULL_URI=$CRED/container/creds \
                         AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$TEST_SCRATCH/container-token; }
set_imds()      { export AWS_EC2_METADATA_DISABLED=false AWS_EC2_METADATA_SERVICE_ENDPOINT=$CRED; }
mkdir -p "$TEST_SCRATCH/aws" "$TEST_SCRATCH/home"
cat > "$TEST_SCRATCH/aws/credentials" <<EOF
# a comment
[default]
aws_access_key_id = NOTTHISONE
aws_secret_access_key = nope

[dev]
aws_access_key_id = $PROFILE_KEY
aws_secret_access_key = profile-secret-$$
[chained]
role_arn = arn:aws:iam::123456789012:role/other
source_profile = dev
EOF
cat > "$TEST_SCRATCH/aws/config" <<EOF
[profile fromconfig]
region = eu-west-1
aws_access_key_id = $PROFILE_KEY
aws_secret_access_key = config-secret-$$
s3 =
  addressing_style = path
EOF
printf 'the object\n' > "$TEST_SCRATCH/obj"

# One put and get through the stand-in's S3 front: which key signed?
LOGS=$TEST_SCRATCH/logs
mkdir -p "$LOGS"
N=0
roundtrip() {
    N=$((N + 1))
    "$OBJ_CLI" "$S3_URL" put "k$N" "$TEST_SCRATCH/obj" 2>> "$LOGS/$N" &&
        "$OBJ_CLI" "$S3_URL" get "k$N" 2>> "$LOGS/$N" | cmp -s - "$TEST_SCRATCH/obj"
}
last_key() { stat_of '["last_key"]'; }

start_standin 3600

# ---- each source alone ----------------------------------------------------
clean_env; set_env
check "environment: put and get" roundtrip
assert_eq "$STATIC_KEY" "$(last_key)" "environment: signed with AWS_ACCESS_KEY_ID"

clean_env; set_web
check "web identity: put and get" roundtrip
case $(last_key) in ASIASTS*) pass "web identity: signed with STS's key" ;; *) fail "web identity: key $(last_key)" ;; esac
assert_eq 2 "$(stat_of '["sts"]')" "web identity: one STS call per process (put, then get)"
check "web identity: again" roundtrip
assert_eq 4 "$(stat_of '["sts"]')" "web identity: still one per process"

clean_env; set_shared
check "shared files: profile dev" roundtrip
assert_eq "$PROFILE_KEY" "$(last_key)" "shared files: signed with the profile's key"
export AWS_SHARED_CREDENTIALS_FILE=$TEST_SCRATCH/none/credentials \
       AWS_CONFIG_FILE=$TEST_SCRATCH/aws/config AWS_PROFILE=fromconfig
check "shared files: a profile of the config file" roundtrip

clean_env; set_container
check "container: put and get" roundtrip
case $(last_key) in ASIACONT*) pass "container: signed with its key" ;; *) fail "container: key $(last_key)" ;; esac
unset AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
export AWS_CONTAINER_AUTHORIZATION_TOKEN=$STANDIN_CONTAINER_TOKEN
check "container: token from AWS_CONTAINER_AUTHORIZATION_TOKEN" roundtrip

clean_env; set_imds
check "IMDSv2: put and get" roundtrip
case $(last_key) in ASIAIMDS*) pass "IMDSv2: signed with the role's key" ;; *) fail "IMDSv2: key $(last_key)" ;; esac
[ "$(stat_of '["imds_token"]')" -ge 1 ] && pass "IMDSv2: a session token was asked first" ||
    fail "IMDSv2: no PUT /latest/api/token"

# ---- precedence: environment, web identity, shared files, container, IMDS ----
clean_env; set_env; set_web; set_shared; set_container; set_imds
check "all five: put and get" roundtrip
assert_eq "$STATIC_KEY" "$(last_key)" "precedence: environment first"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
check "four: put and get" roundtrip
case $(last_key) in ASIASTS*) pass "precedence: then web identity" ;; *) fail "precedence: web identity lost to $(last_key)" ;; esac
unset AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE
check "three: put and get" roundtrip
assert_eq "$PROFILE_KEY" "$(last_key)" "precedence: then shared files"
export AWS_SHARED_CREDENTIALS_FILE=$TEST_SCRATCH/none/credentials; unset AWS_PROFILE
check "two: put and get" roundtrip
case $(last_key) in ASIACONT*) pass "precedence: then container" ;; *) fail "precedence: container lost to $(last_key)" ;; esac
unset AWS_CONTAINER_CREDENTIALS_FULL_URI
check "one: put and get" roundtrip
case $(last_key) in ASIAIMDS*) pass "precedence: then IMDSv2" ;; *) fail "precedence: IMDS lost to $(last_key)" ;; esac
unset AWS_EC2_METADATA_SERVICE_ENDPOINT
export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1
out=$("$OBJ_CLI" "$S3_URL" put unsigned "$TEST_SCRATCH/obj" 2>&1 || true)
case $out in *"Permission denied"*) pass "none answers (IMDS port closed): unsigned, refused by S3" ;;
             *) fail "no credentials: $out" ;; esac
case $out in *"requests are unsigned"*) pass "none: one line says requests are unsigned" ;;
             *) fail "none: no unsigned notice: $out" ;; esac

# ---- broken sources: EIO, one line naming the source, no secret ------------
broken() {  # what, then the source's name in the log
    local out n
    out=$("$OBJ_CLI" "$S3_URL" get k1 2>&1 >/dev/null || true)
    printf '%s\n' "$out" >> "$LOGS/broken"
    case $out in *"Input/output error"*) pass "$1: EIO" ;; *) fail "$1: not EIO: $out" ;; esac
    n=$(printf '%s\n' "$out" | grep -c "$2" || true)
    assert_eq 1 "$n" "$1: one log line names $2"
}
clean_env; set_web
printf 'wrong-token\n' > "$TEST_SCRATCH/wrong-token"
export AWS_WEB_IDENTITY_TOKEN_FILE=$TEST_SCRATCH/wrong-token
broken "web identity refused by STS" "web identity"
grep -q "InvalidIdentityToken" "$LOGS/broken" && pass "web identity: the log gives STS's code" ||
    fail "web identity: no STS code in the log"
export AWS_WEB_IDENTITY_TOKEN_FILE=$TEST_SCRATCH/missing-token
broken "web identity: token file missing" "web identity"
clean_env; set_container; export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$TEST_SCRATCH/wrong-token
broken "container: wrong authorization token" "container"
clean_env; export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://192.0.2.1/creds
broken "container: plain http off loopback is refused" "container"
clean_env; set_shared; export AWS_PROFILE=chained
broken "shared files: role chaining" "role_arn"
export AWS_PROFILE=nosuchprofile
broken "shared files: a missing profile" "nosuchprofile"
clean_env; set_imds; curl -sf -X POST "$CRED/__break" > /dev/null
broken "IMDSv2 answering 500" "IMDSv2"
curl -sf -X POST "$CRED/__mend" > /dev/null
stop_standin

# ---- refresh during a long read: credentials live 4 s, the read 10 s -------
start_standin 4
for src in web container imds; do
    clean_env; "set_$src"; set_env; unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
    "$OBJ_CLI" "$S3_URL" put long "$TEST_SCRATCH/obj" 2>> "$LOGS/long-$src" || fail "$src: put"
    before=$(stat_of '["s3_expired"]')
    out=$("$OBJ_CLI" "$S3_URL" getloop long 10000 8 2>> "$LOGS/long-$src" || true)
    printf '%s\n' "$out" >> "$LOGS/long-$src"
    gets=$(sed -n 's/.*gets=\([0-9]*\).*/\1/p' <<< "$out")
    failed=$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<< "$out")
    fetches=$(sed -n 's/.*fetches=\([0-9]*\).*/\1/p' <<< "$out")
    echo "  $src: 10 s of GETs on 8 threads with 4 s credentials: $out"
    [ "${gets:-0}" -ge 100 ] && pass "$src: the long read ran ($gets GETs)" || fail "$src: only ${gets:-0} GETs"
    assert_eq 0 "${failed:-x}" "$src: no GET failed while credentials were replaced"
    # 4 s credentials are refreshed at half-life: about 5 fetches in 10 s.
    [ "${fetches:-0}" -ge 4 ] && [ "${fetches:-0}" -le 8 ] && pass "$src: refreshed ahead of expiry ($fetches fetches)" ||
        fail "$src: $fetches credential fetches in 10 s (want 4..8)"
done
stop_standin

# ---- a server's ExpiredToken: refreshed and retried once -----------------------
start_standin 3600
clean_env; set_container
"$OBJ_CLI" "$S3_URL" put revoked "$TEST_SCRATCH/obj" 2>> "$LOGS/revoke" || fail "revoke: put"
( sleep 1; curl -sf -X POST "$CRED/__revoke" > /dev/null; sleep 1; curl -sf -X POST "$CRED/__revoke" > /dev/null ) &
revoker=$!
out=$("$OBJ_CLI" "$S3_URL" getloop revoked 3000 4 2>> "$LOGS/revoke" || true)
wait "$revoker" || true
printf '%s\n' "$out" >> "$LOGS/revoke"
echo "  revoked twice during 3 s of GETs: $out, $(stat_of '["s3_expired"]') ExpiredToken answers"
case $out in *"failed=0 "*) pass "ExpiredToken: no GET failed" ;; *) fail "ExpiredToken: $out" ;; esac
[ "$(stat_of '["s3_expired"]')" -ge 1 ] && pass "ExpiredToken: the server did refuse old keys" ||
    fail "ExpiredToken: the server never refused (the check could not fail)"
fetches=$(sed -n 's/.*fetches=\([0-9]*\).*/\1/p' <<< "$out")
[ "${fetches:-0}" -ge 3 ] && [ "${fetches:-0}" -le 6 ] &&
    pass "ExpiredToken: one fetch per revocation, not one per thread ($fetches)" ||
    fail "ExpiredToken: $fetches fetches for 2 revocations"

# ---- the node's processes of a user share temporary credentials ----------
# (s3_cred_share.c): through a volume whose bucket is the stand-in's front,
# four processes with one cache folder make one STS call; without a cache
# folder each makes its own.
curl -sf "$CRED/__secrets" > "$TEST_SCRATCH/share-secrets"   # the previous stand-in's
stop_standin
start_standin 3600
clean_env; set_web
SHARE_META=$(test_db)
SHARE_PREFIX=/mnt/shimfs-credshare-$$
SHARE_CACHE=$TEST_SCRATCH/share-cache
mkdir -p "$SHARE_CACHE" && chmod 700 "$SHARE_CACHE"
"$SHIMFS_CLI" format credshare --bucket "$S3_URL" --meta "$SHARE_META" > /dev/null 2>> "$LOGS/share" ||
    fail "share: format through the stand-in"
share_run() { # CACHE_SIZE, file number
    env LD_PRELOAD="$SHIMFS_PRELOAD" SHIMFS_PREFIX="$SHARE_PREFIX" SHIMFS_META="$SHARE_META" \
        SHIMFS_CACHE_DIR="$SHARE_CACHE" SHIMFS_CACHE_SIZE="$1" SHIMFS_AGENT=0 \
        sh -c "printf 'shared %s\\n' $2 > $SHARE_PREFIX/f$2 && cat $SHARE_PREFIX/f$2" 2>> "$LOGS/share"
}
sts0=$(stat_of '["sts"]')
ok=0
for i in 1 2 3 4; do
    [ "$(share_run 1G "$i")" = "shared $i" ] && ok=$((ok + 1))
done
assert_eq 4 "$ok" "share: four processes wrote and read through the volume"
assert_eq 1 $(($(stat_of '["sts"]') - sts0)) "share: four processes of the node, one STS call"
f=$(ls "$SHARE_CACHE" | grep -E '^credentials-[0-9a-f]{32}$' | head -1)
[ -n "$f" ] && assert_eq 600 "$(stat -c %a "$SHARE_CACHE/$f")" "share: the shared file is 0600" ||
    fail "share: no shared credentials file in the cache folder"
sts1=$(stat_of '["sts"]')
for i in 5 6; do share_run 0 "$i" > /dev/null || true; done
n=$(($(stat_of '["sts"]') - sts1))
[ "$n" -ge 2 ] && pass "share: without a cache folder each process asks STS ($n calls for 2 runs)" ||
    fail "share: without a cache folder, $n STS calls for 2 runs (the check above could not fail)"

# ---- no secret reached a log line ----------------------------------------------
curl -sf "$CRED/__secrets" > "$TEST_SCRATCH/secrets"
cat "$TEST_SCRATCH/share-secrets" >> "$TEST_SCRATCH/secrets" 2>/dev/null || true
stop_standin
{ echo "static-secret-$$"; echo "profile-secret-$$"; echo "config-secret-$$";
  echo "$STANDIN_CONTAINER_TOKEN"; cat "$STANDIN_WEB_TOKEN_FILE"; } >> "$TEST_SCRATCH/secrets"
leaks=0
while IFS= read -r s; do
    [ -n "$s" ] || continue
    if grep -rqF -- "$s" "$LOGS"; then leaks=$((leaks + 1)); fi
done < "$TEST_SCRATCH/secrets"
[ "$(wc -l < "$TEST_SCRATCH/secrets")" -gt 10 ] && pass "secrets to look for: $(wc -l < "$TEST_SCRATCH/secrets")" ||
    fail "too few secrets collected"
assert_eq 0 "$leaks" "no secret or token in any log line"
grep -q "credentials" "$LOGS"/* && pass "the logs searched are not empty" || fail "no log lines were captured"
