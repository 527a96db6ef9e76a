#!/usr/bin/env python3
"""cred_standin.py - loopback stand-ins for AWS's credential services, and
an S3 front that checks the credentials s3rver would not.

    cred_standin.py UPSTREAM PORTFILE LIFETIME [STATIC_KEY ...]

Two servers on free 127.0.0.1 ports (written "S3PORT CREDPORT" to PORTFILE):

  CREDPORT  POST /                      STS AssumeRoleWithWebIdentity (form);
                                        the token must equal the file named in
                                        $STANDIN_WEB_TOKEN_FILE's content
            GET  /container/creds       container credentials; Authorization
                                        must equal $STANDIN_CONTAINER_TOKEN
            PUT  /latest/api/token      IMDSv2 session token (TTL header needed)
            GET  /latest/meta-data/iam/security-credentials/[ROLE]
            POST /__break /__mend       answer 500 to every fetch / stop that
            POST /__revoke              every issued set ends now
            GET  /__stats               JSON: fetches per source, S3 requests,
                                        ExpiredToken answers, keys seen, the
                                        last key that signed
            GET  /__secrets             every secret and token ever issued
  S3PORT    forwards to UPSTREAM (s3rver, which ignores signatures) only
            requests whose Authorization names a key issued here and still
            valid, with its session token, or one of STATIC_KEY (no token);
            else 403 ExpiredToken (issued, expired) or 403 AccessDenied.

Issued credentials live LIFETIME seconds. Exits by itself after 600 s.
"""
import http.client
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = urllib.parse.urlparse(sys.argv[1])
PORTFILE = sys.argv[2]
LIFETIME = float(sys.argv[3])
STATIC = set(sys.argv[4:])
UPSTREAM_KEY = os.environ.get("STANDIN_UPSTREAM_KEY", "S3RVER")

lock = threading.Lock()
issued = {}            # akid -> {"secret", "token", "until"}
stats = {"sts": 0, "container": 0, "imds": 0, "imds_token": 0, "s3_ok": 0,
         "s3_expired": 0, "s3_denied": 0, "keys": [], "last_key": None}
state = {"broken": False, "imds_tokens": set()}


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def issue(source):
    with lock:
        stats[source] += 1
        akid = "ASIA%s%08d" % (source.upper()[:4], stats[source])
        c = {"secret": secrets.token_urlsafe(24), "token": secrets.token_urlsafe(48),
             "until": time.time() + LIFETIME}
        issued[akid] = c
        return akid, c


class Cred(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, body, ctype="text/plain"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n).decode() if n else ""

    def do_POST(self):
        form = urllib.parse.parse_qs(self.body())
        if self.path in ("/__break", "/__mend"):
            state["broken"] = self.path == "/__break"
            return self.reply(200, "ok")
        if self.path == "/__revoke":
            with lock:
                for c in issued.values():
                    c["until"] = 0
            return self.reply(200, "ok")
        if state["broken"]:
            return self.reply(500, "broken")
        want = open(os.environ["STANDIN_WEB_TOKEN_FILE"]).read().strip()
        if (form.get("Action") != ["AssumeRoleWithWebIdentity"] or not form.get("RoleArn")
                or form.get("Version") != ["2011-06-15"] or not form.get("RoleSessionName")):
            return self.reply(400, "<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>")
        if form.get("WebIdentityToken") != [want]:
            return self.reply(400, "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken"
                                   "</Code><Message>bad token</Message></Error></ErrorResponse>", "text/xml")
        akid, c = issue("sts")
        xml = ('<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
               "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>%s</AccessKeyId>"
               "<SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken>"
               "<Expiration>%s</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
               "</AssumeRoleWithWebIdentityResponse>" % (akid, c["secret"], c["token"], iso(c["until"])))
        self.reply(200, xml, "text/xml")

    def creds_json(self, source):
        akid, c = issue(source)
        return json.dumps({"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": akid,
                           "SecretAccessKey": c["secret"], "Token": c["token"],
                           "Expiration": iso(c["until"]), "LastUpdated": iso(time.time())})

    def do_PUT(self):
        self.body()
        if self.path != "/latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.reply(400, "")
        tok = secrets.token_urlsafe(32)
        with lock:
            state["imds_tokens"].add(tok)
            stats["imds_token"] += 1
        self.reply(200, tok)

    def do_GET(self):
        if self.path == "/__stats":
            with lock:
                return self.reply(200, json.dumps(stats), "application/json")
        if self.path == "/__secrets":
            with lock:
                return self.reply(200, "\n".join(v for c in issued.values() for v in (c["secret"], c["token"])))
        if self.path.startswith("/container/"):
            if self.headers.get("Authorization") != os.environ.get("STANDIN_CONTAINER_TOKEN"):
                return self.reply(401, "{\"message\":\"no\"}")
            if state["broken"]:
                return self.reply(500, "broken")
            return self.reply(200, self.creds_json("container"), "application/json")
        base = "/latest/meta-data/iam/security-credentials/"
        if self.path.startswith(base):
            if self.headers.get("X-aws-ec2-metadata-token") not in state["imds_tokens"]:
                return self.reply(401, "")
            if state["broken"]:
                return self.reply(500, "broken")
            role = self.path[len(base):]
            if role == "":
                return self.reply(200, "shimfs-role\n")
            if role != "shimfs-role":
                return self.reply(404, "")
            return self.reply(200, self.creds_json("imds"))
        self.reply(404, "")


AUTH = re.compile(r"Credential=([^/]+)/")


class S3(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def refuse(self, code):
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code>"
                "<Message>refused by the stand-in</Message></Error>" % code).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def check(self):
        m = AUTH.search(self.headers.get("Authorization") or "")
        akid = m.group(1) if m else None
        tok = self.headers.get("X-Amz-Security-Token")
        with lock:
            stats["last_key"] = akid
            if akid and akid not in stats["keys"]:
                stats["keys"].append(akid)
            c = issued.get(akid)
            if akid in STATIC and tok is None:
                stats["s3_ok"] += 1
                return None
            if c and tok == c["token"] and time.time() < c["until"]:
                stats["s3_ok"] += 1
                return None
            if c:
                stats["s3_expired"] += 1
                return "ExpiredToken"
            stats["s3_denied"] += 1
            return "AccessDenied"

    def forward(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        refused = self.check()
        if refused:
            return self.refuse(refused)
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=30)
        # s3rver knows one key and checks no signature: the key checked
        # here becomes its key, and the session token goes.
        hdrs = {k: v for k, v in self.headers.items()
                if k.lower() not in ("connection", "expect", "x-amz-security-token")}
        for k in hdrs:
            if k.lower() == "authorization":
                hdrs[k] = AUTH.sub("Credential=%s/" % UPSTREAM_KEY, hdrs[k])
        conn.request(self.command, self.path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive"):
                self.send_header(k, v)
        cl = r.getheader("Content-Length")
        self.send_header("Content-Length", cl if self.command == "HEAD" and cl else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = forward


s3 = ThreadingHTTPServer(("127.0.0.1", 0), S3)
cred = ThreadingHTTPServer(("127.0.0.1", 0), Cred)
for srv in (s3, cred):
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
with open(PORTFILE + ".tmp", "w") as f:
    f.write("%d %d\n" % (s3.server_address[1], cred.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
time.sleep(600)
