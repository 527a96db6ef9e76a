#!/usr/bin/env python3
"""scripts/soak_worker.py - one worker of scripts/soak.sh, run under the shim.

  soak_worker.py write  ID DIR LEDGER SECONDS BOUND
  soak_worker.py read   ID DIR LEDGERS_GLOB SECONDS BOUND
  soak_worker.py verify DIR LEDGERS_GLOB
  soak_worker.py recheck LEDGERS_GLOB READER_OUTPUT...

A writer saves checkpoints the way training jobs do (write a temporary
name, fsync, close, rename over the final name) and appends what happened to
its ledger, outside the volume: `ok PATH SHA SIZE SEED` when every call
returned 0, `maybe ...` when the rename failed (it may or may not have
committed), `rm PATH - 0 0` / `maybe-rm ...` for unlinks; SIZE and SEED
regenerate the bytes. A reader reads random ledger paths and checks each
hash against every state the ledger ever gave the path; a read that matches
none is dumped as a suspect, and recheck judges suspects once every writer
stopped (a writer appends its line just after its rename), describing how
each corrupt read differs from the path's versions.
A suspect's dump has a sidecar DUMP.fd naming the descriptor the read went
through (flags, mnt_id, ino from /proc/self/fdinfo: the cache folder's
mount is the cache file itself; flags 02 (O_RDWR) on mount 0 is one of the
engine's memfds), printed by recheck with the verdict.
Knobs (environment, for faster reproduction): SOAK_SIZES (the base sizes
a writer picks from, bytes, space-separated) and SOAK_NAMES (checkpoint
names per writer, default 20).
verify walks every ledger and checks the final state of each path from a
fresh process. Every file-system call is timed; the workers print
`calls N errors N slow N max S suspect N` (slow: longer than BOUND seconds)
and verify prints `files N lost N corrupt N`. Bounded: writers and readers
stop after SECONDS, every loop has a fixed count or that deadline.
"""
import errno
import glob
import hashlib
import os
import random
import sys
import time

STATS = {"calls": 0, "errors": 0, "slow": 0, "max": 0.0, "suspect": 0}


def timed(bound, fn, *args):
    """Runs one file-system call; returns (result, None) or (None, OSError)."""
    t0 = time.monotonic()
    try:
        return fn(*args), None
    except OSError as e:
        STATS["errors"] += 1
        return None, e
    finally:
        dt = time.monotonic() - t0
        STATS["calls"] += 1
        STATS["max"] = max(STATS["max"], dt)
        if dt > bound:
            STATS["slow"] += 1


def version_bytes(seed, size):
    """A version's bytes, from its ledger line alone (for the post-mortem)."""
    return random.Random(seed).randbytes(size)


def write_file(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)


SIZES = [int(x) for x in os.environ.get("SOAK_SIZES", "0 1 4096 100000 1048576 5242880").split()]
NAMES = int(os.environ.get("SOAK_NAMES", "20"))


def fd_kind(fd):
    """What the shim handed out for fd, from the kernel (not the shim)."""
    try:
        with open("/proc/self/fdinfo/%d" % fd) as f:
            return " ".join(l.replace(":\t", "=").strip() for l in f
                            if l.split(":")[0] in ("flags", "mnt_id", "ino"))
    except OSError as e:
        return "unknown (%s)" % e.strerror


def read_file(path, kind=None):
    with open(path, "rb") as f:
        if kind is not None:
            kind[0] = fd_kind(f.fileno())
        return f.read()


def ledger_append(ledger, line):
    with open(ledger, "a") as f:
        f.write(line + "\n")
        f.flush()


def writer(wid, top, ledger, seconds, bound):
    rng = random.Random(wid * 7919 + int(time.time()))
    d = os.path.join(top, "w%d" % wid)
    timed(bound, os.makedirs, d, 0o755, True)
    deadline = time.monotonic() + seconds
    for i in range(1000000):
        if time.monotonic() > deadline:
            break
        size = rng.choice(SIZES) + rng.randrange(4096)
        seed = rng.getrandbits(63)
        data = version_bytes(seed, size)
        sha = hashlib.sha256(data).hexdigest()
        tmp = os.path.join(d, "tmp.%d" % i)
        final = os.path.join(d, "ckpt.%d" % (i % NAMES))
        _, err = timed(bound, write_file, tmp, data)
        if err:
            continue  # the temporary name is nobody's promise
        _, err = timed(bound, os.rename, tmp, final)
        ledger_append(ledger, "%s %s %s %d %d" % ("maybe" if err else "ok", final, sha, size, seed))
        if i % 7 == 6:
            victim = os.path.join(d, "ckpt.%d" % rng.randrange(20))
            _, err = timed(bound, os.unlink, victim)
            if err is None:
                ledger_append(ledger, "rm %s - 0 0" % victim)
            elif err.errno != errno.ENOENT:
                ledger_append(ledger, "maybe-rm %s - 0 0" % victim)


