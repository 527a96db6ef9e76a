#!/usr/bin/env bash
# tests/integration/sigv4_botocore.sh - proves our S3 requests are signed
# exactly as botocore signs them.
#
# A loopback capture server (python http.server) records every request our
# client (build/tools/obj_cli) sends: method, raw path and query, headers,
# body. For each one, botocore's S3SigV4Auth signs a request rebuilt from
# the capture (same credentials, session token, region and x-amz-date) and
# the Authorization headers must be byte-for-byte equal. Covered: PUT of a
# key with spaces and UTF-8, a 2 MiB PUT (curl's Expect path), a ranged GET,
# HEAD, DELETE, a two-page ListObjectsV2 with prefix and continuation-token,
# a PUT and a HEAD under a bucket URL's key prefix,
# a PUT and a listing in virtual-host style (curl resolves *.localhost
# to loopback by itself), and a PUT with ?payload=unsigned (its
# x-amz-content-sha256 is UNSIGNED-PAYLOAD, as botocore signs it with
# payload signing off; plain http's default signs the body's SHA-256), and
# one such PUT that the store refuses (501 NotImplemented): its log line
# names ?payload=signed, a signed PUT's never does; SHIMFS_S3_PAYLOAD
# overriding the URL both ways.
# Control: the same list query sent unsorted must NOT match (libcurl 7.88
# signs the query as written, botocore sorts it), which also shows that
# this check can fail. Needs no services: only /usr/bin/python3 + botocore.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

OBJ_CLI=${OBJ_CLI:-$SHIMFS_BUILD/tools/obj_cli}
CAPTURE=$TEST_SCRATCH/requests.jsonl
SERVER_PY=$TEST_SCRATCH/capture_server.py
PORT_FILE=$TEST_SCRATCH/port
SERVER_PID=

stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}

if [ ! -x "$OBJ_CLI" ]; then
    fail "obj_cli not built: $OBJ_CLI (make build/tools/obj_cli)"
    exit 1
fi

# The capture server answers like S3 would, just enough for the client to
# go on: a list of two pages (the first truncated, with a token full of
# characters that need encoding), 206 for a range, 204 for DELETE. It exits
# by itself after 120 s in case this script dies without stopping it.
cat > "$SERVER_PY" <<'PY'
import base64, json, sys, threading, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

out = open(sys.argv[1], "a")
lock = threading.Lock()
TOKEN = "tok/1 +=\u00e9&x"
PAGE = ('<?xml version="1.0" encoding="UTF-8"?><ListBucketResult '
        'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>'
        '<IsTruncated>{t}</IsTruncated>{tok}<Contents><Key>{k}</Key><Size>5</Size>'
        '</Contents></ListBucketResult>')

def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;")

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def record(self, body):
        rec = {"method": self.command, "target": self.path,
               "headers": [[k, v] for k, v in self.headers.items()],
               "body": base64.b64encode(body).decode()}
        with lock:
            out.write(json.dumps(rec) + "\n")
            out.flush()
    def reply(self, code, body=b"", extra=()):
        self.send_response(code)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""
    def do_PUT(self):
        self.record(self.body())
        if self.path.startswith("/shimfs-test/u/refuse"):
            # a store that wants every body signed
            err = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code>'
                   '<Message>UNSIGNED-PAYLOAD is not supported</Message></Error>')
            self.reply(501, err.encode(), [("Content-Type", "application/xml")])
            return
        self.reply(200, extra=[("ETag", '"x"')])
    def do_HEAD(self):
        self.record(b"")
        self.reply(200, b"hello")
    def do_DELETE(self):
        self.record(b"")
        self.reply(204)
    def do_GET(self):
        self.record(b"")
        if "list-type=2" in self.path:
            more = "continuation-token=" not in self.path and "max-keys=" in self.path
            page = PAGE.format(t="true" if more else "false",
                               tok="<NextContinuationToken>%s</NextContinuationToken>" % esc(TOKEN) if more else "",
                               k="dir one/k%d" % (1 if more else 2))
            self.reply(200, page.encode(), [("Content-Type", "application/xml")])
        else:
            self.reply(206, b"llo w", [("Content-Range", "bytes 2-6/11")])

srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
threading.Timer(120, lambda: os._exit(3)).start()
srv.serve_forever()
PY

: > "$CAPTURE"
/usr/bin/python3 "$SERVER_PY" "$CAPTURE" "$PORT_FILE" &
SERVER_PID=$!
if ! wait_for 10 test -s "$PORT_FILE"; then
    stop_server
    fail "capture server did not start"
    exit 1
fi
PORT=$(cat "$PORT_FILE")
URL="http://127.0.0.1:$PORT/shimfs-test?region=eu-central-1"

export AWS_ACCESS_KEY_ID=AKIDEXAMPLE
export AWS_SECRET_ACCESS_KEY='wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
export AWS_SESSION_TOKEN='FQoGZXIvYXdzE//session+token/with=chars'
KEY='dir one/naïve file é ü.bin'
printf 'hello world' > "$TEST_SCRATCH/small"
head -c $((2 * 1024 * 1024)) /dev/urandom > "$TEST_SCRATCH/big"

# name|expect (match or mismatch)|command... ; one line per client run.
run() { "$OBJ_CLI" "$URL" "$@" > "$TEST_SCRATCH/out" 2> "$TEST_SCRATCH/err"; }
check "PUT of a key with spaces and UTF-8" run put "$KEY" "$TEST_SCRATCH/small"
check "PUT of 2 MiB" run put "big/blob" "$TEST_SCRATCH/big"
check "ranged GET" run get "$KEY" 2 5
assert_eq "llo w" "$(cat "$TEST_SCRATCH/out")" "ranged GET returns the 206 body"
check "HEAD" run head "$KEY"
check "DELETE" run delete "$KEY"
check "ListObjectsV2, two pages" run list "dir one/"
assert_eq "$(printf '5 dir one/k1\n5 dir one/k2')" "$(cat "$TEST_SCRATCH/out")" "list follows the continuation token"
check "list query sorted by hand" run rawlist 'list-type=2&prefix=dir%20one%2F'
check "list query unsorted" run rawlist 'prefix=dir%20one%2F&list-type=2'
URL="http://localhost:$PORT/shimfs-test?region=eu-central-1&style=virtual"
check "virtual-host PUT" run put 'v key/é' "$TEST_SCRATCH/small"
check "virtual-host ListObjectsV2" run list "dir one/"
URL="http://127.0.0.1:$PORT/shimfs-test/team/v1?region=eu-central-1"
check "PUT under a key prefix" run put 'k é' "$TEST_SCRATCH/small"
check "HEAD under a key prefix" run head 'k é'
URL="http://127.0.0.1:$PORT/shimfs-test?region=eu-central-1&payload=unsigned"
check "PUT with ?payload=unsigned" run put 'u/2m' "$TEST_SCRATCH/big"
# A store that refuses unsigned bodies: the PUT fails, and its one log
# line says how to have them signed.
if run put 'u/refuse' "$TEST_SCRATCH/small"; then
    fail "a PUT the store refused (501) succeeded"
else
    assert_eq 1 "$(grep -c 'HTTP 501 NotImplemented.*needs ?payload=signed in the bucket URL' "$TEST_SCRATCH/err")" \
        "a refused unsigned PUT logs one line naming ?payload=signed"
fi
URL="http://127.0.0.1:$PORT/shimfs-test?region=eu-central-1"
# SHIMFS_S3_PAYLOAD overrides the URL either way (a volume's URL is fixed
# at format)
SHIMFS_S3_PAYLOAD=unsigned check "PUT with SHIMFS_S3_PAYLOAD=unsigned" run put 'u/env' "$TEST_SCRATCH/small"
URL="http://127.0.0.1:$PORT/shimfs-test?region=eu-central-1&payload=unsigned"
SHIMFS_S3_PAYLOAD=signed check "PUT with SHIMFS_S3_PAYLOAD=signed over ?payload=unsigned" run put 'env-signed' "$TEST_SCRATCH/small"
URL="http://127.0.0.1:$PORT/shimfs-test?region=eu-central-1"
if run put 'refuse-signed' "$TEST_SCRATCH/small" && ! grep -q 'payload=signed' "$TEST_SCRATCH/err"; then
    pass "a signed PUT gives no such hint"
