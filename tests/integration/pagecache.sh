#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# pagecache.sh: the kernel's page cache in front of the daemon, on a
# fuseblk mount of a loop device (src/fuse/ops.c rules 18 and 19):
#  - the mount reads ahead 1 MiB, not the kernel's default 128 KiB, and a
#    cold read of a 16 MiB file takes at most 40 READ requests (128 KiB
#    ones would take at least 128);
#  - a second open of the file reads it from the cache: no READ request;
#  - with relatime, once the file's times say a read would set the access
#    time (touch -m, the data unchanged), the next open drops the cache:
#    its read reaches the daemon, which moves the access time;
#  - -o max_readahead lowers the read-ahead to what it gives;
#  - with noatime, where no open drops the cache for the access time, a
#    cached file is read from the cache and still shows, at its next
#    open, an O_DIRECT write, a buffered write from another process, a
#    zeroed range, a punched hole and a truncate.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_diofs_stat
lib_init
[ "$(id -u)" = 0 ] || skip_or_fail "needs root: only a fuseblk mount has its read-ahead set"

scratch_fs 256M --loop

# read_ahead: the read-ahead of the fuseblk mount on $mnt, in KiB
read_ahead() {
	local bdi
	bdi=/sys/class/bdi/$(stat -c '%Hd:%Ld' "$mnt")-fuseblk
	[ -r "$bdi/read_ahead_kb" ] || fail "$mnt is not a fuseblk mount (no $bdi)"
	cat "$bdi/read_ahead_kb"
}

# reads_during CMD...: run CMD, print the READ requests it caused
reads_during() {
	local before after
	before=$("$STAT_BIN" -j "$mnt")
	"$@" || fail "$* failed"
	after=$("$STAT_BIN" -j "$mnt")
	pyrun '
import json
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(b["requests"]["read"]["count"] - a["requests"]["read"]["count"])
' "$before" "$after"
}

# odirect_write FILE MODEL OFFSET: 8 KiB of random data at OFFSET in
# FILE, written with O_DIRECT, and the same in MODEL
odirect_write() {
	pyrun '
import mmap, os
f, model, off = sys.argv[1], sys.argv[2], int(sys.argv[3])
buf = mmap.mmap(-1, 8192)
buf.write(os.urandom(8192))
fd = os.open(f, os.O_WRONLY | os.O_DIRECT)
assert os.pwrite(fd, buf, off) == 8192, "short O_DIRECT write"
os.close(fd)
with open(model, "r+b") as m:
    m.seek(off)
    m.write(bytes(buf))
' "$1" "$2" "$3"
}

step "the read-ahead is 1 MiB"
mount_fs "$dev" "$mnt"
ra=$(read_ahead)
[ "$ra" = 1024 ] || fail "read_ahead_kb is $ra, not 1024"

step "a cold 16 MiB read takes few READ requests"
model=$T_DIR/model
head -c 16M /dev/urandom >"$model"
# O_DIRECT: nothing of it is in the page cache
dd if="$model" of="$mnt/f" bs=1M oflag=direct status=none
n=$(reads_during cmp "$model" "$mnt/f")
echo "READ requests for 16 MiB: $n"
[ "$n" -ge 16 ] && [ "$n" -le 40 ] ||
	fail "16 MiB read in $n READ requests, not 16 to 40"

step "a second open reads from the cache"
n=$(reads_during cmp "$model" "$mnt/f")
[ "$n" -eq 0 ] || fail "the second read of an unchanged file sent $n READs"

step "relatime: an open at which a read would set the access time drops the cache"
# stat's %X has whole seconds: let the clock pass the access time
sleep 1.1
touch -m "$mnt/f"
atime0=$(stat -c %X "$mnt/f")
sleep 1.1
n=$(reads_during cmp "$model" "$mnt/f")
[ "$n" -gt 0 ] || fail "no READ after touch -m: the open kept the cache"
atime1=$(stat -c %X "$mnt/f")
[ "$atime1" -gt "$atime0" ] ||
	fail "the access time did not move ($atime0, $atime1)"
unmount_fs "$mnt"

step "-o max_readahead lowers it"
mount_fs "$dev" "$mnt" -o max_readahead=262144,noatime
ra=$(read_ahead)
[ "$ra" = 256 ] ||
	fail "read_ahead_kb is $ra with max_readahead=262144, not 256"
cmp "$model" "$mnt/f" || fail "the file differs after a remount"

step "noatime: the cache keeps step with changes through other opens"
n=$(reads_during cmp "$model" "$mnt/f")
[ "$n" -eq 0 ] || fail "a cached file sent $n READs under noatime"
odirect_write "$mnt/f" "$model" $((3 << 20))
cmp "$model" "$mnt/f" || fail "the file differs after an O_DIRECT write"
dd if=/dev/urandom of="$T_DIR/patch" bs=5000 count=1 status=none
dd if="$T_DIR/patch" of="$mnt/f" bs=5000 seek=7 conv=notrunc status=none
dd if="$T_DIR/patch" of="$model" bs=5000 seek=7 conv=notrunc status=none
cmp "$model" "$mnt/f" || fail "the file differs after a buffered write"
fallocate --zero-range --offset 65536 --length 16384 "$mnt/f"
fallocate --punch-hole --offset 262144 --length 16384 "$mnt/f"
pyrun '
with open(sys.argv[1], "r+b") as m:
    for off in (65536, 262144):
        m.seek(off)
        m.write(bytes(16384))
' "$model"
cmp "$model" "$mnt/f" || fail "the file differs after zeroing and punching"
truncate -s 9M "$mnt/f"
truncate -s 9M "$model"
cmp "$model" "$mnt/f" || fail "the file differs after a truncate"
unmount_fs "$mnt"
