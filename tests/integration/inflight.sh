#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# inflight.sh: many reads and writes in flight at once, on a loop device.
#
# The daemon serves a read, and a write of up to 128 KiB, without waiting
# for the device: one worker keeps many transfers at the device and
# answers each as it completes.  Shown with -o max_threads=1, where a
# worker that waited for each would never have more than one device
# request in flight:
#  - fio's 4 KiB O_DIRECT random writes (libaio, iodepth 32, two jobs, a
#    file each, checksummed blocks), then its random reads of every block,
#    which all verify, and for each of the two diofs-stat's queue-depth
#    histogram shows eight or more requests at the device at once;
#  - the same reads through the page cache, while other requests (create,
#    stat, unlink, truncate, write and read of a second file) arrive at
#    the one worker meanwhile: it finishes its transfers before each of
#    them, and all of it ends, intact, within the time limit;
#  - after an unmount fsck.diofs -n finds nothing wrong.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_diofs_stat
lib_init
command -v fio >/dev/null || skip_or_fail "fio is not installed"

scratch_fs 256M
mount_fs "$img" "$mnt" -o max_threads=1

# deep BEFORE AFTER WHAT: diofs-stat snapshots around a run in which
# 8 or more requests were at the device at once.
deep() {
	pyrun '
import json
a, b, what = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
ha = a["histograms"]["dev_queue_depth"]["buckets"]
hb = b["histograms"]["dev_queue_depth"]["buckets"]
d = [y - x for x, y in zip(ha, hb)]
# bucket i counts depths in [2^(i-1), 2^i): bucket 4 on is 8 or more
assert sum(d[4:]) > 0, "%s: never 8 or more requests at the device: %s" % (what, d)
' "$1" "$2" "$3"
}

mkdir "$mnt/data"

step "O_DIRECT random writes, one worker: intact, many at the device"
before=$("$STAT_BIN" -j "$mnt")
fio_verified "$mnt/data" randwrite --direct=1 --do_verify=0	# the reads below verify
after=$("$STAT_BIN" -j "$mnt")
deep "$before" "$after" writes

step "O_DIRECT random reads, one worker: intact, many at the device"
before=$("$STAT_BIN" -j "$mnt")
fio_verified "$mnt/data" randread --direct=1
after=$("$STAT_BIN" -j "$mnt")
deep "$before" "$after" reads

step "page-cache reads beside other requests, one worker"
printf 'second file\n' >"$mnt/g"
fio_verified "$mnt/data" randread --invalidate=1 &
fio_pid=$!
pyrun '
import time
mnt = sys.argv[1]
end = time.monotonic() + 3
n = 0
while time.monotonic() < end:
    p = "%s/f%d" % (mnt, n % 50)
    with open(p, "w") as f:
        f.write("x" * 100)
    os.stat(p)
    size = 4096 * (n % 5)
    os.truncate(mnt + "/g", 0)
    os.truncate(mnt + "/g", size)
    with open(mnt + "/g", "r+b") as f:
        assert f.read() == b"\0" * size
        f.write(b"y" * 10)
    with open(mnt + "/g", "rb") as f:
        assert f.read() == b"\0" * size + b"y" * 10
    if n % 50 == 49:
        for i in range(50):
            os.unlink("%s/f%d" % (mnt, i))
    n += 1
assert n > 10, "only %d rounds in 3 s" % n
' "$mnt" || fail "the other requests failed"
wait "$fio_pid" || fail "the reads beside them failed"

step "unmount and fsck"
unmount_fs "$mnt"
