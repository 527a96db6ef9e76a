#!/usr/bin/python3
"""write_ckpt.py - the checkpoint pattern, for test_write_checkpoint.sh.

  write_ckpt.py write DIR LOG [MAXGEN]
      loop: append "writing GEN" to LOG (a host file), write DIR/ckpt.tmp
      (a few MiB: header with the generation, random payload, SHA-256
      trailer), fsync, close, os.replace over DIR/ckpt, then append
      "committed GEN" to LOG. Starts after the generation already in
      DIR/ckpt. Meant to be killed: a rename whose commit reached the
      database just before the kill is committed without its line, so the
      file may hold any generation up to the last "writing" one.
  write_ckpt.py check DIR MIN MAX
      DIR/ckpt must be whole (magic, length, checksum) with MIN <= its
      generation <= MAX; prints the generation. Exit 1 otherwise.
"""
import hashlib
import os
import random
import struct
import sys

MAGIC = b"CKPT"
HEADER = struct.Struct("<4sQQ")          # magic, generation, payload length
MiB = 1024 * 1024


def encode(gen):
    n = random.randint(2 * MiB, 5 * MiB)  # crosses the 4 MiB block boundary at times
    body = HEADER.pack(MAGIC, gen, n) + os.urandom(n)
    return body + hashlib.sha256(body).digest()


def decode(data):
    """The generation of a whole checkpoint, or raise ValueError."""
    if len(data) < HEADER.size + 32:
        raise ValueError("short file: %d bytes" % len(data))
    magic, gen, n = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ValueError("bad magic %r" % magic)
    if len(data) != HEADER.size + n + 32:
        raise ValueError("length %d, header says %d" % (len(data), HEADER.size + n + 32))
    if hashlib.sha256(data[:-32]).digest() != data[-32:]:
        raise ValueError("checksum mismatch")
    return gen


def current(d):
    try:
        with open(os.path.join(d, "ckpt"), "rb") as f:
            return decode(f.read())
    except FileNotFoundError:
        return 0


def write(d, log, maxgen):
    gen = current(d)
    tmp, final = os.path.join(d, "ckpt.tmp"), os.path.join(d, "ckpt")
    for _ in range(maxgen):
        gen += 1
        with open(log, "a") as lf:
            lf.write("writing %d\n" % gen)
            lf.flush()
        with open(tmp, "wb") as f:
            f.write(encode(gen))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        with open(log, "a") as lf:
            lf.write("committed %d\n" % gen)
            lf.flush()
    return 0


def check(d, lo, hi):
    try:
        gen = current(d)
    except ValueError as e:
        print("ckpt corrupt: %s" % e)
        return 1
    print(gen)
    if not lo <= gen <= hi:
        print("generation %d outside [%d, %d]" % (gen, lo, hi))
        return 1
    return 0


def main(argv):
    if len(argv) >= 4 and argv[1] == "write":
        return write(argv[2], argv[3], int(argv[4]) if len(argv) > 4 else 100000)
    if len(argv) == 5 and argv[1] == "check":
        return check(argv[2], int(argv[3]), int(argv[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
