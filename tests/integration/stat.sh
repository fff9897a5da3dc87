#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# stat.sh: diofs-stat's counters move exactly as a known workload says
# they must, on a 4 KiB-block filesystem mounted with -o direct_io (every
# write(2) reaches the daemon as the byte range the program gave):
#  - 3 KiB written at 1 KiB into a fresh file: one write request, 1 KiB of
#    zeros written before the data and none after (the data ends the
#    block), all of it one merged device request of 4 KiB in one
#    io_submit; 1 KiB at 1 KiB: 1 KiB before and 2 KiB after;
#  - 64 KiB read from a hole: 64 KiB read as zeros, no device read;
#  - fsync: one fsync request, one commit, one journal record, and
#    device flushes;
#  - N creates: N create requests and at least N committed transactions;
#    unlinking them 1.5 s later, N unlink requests and no lookup (names
#    stay cached);
#  - interval mode prints the totals and then one report per interval;
#  - a user who did not mount gets EACCES from the kernel (no
#    allow_other) or EPERM from the daemon (allow_other), and the counters
#    stay unread.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_diofs_stat
lib_init
command -v setpriv >/dev/null || skip_or_fail "setpriv is not installed"

scratch_fs 256M
# A commit interval longer than the test: every commit it sees is asked for.
mount_fs "$img" "$mnt" -o direct_io,commit=3600

# The workload in one python process, diofs-stat -j between the steps.
step "counters against a known workload"
pyrun '
import json, subprocess
stat_bin, mnt = sys.argv[1], sys.argv[2]

def snap():
    out = subprocess.run([stat_bin, "-j", mnt], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)

def delta(a, b):
    d = {k: b["counters"][k] - a["counters"][k] for k in a["counters"]}
    for k in a["requests"]:
        d["req_" + k] = b["requests"][k]["count"] - a["requests"][k]["count"]
    for k in a["histograms"]:
        d["hist_" + k] = (b["histograms"][k]["count"] -
                          a["histograms"][k]["count"])
        d["sum_" + k] = (b["histograms"][k]["sum"] -
                         a["histograms"][k]["sum"])
    return d

def expect(d, what, **want):
    for k, v in want.items():
        if d[k] != v:
            raise SystemExit("%s: %s moved by %d, not %d" % (what, k, d[k], v))

def at_least(d, what, **want):
    for k, v in want.items():
        if d[k] < v:
            raise SystemExit("%s: %s moved by %d, less than %d" %
                             (what, k, d[k], v))

def zeroing(name, off, data):
    fd = os.open(os.path.join(mnt, name), os.O_CREAT | os.O_WRONLY, 0o644)
    a = snap()
    if os.pwrite(fd, data, off) != len(data):
        raise SystemExit("short write")
    b = snap()
    os.close(fd)
    return delta(a, b)

data = os.urandom(3072)
d = zeroing("three", 1024, data)
expect(d, "3 KiB at 1 KiB", req_write=1, dio_writes=1,
       dio_write_bytes=3072, dio_zeroed_bytes=1024, dio_rmw_reads=0,
       dio_zero_read_bytes=0)
# zeros and data are contiguous: one device request, one io_submit (the
# journal writes nothing before a commit)
expect(d, "3 KiB at 1 KiB", dev_writes=1, dev_write_bytes=4096,
       hist_dio_merges=1, hist_dev_batch_iocbs=1, sum_dev_batch_iocbs=1,
       hist_dev_queue_depth=1)
with open(os.path.join(mnt, "three"), "rb") as f:
    if f.read() != bytes(1024) + data:
        raise SystemExit("three: contents differ")

d = zeroing("one", 1024, data[:1024])
expect(d, "1 KiB at 1 KiB", req_write=1, dio_writes=1,
       dio_write_bytes=1024, dio_zeroed_bytes=3072, dev_writes=1,
       dev_write_bytes=4096, hist_dio_merges=1)
# zeros, data, zeros: three pieces where the device block is below 1 KiB,
# one staged block where it is 4 KiB
if not 1 <= d["sum_dio_merges"] <= 3:
    raise SystemExit("1 KiB at 1 KiB: %d pieces" % d["sum_dio_merges"])

# A hole: 1 MiB of size and no blocks.  The first read warms the metadata
# cache, so that the second needs the device for nothing at all.
fd = os.open(os.path.join(mnt, "hole"), os.O_CREAT | os.O_RDWR, 0o644)
os.ftruncate(fd, 1 << 20)
os.pread(fd, 4096, 512 * 1024)
a = snap()
if os.pread(fd, 65536, 0) != bytes(65536):
    raise SystemExit("hole: not zeros")
