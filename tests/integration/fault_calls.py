#!/usr/bin/python3
"""fault_calls.py - file calls timed one by one while faultproxy breaks a
server, for test_faults_meta.sh and test_faults_s3.sh. Run under the shim.
Steps are synchronised with the test through files in SIG (bounded waits).
Every line printed is "what result elapsed_ms" or "key value".

  fault_calls.py calls DIR SIG      open/create/stat/read/write/close/rename
                                    after SIG/go (the server broken), each
                                    timed; descriptors opened before
  fault_calls.py storm DIR SIG SECS many calls while the database is away,
                                    then until one succeeds after SIG/up
  fault_calls.py writes DIR N TAG   N files of random bytes: "name sha status"
  fault_calls.py verify DIR LIST    reread the files LIST says were written
"""
import errno
import hashlib
import os
import sys
import time

WAIT_S = 120


def wait(sig, name):
    for _ in range(WAIT_S * 20):
        if os.path.exists(os.path.join(sig, name)):
            return
        time.sleep(0.05)
    sys.exit("no %s signal" % name)


def tell(sig, name):
    open(os.path.join(sig, name), "w").close()


def timed(what, fn):
    t0 = time.monotonic()
    try:
        r = fn()
        res = "OK"
    except OSError as e:
        r = None
        res = errno.errorcode.get(e.errno, str(e.errno))
    ms = int((time.monotonic() - t0) * 1000)
    print("%s %s %d" % (what, res, ms), flush=True)
    return r


def nfds():
    return len(os.listdir("/proc/self/fd"))


def calls(d, sig):
    data = os.path.join(d, "data")
    os.stat(data)
    fd_r = os.open(data, os.O_RDONLY)
    fd_w = os.open(os.path.join(d, "w-%d" % os.getpid()), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.write(fd_w, b"x" * 4096)
    tell(sig, "ready")
    wait(sig, "go")
    timed("open_creat", lambda: os.close(os.open(os.path.join(d, "new-%d" % os.getpid()),
                                                  os.O_WRONLY | os.O_CREAT | os.O_TRUNC)))
    timed("stat", lambda: os.stat(data))
    timed("open_read", lambda: os.close(os.open(data, os.O_RDONLY)))
    # The last block: not the one open() may have fetched ahead.
    timed("read", lambda: os.pread(fd_r, 1 << 20, os.fstat(fd_r).st_size - (1 << 20)))
    timed("write", lambda: os.write(fd_w, os.urandom(3 << 20)))
    timed("close", lambda: os.close(fd_w))
    timed("rename", lambda: os.rename(data, data + ".moved"))
    timed("mkdir", lambda: os.mkdir(os.path.join(d, "dir-%d" % os.getpid())))
    os.close(fd_r)


def storm(d, sig, secs):
    data = os.path.join(d, "data")
    os.stat(data)
    # Whatever opens lazily (cache, connections, io_uring) is open now.
    warm = os.path.join(d, "warm-%d" % os.getpid())
    with open(warm, "wb") as f:
        f.write(b"warm")
    open(warm, "rb").read()
    before = nfds()
    tell(sig, "ready")
    wait(sig, "down")
    n = failed = 0
    worst = 0.0
    t_end = time.monotonic() + secs
    while time.monotonic() < t_end and n < 100000:
        t0 = time.monotonic()
        try:
            os.stat(data)
        except OSError as e:
            failed += 1
            if e.errno != errno.EIO:
                print("unexpected_errno %s" % errno.errorcode.get(e.errno), flush=True)
        worst = max(worst, time.monotonic() - t0)
        n += 1
        time.sleep(0.001)
    print("calls %d" % n)
    print("failed %d" % failed)
    print("worst_ms %d" % int(worst * 1000), flush=True)
    tell(sig, "stormed")
    wait(sig, "up")
    t0 = time.monotonic()
    ok = False
    while time.monotonic() - t0 < 60 and not ok:
        try:
            os.stat(data)
            ok = True
        except OSError:
            time.sleep(0.05)
    print("recovered_ms %d" % (int((time.monotonic() - t0) * 1000) if ok else -1))
    # The namespace works again, writes included.
    p = os.path.join(d, "after-%d" % os.getpid())
    with open(p, "wb") as f:
        f.write(b"back")
    print("write_after %s" % ("OK" if open(p, "rb").read() == b"back" else "BAD"))
    print("fds_before %d" % before)
    print("fds_after %d" % nfds(), flush=True)
    for fd in sorted(os.listdir("/proc/self/fd"), key=int):
        try:
            print("fd %s %s" % (fd, os.readlink("/proc/self/fd/" + fd)))
        except OSError:
            pass
    tell(sig, "counted")
    wait(sig, "exit")


def writes(d, n, tag):
    for i in range(n):
        name = "%s-%02d" % (tag, i)
        body = os.urandom([1000, 300 << 10, 5 << 20][i % 3] + i)
        status = "OK"
        try:
            fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            try:
                os.write(fd, body)
            finally:
                os.close(fd)
        except OSError as e:
            status = errno.errorcode.get(e.errno, str(e.errno))
        print("%s %s %s" % (name, hashlib.sha256(body).hexdigest(), status), flush=True)


def verify(d, listfile):
    good = bad = 0
    for line in open(listfile):
        name, sha, status = line.split()
        if status != "OK":
            continue
        try:
            with open(os.path.join(d, name), "rb") as f:
                got = hashlib.sha256(f.read()).hexdigest()
        except OSError as e:
            got = errno.errorcode.get(e.errno, "?")
        if got == sha:
            good += 1
        else:
            bad += 1
            print("mismatch %s %s" % (name, got))
    print("verified %d" % good)
    print("bad %d" % bad, flush=True)


def main():
    cmd = sys.argv[1]
    if cmd == "calls":
        calls(sys.argv[2], sys.argv[3])
    elif cmd == "storm":
        storm(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif cmd == "writes":
        writes(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif cmd == "verify":
        verify(sys.argv[2], sys.argv[3])
    else:
        sys.exit("unknown command %s" % cmd)


if __name__ == "__main__":
    main()
