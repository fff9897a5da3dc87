#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# pagecache.sh: the kernel's page cache in front of the daemon, on a
# fuseblk mount of a loop device (src/fuse/ops.c rules 18 and 19):
#  - the mount reads ahead 1 MiB, not the kernel's default 128 KiB, and a
#    cold read of a 16 MiB file takes at most 40 READ requests (128 KiB
#    ones would take at least 128);
#  - a second open of the file reads it from the cache: no READ request;
#  - changes made through other opens show at the next open: an O_DIRECT
#    write, a buffered write from another process, a truncate;
#  - with relatime, the first read after the data changed reaches the
#    daemon and sets the access time;
#  - -o max_readahead lowers the read-ahead to what it gives;
#  - with noatime, where no open drops the cache for the access time,
#    a cached file still shows an O_DIRECT write, a zeroed range and a
#    punched hole at its next open, and is otherwise read from the cache.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_diofs_stat
lib_init

scratch_fs 256M

# read_ahead MOUNTPOINT: the read-ahead of a fuseblk mount, in KiB
read_ahead() {
	local bdi
	bdi=/sys/class/bdi/$(stat -c '%Hd:%Ld' "$1")-fuseblk
	[ -r "$bdi/read_ahead_kb" ] || fail "$1 is not a fuseblk mount (no $bdi)"
	cat "$bdi/read_ahead_kb"
}

# reads_during WHAT CMD...: run CMD, print the READ requests it caused
reads_during() {
	local before after
	before=$("$STAT_BIN" -j "$mnt")
	shift
	"$@" || fail "$* failed"
	after=$("$STAT_BIN" -j "$mnt")
	pyrun '
import json
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(b["requests"]["read"]["count"] - a["requests"]["read"]["count"])
' "$before" "$after"
}

step "the read-ahead is 1 MiB"
mount_fs "$img" "$mnt"
ra=$(read_ahead "$mnt")
[ "$ra" = 1024 ] || fail "read_ahead_kb is $ra, not 1024"

step "a cold 16 MiB read takes few READ requests"
model=$T_DIR/model
head -c 16M /dev/urandom >"$model"
# O_DIRECT: nothing of it is in the page cache
dd if="$model" of="$mnt/f" bs=1M oflag=direct status=none
n=$(reads_during "first read" cmp "$model" "$mnt/f")
echo "READ requests for 16 MiB: $n"
[ "$n" -ge 16 ] && [ "$n" -le 40 ] ||
	fail "16 MiB read in $n READ requests, not 16 to 40"

step "a second open reads from the cache"
n=$(reads_during "second read" cmp "$model" "$mnt/f")
[ "$n" -eq 0 ] || fail "the second read of an unchanged file sent $n READs"

step "changes through other opens show at the next open"
sleep 1.1	# the access time, set by the first read, and the next mtime differ
pyrun '
import mmap, os
f, model = sys.argv[1], sys.argv[2]
buf = mmap.mmap(-1, 4096)
buf.write(os.urandom(4096))
fd = os.open(f, os.O_WRONLY | os.O_DIRECT)
assert os.pwrite(fd, buf, 1 << 20) == 4096, "short O_DIRECT write"
os.close(fd)
with open(model, "r+b") as m:
    m.seek(1 << 20)
    m.write(bytes(buf))
' "$mnt/f" "$model"
atime0=$(stat -c %X "$mnt/f")
n=$(reads_during "read after an O_DIRECT write" cmp "$model" "$mnt/f")
[ "$n" -gt 0 ] || fail "the first read after a write reached no READ (relatime)"
atime1=$(stat -c %X "$mnt/f")
[ "$atime1" -gt "$atime0" ] || fail "the access time did not move ($atime0, $atime1)"
cmp "$model" "$mnt/f" || fail "the file differs after an O_DIRECT write"
# a buffered write from another process, then a truncate
dd if=/dev/urandom of="$T_DIR/patch" bs=5000 count=1 status=none
dd if="$T_DIR/patch" of="$mnt/f" bs=5000 seek=7 conv=notrunc status=none
dd if="$T_DIR/patch" of="$model" bs=5000 seek=7 conv=notrunc status=none
cmp "$model" "$mnt/f" || fail "the file differs after a buffered write"
truncate -s 9M "$mnt/f"
truncate -s 9M "$model"
cmp "$model" "$mnt/f" || fail "the file differs after a truncate"
unmount_fs "$mnt"

step "-o max_readahead lowers it"
mount_fs "$img" "$mnt" -o max_readahead=262144,noatime
ra=$(read_ahead "$mnt")
[ "$ra" = 256 ] || fail "read_ahead_kb is $ra with max_readahead=262144, not 256"
cmp "$model" "$mnt/f" || fail "the file differs after a remount"

step "noatime: the cache keeps step with changes through other opens"
n=$(reads_during "a cached read" cmp "$model" "$mnt/f")
[ "$n" -eq 0 ] || fail "a cached file sent $n READs under noatime"
pyrun '
import mmap, os
f, model = sys.argv[1], sys.argv[2]
buf = mmap.mmap(-1, 8192)
buf.write(os.urandom(8192))
fd = os.open(f, os.O_WRONLY | os.O_DIRECT)
assert os.pwrite(fd, buf, 3 << 20) == 8192, "short O_DIRECT write"
os.close(fd)
with open(model, "r+b") as m:
    m.seek(3 << 20)
    m.write(bytes(buf))
' "$mnt/f" "$model"
cmp "$model" "$mnt/f" || fail "the file differs after an O_DIRECT write (noatime)"
fallocate --zero-range --offset 65536 --length 16384 "$mnt/f"
fallocate --punch-hole --offset 262144 --length 16384 "$mnt/f"
pyrun '
with open(sys.argv[1], "r+b") as m:
    for off in (65536, 262144):
        m.seek(off)
        m.write(bytes(16384))
' "$model"
cmp "$model" "$mnt/f" || fail "the file differs after zeroing and punching (noatime)"
unmount_fs "$mnt"