b = snap()
expect(delta(a, b), "64 KiB of a hole", req_read=1, dio_reads=1,
       dio_read_bytes=65536, dio_zero_read_bytes=65536, dev_reads=0,
       dev_read_bytes=0)

os.pwrite(fd, data[:4096] + bytes(1024), 0)
a = snap()
os.fsync(fd)
b = snap()
d = delta(a, b)
expect(d, "fsync", req_fsync=1, commits=1, journal_commits=1)
at_least(d, "fsync", dev_flushes=1, journal_blocks=1)
os.close(fd)

n = 25
os.mkdir(os.path.join(mnt, "many"))
a = snap()
for i in range(n):
    os.close(os.open(os.path.join(mnt, "many", "f%d" % i),
                     os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
b = snap()
d = delta(a, b)
expect(d, "%d creates" % n, req_create=n)
at_least(d, "%d creates" % n, txn_started=n, txn_committed=n,
         cache_hits=1)

# Names stay cached: unlinking names the kernel learnt of longer ago than
# the attributes are cached (1 s) asks the daemon for no LOOKUP.
import time
time.sleep(1.5)
a = snap()
for i in range(n):
    os.unlink(os.path.join(mnt, "many", "f%d" % i))
b = snap()
expect(delta(a, b), "%d unlinks 1.5 s later" % n, req_unlink=n,
       req_lookup=0)
' "$STAT_BIN" "$mnt"

step "interval mode: totals, then one report per interval"
out=$("$STAT_BIN" "$mnt" 0.2 3)
[ "$(grep -c 'since mount,' <<<"$out")" -eq 1 ] ||
	fail "not one report of the totals: $out"
[ "$(grep -c 'interval,' <<<"$out")" -eq 2 ] ||
	fail "not two interval reports: $out"
out=$("$STAT_BIN" -j "$mnt" 0.2 2)
[ "$(wc -l <<<"$out")" -eq 2 ] || fail "-j: not one line per report: $out"
python3 -c '
import json, sys
a, b = [json.loads(l) for l in sys.stdin]
assert a["since_mount"] and not b["since_mount"], "since_mount"
# the first report asked for the counters once more since then
assert b["requests"]["ioctl"]["count"] >= 1, "ioctl not counted"
' <<<"$out" || fail "-j interval reports: $out"

step "usage errors"
for args in "" "$mnt 0" "$mnt 1 0" "$mnt x" "-Z $mnt" "$mnt 1 2 3"; do
	rc=0
	# shellcheck disable=SC2086
	"$STAT_BIN" $args >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 2 ] || fail "diofs-stat $args: exit $rc, not 2"
done
rc=0
"$STAT_BIN" "$T_DIR" >/dev/null 2>"$T_DIR/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "not the mountpoint of a diofs" "$T_DIR/err" ||
	fail "diofs-stat on a plain directory: exit $rc, $(cat "$T_DIR/err")"
rc=0
"$STAT_BIN" "$mnt/many" >/dev/null 2>"$T_DIR/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "not the mountpoint of a diofs" "$T_DIR/err" ||
	fail "diofs-stat on a directory inside the mount: exit $rc, $(cat "$T_DIR/err")"
unmount_fs "$mnt"

# Another user: the program and the mountpoint must be reachable by them.
step "a user who did not mount"
chmod 755 "$T_DIR"
install -m 755 "$STAT_BIN" "$T_DIR/diofs-stat"
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups "$T_DIR/diofs-stat" "$@"
}
mount_fs "$img" "$mnt"
chmod 755 "$mnt"
rc=0
as_nobody "$mnt" >/dev/null 2>"$T_DIR/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "Permission denied" "$T_DIR/err" ||
	fail "without allow_other: exit $rc, $(cat "$T_DIR/err")"
unmount_fs "$mnt"

mount_fs "$img" "$mnt" -o allow_other
# diofs-stat says this for the daemon's EPERM alone
rc=0
as_nobody "$mnt" >/dev/null 2>"$T_DIR/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "only root and the user who mounted it" "$T_DIR/err" ||
	fail "with allow_other: exit $rc, $(cat "$T_DIR/err")"
"$STAT_BIN" "$mnt" >/dev/null || fail "root cannot read the counters"
unmount_fs "$mnt"

step "all checks passed"
