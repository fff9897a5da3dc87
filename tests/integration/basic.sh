#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# basic.sh: POSIX file and directory operations on a mounted diofs, first on
# a loop device, then on an image file; the daemon's command line, mount(8)
# helper form, read-only and direct_io mounts; data kept across remounts.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_init

# The checks every mount must pass.  $1 is the mountpoint, $2 "direct_io"
# for a mount with -o direct_io.
fs_checks() {
	local m=$1 mode=${2:-} i out want size avail avail2 before

	step "create, write, read, append"
	printf 'hello\n' >"$m/f"
	[ "$(cat "$m/f")" = hello ] || fail "read back of a new file"
	printf 'world\n' >>"$m/f"
	[ "$(cat "$m/f")" = $'hello\nworld' ] || fail "append"
	head -c 3000000 /dev/urandom >"$T_DIR/rand"
	cp "$T_DIR/rand" "$m/rand"
	cmp "$T_DIR/rand" "$m/rand" || fail "3 MB copy differs"
	head -c 7000 /dev/urandom >"$T_DIR/patch"
	for f in "$m/rand" "$T_DIR/rand"; do
		dd if="$T_DIR/patch" of="$f" bs=1000 seek=1234 conv=notrunc \
			status=none
	done
	cmp "$T_DIR/rand" "$m/rand" || fail "unaligned overwrite in place"

	step "O_DIRECT writes and reads (dd oflag=direct, iflag=direct)"
	dd if="$T_DIR/rand" of="$m/direct" bs=1M oflag=direct status=none
	dd if="$m/direct" of="$T_DIR/direct" bs=1M iflag=direct status=none
	cmp "$T_DIR/rand" "$T_DIR/direct" || fail "O_DIRECT 1 MiB round trip"
	dd if="$T_DIR/rand" of="$m/direct4k" bs=4096 count=100 oflag=direct \
		status=none
	cmp -n 409600 "$T_DIR/rand" "$m/direct4k" || fail "O_DIRECT 4 KiB writes"
	rm -f "$T_DIR/direct"

	if [ "$mode" = direct_io ]; then
		step "shared writable mmap fails with ENODEV under -o direct_io"
		expect_errno ENODEV "import mmap; fd = os.open('$m/mapped', os.O_RDWR | os.O_CREAT); os.ftruncate(fd, 4096); mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_WRITE)"
	else
		step "shared writable mmap"
		pyrun "
import mmap
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 65536)
mm = mmap.mmap(fd, 65536, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
mm[4096:4101] = b'mmap!'
mm.flush(); mm.close(); os.close(fd)
with open(sys.argv[1], 'rb') as f:
    d = f.read()
assert d[4096:4101] == b'mmap!' and d[:4096] == bytes(4096), 'mmap data'
" "$m/mapped" || fail "shared writable mmap"
	fi

	step "mkdir, readdir of 1000 entries, rmdir"
	mkdir "$m/d"
	for ((i = 0; i < 1000; i++)); do : >"$m/d/entry-$i"; done
	[ "$(ls "$m/d" | wc -l)" -eq 1000 ] || fail "ls shows $(ls "$m/d" | wc -l) entries, not 1000"
	out=$(ls -f "$m/d" | sort | tr '\n' ' ')
	want=$( (echo .; echo ..; for ((i = 0; i < 1000; i++)); do echo "entry-$i"; done) |
		sort | tr '\n' ' ')
	[ "$out" = "$want" ] || fail "readdir names differ"
	[ "$(find "$m/d" -type f | wc -l)" -eq 1000 ] || fail "find -type f"
	for ((i = 0; i < 1000; i += 2)); do rm "$m/d/entry-$i"; done
	[ "$(ls "$m/d" | wc -l)" -eq 500 ] || fail "500 entries after removing half"
	rm -r "$m/d"
	[ ! -e "$m/d" ] || fail "rm -r left the directory"
	mkdir -p "$m/a/b/c"
	rmdir "$m/a/b/c" "$m/a/b"
	[ "$(stat -c %h "$m/a")" -eq 2 ] || fail "link count of an empty directory"

	step "rename: plain, over a file, RENAME_NOREPLACE, RENAME_EXCHANGE"
	echo one >"$m/r1"
	echo two >"$m/r2"
	mv "$m/r1" "$m/a/moved"
	[ "$(cat "$m/a/moved")" = one ] && [ ! -e "$m/r1" ] || fail "rename across dirs"
	mv "$m/a/moved" "$m/r2"
	[ "$(cat "$m/r2")" = one ] || fail "rename over an existing file"
	echo three >"$m/r3"
	expect_errno EEXIST "renameat2('$m/r3', '$m/r2', RENAME_NOREPLACE)"
	pyrun "renameat2('$m/r3', '$m/r4', RENAME_NOREPLACE)"
	[ "$(cat "$m/r4")" = three ] && [ ! -e "$m/r3" ] || fail "RENAME_NOREPLACE to a new name"
	mkdir "$m/xd"
	echo inside >"$m/xd/file"
	pyrun "renameat2('$m/r4', '$m/xd', RENAME_EXCHANGE)"
	[ "$(cat "$m/xd")" = three ] && [ "$(cat "$m/r4/file")" = inside ] ||
		fail "RENAME_EXCHANGE of a file and a directory"
	pyrun "renameat2('$m/r4', '$m/a/xd2', 0)"
	pyrun "renameat2('$m/r2', '$m/a/xd2/file', RENAME_EXCHANGE)"
	[ "$(cat "$m/r2")" = inside ] && [ "$(cat "$m/a/xd2/file")" = one ] ||
		fail "RENAME_EXCHANGE across directories"
	expect_errno ENOENT "renameat2('$m/nothing', '$m/r2', RENAME_EXCHANGE)"
	[ "$(stat -c %h "$m/a")" -eq 3 ] || fail "parent link count after moving a dir in"

	step "hard links and symlinks"
	echo linked >"$m/l1"
	ln "$m/l1" "$m/l2"
	[ "$(stat -c %h "$m/l1")" -eq 2 ] || fail "nlink after link"
	[ "$(stat -c %i "$m/l1")" = "$(stat -c %i "$m/l2")" ] || fail "link inode numbers"
	rm "$m/l1"
	[ "$(cat "$m/l2")" = linked ] && [ "$(stat -c %h "$m/l2")" -eq 1 ] ||
		fail "file after unlinking its other name"
	ln -s l2 "$m/sl"
	[ "$(readlink "$m/sl")" = l2 ] && [ "$(cat "$m/sl")" = linked ] || fail "symlink"
	want=$(head -c 4000 /dev/zero | tr '\0' x)
	ln -s "$want" "$m/longlink"
	[ "$(readlink "$m/longlink")" = "$want" ] || fail "4000-byte symlink target"
	ln -s /nonexistent/target "$m/dangling"
	[ "$(stat -c %F "$m/dangling")" = "symbolic link" ] || fail "dangling symlink type"

	step "chmod, chown, touch -d with nanoseconds, utimensat"
	echo t >"$m/attrs"
	chmod 0640 "$m/attrs"
	[ "$(stat -c %a "$m/attrs")" = 640 ] || fail "chmod 640"
	chmod 4755 "$m/attrs"
	[ "$(stat -c %a "$m/attrs")" = 4755 ] || fail "chmod 4755"
	chown 1234:5678 "$m/attrs"
	[ "$(stat -c %u:%g "$m/attrs")" = 1234:5678 ] || fail "chown"
	[ "$(stat -c %a "$m/attrs")" = 755 ] || fail "chown kept the setuid bit"
	touch -m -d '2001-02-03 04:05:06.123456789' "$m/attrs"
	[ "$(stat -c %y "$m/attrs")" = "2001-02-03 04:05:06.123456789 +0000" ] ||
		fail "mtime with ns: $(stat -c %y "$m/attrs")"
	touch -a -d '1999-12-31 23:59:59.000000001' "$m/attrs"
	[ "$(stat -c %x "$m/attrs")" = "1999-12-31 23:59:59.000000001 +0000" ] ||
		fail "atime with ns: $(stat -c %x "$m/attrs")"
	[ "$(stat -c %y "$m/attrs")" = "2001-02-03 04:05:06.123456789 +0000" ] ||
		fail "touch -a changed mtime"
	before=$(stat -c %Z "$m/attrs")
	touch "$m/attrs"
	[ "$(stat -c %Y "$m/attrs")" -ge "$before" ] || fail "touch to now"
	touch -d '2001-02-03 04:05:06.123456789' "$m/stamp"
	mkfifo "$m/fifo"
	[ "$(stat -c %F "$m/fifo")" = fifo ] || fail "mkfifo"

	step "truncate up and down, fallocate, punch hole"
	printf 'abcdefghij' >"$m/tr"
	truncate -s 100000 "$m/tr"
	[ "$(stat -c %s "$m/tr")" -eq 100000 ] || fail "truncate up: size"
	pyrun "
d = open(sys.argv[1], 'rb').read()
assert d[:10] == b'abcdefghij' and d[10:] == bytes(99990), 'zeros after truncate up'
" "$m/tr" || fail "truncate up: contents"
	truncate -s 4 "$m/tr"
	truncate -s 8192 "$m/tr"
	pyrun "
d = open(sys.argv[1], 'rb').read()
assert d == b'abcd' + bytes(8188), 'stale bytes after truncate down and up'
" "$m/tr" || fail "truncate down then up"
	truncate -s 0 "$m/tr"
	[ "$(stat -c %s "$m/tr")" -eq 0 ] || fail "truncate to 0"
	printf 'old contents\n' >"$m/tr"
	printf 'new\n' >"$m/tr"
	[ "$(cat "$m/tr")" = new ] || fail "O_TRUNC on open"
	fallocate -l 1M "$m/falloc"
	[ "$(stat -c %s "$m/falloc")" -eq 1048576 ] || fail "fallocate size"
	[ "$(stat -c %b "$m/falloc")" -ge 2048 ] || fail "fallocate allocated $(stat -c %b "$m/falloc") blocks"
	cmp -n 1048576 "$m/falloc" /dev/zero || fail "fallocated range reads as zeros"
	head -c 65536 /dev/urandom >"$T_DIR/punch"
	cp "$T_DIR/punch" "$m/punch"
	fallocate -p -o 16384 -l 16384 "$m/punch"
	dd if=/dev/zero of="$T_DIR/punch" bs=16384 seek=1 count=1 conv=notrunc status=none
	cmp "$T_DIR/punch" "$m/punch" || fail "punched hole reads as zeros"

	step "copy_file_range and xattrs"
	pyrun "
fi = os.open(sys.argv[1], os.O_RDONLY)
fo = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
n, left = 0, os.fstat(fi).st_size
while left:
    c = os.copy_file_range(fi, fo, left)
    assert c > 0
    left -= c
" "$m/rand" "$m/rand.copy"
	cmp "$m/rand" "$m/rand.copy" || fail "copy_file_range"
	pyrun "
p = sys.argv[1]
os.setxattr(p, 'user.k', b'v1')
assert os.getxattr(p, 'user.k') == b'v1'
os.setxattr(p, 'user.k', b'value two', os.XATTR_REPLACE)
assert os.getxattr(p, 'user.k') == b'value two'
os.setxattr(p, 'user.other', b'')
assert sorted(os.listxattr(p)) == ['user.k', 'user.other'], os.listxattr(p)
os.removexattr(p, 'user.k')
assert os.listxattr(p) == ['user.other']
" "$m/attrs" || fail "xattrs"
	expect_errno ENODATA "os.getxattr('$m/attrs', 'user.k')"
	expect_errno EEXIST "os.setxattr('$m/attrs', 'user.other', b'x', os.XATTR_CREATE)"
	expect_errno ENODATA "os.setxattr('$m/attrs', 'user.none', b'x', os.XATTR_REPLACE)"
	expect_errno ENOTTY "import fcntl; fcntl.ioctl(os.open('$m/attrs', os.O_RDONLY), 0x80047f7f, bytearray(4))"

	step "errors: ENOENT EEXIST ENOTDIR EISDIR ENOTEMPTY ENAMETOOLONG EINVAL"
	expect_errno ENOENT "os.stat('$m/none')"
	expect_errno ENOENT "os.unlink('$m/none')"
	expect_errno ENOENT "os.open('$m/none/x', os.O_CREAT | os.O_WRONLY)"
	expect_errno EEXIST "os.mkdir('$m/a')"
	expect_errno EEXIST "os.open('$m/f', os.O_CREAT | os.O_EXCL | os.O_WRONLY)"
	expect_errno EEXIST "os.link('$m/f', '$m/l2')"
	expect_errno EEXIST "os.symlink('x', '$m/f')"
	expect_errno ENOTDIR "os.listdir('$m/f')"
	expect_errno ENOTDIR "os.stat('$m/f/x')"
	expect_errno ENOTDIR "os.rmdir('$m/f')"
	expect_errno ENOTDIR "os.rename('$m/a', '$m/f')"
	expect_errno EISDIR "os.open('$m/a', os.O_WRONLY)"
	expect_errno EISDIR "os.unlink('$m/a')"
	expect_errno EISDIR "os.rename('$m/f', '$m/a')"
	mkdir "$m/full" "$m/empty"
	: >"$m/full/x"
	expect_errno ENOTEMPTY "os.rmdir('$m/full')"
	expect_errno ENOTEMPTY "os.rename('$m/empty', '$m/full')"
	want=$(printf 'n%.0s' {1..255})
	: >"$m/$want"
	[ -e "$m/$want" ] || fail "a 255-byte name"
	rm "$m/$want"
	expect_errno ENAMETOOLONG "os.open('$m/${want}x', os.O_CREAT | os.O_WRONLY)"
	expect_errno ENAMETOOLONG "os.mkdir('$m/${want}x')"
	expect_errno ENAMETOOLONG "os.stat('$m/${want}x')"
	expect_errno ENAMETOOLONG "os.rename('$m/f', '$m/${want}x')"
	expect_errno ENAMETOOLONG "os.symlink('f', '$m/${want}x')"
	expect_errno ENAMETOOLONG "os.link('$m/f', '$m/${want}x')"
	expect_errno EINVAL "os.rename('$m/a', '$m/a/xd2/into')"
	expect_errno EINVAL "os.rename('$m/a', '$m/a/sub')"
	rm -r "$m/full" "$m/empty"

	step "statfs (df)"
	read -r size avail < <(df -B1 --output=size,avail "$m" | tail -n1)
	[ "$size" -gt 0 ] && [ "$avail" -gt 0 ] && [ "$avail" -le "$size" ] ||
		fail "df size $size avail $avail"
	head -c 33554432 /dev/zero >"$m/big"
	read -r _ avail2 < <(df -B1 --output=size,avail "$m" | tail -n1)
	[ $((avail - avail2)) -ge 33554432 ] ||
		fail "df avail went from $avail to $avail2 after writing 32 MiB"
	[ "$(stat -f -c %l "$m")" -eq 255 ] || fail "statfs namemax"
	rm "$m/big"
	sync -f "$m/f"
}

