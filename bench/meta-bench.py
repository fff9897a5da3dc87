#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""meta-bench.py: one metadata or durability workload on a mounted directory.

Run by bench/compare, once per workload, filesystem and repetition; prints
one line "NAME VALUE UNIT".  Workloads:

  create DIR N [DIRS]  create N empty files under DIR: in DIR itself, or
                       spread evenly over DIRS subdirectories of it (made
                       first, and timed)                       files/s
  stat DIR N [DIRS]    stat the N files (the caller drops caches first)
  unlink DIR N [DIRS]  unlink the N files, then the subdirectories
  fsync DIR W SECS     W threads, each rewriting 4 KiB of its own file and
                       fsyncing it, for SECS seconds       fsyncs/s (sum)
"""
import os
import sys
import threading
import time


def paths(d, n, dirs):
    """The N file names, in creation order, and the subdirectories."""
    if dirs <= 1:
        return [f"{d}/f{i}" for i in range(n)], []
    per = -(-n // dirs)
    subdirs = [f"{d}/d{k}" for k in range(dirs)]
    return [f"{subdirs[i // per]}/f{i}" for i in range(n)], subdirs


def create(d, n, dirs):
    files, subdirs = paths(d, n, dirs)
    os.makedirs(d, exist_ok=True)
    t0 = time.monotonic()
    for s in subdirs:
        os.mkdir(s)
    for f in files:
        os.close(os.open(f, os.O_CREAT | os.O_WRONLY, 0o644))
    return n / (time.monotonic() - t0), "files/s"


def stat(d, n, dirs):
    files, _ = paths(d, n, dirs)
    t0 = time.monotonic()
    for f in files:
        os.stat(f)
    return n / (time.monotonic() - t0), "stats/s"


def unlink(d, n, dirs):
    files, subdirs = paths(d, n, dirs)
    t0 = time.monotonic()
    for f in files:
        os.unlink(f)
    for s in subdirs:
        os.rmdir(s)
    return n / (time.monotonic() - t0), "files/s"


def fsync(d, writers, secs):
    block = b"\x5a" * 4096
    stop = time.monotonic() + secs
    counts = [0] * writers

    def work(k):
        fd = os.open(f"{d}/sync{k}", os.O_CREAT | os.O_WRONLY, 0o644)
        n = 0
        while time.monotonic() < stop:
            os.pwrite(fd, block, (n % 16) * 4096)
            os.fsync(fd)
            n += 1
        os.close(fd)
        counts[k] = n

    threads = [threading.Thread(target=work, args=(k,)) for k in range(writers)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - t0), "fsyncs/s"


def main():
    what, d = sys.argv[1], sys.argv[2]
    if what in ("create", "stat", "unlink"):
        dirs = int(sys.argv[4]) if len(sys.argv) > 4 else 1
        value, unit = globals()[what](d, int(sys.argv[3]), dirs)
    elif what == "fsync":
        value, unit = fsync(d, int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit(f"meta-bench.py: unknown workload {what}")
    print(f"{what} {value:.1f} {unit}")


if __name__ == "__main__":
    main()
