#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# fstab.sh: mount(8) and fsck(8) find what make install put in place.
#
# A real make install into a temporary prefix, then, on an image file:
# mount -t diofs; mount --fstab FILE with each of the three fstab forms
# (type diofs, type fuse.diofs, and diofs#SOURCE with type fuse), with the
# options of the line reaching the kernel and the daemon (noatime,
# strictatime); umount(8); nofail with a missing device in the three forms;
# fsck -t diofs with no PATH.
#
# mount(8) runs mount.TYPE helpers only from /sbin (/sbin/fs.d, /sbin/fs),
# with PATH set to /usr/local/sbin, /usr/local/bin, /usr/sbin, /usr/bin,
# /sbin and /bin (where mount.fuse finds diofs for the fuse forms); it has
# no option to look elsewhere.  Installing into the real /sbin would change
# the machine for everyone while the test runs, and leave it changed if the
# test is killed.  So this test writes nothing outside its own directory:
# it runs in a private mount namespace (unshare --mount), and there it
# bind-mounts over /sbin (its real directory: /usr/sbin on Debian 12) a
# directory of links to everything in /sbin plus the rootsbindir links of
# the install, and over /usr/local/sbin the sbindir of the install (where
# a default installation has it).  Nobody outside the namespace sees
# either, both go with the namespace, and nothing is written through them.
# The links to the real /sbin go through /proc/PID/fd of a descriptor this
# shell holds on it.  Without mount namespaces the test is skipped (a
# failure under CI=true).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

for tool in mount umount fsck make; do
	command -v "$tool" >/dev/null || skip_or_fail "$tool is not installed"
done
private_mount_namespace "$@"

lib_init
fsck=$(command -v fsck)
T_DIR=$(realpath "$T_DIR")	# as mount(8) passes paths on
inst=$T_DIR/inst

step "make install prefix=$inst rootsbindir=$inst/rootsbin"
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory \
	-C "$abs_top_builddir" install prefix="$inst" exec_prefix="$inst" \
	sbindir="$inst/sbin" mandir="$inst/man" rootsbindir="$inst/rootsbin" \
	>"$T_DIR/install.log" 2>&1; then
	cat "$T_DIR/install.log" >&2
	fail "make install into $inst failed"
fi
[ "$(ls "$inst/rootsbin" | tr '\n' ' ')" = "fsck.diofs mount.diofs mount.fuse.diofs mount.fuseblk.diofs " ] ||
	fail "rootsbindir holds: $(ls "$inst/rootsbin" | tr '\n' ' ')"

step "in this namespace: the rootsbindir links in /sbin, sbindir as /usr/local/sbin"
sbin=$(realpath /sbin)
[ -d /usr/local/sbin ] || skip_or_fail "/usr/local/sbin does not exist"
exec {sbin_fd}<"$sbin"
mkdir "$T_DIR/sbin"
for f in "$sbin"/* "$sbin"/.[!.]*; do
	[ -e "$f" ] || [ -h "$f" ] || continue
	f=${f##*/}
	case $f in mount.diofs | mount.fuse.diofs | mount.fuseblk.diofs | fsck.diofs)
		continue ;;
	esac
	ln -s "/proc/$$/fd/$sbin_fd/$f" "$T_DIR/sbin/$f"
done
cp -P "$inst/rootsbin/mount.diofs" "$inst/rootsbin/mount.fuse.diofs" \
	"$inst/rootsbin/mount.fuseblk.diofs" "$inst/rootsbin/fsck.diofs" "$T_DIR/sbin/"
mount --bind "$T_DIR/sbin" "$sbin" || fail "bind mount over $sbin"
mount --bind "$inst/sbin" /usr/local/sbin || fail "bind mount over /usr/local/sbin"
[ "$sbin" -ef "$T_DIR/sbin" ] && [ /usr/local/sbin -ef "$inst/sbin" ] ||
	fail "the bind mounts are not in place"
[ /sbin/mount.diofs -ef "$inst/sbin/diofs" ] ||
	fail "/sbin/mount.diofs does not lead to the installed diofs"
[ -x /sbin/mount.fuse ] || skip_or_fail "/sbin/mount.fuse (fuse3) is not installed"

img=$T_DIR/fs.img
mnt=$T_DIR/mnt
mkdir "$mnt"
new_image "$img" 256M
make_fs "$img"