# POSIX ACLs: kernel enforcement, mode kept in step, default ACLs.  $1 is
# a mountpoint mounted with -o allow_other.
acl_checks() {
	local m=$1
	as_user() { setpriv --reuid="$1" --regid="$1" --clear-groups -- "${@:2}"; }

	step "POSIX ACLs: enforcement, chmod, default ACL inheritance"
	printf 'secret\n' >"$m/aclfile"
	chmod 0600 "$m/aclfile"
	! as_user 1000 cat "$m/aclfile" 2>/dev/null || fail "mode 0600 let uid 1000 read"
	pyrun "os.setxattr(sys.argv[1], 'system.posix_acl_access', acl((ACL_UO, 6, ACL_X), (ACL_U, 4, 1000), (ACL_GO, 0, ACL_X), (ACL_M, 4, ACL_X), (ACL_O, 0, ACL_X)))" "$m/aclfile"
	[ "$(stat -c %a "$m/aclfile")" = 640 ] || fail "mode after setting an ACL: $(stat -c %a "$m/aclfile")"
	[ "$(as_user 1000 cat "$m/aclfile")" = secret ] || fail "the ACL did not let uid 1000 read"
	! as_user 1001 cat "$m/aclfile" 2>/dev/null || fail "uid 1001 read without an ACL entry"
	chmod 0600 "$m/aclfile"
	! as_user 1000 cat "$m/aclfile" 2>/dev/null || fail "chmod 0600 did not revoke the ACL grant"
	pyrun "
v = os.getxattr(sys.argv[1], 'system.posix_acl_access')
assert v == acl((ACL_UO, 6, ACL_X), (ACL_U, 4, 1000), (ACL_GO, 0, ACL_X), (ACL_M, 0, ACL_X), (ACL_O, 0, ACL_X)), v.hex()
os.setxattr(sys.argv[1], 'system.posix_acl_access', acl((ACL_UO, 7, ACL_X), (ACL_GO, 5, ACL_X), (ACL_O, 1, ACL_X)))
assert 'system.posix_acl_access' not in os.listxattr(sys.argv[1]), 'a minimal ACL was stored'
assert os.stat(sys.argv[1]).st_mode & 0o7777 == 0o751, oct(os.stat(sys.argv[1]).st_mode)
" "$m/aclfile" || fail "ACL and mode"

	mkdir -m 0755 "$m/acld"
	pyrun "os.setxattr(sys.argv[1], 'system.posix_acl_default', acl((ACL_UO, 7, ACL_X), (ACL_U, 7, 1000), (ACL_GO, 5, ACL_X), (ACL_M, 7, ACL_X), (ACL_O, 0, ACL_X)))" "$m/acld"
	(umask 077 && : >"$m/acld/new" && mkdir "$m/acld/sub")
	[ "$(stat -c %a "$m/acld/new")" = 660 ] || fail "inherited file mode $(stat -c %a "$m/acld/new")"
	[ "$(stat -c %a "$m/acld/sub")" = 770 ] || fail "inherited dir mode $(stat -c %a "$m/acld/sub")"
	as_user 1000 sh -c "echo by-1000 >>'$m/acld/new'" || fail "inherited ACL did not let uid 1000 write"
	pyrun "
d = acl((ACL_UO, 7, ACL_X), (ACL_U, 7, 1000), (ACL_GO, 5, ACL_X), (ACL_M, 7, ACL_X), (ACL_O, 0, ACL_X))
assert os.getxattr(sys.argv[2], 'system.posix_acl_default') == d, 'subdirectory default ACL'
assert os.getxattr(sys.argv[1], 'system.posix_acl_access') == acl((ACL_UO, 6, ACL_X), (ACL_U, 7, 1000), (ACL_GO, 5, ACL_X), (ACL_M, 6, ACL_X), (ACL_O, 0, ACL_X)), 'file access ACL'
try:
    os.getxattr(sys.argv[1], 'system.posix_acl_default')
    sys.exit('a file got a default ACL')
except OSError as e:
    assert e.errno == errno.ENODATA, e
" "$m/acld/new" "$m/acld/sub" || fail "inherited ACLs"
	(umask 027 && : >"$m/plain" && mkdir "$m/plaind")
	[ "$(stat -c %a "$m/plain"):$(stat -c %a "$m/plaind")" = 640:750 ] ||
		fail "umask without a default ACL: $(stat -c %a "$m/plain"):$(stat -c %a "$m/plaind")"
	rm -r "$m/acld" "$m/plain" "$m/plaind" "$m/aclfile"
}

