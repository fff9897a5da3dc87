#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# xattr.sh: extended attribute values up to 64 KiB (the VFS's
# XATTR_SIZE_MAX) on a mounted diofs, at each block size mkfs.diofs makes
# from 1 KiB to 64 KiB: setfattr/getfattr round trips, several 64 KiB
# values on one file, 65537 bytes refused with E2BIG, replacing and
# removing, names up to a 64 KiB listing (ENOSPC beyond), cp --preserve=xattr and rsync -X, values kept across a
# remount, and ENOSPC on a full filesystem with the old value kept.
# unmount_fs runs fsck.diofs -n after every unmount.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_init
for tool in setfattr getfattr; do
	command -v "$tool" >/dev/null ||
		skip_or_fail "$tool is not installed (Debian package attr)"
done

# rand_file PATH BYTES
rand_file() {
	head -c "$2" /dev/urandom >"$1"
}

# set_value FILE NAME VALUE-FILE: setfattr with the value base64-encoded.
set_value() {
	setfattr -n "$2" -v "0s$(base64 -w0 "$3")" "$1" ||
		fail "setfattr $2 of $(stat -c %s "$3") bytes on $1"
}

# expect_value FILE NAME VALUE-FILE
expect_value() {
	getfattr --absolute-names --only-values -n "$2" "$1" >"$T_DIR/back" ||
		fail "getfattr $2 on $1"
	cmp -s "$T_DIR/back" "$3" ||
		fail "$1: $2 differs from what was set ($(stat -c %s "$3") bytes)"
}

m=$T_DIR/mnt
mkdir -p "$m"
rand_file "$T_DIR/v64k" 65536
rand_file "$T_DIR/v64k-b" 65536
rand_file "$T_DIR/v5000" 5000
for bs in 1024 2048 4096 65536; do
	img=$T_DIR/img-$bs
	new_image "$img" 64M
	make_fs "$img" -b "$bs"
	mount_fs "$img" "$m"

	step "$bs-byte blocks: 64 KiB values round-trip through setfattr/getfattr"
	: >"$m/f"
	for size in 1 $((bs - 1)) "$bs" $((bs + 1)) 4000 65535 65536; do
		[ "$size" -le 65536 ] || continue
		head -c "$size" "$T_DIR/v64k" >"$T_DIR/v"
		set_value "$m/f" user.v "$T_DIR/v"
		expect_value "$m/f" user.v "$T_DIR/v"
	done
	expect_errno E2BIG "os.setxattr('$m/f', 'user.v', b'x' * 65537)"
	expect_value "$m/f" user.v "$T_DIR/v64k"

	step "$bs-byte blocks: four 64 KiB values on one file, replaced, removed"
	for i in 1 2 3 4; do
		set_value "$m/f" "user.big$i" "$T_DIR/v64k"
	done
	set_value "$m/f" security.big "$T_DIR/v64k-b"
	set_value "$m/f" user.big2 "$T_DIR/v64k-b"
	set_value "$m/f" user.big3 "$T_DIR/v5000"
	setfattr -x user.big4 "$m/f" || fail "setfattr -x user.big4"
	pyrun "
names = sorted(os.listxattr(sys.argv[1]))
assert names == ['security.big', 'user.big1', 'user.big2', 'user.big3', 'user.v'], names
" "$m/f" || fail "listxattr"

	step "$bs-byte blocks: cp --preserve=xattr and rsync -X copy them"
	cp --preserve=xattr "$m/f" "$m/copy" || fail "cp --preserve=xattr"
	expect_value "$m/copy" user.big1 "$T_DIR/v64k"
	expect_value "$m/copy" user.big2 "$T_DIR/v64k-b"
	if command -v rsync >/dev/null; then
		mkdir "$m/r"
		rsync -X "$m/f" "$m/r/" || fail "rsync -X"
		expect_value "$m/r/f" user.big1 "$T_DIR/v64k"
		expect_value "$m/r/f" user.big3 "$T_DIR/v5000"
	fi
	getfattr --absolute-names -d -m - "$m/f" >"$T_DIR/dump-before" || fail "getfattr -d"

	if [ "$bs" = 4096 ]; then
		step "names fill a 64 KiB listing, and no more"
		pyrun "
p = sys.argv[1]
open(p, 'w').close()
for i in range(256):
    os.setxattr(p, 'user.%03d' % i + 'n' * 247, b'v')
try:
    os.setxattr(p, 'user.x', b'v')
    sys.exit('a name past a 64 KiB listing was taken')
except OSError as e:
    assert e.errno == errno.ENOSPC, e
names = os.listxattr(p)
assert len(names) == 256, len(names)
" "$m/many" || fail "a 64 KiB listing"
		rm "$m/many"
	fi

	step "$bs-byte blocks: values kept across a remount"
	unmount_fs "$m"
	mount_fs "$img" "$m"
	getfattr --absolute-names -d -m - "$m/f" >"$T_DIR/dump-after" || fail "getfattr -d"
	cmp -s "$T_DIR/dump-before" "$T_DIR/dump-after" ||
		fail "the attributes changed across a remount"
	expect_value "$m/f" user.big1 "$T_DIR/v64k"
	expect_value "$m/f" security.big "$T_DIR/v64k-b"
	rm "$m/copy"
	unmount_fs "$m"
done

step "a full filesystem: ENOSPC, and the old value stays"
img=$T_DIR/img-full
new_image "$img" 16M
make_fs "$img" -b 4096
mount_fs "$img" "$m"
: >"$m/f"
set_value "$m/f" user.v "$T_DIR/v5000"
dd if=/dev/zero of="$m/fill" bs=64k status=none 2>/dev/null || true
expect_errno ENOSPC "os.setxattr('$m/f', 'user.v', b'y' * 65536)"
expect_value "$m/f" user.v "$T_DIR/v5000"
rm "$m/fill"
set_value "$m/f" user.v "$T_DIR/v64k"
expect_value "$m/f" user.v "$T_DIR/v64k"
unmount_fs "$m"
mount_fs "$img" "$m"
expect_value "$m/f" user.v "$T_DIR/v64k"
unmount_fs "$m"
step "ok"