else
    fail "a signed PUT failed or hinted at ?payload=signed"
fi
stop_server
grep -q "\"target\": \"/shimfs-test/team/v1/k%20%C3%A9\"" "$CAPTURE" &&
    pass "a bucket URL's key prefix is part of the signed path" || fail "prefix request not as expected"
grep -q "\"target\": \"/v%20key/%C3%A9\", \"headers\": \[\[\"Host\", \"shimfs-test.localhost:$PORT\"\]" "$CAPTURE" &&
    pass "virtual-host style puts the bucket in Host" || fail "virtual-host request not as expected"
grep -q "\"target\": \"/?list-type=2&max-keys=1000&prefix=dir%20one%2F\"" "$CAPTURE" &&
    pass "virtual-host listing targets /?query" || fail "virtual-host listing not as expected"

# Expectations, in capture order: 1 = must match botocore, 0 = must not.
EXPECT="1 1 1 1 1 1 1 1 0 1 1 1 1 1 1 1 1 1 1"
VERDICTS=$TEST_SCRATCH/verdicts
REGION=eu-central-1 EXPECT="$EXPECT" /usr/bin/python3 - "$CAPTURE" > "$VERDICTS" <<'PY'
import base64, datetime, hashlib, json, os, sys
from unittest import mock
from botocore.auth import S3SigV4Auth
from botocore.config import Config
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

# Headers the HTTP client adds for transport; neither curl nor botocore
# signs them (botocore never sees them at signing time).
TRANSPORT = {"authorization", "content-length", "accept", "user-agent",
             "expect", "connection", "transfer-encoding", "accept-encoding"}
creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"],
                    os.environ["AWS_SESSION_TOKEN"])
expect = [e == "1" for e in os.environ["EXPECT"].split()]
recs = [json.loads(l) for l in open(sys.argv[1])]

def describe(r):
    return "%s %s" % (r["method"], r["target"])

def botocore_authorization(r, body):
    hdrs = {k: v for k, v in r["headers"] if k.lower() not in TRANSPORT}
    amz_date = dict((k.lower(), v) for k, v in r["headers"])["x-amz-date"]
    req = AWSRequest(method=r["method"], url="http://%s%s" % (hdrs["Host"], r["target"]),
                     headers=hdrs, data=body)
    if r["target"].startswith("/shimfs-test/u/"):
        req.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    frozen = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    with mock.patch("botocore.auth.datetime") as dt:
        dt.datetime.utcnow.return_value = frozen
        S3SigV4Auth(creds, "s3", os.environ["REGION"]).add_auth(req)
    return req.headers["Authorization"]

if len(recs) != len(expect):
    print("FAIL captured %d requests, expected %d" % (len(recs), len(expect)))
for r, want in zip(recs, expect):
    body = base64.b64decode(r["body"])
    h = dict((k.lower(), v) for k, v in r["headers"])
    ours = h.get("authorization", "")
    unsigned = r["target"].startswith("/shimfs-test/u/")
    if unsigned and h.get("x-amz-content-sha256") != "UNSIGNED-PAYLOAD":
        print("FAIL %s: x-amz-content-sha256 is not UNSIGNED-PAYLOAD" % describe(r))
    elif not unsigned and h.get("x-amz-content-sha256") != hashlib.sha256(body).hexdigest():
        print("FAIL %s: x-amz-content-sha256 is not the body's SHA-256" % describe(r))
    if h.get("x-amz-security-token") != creds.token:
        print("FAIL %s: session token header missing" % describe(r))
    theirs = botocore_authorization(r, body)
    same = ours == theirs
    if same == want:
        print("PASS %s: %s botocore" % (describe(r), "matches" if same else "differs from (as it must)"))
    else:
        print("FAIL %s: ours=%r botocore=%r" % (describe(r), ours, theirs))
PY
while IFS= read -r line; do
    case "$line" in
        PASS\ *) pass "${line#PASS }" ;;
        *) fail "${line#FAIL }" ;;
    esac
done < "$VERDICTS"
grep -q 'continuation-token=tok%2F1%20%2B%3D%C3%A9%26x' "$CAPTURE" &&
    pass "continuation token sent SigV4-encoded" || fail "continuation token not SigV4-encoded"