# Record checksums of everything under $1.
tree_sums() {
	(cd "$1" && find . -type f ! -name fifo -print0 | sort -z |
		xargs -0 sha256sum)
}

step "daemon command line"
out=$("$DIOFS_BIN" -V) || fail "diofs -V"
[[ $out == diofs* ]] || fail "diofs -V printed: $out"
"$DIOFS_BIN" -h | grep -q '^usage: diofs DEVICE MOUNTPOINT' || fail "diofs -h"
if out=$("$DIOFS_BIN" 2>&1); then fail "diofs without arguments succeeded"; fi
[[ $out == *"missing DEVICE"* ]] || fail "usage error: $out"
if out=$("$DIOFS_BIN" "$T_DIR/nothing" "$T_DIR" 2>&1); then
	fail "mount of a missing device succeeded"
fi
[[ $out == "diofs: $T_DIR/nothing: "* ]] || fail "missing device message: $out"
if out=$("$DIOFS_BIN" "$T_DIR/nothing" "$T_DIR/nodir" 2>&1); then
	fail "mount on a missing mountpoint succeeded"
fi
[[ $out == *"$T_DIR/nodir"* ]] || fail "missing mountpoint message: $out"
if out=$("$DIOFS_BIN" -o no_such_option "$T_DIR/nothing" "$T_DIR" 2>&1); then
	fail "an unknown option was accepted"
