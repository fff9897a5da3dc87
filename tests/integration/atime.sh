#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# atime.sh: access times on a mounted diofs under each mount option.
#
# relatime (the default): a read moves an atime older than mtime, and
# the second read leaves the new one alone; a listing does the same for a
# directory; the read writes nothing to the device, and the new atime
# survives a remount.  chattr +A keeps a file's atime.  strictatime: a
# read moves an atime that relatime would keep.  noatime: reads and
# listings never move it.  nodiratime: listings leave directories alone
# while reads still move files' atimes.  The options reach the daemon
# through mount.diofs's helper form as well, and show in /proc/mounts.
# stat(1) right after a read sees the new atime: the kernel drops its
# cached atime after every read it sends (fuse_invalidate_atime).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_init
command -v chattr >/dev/null || skip_or_fail "chattr is not installed"

img=$T_DIR/fs.img
m=$T_DIR/mnt
mkdir "$m"
new_image "$img" 256M
make_fs "$img"

atime() { stat -c %X "$1"; }
atime_ns() { stat -c %x "$1"; }

# age PATH: atime three hours ago, mtime two: relatime moves it.
age() {
	touch -m -d '2 hours ago' "$1"
	touch -a -d '3 hours ago' "$1"
}

# fresh PATH: atime newer than mtime and ctime (touch sets ctime to now,
# so an hour ahead) and not a day old: only strictatime moves it.
fresh() {
	touch -m -d '2 hours ago' "$1"
	touch -a -d "@$(($(date +%s) + 3600))" "$1"
}

# moved PATH BEFORE: the atime must be at least BEFORE (seconds) and not
# in the future.
moved() {
	[ "$(atime "$1")" -ge "$2" ] && [ "$(atime "$1")" -le "$(date +%s)" ] ||
		fail "$1: atime $(atime_ns "$1") did not move (want >= $(date -d @"$2"))"
}

# kept PATH WANT: the atime must be WANT (stat %x) exactly.
kept() {
	[ "$(atime_ns "$1")" = "$2" ] ||
		fail "$1: atime moved from $2 to $(atime_ns "$1")"
}

step "relatime (default): a read moves an old atime, once"
mount_fs "$img" "$m" -o commit=3600
echo data >"$m/f"
mkdir "$m/d"
touch "$m/d/entry" "$m/noa"
chattr +A "$m/noa"
age "$m/f"
age "$m/d"
age "$m/noa"
sync -f "$m"
grep -Eq " $m fuse(blk)?\.diofs [^ ]*relatime" /proc/mounts ||
	fail "/proc/mounts: $(grep " $m " /proc/mounts)"
t0=$(date +%s)
sum=$(sha256sum <"$img")
cat "$m/f" >/dev/null
moved "$m/f" "$t0"
[ "$(sha256sum <"$img")" = "$sum" ] || fail "a read wrote to the device"
a=$(atime_ns "$m/f")
cat "$m/f" >/dev/null
kept "$m/f" "$a"

step "relatime: a listing moves a directory's old atime; +A keeps a file's"
ls "$m/d" >/dev/null
moved "$m/d" "$t0"
a_noa=$(atime_ns "$m/noa")
cat "$m/noa" >/dev/null
kept "$m/noa" "$a_noa"
fresh "$m/f"
a=$(atime_ns "$m/f")
cat "$m/f" >/dev/null
kept "$m/f" "$a"

step "relatime: the new atime survives a remount"
age "$m/f"
cat "$m/f" >/dev/null
a=$(atime_ns "$m/f")
unmount_fs "$m"
mount_fs "$img" "$m"
kept "$m/f" "$a"
unmount_fs "$m"

step "strictatime: a read moves what relatime keeps"
mount_fs "$img" "$m" -o strictatime
fresh "$m/f"
t0=$(date +%s)
cat "$m/f" >/dev/null
moved "$m/f" "$t0"
fresh "$m/d"
ls "$m/d" >/dev/null
moved "$m/d" "$t0"
unmount_fs "$m"

step "noatime through mount.diofs: neither reads nor listings"
ln -s "$DIOFS_BIN" "$T_DIR/mount.diofs"
mount_daemon "$T_DIR/mount.diofs" "$img" "$m" -o rw,noatime
grep -Eq " $m fuse(blk)?\.diofs [^ ]*noatime" /proc/mounts ||
	fail "/proc/mounts: $(grep " $m " /proc/mounts)"
age "$m/f"
age "$m/d"
a=$(atime_ns "$m/f")
ad=$(atime_ns "$m/d")
cat "$m/f" >/dev/null
ls "$m/d" >/dev/null
kept "$m/f" "$a"
kept "$m/d" "$ad"
unmount_fs "$m" umount

step "nodiratime: listings keep the directory's atime, reads move files'"
mount_fs "$img" "$m" -o nodiratime
age "$m/f"
age "$m/d"
ad=$(atime_ns "$m/d")
t0=$(date +%s)
ls "$m/d" >/dev/null
cat "$m/f" >/dev/null
kept "$m/d" "$ad"
moved "$m/f" "$t0"
unmount_fs "$m"

step "all checks passed"
