#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# reads.sh: many reads in flight at once, on a loop device.
#
# The daemon serves a read without waiting for the device: one worker
# keeps many reads at the device and answers each as it completes.  Shown
# with -o max_threads=1, where a worker that waited for each read would
# never have more than one device request in flight:
#  - fio's 4 KiB O_DIRECT random reads (libaio, iodepth 32, two jobs) of a
#    file fio wrote with checksummed blocks return every block intact, and
#    diofs-stat's queue-depth histogram shows eight or more requests at the
#    device at once;
#  - the same reads through the page cache, while other requests (create,
#    stat, unlink, truncate and a read of a second file) arrive at the one
#    worker meanwhile: it finishes its reads before each of them, and all
#    of it ends, intact, within the time limit;
#  - after an unmount fsck.diofs -n finds nothing wrong.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

STAT_BIN=$abs_top_builddir/src/stat/diofs-stat
[ -x "$STAT_BIN" ] || fail "$STAT_BIN is not built (run make first)"
lib_init
command -v fio >/dev/null || skip_or_fail "fio is not installed"

img=$T_DIR/img
mnt=$T_DIR/mnt
mkdir "$mnt"
new_image "$img" 256M
make_fs "$img" -b 4096
mount_fs "$img" "$mnt" -o max_threads=1

# read_verify FILE ARGS...: fio random reads of FILE, every block checked.
read_verify() {
	local file=$1
	shift
	timeout 120 fio --name=r --filename="$file" --size=32M --bs=4k \
		--rw=randread --ioengine=libaio --iodepth=32 --numjobs=2 \
		--verify=crc32c --verify_state_save=0 --group_reporting "$@" \
		>"$T_DIR/fio.out" 2>&1 ||
		{ cat "$T_DIR/fio.out" >&2; fail "fio $* on $file failed"; }
}

step "a file written with checksummed blocks"
timeout 120 fio --name=w --filename="$mnt/v" --size=32M --bs=4k --rw=write \
	--ioengine=libaio --iodepth=8 --direct=1 --verify=crc32c \
	--do_verify=0 --verify_state_save=0 >"$T_DIR/fio.out" 2>&1 ||
	{ cat "$T_DIR/fio.out" >&2; fail "fio could not write the file"; }

step "O_DIRECT random reads, one worker: intact, many at the device"
before=$("$STAT_BIN" -j "$mnt")
read_verify "$mnt/v" --direct=1
after=$("$STAT_BIN" -j "$mnt")
pyrun '
import json
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ha = a["histograms"]["dev_queue_depth"]["buckets"]
hb = b["histograms"]["dev_queue_depth"]["buckets"]
d = [y - x for x, y in zip(ha, hb)]
# bucket i counts depths in [2^(i-1), 2^i): bucket 4 on is 8 or more
deep = sum(d[4:])
assert deep > 0, "no submit left 8 or more requests at the device: %s" % d
reads = b["requests"]["read"]["count"] - a["requests"]["read"]["count"]
assert reads >= 2 * 8192, "only %d read requests" % reads
' "$before" "$after"

step "page-cache reads beside other requests, one worker"
printf 'second file\n' >"$mnt/g"
read_verify "$mnt/v" --invalidate=1 &
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
    os.truncate(mnt + "/g", 4096 * (n % 5))
    with open(mnt + "/g", "rb") as f:
        assert f.read() == b"\0" * (4096 * (n % 5))
    if n % 50 == 49:
        for i in range(50):
            os.unlink("%s/f%d" % (mnt, i))
    n += 1
assert n > 10, "only %d rounds in 3 s" % n
' "$mnt" || fail "the other requests failed"
wait "$fio_pid" || fail "the reads beside them failed"

step "unmount and fsck"
unmount_fs "$mnt"
