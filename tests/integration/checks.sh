#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# checks.sh: what the daemon says and does at mount time about the device
# and the filesystem on it: a write-protected device or image mounts
# read-only (and the kernel's mount says ro), an unknown read-only
# feature does the same, the error flag mounts with a warning naming
# fsck.diofs, and a device that holds no diofs says what it holds.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "$TEST_NAME: needs root (losetup, bind mounts)"; exit 77; }

RO_DIR=
checks_cleanup() {
	local rc=$?
	# a lazy unmount lets go of the read-only view of the test directory
	# even while a daemon still holds the image through it
	[ -n "$RO_DIR" ] && umount -l "$RO_DIR" 2>/dev/null
	(exit "$rc")
	lib_cleanup
}

lib_init
trap checks_cleanup EXIT
m=$T_DIR/mnt
mkdir "$m"

# The mount options of mountpoint $1 in /proc/mounts.
mount_opts() {
	local dev mnt type opts rest
	while read -r dev mnt type opts rest; do
		[ "$mnt" = "$1" ] && { printf '%s\n' "$opts"; return 0; }
	done </proc/mounts
	return 1
}

expect_ro() {
	case ,$(mount_opts "$1"), in
	*,ro,*) ;;
	*) fail "$2: /proc/mounts says $(mount_opts "$1"), not ro" ;;
	esac
	! touch "$1/new" 2>/dev/null || fail "$2: a file was made"
}

expect_rw() {
	case ,$(mount_opts "$1"), in
	*,rw,*) ;;
	*) fail "$2: /proc/mounts says $(mount_opts "$1"), not rw" ;;
	esac
	touch "$1/new" || fail "$2: no file can be made"
	rm "$1/new"
}

# The daemon's log of mountpoint $1 must hold line $2 exactly.
expect_log() {
	grep -qxF -- "$2" "${T_MNT_LOG[$1]}" ||
		fail "the log does not say '$2': $(cat "${T_MNT_LOG[$1]}")"
}

# set_super IMAGE OFFSET VALUE: OR VALUE into the le32 at OFFSET of the
# primary superblock, and stamp its checksum again (standard crc32c of the
# whole block with the crc field as zero).
set_super() {
	python3 - "$@" <<'EOF'
import struct, sys
path, off, val = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 0)
def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF
with open(path, 'r+b') as f:
    head = f.read(40)
    bs = struct.unpack_from('<I', head, 36)[0]
    f.seek(0)
    blk = bytearray(f.read(bs))
    v = struct.unpack_from('<I', blk, off)[0] | val
    struct.pack_into('<I', blk, off, v)
    struct.pack_into('<I', blk, 4, 0)
    struct.pack_into('<I', blk, 4, crc32c(bytes(blk)))
    f.seek(0)
    f.write(blk)
EOF
}

new_fs_image() {
	rm -f "$1"
	new_image "$1" 64M
	make_fs "$1"
}

step "a read-only loop device mounts read-only, and says so"
img=$T_DIR/img
new_fs_image "$img"
out=$(losetup --find --show --read-only --direct-io=on "$img" 2>&1) ||
	skip_or_fail "cannot attach a loop device: $out"
T_LOOPS+=("$out $img")
dev=$out
mount_fs "$dev" "$m"
expect_log "$m" "diofs: $dev: write-protected, mounting read-only"
expect_ro "$m" "read-only loop device"
ls "$m" >/dev/null || fail "read-only loop device: no listing"
unmount_fs "$m"
losetup -d "$dev"
T_LOOPS=()

step "an image on a read-only mount mounts read-only, and says so"
mkdir "$T_DIR/images" "$T_DIR/ro"
new_fs_image "$T_DIR/images/img"
mount --bind "$T_DIR/images" "$T_DIR/ro"
RO_DIR=$T_DIR/ro
mount -o remount,bind,ro "$T_DIR/ro"
mount_fs "$T_DIR/ro/img" "$m"
expect_log "$m" "diofs: $T_DIR/ro/img: write-protected, mounting read-only"
expect_ro "$m" "image on a read-only mount"
unmount_fs "$m"
umount "$T_DIR/ro"
RO_DIR=

step "-o ro on a writable device says nothing of write protection"
new_fs_image "$img"
mount_fs "$img" "$m" -o ro
! grep -q write-protected "${T_MNT_LOG[$m]}" || fail "-o ro: $(cat "${T_MNT_LOG[$m]}")"
expect_ro "$m" "-o ro"
unmount_fs "$m"

step "an unknown read-only-compatible feature mounts read-only, ro in /proc/mounts"
new_fs_image "$img"
set_super "$img" 44 0x80000000
mount_fs "$img" "$m"
expect_log "$m" "diofs: $img: unsupported read-only-compatible features 0x80000000, mounting read-only"
expect_ro "$m" "unknown read-only-compatible feature"
FSCK_BIN=/nonexistent unmount_fs "$m"

step "the error flag mounts read-write, with a warning naming fsck.diofs"
new_fs_image "$img"
set_super "$img" 212 0x2
mount_fs "$img" "$m"
expect_log "$m" "diofs: $img: the filesystem has errors: run fsck.diofs"
expect_rw "$m" "error flag"
FSCK_BIN=/nonexistent unmount_fs "$m"

step "not a diofs filesystem: one line, with what libblkid sees"
rm -f "$img"
new_image "$img" 64M
if out=$("$DIOFS_BIN" -f "$img" "$m" 2>&1); then
	fail "an image of zeros mounted"
fi
[ "$out" = "diofs: $img: not a diofs filesystem (no superblock at the start or the end of the device): use mkfs.diofs to make one" ] ||
	fail "zeros: $out"
if command -v mkfs.ext4 >/dev/null; then
	mkfs.ext4 -q -F "$img" >/dev/null 2>&1 || fail "mkfs.ext4 failed"
	if out=$("$DIOFS_BIN" -f "$img" "$m" 2>&1); then
		fail "an ext4 image mounted"
	fi
	[ "$out" = "diofs: $img: not a diofs filesystem (it looks like ext4): use mkfs.diofs to make one" ] ||
		fail "ext4: $out"
else
	step "(mkfs.ext4 is not installed: the ext4 case is left out)"
fi
! is_mounted "$m" || fail "a failed mount left $m mounted"

step "done"