fi
[[ $out == *no_such_option* ]] || fail "unknown option message: $out"

step "loop device: mkfs, mount, checks"
new_image "$T_DIR/loop.img" 512M
attach_loop "$T_DIR/loop.img"
loop=$LOOP_DEV
make_fs "$loop"
mkdir "$T_DIR/mnt" "$T_DIR/mnt2"
# other users must reach the mountpoint for the ACL checks
chmod 0711 "$T_DIR"
mount_fs "$loop" "$T_DIR/mnt" -o allow_other
grep -q "^$loop $T_DIR/mnt fuseblk.diofs " /proc/mounts ||
	fail "/proc/mounts line: $(grep " $T_DIR/mnt " /proc/mounts)"
fs_checks "$T_DIR/mnt"
acl_checks "$T_DIR/mnt"

step "a second mount of the same device fails"
if out=$(timeout 20 "$DIOFS_BIN" -f "$loop" "$T_DIR/mnt2" 2>&1); then
	fail "second mount of $loop succeeded"
fi
[[ $out == "diofs: $loop: "* ]] || fail "second mount message: $out"
! is_mounted "$T_DIR/mnt2" || fail "second mount left $T_DIR/mnt2 mounted"

step "unmount and remount keep the data"
tree_sums "$T_DIR/mnt" >"$T_DIR/sums"
unmount_fs "$T_DIR/mnt"
mount_fs "$loop" "$T_DIR/mnt"
(cd "$T_DIR/mnt" && sha256sum --quiet -c "$T_DIR/sums") || fail "data changed across remount"
[ "$(stat -c %y "$T_DIR/mnt/stamp")" = "2001-02-03 04:05:06.123456789 +0000" ] ||
	fail "mtime across remount: $(stat -c %y "$T_DIR/mnt/stamp")"
