#!/usr/bin/python3
"""shim_read.py - Python's view of a volume through the shim, compared with
the same tree on local disk (run by tests/integration/test_shim_read.sh).

    shim_read.py compare VROOT LROOT   walk, scandir, rglob, read, copytree,
                                       mmap, getdents64, fork offsets
    shim_read.py maps PATH|-           with "-": the engine must not be loaded;
                                       with a volume path: touch it, then it
                                       must be

Prints one "ok ..." or "FAIL ..." line per check; exits 1 on any failure.
VROOT is read under the shim (LD_PRELOAD is already set by the caller);
LROOT is a plain local directory, so it reads the same with or without it.
"""
import ctypes
import filecmp
import mmap
import os
import pathlib
import shutil
import stat
import sys
import tempfile

FAILED = 0


def report(ok, what, detail=""):
    global FAILED
    if ok:
        print(f"ok   python: {what}")
    else:
        FAILED += 1
        print(f"FAIL python: {what}: {detail}"[:2000])


def rel_walk(root):
    out = []
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        out.append((rel, sorted(dirs), sorted(files)))
    return sorted(out)


def followed(test):
    """DirEntry.is_dir()/is_file() follow symlinks: a loop raises ELOOP."""
    try:
        return test()
    except OSError as e:
        return os.strerror(e.errno)


def scandir_view(root):
    """Every entry's name, type flags and attributes, directory by directory."""
    out = []
    for d, dirs, _ in os.walk(root):
        for e in os.scandir(d):
            st = e.stat(follow_symlinks=False)
            size = None if stat.S_ISDIR(st.st_mode) else st.st_size
            out.append((os.path.relpath(e.path, root), followed(e.is_dir), followed(e.is_file),
                        e.is_symlink(), stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), size,
                        st.st_mtime_ns, st.st_uid, st.st_gid))
    return sorted(out)


def regular_files(root):
    return sorted(str(p.relative_to(root)) for p in pathlib.Path(root).rglob("*")
                  if not p.is_symlink() and p.is_file())


def check_reads(vroot, lroot, files):
    bad = [f for f in files
           if open(os.path.join(vroot, f), "rb").read() != open(os.path.join(lroot, f), "rb").read()]
    report(not bad, f"open().read() of {len(files)} files", bad)


