#!/usr/bin/env bash
# scripts/s3.sh — a private S3 server (s3rver 3.7.1, from package-lock.json)
# for tests.
#   s3.sh start DIR           start it with data in DIR/data, wait until ready
#   s3.sh stop DIR            stop it; idempotent, safe after a crash
#   s3.sh port DIR            print its TCP port
#   s3.sh bucket DIR NAME     create bucket NAME, or empty it if it exists
# Promises: listens on 127.0.0.1 only, on a free port kept in DIR/port and
# reused on restart; bucket shimfs-test exists once start returns; logs go to
# DIR/s3rver.log; the pid is in DIR/pid. Credentials are s3rver's fixed
# S3RVER/S3RVER. Known quirks of s3rver 3.7.1 on Node 20: it does not check
# SigV4 signatures, and answers 400 to a GET without x-amz-content-sha256.
set -euo pipefail

S3_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
S3_ENTRY=$S3_ROOT/node_modules/s3rver/bin/s3rver.js
S3_BUCKET=shimfs-test

s3_log() { printf 's3.sh: %s\n' "$*" >&2; }
s3_die() { s3_log "$*"; exit 1; }

s3_free_port() {
    /usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# True when DIR/pid names a live s3rver (a recycled pid is not ours).
s3_is_running() {
    local pid
    pid=$(cat "$1/pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && grep -qa s3rver.js "/proc/$pid/cmdline" 2>/dev/null
}

s3_port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Ready once the pid file names a live s3rver and its port accepts: s3rver
# creates the configured bucket before it listens. Bounded: 15 s.
s3_wait_ready() {
    local dir=$1 i
    for i in $(seq 1 150); do
        if s3_is_running "$dir"; then
            s3_port_open "$(cat "$dir/port")" && return 0
        elif [ "$i" -gt 20 ]; then
            return 1
        fi
        sleep 0.1
    done
    return 1
}

# The JS entry runs under node directly so that --openssl-legacy-provider
# applies: s3rver's list continuation tokens (listings past 1000 keys) use
# DES, which OpenSSL 3 only has in its legacy provider. It runs in its own
# session, so a Ctrl-C meant for the tests does not kill it under them; the
# shell writes its own pid and then becomes node, so the pid is node's
# whether or not setsid had to fork.
s3_try_start() {
    local dir=$1
    rm -f "$dir/pid"
    # shellcheck disable=SC2016 # expanded by the inner shell
    setsid bash -c 'echo $$ > "$1/pid"; exec node --openssl-legacy-provider "$2" \
        --directory "$1/data" --address 127.0.0.1 --port "$3" \
        --silent --configure-bucket "$4"' \
        s3rver "$dir" "$S3_ENTRY" "$(cat "$dir/port")" "$S3_BUCKET" \
        </dev/null >>"$dir/s3rver.log" 2>&1 &
    s3_wait_ready "$dir"
}

s3_start() {
    local dir=$1 attempt
    [ -f "$S3_ENTRY" ] || s3_die "s3rver missing: run scripts/deps.sh"
    s3_is_running "$dir" && { s3_log "already running in $dir"; return 0; }
    mkdir -p "$dir/data"
    [ -f "$dir/port" ] || s3_free_port > "$dir/port"
    for attempt in 1 2 3 4 5; do
        s3_try_start "$dir" && return 0
        s3_stop "$dir"
        s3_log "start failed on port $(cat "$dir/port") (attempt $attempt)"
        s3_free_port > "$dir/port"
    done
    tail -n 20 "$dir/s3rver.log" >&2
    s3_die "could not start s3rver in $dir"
}

s3_stop() {
    local dir=$1 pid
    s3_is_running "$dir" || { rm -f "$dir/pid"; return 0; }
    pid=$(cat "$dir/pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        s3_is_running "$dir" || { rm -f "$dir/pid"; return 0; }
        sleep 0.1
    done
    s3_log "s3rver $pid ignored SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        s3_is_running "$dir" || { rm -f "$dir/pid"; return 0; }
        sleep 0.1
    done
    s3_die "s3rver $pid did not die"
}

# Signed with botocore (Debian's, hence /usr/bin/python3) like a real client.
s3_bucket() {
    local dir=$1 name=$2
    [[ $name =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || s3_die "bad bucket name: $name"
    s3_is_running "$dir" || s3_die "s3rver is not running in $dir"
    S3_ENDPOINT="http://127.0.0.1:$(cat "$dir/port")" S3_NAME=$name /usr/bin/python3 - <<'EOF'
import os, botocore.session
from botocore.config import Config
c = botocore.session.get_session().create_client(
    "s3", region_name="us-east-1", endpoint_url=os.environ["S3_ENDPOINT"],
    aws_access_key_id="S3RVER", aws_secret_access_key="S3RVER",
    config=Config(s3={"addressing_style": "path"}))
name = os.environ["S3_NAME"]
try:
    c.create_bucket(Bucket=name)
except c.exceptions.BucketAlreadyOwnedByYou:
    pass
except c.exceptions.BucketAlreadyExists:
    pass
# A bucket made earlier in this run is emptied: the caller wants it fresh.
for _ in range(100000):
    keys = [o["Key"] for o in c.list_objects_v2(Bucket=name).get("Contents", [])]
    if not keys:
        break
    c.delete_objects(Bucket=name, Delete={"Objects": [{"Key": k} for k in keys]})
else:
    raise SystemExit("bucket %s did not empty" % name)
EOF
}

s3_main() {
    local usage="usage: s3.sh start|stop|port DIR | s3.sh bucket DIR NAME"
    case "${1:-}:$#" in
        start:2)  s3_start "$2" ;;
        stop:2)   s3_stop "$2" ;;
        port:2)   cat "$2/port" ;;
        bucket:3) s3_bucket "$2" "$3" ;;
        *)        s3_die "$usage" ;;
    esac
}

s3_main "$@"