[ "$(readlink "$T_DIR/mnt/sl")" = l2 ] || fail "symlink across remount"

step "SIGTERM unmounts and the data stays"
pid=${T_MNT_PID[$T_DIR/mnt]}
echo "written before SIGTERM" >"$T_DIR/mnt/sigterm"
kill -TERM "$pid"
for ((i = 0; i < 300; i++)); do proc_alive "$pid" || break; sleep 0.1; done
proc_alive "$pid" && fail "the daemon ignored SIGTERM"
status=0
wait "$pid" || status=$?
[ "$status" -eq 0 ] || fail "the daemon exited with $status on SIGTERM"
unset "T_MNT_PID[$T_DIR/mnt]"
! is_mounted "$T_DIR/mnt" || fail "still mounted after SIGTERM"
run_fsck "$loop"

step "mount.diofs DEV DIR -o opts (mount(8) helper form), umount(8)"
ln -s "$DIOFS_BIN" "$T_DIR/mount.diofs"
mount_daemon "$T_DIR/mount.diofs" "$loop" "$T_DIR/mnt" -o rw,defaults,nodev,nosuid,noatime
[ "$(cat "$T_DIR/mnt/sigterm")" = "written before SIGTERM" ] || fail "data after SIGTERM"
echo "daemon mode" >"$T_DIR/mnt/daemon"
unmount_fs "$T_DIR/mnt" umount