def check_mmap(vroot, lroot, files):
    bad = []
    for f in files:
        want = open(os.path.join(lroot, f), "rb").read()
        if not want:
            continue
        with open(os.path.join(vroot, f), "rb") as fh:
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
                if m[:] != want or m[len(want) // 2:len(want) // 2 + 7] != want[len(want) // 2:len(want) // 2 + 7]:
                    bad.append(f)
    report(not bad, "mmap.mmap of every non-empty file", bad)


def check_copytree(vroot, lroot):
    with tempfile.TemporaryDirectory() as tmp:
        dst = os.path.join(tmp, "copy")
        shutil.copytree(vroot, dst, symlinks=True)
        problems = []

        def walk(c):
            problems.extend(os.path.join(c.left, n) for n in c.left_only + c.right_only + c.funny_files)
            _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
            problems.extend(mismatch + errors)
            for sub in c.subdirs.values():
                walk(sub)

        walk(filecmp.dircmp(dst, lroot))
        report(not problems, "shutil.copytree out, then a deep compare with the local tree", problems)


def getdents_names(path):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.getdents64.restype = ctypes.c_ssize_t
    libc.getdents64.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    names = []
    buf = ctypes.create_string_buffer(200)   # small: forces several calls
    try:
        for _ in range(100000):
            n = libc.getdents64(fd, buf, len(buf))
            if n < 0:
                raise OSError(ctypes.get_errno(), "getdents64")
            if n == 0:
                break
            off = 0
            while off < n:
                reclen = int.from_bytes(buf.raw[off + 16:off + 18], "little")
                name = buf.raw[off + 19:off + reclen].split(b"\0", 1)[0]
                names.append(os.fsdecode(name))
                off += reclen
        # rewinding the descriptor starts the listing again
        os.lseek(fd, 0, os.SEEK_SET)
        again = libc.getdents64(fd, buf, len(buf))
    finally:
        os.close(fd)
    return sorted(names), again


def check_getdents(vroot, lroot):
    bad = []
    for d, _, _ in os.walk(lroot):
        rel = os.path.relpath(d, lroot)
        want = sorted(os.listdir(d) + [".", ".."])
        got, again = getdents_names(os.path.join(vroot, rel))
        if got != want or again <= 0:
            bad.append((rel, got, want, again))
    report(not bad, "getdents64 (small buffer, then rewind) lists every directory", bad)


def check_fork_offsets(vroot, lroot, files):
    """Parent and child share one file position through a fork, as the
    kernel promises for a shared open file description."""
    big = max(files, key=lambda f: os.path.getsize(os.path.join(lroot, f)))
    want = open(os.path.join(lroot, big), "rb").read()
    fd = os.open(os.path.join(vroot, big), os.O_RDONLY)
    first = os.read(fd, 1000)
    pid = os.fork()
    if pid == 0:
        ok = os.read(fd, 5000) == want[1000:6000]
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    rest = os.read(fd, 3000)
    os.close(fd)
    report(first == want[:1000] and os.waitstatus_to_exitcode(status) == 0 and rest == want[6000:9000],
           f"fork: parent and child share the position of {big}",
           (len(first), status, len(rest)))


def check_ancestor_dirfd(vroot, lroot, files):
    """openat() below a host directory that contains the prefix (find and
    fts walk this way) reaches the volume."""
    prefix = os.path.dirname(vroot)
    above = os.path.dirname(prefix)
    fd = os.open(above, os.O_RDONLY | os.O_DIRECTORY)
    try:
        rel = os.path.relpath(vroot, above)
        got = [os.stat(os.path.join(rel, f), dir_fd=fd).st_size for f in files]
        want = [os.path.getsize(os.path.join(lroot, f)) for f in files]
        dfd = os.open(rel, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        names = sorted(os.listdir(dfd))
        os.close(dfd)
    finally:
        os.close(fd)
    report(got == want and names == sorted(os.listdir(lroot)),
           f"stat and open through a descriptor of {above}, above the prefix", (got, want))


def compare(vroot, lroot):
    walk_v, walk_l = rel_walk(vroot), rel_walk(lroot)
    report(walk_v == walk_l, "os.walk names", (walk_v, walk_l))
    sv, sl = scandir_view(vroot), scandir_view(lroot)
    # directories' sizes are the file system's own; only files are compared
    report(sv == sl, "os.scandir entries: types, modes, sizes, mtimes (ns), owners",
           [a for a, b in zip(sv, sl) if a != b] or (len(sv), len(sl)))
    gv = sorted(str(p.relative_to(vroot)) for p in pathlib.Path(vroot).rglob("*"))
    gl = sorted(str(p.relative_to(lroot)) for p in pathlib.Path(lroot).rglob("*"))
    report(gv == gl, "pathlib rglob", (gv, gl))
    files = regular_files(lroot)
    check_reads(vroot, lroot, files)
    check_mmap(vroot, lroot, files)
    check_copytree(vroot, lroot)
    check_getdents(vroot, lroot)
    check_fork_offsets(vroot, lroot, files)
    check_ancestor_dirfd(vroot, lroot, files)


def loaded():
    with open("/proc/self/maps") as f:
        return "libshimfs-core.so" in f.read()


def maps(path):
    if path == "-":
        os.listdir("/tmp")
        os.stat("/etc/hostname")
        report(not loaded(), "a process that never touches the prefix does not load the engine")
    else:
        os.stat(path)
        report(loaded(), "touching the prefix loads the engine")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "maps":
        maps(sys.argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