def load_ledgers(pattern, versions=None):
    """path -> (acceptable final states, every state it ever had); a state
    is a hash or None (absent). VERSIONS (if given) gets path -> [(size,
    seed)] of every version written."""
    final, ever = {}, {}
    for name in sorted(glob.glob(pattern)):
        with open(name) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 5:
                    continue  # a line torn by a killed writer
                kind, path, sha, size, seed = parts
                if versions is not None and sha != "-":
                    versions.setdefault(path, []).append((int(size), int(seed)))
                state = None if kind.endswith("rm") else sha
                ever.setdefault(path, {None}).add(state)
                if kind in ("ok", "rm"):
                    final[path] = {state}
                else:
                    final.setdefault(path, {None}).add(state)
    return final, ever


def reader(rid, top, pattern, seconds, bound, suspects):
    rng = random.Random(rid * 104729 + int(time.time()))
    deadline = time.monotonic() + seconds
    _, ever = load_ledgers(pattern)
    for _ in range(1000000):
        if time.monotonic() > deadline:
            break
        if not ever:
            time.sleep(0.2)
            _, ever = load_ledgers(pattern)
            continue
        path = rng.choice(sorted(ever))
        kind = [""]
        data, err = timed(bound, read_file, path, kind)
        if err:
            continue  # EIO during an outage, ENOENT after an unlink
        sha = hashlib.sha256(data).hexdigest()
        if sha not in ever[path]:
            _, ever = load_ledgers(pattern)  # the writer may be a line behind
            if sha not in ever.get(path, ()):
                # Judged by recheck once every writer has stopped.
                with open("%s.suspect.%d" % (suspects, STATS["suspect"]), "wb") as f:
                    f.write(data)
                with open("%s.suspect.%d.fd" % (suspects, STATS["suspect"]), "w") as f:
                    f.write(kind[0] + "\n")
                STATS["suspect"] += 1
                print("suspect %s %s %s.suspect.%d" % (path, sha, suspects, STATS["suspect"] - 1),
                      flush=True)


def verify(pattern):
    final, _ = load_ledgers(pattern)
    lost = corrupt = 0
    for path, ok in sorted(final.items()):
        try:
            state = hashlib.sha256(read_file(path)).hexdigest()
        except FileNotFoundError:
            state = None
        except OSError as e:
            print("unreadable: %s: %s" % (path, e), flush=True)
            lost += 1
            continue
        if state not in ok:
            if state is None:
                lost += 1
                print("lost: %s" % path, flush=True)
            else:
                corrupt += 1
                print("corrupt: %s has %s" % (path, state), flush=True)
    print("files %d lost %d corrupt %d" % (len(final), lost, corrupt), flush=True)
    return 1 if lost or corrupt else 0


def describe(data, versions):
    """Where a suspect read differs from each version of its path."""
    out = []
    for size, seed in versions:
        v = version_bytes(seed, size)
        same = next((i for i, (a, b) in enumerate(zip(data, v)) if a != b), min(len(data), len(v)))
        zeros = data[same:same + 4096] == bytes(len(data[same:same + 4096]))
        out.append("v(size %d): equal up to %d%s" % (size, same, ", zeros after" if zeros else ""))
    return "; ".join(out[-4:])


def recheck(outputs, pattern):
    """Suspect reads that still match no version once every writer stopped."""
    versions = {}
    _, ever = load_ledgers(pattern, versions)
    corrupt = 0
    for name in outputs:
        with open(name) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 4 or parts[0] != "suspect":
                    continue
                _, path, sha, dump = parts
                if sha in ever.get(path, ()):
                    continue
                corrupt += 1
                with open(dump, "rb") as d:
                    data = d.read()
                try:
                    with open(dump + ".fd") as d:
                        kind = d.read().strip()
                except OSError:
                    kind = "unknown"
                print("corrupt: %s read %d bytes (descriptor %s): %s" % (path, len(data), kind,
                      describe(data, versions.get(path, []))), flush=True)
    print("corrupt %d" % corrupt, flush=True)
    return 1 if corrupt else 0


def main(argv):
    if len(argv) == 3 and argv[0] == "verify":
        return verify(argv[2])
    if len(argv) >= 3 and argv[0] == "recheck":
        return recheck(argv[2:], argv[1])
    if len(argv) != 6 or argv[0] not in ("write", "read"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, wid, top, ledger, seconds, bound = argv
    if mode == "write":
        writer(int(wid), top, ledger, float(seconds), float(bound))
    else:
        reader(int(wid), top, ledger, float(seconds), float(bound),
               os.environ.get("SOAK_SUSPECTS", "/tmp/soak-r%s" % wid))
    print("calls %(calls)d errors %(errors)d slow %(slow)d max %(max).2f suspect %(suspect)d" % STATS,
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
