#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# writebehind.sh: buffered overwrites answered before the device has them.
#
# A buffered write that only overwrites blocks a file already has is
# answered as soon as it is sent to the device (diofs(8), CACHING).  On a
# loop device, with the default workers:
#  - two processes, each over its own region of one file, write a block
#    through the page cache and at once read it back with O_DIRECT (which
#    bypasses the cache, so the daemon serves it, on whichever worker):
#    every read sees the write before it, and diofs-stat counts the
#    writes answered early;
#  - fio's 4 KiB buffered random writes (libaio, iodepth 32, two jobs,
#    checksummed blocks) over laid-out files, then O_DIRECT reads of every
#    block, which all verify; O_DIRECT writes are never answered early;
#  - fsync, unmount, a clean fsck, and after mounting again the last
#    blocks written read back as written.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_diofs_stat
lib_init
command -v fio >/dev/null || skip_or_fail "fio is not installed"

scratch_fs 256M --loop
mount_fs "$dev" "$mnt"

# behind: writes answered early so far
behind() {
	"$STAT_BIN" -j "$mnt" | pyrun '
import json
print(json.load(sys.stdin)["counters"]["writes_behind"])'
}

step "buffered overwrites, each read back at once with O_DIRECT"
dd if=/dev/zero of="$mnt/f" bs=1M count=8 conv=fsync status=none
b0=$(behind)
# rewrite REGION: 2000 rounds over blocks [REGION*1024, +1024) of f; the
# last contents of each block go to $T_DIR/last.REGION for the remount.
rewrite='
import mmap, random
path, region, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
bs = 4096
wfd = os.open(path, os.O_RDWR)
rfd = os.open(path, os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 2 * bs)
rng = random.Random(region)
last = {}
for i in range(2000):
    blk = region * 1024 + rng.randrange(1024)
    off = blk * bs
    # now and then two blocks, the second overlapping a block in flight
    n = 2 if i % 7 == 0 and blk % 1024 != 1023 else 1
    data = bytes([(i + region * 37 + k) % 251 for k in range(64)]) * (n * bs // 64)
    assert os.pwrite(wfd, data, off) == n * bs
    got = os.preadv(rfd, [memoryview(buf)[: n * bs]], off)
    assert got == n * bs, "short O_DIRECT read at %d: %d" % (off, got)
    assert buf[: n * bs] == data, "block %d: the read does not see the write before it (round %d)" % (blk, i)
    for k in range(n):
        last[blk + k] = data[k * bs : (k + 1) * bs]
with open(out, "wb") as f:
    for blk in sorted(last):
        f.write(blk.to_bytes(8, "little") + last[blk])
'
pyrun "$rewrite" "$mnt/f" 0 "$T_DIR/last.0" & p0=$!
pyrun "$rewrite" "$mnt/f" 1 "$T_DIR/last.1" & p1=$!
wait "$p0" || fail "region 0: a read did not see the write before it"
wait "$p1" || fail "region 1: a read did not see the write before it"
b1=$(behind)
[ "$b1" -gt "$b0" ] ||
	fail "no write was answered before the device had it ($b0 -> $b1)"

step "fio buffered random overwrites, verified with O_DIRECT reads"
mkdir "$mnt/data"
fio_verified "$mnt/data" write --direct=1 --do_verify=0	# lays the files out
b2=$(behind)
[ "$b2" -eq "$b1" ] || fail "O_DIRECT writes were answered early ($b1 -> $b2)"
fio_verified "$mnt/data" randwrite --direct=0 --do_verify=0 --end_fsync=1
b3=$(behind)
[ "$b3" -gt "$b2" ] ||
	fail "buffered overwrites were not answered early ($b2 -> $b3)"
fio_verified "$mnt/data" randread --direct=1

step "fsync, unmount, fsck, mount again: the last writes are there"
sync "$mnt/f"
unmount_fs "$mnt"
mount_fs "$dev" "$mnt"
pyrun '
path = sys.argv[1]
fd = os.open(path, os.O_RDONLY)
for name in sys.argv[2:]:
    rec = open(name, "rb").read()
    for i in range(0, len(rec), 8 + 4096):
        blk = int.from_bytes(rec[i : i + 8], "little")
        assert os.pread(fd, 4096, blk * 4096) == rec[i + 8 : i + 8 + 4096], \
            "block %d lost its last write" % blk
' "$mnt/f" "$T_DIR/last.0" "$T_DIR/last.1" || fail "written blocks lost"
unmount_fs "$mnt"