# mount_with DESCRIPTION COMMAND...: run a mount(8) command; the daemon
# that serves $mnt must be the installed diofs.
mount_with() {
	local what=$1 out status=0 pid
	shift
	step "$what"
	out=$("$@" 2>&1) || status=$?
	if is_mounted "$mnt"; then
		pid=$(find_daemon "$img" "$mnt") || {
			umount "$mnt"
			fail "$*: no daemon serves $mnt"
		}
		T_MNT_PID[$mnt]=$pid
		T_MNT_DEV[$mnt]=$img
		T_MNT_CHILD[$mnt]=
		T_MNT_LOG[$mnt]=
	fi
	[ "$status" -eq 0 ] || fail "$* failed with status $status: $out"
	is_mounted "$mnt" || fail "$* returned, but $mnt is not mounted: $out"
	[ "/proc/$pid/exe" -ef "$inst/sbin/diofs" ] ||
		fail "$mnt is served by $(readlink "/proc/$pid/exe"), not $inst/sbin/diofs"
	# root's mounts are fuseblk, an image through a loop device of its own
	grep -Eq " $mnt fuse(blk)?\.diofs " /proc/mounts ||
		fail "/proc/mounts line: $(grep " $mnt " /proc/mounts)"
}

mount_with "mount -t diofs IMAGE DIR: mount(8) runs /sbin/mount.diofs" \
	mount -t diofs "$img" "$mnt"
echo "through mount -t diofs" >"$mnt/one"
unmount_fs "$mnt" umount

printf '%s\n' "# diofs test fstab" \
	"$img $mnt diofs defaults,noatime 0 0" >"$T_DIR/fstab"
mount_with "fstab type diofs: mount --fstab FILE DIR" \
	mount --fstab "$T_DIR/fstab" "$mnt"
grep -Eq " $mnt fuse(blk)?\.diofs [^ ]*noatime" /proc/mounts ||
	fail "noatime of the fstab line did not reach the kernel"
[ "$(cat "$mnt/one")" = "through mount -t diofs" ] || fail "data of the first mount"
# the daemon heard noatime too: a read leaves an old atime alone
touch -a -d '3 hours ago' "$mnt/one"
atime=$(stat -c %x "$mnt/one")
cat "$mnt/one" >/dev/null
[ "$(stat -c %x "$mnt/one")" = "$atime" ] || fail "noatime: a read moved the atime"
echo "through type diofs" >"$mnt/two"
unmount_fs "$mnt" umount

printf '%s\n' "$img $mnt fuse.diofs defaults,strictatime 0 0" >"$T_DIR/fstab"
mount_with "fstab type fuse.diofs: mount(8) runs /sbin/mount.fuse.diofs" \
	mount --fstab "$T_DIR/fstab" "$mnt"
# strictatime reached the daemon: a read moves an atime newer than mtime
# and ctime, which relatime would keep
touch -a -d "@$(($(date +%s) + 3600))" "$mnt/two"
atime=$(stat -c %X "$mnt/two")
[ "$(cat "$mnt/two")" = "through type diofs" ] || fail "data of the second mount"
[ "$(stat -c %X "$mnt/two")" -lt "$atime" ] || fail "strictatime: a read left the atime alone"
echo "through type fuse.diofs" >"$mnt/three"
unmount_fs "$mnt" umount

printf '%s\n' "diofs#$img $mnt fuse defaults 0 0" >"$T_DIR/fstab"
mount_with "fstab diofs#SOURCE with type fuse" \
	mount --fstab "$T_DIR/fstab" "$mnt"
[ "$(cat "$mnt/three")" = "through type fuse.diofs" ] || fail "data of the third mount"
unmount_fs "$mnt" umount

step "nofail: mount -a with a missing device succeeds quietly in the three forms"
missing=$T_DIR/no-such-device
for line in "$missing $mnt diofs" "$missing $mnt fuse.diofs" "diofs#$missing $mnt fuse"; do
	echo "$line nofail 0 0" >"$T_DIR/fstab"
	out=$(mount -a --fstab "$T_DIR/fstab" 2>&1) || fail "mount -a, $line nofail: $out"
	[ -z "$out" ] || fail "mount -a, $line nofail said: $out"
	! is_mounted "$mnt" || fail "$line nofail mounted something"
done

# fsck(8) runs fsck.TYPE from PATH, from /sbin when PATH is unset or
# empty (as it may be at boot), and skips a type whose checker it does not
# find without a word.
step "fsck -t diofs without PATH: fsck(8) runs /sbin/fsck.diofs"
out=$(env -u PATH "$fsck" -V -t diofs "$img" -- -n 2>&1) ||
	fail "fsck -t diofs $img -- -n: $out"
[[ $out == *"[/sbin/fsck.diofs (1) -- $img] fsck.diofs -n $img"* ]] ||
	fail "fsck did not run /sbin/fsck.diofs -n: $out"
[[ $out == *"$img: no errors found"* ]] || fail "fsck.diofs output: $out"

step "all checks passed"
