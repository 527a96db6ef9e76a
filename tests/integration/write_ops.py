#!/usr/bin/python3
"""write_ops.py - Python's file API writing into DIR, one line per step
(results, errnos by name; no inode numbers or times except as
comparisons), for test_write_posix.sh: run on local disk and on the volume,
the outputs must be equal.

  write_ops.py DIR
"""
import errno
import os
import shutil
import stat
import sys
import tempfile


def step(what, fn):
    try:
        r = fn()
    except OSError as e:
        r = errno.errorcode.get(e.errno, e.errno)
    print("%s: %s" % (what, r), flush=True)


def read(p, mode="r"):
    with open(p, mode) as f:
        return f.read()


def main(d):
    os.chdir(d)
    step("makedirs", lambda: os.makedirs("a/b/c"))
    step("makedirs exists", lambda: os.makedirs("a/b/c"))
    step("makedirs exist_ok", lambda: os.makedirs("a/b/c", exist_ok=True))
    with open("f.txt", "w") as f:
        f.write("hello\n" * 1000)
    step("size", lambda: os.path.getsize("f.txt"))
    step("read", lambda: len(read("f.txt")))
    with open("f.txt", "a") as f:
        f.write("tail\n")
    step("append", lambda: read("f.txt")[-11:])
    with open("f.txt", "r+") as f:
        f.seek(6)
        f.write("HELLO")
    step("r+ overwrite", lambda: read("f.txt")[:17])
    with open("bin", "wb") as f:
        f.write(bytes(range(256)) * 4096)
        step("tell", f.tell)
    step("binary", lambda: read("bin", "rb") == bytes(range(256)) * 4096)
    step("replace", lambda: os.replace("f.txt", "g.txt"))
    step("replace over existing", lambda: os.replace("bin", "g.txt"))
    step("replaced content", lambda: len(read("g.txt", "rb")))
    step("rename into dir", lambda: os.rename("g.txt", "a/g.txt"))
    step("rename missing", lambda: os.rename("g.txt", "h.txt"))
    step("listdir", lambda: sorted(os.listdir(".")))
    step("listdir a", lambda: sorted(os.listdir("a")))
    step("chmod", lambda: os.chmod("a/g.txt", 0o600))
    step("mode", lambda: oct(stat.S_IMODE(os.stat("a/g.txt").st_mode)))
    step("utime", lambda: os.utime("a/g.txt", (1000000000, 1000000001.5)))
    step("times", lambda: (os.stat("a/g.txt").st_atime, os.stat("a/g.txt").st_mtime))
    step("utime ns", lambda: os.utime("a/g.txt", ns=(1, 2000000003)))
    step("times ns", lambda: (os.stat("a/g.txt").st_atime_ns, os.stat("a/g.txt").st_mtime_ns))
    step("truncate", lambda: os.truncate("a/g.txt", 3))
    step("truncated", lambda: read("a/g.txt", "rb"))
    step("truncate grow", lambda: os.truncate("a/g.txt", 6))
    step("grown", lambda: read("a/g.txt", "rb"))
    with tempfile.NamedTemporaryFile(dir=".", prefix="ntf", delete=False) as t:
        t.write(b"tmp data")
        name = os.path.basename(t.name)
    step("NamedTemporaryFile", lambda: read(name, "rb"))
    with tempfile.NamedTemporaryFile(dir=".", prefix="ntd") as t:
        t.write(b"gone at close")
        t.flush()
        gone = os.path.basename(t.name)
        step("NamedTemporaryFile open", lambda: os.path.exists(gone))
    step("NamedTemporaryFile deleted", lambda: os.path.exists(gone))
    with tempfile.TemporaryFile(dir=".") as t:
        t.write(b"anon")
        t.seek(0)
        step("TemporaryFile", t.read)
    step("mkdtemp", lambda: os.path.isdir(tempfile.mkdtemp(dir=".", prefix="mkd")))
    step("link", lambda: os.link(name, "hard"))
    step("nlink", lambda: os.stat("hard").st_nlink)
    step("symlink", lambda: os.symlink("a/g.txt", "sym"))
    step("readlink", lambda: os.readlink("sym"))
    step("through symlink", lambda: read("sym", "rb"))
    step("remove", lambda: os.remove(name))
    step("after remove", lambda: (read("hard", "rb"), os.stat("hard").st_nlink))
    step("remove missing", lambda: os.remove(name))
    step("rmdir non-empty", lambda: os.rmdir("a"))
    step("remove dir", lambda: os.remove("a"))
    fd = os.open("rw", os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"0123456789")
    os.lseek(fd, 2, os.SEEK_SET)
    os.write(fd, b"AB")
    os.pwrite(fd, b"Z", 9)
    step("seek end", lambda: os.lseek(fd, 0, os.SEEK_END))
    os.lseek(fd, 0, os.SEEK_SET)
    step("read own writes", lambda: os.read(fd, 100))
    step("fsync", lambda: os.fsync(fd))
    step("ftruncate", lambda: os.ftruncate(fd, 5))
    step("fstat size", lambda: os.fstat(fd).st_size)
    os.close(fd)
    step("rw", lambda: read("rw", "rb"))
    step("O_EXCL", lambda: os.open("rw", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    step("rmtree", lambda: shutil.rmtree("a"))
    step("copyfile", lambda: shutil.copyfile("rw", "rw2") and None)
    step("copytree", lambda: shutil.copytree(".", "../tree-copy-" + os.path.basename(d),
                                             symlinks=True) and None)
    step("move", lambda: shutil.move("rw2", "moved") and None)
    step("final listdir", lambda: sorted(n for n in os.listdir(".") if not n.startswith("mkd")))


if __name__ == "__main__":
    main(sys.argv[1])