step "read-only mount"
mount_daemon "$DIOFS_BIN" "$loop" "$T_DIR/mnt" -o ro
[ "$(cat "$T_DIR/mnt/daemon")" = "daemon mode" ] || fail "read on a ro mount"
expect_errno EROFS "os.open('$T_DIR/mnt/new', os.O_CREAT | os.O_WRONLY)"
expect_errno EROFS "os.open('$T_DIR/mnt/f', os.O_WRONLY)"
expect_errno EROFS "os.mkdir('$T_DIR/mnt/newdir')"
grep -q " $T_DIR/mnt fuseblk.diofs ro," /proc/mounts || fail "ro flag in /proc/mounts"
unmount_fs "$T_DIR/mnt"

step "image file, -o direct_io: mkfs, mount, checks"
new_image "$T_DIR/file.img" 512M
make_fs "$T_DIR/file.img"
mount_fs "$T_DIR/file.img" "$T_DIR/mnt2" -o direct_io,noacl
fs_checks "$T_DIR/mnt2" direct_io
expect_errno EOPNOTSUPP "os.setxattr('$T_DIR/mnt2/f', 'system.posix_acl_access', acl((ACL_UO, 6, ACL_X), (ACL_U, 4, 1000), (ACL_GO, 0, ACL_X), (ACL_M, 4, ACL_X), (ACL_O, 0, ACL_X)))"
tree_sums "$T_DIR/mnt2" >"$T_DIR/sums2"
unmount_fs "$T_DIR/mnt2"

step "image file: remount without direct_io keeps the data"
mount_fs "$T_DIR/file.img" "$T_DIR/mnt2"
(cd "$T_DIR/mnt2" && sha256sum --quiet -c "$T_DIR/sums2") ||
	fail "data changed across remount"
cmp "$T_DIR/rand" "$T_DIR/mnt2/rand" || fail "file written under direct_io"
unmount_fs "$T_DIR/mnt2"

step "all checks passed"
