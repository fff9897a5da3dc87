#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""meta-bench.py: one metadata or durability workload on a mounted directory.

Run by bench/run-meta-bench, once per workload, filesystem and repetition;
prints one line "NAME VALUE UNIT".  Workloads:

  create DIR N        create N empty files in DIR/t          files/s
  stat DIR N          stat the N files (the caller drops caches first)
  unlink DIR N        unlink the N files
  fsync DIR W SECS    W threads, each rewriting 4 KiB of its own file and
                      fsyncing it, for SECS seconds       fsyncs/s (sum)
  untar DIR TARBALL   extract TARBALL under DIR, then sync   seconds
"""
import os
import subprocess
import sys
import threading
import time


def create(d, n):
    os.makedirs(f"{d}/t", exist_ok=True)
    t0 = time.monotonic()
    for i in range(n):
        os.close(os.open(f"{d}/t/f{i}", os.O_CREAT | os.O_WRONLY, 0o644))
    return n / (time.monotonic() - t0), "files/s"


def stat(d, n):
    t0 = time.monotonic()
    for i in range(n):
        os.stat(f"{d}/t/f{i}")
    return n / (time.monotonic() - t0), "stats/s"


def unlink(d, n):
    t0 = time.monotonic()
    for i in range(n):
        os.unlink(f"{d}/t/f{i}")
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


def untar(d, tarball):
    os.makedirs(f"{d}/src", exist_ok=True)
    t0 = time.monotonic()
    subprocess.run(["tar", "-xf", tarball, "-C", f"{d}/src"], check=True)
    os.sync()
    return time.monotonic() - t0, "s"


def main():
    what, d = sys.argv[1], sys.argv[2]
    if what in ("create", "stat", "unlink"):
        value, unit = globals()[what](d, int(sys.argv[3]))
    elif what == "fsync":
        value, unit = fsync(d, int(sys.argv[3]), float(sys.argv[4]))
    elif what == "untar":
        value, unit = untar(d, sys.argv[3])
    else:
        sys.exit(f"meta-bench.py: unknown workload {what}")
    print(f"{what} {value:.1f} {unit}")


if __name__ == "__main__":
    main()
