#!/usr/bin/python3
"""write_overlap.py - one of two writers of one file, for
test_write_concurrent.sh.

  write_overlap.py FILE START LEN BYTE READY GO DONE
      open FILE for writing (no truncation), pwrite LEN bytes of BYTE at
      START in 1 MiB pieces, create READY, wait (at most 60 s) until GO
      exists, close (the commit), then create DONE. Exit 1 if close fails.
"""
import os
import sys
import time


def touch(path):
    with open(path, "w"):
        pass


def main(argv):
    path, start, length, byte, ready, go, done = argv[1:8]
    start, length = int(start), int(length)
    piece = bytes([ord(byte)]) * (1 << 20)
    fd = os.open(path, os.O_WRONLY)
    off = start
    while off < start + length:
        n = min(len(piece), start + length - off)
        os.pwrite(fd, piece[:n], off)
        off += n
    touch(ready)
    deadline = time.monotonic() + 60
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            print("no go signal", file=sys.stderr)
            return 1
        time.sleep(0.005)
    os.close(fd)
    touch(done)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
