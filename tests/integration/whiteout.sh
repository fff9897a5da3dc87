#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# whiteout.sh: renameat2(RENAME_WHITEOUT) on a mounted diofs, and an
# overlay filesystem whose upper and work directories are on diofs.
#
# The whiteout must be a character device 0/0 with mode 0 owned by the
# caller, the moved name must hold the source's contents, the refusals
# must be the kernel's (EINVAL with RENAME_EXCHANGE, EEXIST with
# RENAME_NOREPLACE over a name), and all of it must survive a remount with
# fsck clean.  Since Linux 5.8 the VFS lets any user make a whiteout (no
# CAP_MKNOD needed, for mknod of 0/0 as for RENAME_WHITEOUT), and diofs adds
# no check of its own: an unprivileged rename works and its whiteout is
# that user's.  Overlayfs then uses diofs as
# its upper layer over a tmpfs lower one: deleting a lower file leaves a
# whiteout in the upper directory, renaming one copies it up and leaves a
# whiteout under the old name (overlayfs's RENAME_WHITEOUT).  The test
# runs in a mount namespace of its own, so the tmpfs and overlay mounts go
# with it whatever happens.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

private_mount_namespace "$@"
lib_init
command -v setpriv >/dev/null || skip_or_fail "setpriv is not installed"

NOBODY=65534
img=$T_DIR/img
m=$T_DIR/mnt
low=$T_DIR/lower
ovl=$T_DIR/overlay
mkdir "$m" "$low" "$ovl"
new_image "$img" 128M
make_fs "$img"

# The overlay and the tmpfs under it go before the daemon's mount.
ovl_cleanup() {
	local rc=$?
	umount "$ovl" 2>/dev/null || true
	umount "$low" 2>/dev/null || true
	(exit "$rc")
	lib_cleanup
}
trap ovl_cleanup EXIT

# whiteout_at PATH: PATH must be a whiteout: char device 0/0, mode 0.
whiteout_at() {
	local got
	got=$(stat -c '%F %t:%T %a' "$1") || fail "$1: no whiteout"
	[ "$got" = "character special file 0:0 0" ] ||
		fail "$1 is '$got', not a whiteout"
}

mount_fs "$img" "$m" -o allow_other

step "renameat2(RENAME_WHITEOUT): a file, to a new name and over one"
head -c 100000 /dev/urandom >"$T_DIR/data"
cp "$T_DIR/data" "$m/src"
mkdir "$m/d"
pyrun "renameat2('$m/src', '$m/d/dst', RENAME_WHITEOUT)"
whiteout_at "$m/src"
[ "$(stat -c %u:%g:%h "$m/src")" = 0:0:1 ] || fail "owner or links of the whiteout"
cmp -s "$T_DIR/data" "$m/d/dst" || fail "the moved file lost its contents"
echo old >"$m/over"
expect_errno EEXIST "renameat2('$m/d/dst', '$m/over', RENAME_WHITEOUT | RENAME_NOREPLACE)"
pyrun "renameat2('$m/d/dst', '$m/over', RENAME_WHITEOUT)"
whiteout_at "$m/d/dst"
cmp -s "$T_DIR/data" "$m/over" || fail "rename over a name lost the contents"

step "a directory, and the refusals"
mkdir -p "$m/dir/sub"
echo inside >"$m/dir/sub/f"
pyrun "renameat2('$m/dir', '$m/d/dir2', RENAME_WHITEOUT)"
whiteout_at "$m/dir"
[ "$(cat "$m/d/dir2/sub/f")" = inside ] || fail "the moved directory's contents"
[ "$(stat -c %h "$m/d")" -eq 3 ] || fail "link count of the new parent"
expect_errno EINVAL "renameat2('$m/over', '$m/d/dir2', RENAME_WHITEOUT | RENAME_EXCHANGE)"
expect_errno ENOENT "renameat2('$m/nothing', '$m/x', RENAME_WHITEOUT)"
chmod 755 "$T_DIR" "$m"
chmod 1777 "$m/d"
setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups -- touch "$m/d/mine"
out=$(setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups -- /usr/bin/python3 -c "
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
r = libc.renameat2(-100, b'$m/d/mine', -100, b'$m/d/yours', 4)
print(os.strerror(ctypes.get_errno()) if r else 'ok')") ||
	fail "renameat2 as uid $NOBODY did not run"
[ "$out" = ok ] || fail "RENAME_WHITEOUT as uid $NOBODY: $out"
whiteout_at "$m/d/mine"
[ "$(stat -c %u:%g "$m/d/mine")" = $NOBODY:$NOBODY ] ||
	fail "a whiteout made by uid $NOBODY belongs to $(stat -c %u:%g "$m/d/mine")"
[ -f "$m/d/yours" ] || fail "the file renamed by uid $NOBODY"

step "whiteouts survive a remount, fsck clean"
unmount_fs "$m"
mount_fs "$img" "$m" -o allow_other
whiteout_at "$m/src"
whiteout_at "$m/d/dst"
whiteout_at "$m/dir"
whiteout_at "$m/d/mine"
cmp -s "$T_DIR/data" "$m/over" || fail "contents after the remount"
rm "$m/src" "$m/d/dst" "$m/dir" "$m/d/mine"

step "overlayfs with its upper and work directories on diofs"
mount -t tmpfs -o size=16m tmpfs "$low" || skip_or_fail "cannot mount tmpfs"
echo gone >"$low/deleted"
echo moved >"$low/renamed"
mkdir "$low/ldir"
echo deep >"$low/ldir/f"
mkdir "$m/upper" "$m/work"
if ! out=$(mount -t overlay overlay \
	-o "lowerdir=$low,upperdir=$m/upper,workdir=$m/work" "$ovl" 2>&1); then
	grep -qw overlay /proc/filesystems ||
		skip_or_fail "this kernel has no overlay filesystem: $out"
	fail "overlayfs refused diofs as its upper layer: $out"
fi
rm "$ovl/deleted"
[ ! -e "$ovl/deleted" ] || fail "the deleted lower file is still seen"
whiteout_at "$m/upper/deleted"
mv "$ovl/renamed" "$ovl/new-name"
[ "$(cat "$ovl/new-name")" = moved ] && [ ! -e "$ovl/renamed" ] ||
	fail "rename of a lower file through the overlay"
whiteout_at "$m/upper/renamed"
[ "$(cat "$m/upper/new-name")" = moved ] || fail "the copied-up file in upper"
rm -r "$ovl/ldir"
whiteout_at "$m/upper/ldir"
echo fresh >"$ovl/fresh"
[ "$(cat "$m/upper/fresh")" = fresh ] || fail "a new file through the overlay"
umount "$ovl"
mount -t overlay overlay \
	-o "lowerdir=$low,upperdir=$m/upper,workdir=$m/work" "$ovl" ||
	fail "overlayfs did not mount again"
[ "$(ls "$ovl" | tr '\n' ' ')" = "fresh new-name " ] ||
	fail "the overlay shows '$(ls "$ovl" | tr '\n' ' ')' after a remount"
umount "$ovl"
umount "$low"
unmount_fs "$m"
step "PASS"
