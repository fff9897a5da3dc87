#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# ranges.sh: fallocate's COLLAPSE_RANGE and INSERT_RANGE on a real mount.
#
# diofs implements both (test_fs's t_shift and t_shadow run them against
# the engine), but Linux's FUSE client accepts only KEEP_SIZE, PUNCH_HOLE
# and ZERO_RANGE in a fallocate mode and answers anything else with
# EOPNOTSUPP itself, so no daemon ever receives them.  This test asserts
# exactly that on a diofs mount (the daemon's -d log shows no FALLOCATE
# request for them, the file is untouched, and a punch still arrives), so
# that a kernel that starts passing them on is noticed: then fsx.sh should
# run fsx with -C -I.  Until then fsx's own model of the two modes, the one
# it would check diofs against, is checked against kernel ext4 on a loop
# device (fsx -N -C -I), with the same error cases t_shift asserts for
# diofs.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

FSX_BIN=$abs_top_builddir/tests/integration/fsx

lib_init
[ -x "$FSX_BIN" ] || fail "$FSX_BIN is not built (make check builds it)"
command -v mkfs.ext4 >/dev/null || skip_or_fail "mkfs.ext4 is not installed"

img=$T_DIR/diofs.img
m=$T_DIR/mnt
mkdir "$m"
new_image "$img" 64M
make_fs "$img"
mount_fs "$img" "$m" -d

# shift_errno FILE MODE OFF LEN: the errno name of fallocate(MODE), or ok.
shift_errno() {
	pyrun "
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64,
			   ctypes.c_int64]
fd = os.open(sys.argv[1], os.O_RDWR)
r = libc.fallocate(fd, int(sys.argv[2], 0), int(sys.argv[3]), int(sys.argv[4]))
e = ctypes.get_errno()
print('ok' if r == 0 else 'EOPNOTSUPP' if e == errno.EOPNOTSUPP else
      errno.errorcode[e])" "$@"
}

COLLAPSE=0x08
INSERT=0x20

step "diofs mount: the kernel refuses collapse and insert before the daemon"
head -c $((64 * 4096)) /dev/urandom >"$T_DIR/data"
cp "$T_DIR/data" "$m/f"
for mode in $COLLAPSE $INSERT; do
	got=$(shift_errno "$m/f" $mode 4096 8192)
	[ "$got" = EOPNOTSUPP ] ||
		fail "fallocate mode $mode on diofs: $got, not EOPNOTSUPP (does this kernel pass it on? then run fsx -C -I in fsx.sh)"
done
cmp -s "$T_DIR/data" "$m/f" || fail "a refused shift changed the file"
[ "$(shift_errno "$m/f" 0x03 0 4096)" = ok ] || fail "punch hole"
log=${T_MNT_LOG[$m]}
[ "$(grep -c 'opcode: FALLOCATE' "$log")" -eq 1 ] ||
	fail "the daemon saw $(grep -c 'opcode: FALLOCATE' "$log") FALLOCATE requests, not just the punch"
unmount_fs "$m"

step "ext4 on a loop device: the same refusals as t_shift asserts for diofs"
new_image "$T_DIR/ext4.img" 64M
attach_loop "$T_DIR/ext4.img"
mkfs.ext4 -q -b 4096 "$LOOP_DEV" || fail "mkfs.ext4"
e4=$T_DIR/ext4
mkdir "$e4"
mount "$LOOP_DEV" "$e4" || fail "mount ext4"
T_EXT4=$e4
ext4_cleanup() {
	local rc=$?
	umount "$T_EXT4" 2>/dev/null || true
	(exit "$rc")
	lib_cleanup
}
trap ext4_cleanup EXIT
head -c $((16 * 4096 - 100)) /dev/urandom >"$e4/f"
while read -r want mode off len what; do
	got=$(shift_errno "$e4/f" "$mode" "$off" "$len")
	[ "$got" = "$want" ] || fail "ext4, $what: $got, not $want"
done <<'CASES'
EINVAL 0x08 1 4096 collapse at an unaligned offset
EINVAL 0x20 0 4608 insert of an unaligned length
EINVAL 0x08 61440 4096 collapse reaching end of file
EINVAL 0x08 0 69632 collapse past end of file
EINVAL 0x20 65536 4096 insert at end of file
EINVAL 0x08 0 0 collapse of nothing
EOPNOTSUPP 0x09 0 4096 collapse with KEEP_SIZE
EOPNOTSUPP 0x22 0 4096 insert with PUNCH_HOLE
EOPNOTSUPP 0x28 0 4096 collapse with insert
ok 0x20 61440 4096 insert in the last block
ok 0x08 4096 8192 collapse inside the file
CASES

step "ext4: fsx -N -C -I checks fsx's model of collapse and insert"
"$FSX_BIN" -N -C -I -S 4 -n 10000 -l 262144 -o 65536 "$e4/fsx" ||
	fail "fsx -N -C -I on ext4"
"$FSX_BIN" -N -C -I -S 5 -n 5000 -l 1048576 -o 262144 "$e4/fsx" ||
	fail "fsx -N -C -I on ext4, larger files"
umount "$e4" || fail "umount ext4"
step "PASS"
