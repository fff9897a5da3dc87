#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# fsx.sh: the randomized file exerciser (tests/integration/fsx) on a mounted
# diofs, unmounting and mounting again every 1000 operations: buffered,
# mapped and O_DIRECT (aligned and unaligned) I/O, truncate, fallocate
# modes, copy_file_range and fsync on one file, checked against a model.
# Four runs with fixed seeds, each on a filesystem of its own, since most
# direct-I/O bugs live at one alignment: a loop device with 4 KiB blocks
# and files up to 256 KiB; an image file with 1 KiB blocks and files up to
# 2 MiB; an image file with 16 KiB blocks and -o writeback_cache, where
# buffered writes reach the daemon as the kernel writes its dirty pages
# back; an image file with 64 KiB blocks mounted with -o direct_io,
# where every read and write goes to the daemon as the application made it
# (and the kernel refuses shared mappings, so fsx runs with -M).
# fsck.diofs -n checks the filesystem after every unmount.  fsx's collapse
# and insert range (-C, -I) stay off: the kernel's FUSE client refuses both
# modes before diofs sees them (ranges.sh asserts that, and checks fsx's
# model of them on ext4).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

FSX_BIN=$abs_top_builddir/tests/integration/fsx

lib_init
[ -x "$FSX_BIN" ] || fail "$FSX_BIN is not built (make check builds it)"

# run_fsx DEVICE MOUNT_OPTIONS [fsx options...]: mount DEVICE on $T_DIR/mnt
# (MOUNT_OPTIONS is diofs's -o argument, or empty), run fsx on a file in
# it, unmount.
#
# fsx runs in the background.  Its remount command only asks: it creates
# remount.req and waits for remount.ack.  This shell, which owns the mount
# in lib.sh's bookkeeping, does the remount with unmount_fs (which also runs
# fsck.diofs -n) and mount_fs, then answers.  The command gives up when
# this shell is gone, so a failed remount never leaves fsx waiting.
run_fsx() {
	local dev=$1 mnt=$T_DIR/mnt pid status=0
	local req=$T_DIR/remount.req ack=$T_DIR/remount.ack
	local -a opts=()
	[ -n "$2" ] && opts=(-o "$2")
	shift 2

	mkdir -p "$mnt"
	mount_fs "$dev" "$mnt" "${opts[@]}"
	rm -f "$req" "$ack"
	"$FSX_BIN" "$@" "$mnt/fsx" "touch '$req' && \
while [ ! -e '$ack' ]; do kill -0 $$ 2>/dev/null || exit 1; sleep 0.05; done && \
rm -f '$ack'" &
	pid=$!
	while proc_alive "$pid"; do
		if [ -e "$req" ]; then
			rm -f "$req"
			unmount_fs "$mnt"
			mount_fs "$dev" "$mnt" "${opts[@]}"
			touch "$ack"
		fi
		sleep 0.05
	done
	wait "$pid" || status=$?
	[ "$status" -eq 0 ] || fail "fsx $* exited with status $status"
	unmount_fs "$mnt"
}

step "loop device, 4 KiB blocks: fsx seed 1, files up to 256 KiB"
new_image "$T_DIR/loop.img" 256M
attach_loop "$T_DIR/loop.img"
make_fs "$LOOP_DEV"
run_fsx "$LOOP_DEV" "" -S 1 -n 5000 -l 262144 -o 65536 -R 1000

step "image file, 1 KiB blocks: fsx seed 2, files up to 2 MiB"
new_image "$T_DIR/b1k.img" 256M
make_fs "$T_DIR/b1k.img" -b 1024
run_fsx "$T_DIR/b1k.img" "" -S 2 -n 5000 -l 2097152 -o 262144 -R 1000

step "image file, 16 KiB blocks, -o writeback_cache: fsx seed 4, files up to 512 KiB"
new_image "$T_DIR/b16k.img" 256M
make_fs "$T_DIR/b16k.img" -b 16384
run_fsx "$T_DIR/b16k.img" writeback_cache -S 4 -n 5000 -l 524288 \
	-o 65536 -R 1000

step "image file, 64 KiB blocks, -o direct_io: fsx -M seed 3, files up to 1 MiB"
new_image "$T_DIR/b64k.img" 256M
make_fs "$T_DIR/b64k.img" -b 65536
run_fsx "$T_DIR/b64k.img" direct_io -S 3 -n 5000 -l 1048576 -o 131072 \
	-R 1000 -M

step "all fsx runs passed"
