# SPDX-License-Identifier: GPL-2.0-or-later
# lib.sh: shared set-up and tear-down for the diofs integration tests.
#
# Sourced by every test that mounts.  It works only inside one fresh
# directory of its own (mktemp -d) and remembers every image, loop device,
# mount and daemon it makes; the EXIT trap unmounts, waits for each daemon,
# runs fsck.diofs -n (when it is built), detaches the loop devices it
# attached, by name and only while they still point at its own images, and
# removes the directory.  It never touches anything it did not create.
#
# A machine without a usable /dev/fuse or loop device skips the test (exit
# 77), except under CI=true, where that is a failure.
#
# Functions: lib_init, step, fail, need_diofs_stat, new_image,
# attach_loop, make_fs, scratch_fs, mount_fs, mount_daemon, unmount_fs,
# run_fsck, expect_errno, pyrun; for
# tests that kill the daemon on purpose and count failures over many
# rounds: try_mount, kill_fs, try_unmount.

set -euo pipefail
export LC_ALL=C TZ=UTC

: "${abs_top_builddir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
DIOFS_BIN=$abs_top_builddir/src/fuse/diofs
MKFS_BIN=$abs_top_builddir/src/mkfs/mkfs.diofs
FSCK_BIN=$abs_top_builddir/src/fsck/fsck.diofs
TEST_NAME=$(basename "$0" .sh)

T_DIR=
T_LOOPS=()			# "device image" pairs this test attached
declare -A T_MNT_PID=()		# mountpoint -> daemon pid
declare -A T_MNT_DEV=()		# mountpoint -> device or image
declare -A T_MNT_CHILD=()	# mountpoint -> 1 when the daemon is our child
declare -A T_MNT_LOG=()		# mountpoint -> daemon log (foreground mounts)

step() { printf '%s: %s\n' "$TEST_NAME" "$*"; }

fail() {
	printf '%s: FAIL: %s\n' "$TEST_NAME" "$*" >&2
	exit 1
}

# A missing prerequisite of the machine, not of diofs: skip, but never in CI.
skip_or_fail() {
	if [ "${CI:-}" = true ]; then
		printf '%s: FAIL: %s (CI=true: a skipped mount test is a failure)\n' \
			"$TEST_NAME" "$*" >&2
		exit 1
	fi
	printf '%s: SKIP: %s\n' "$TEST_NAME" "$*"
	exit 77
}


# private_mount_namespace "$@": run the rest of the test in a mount
# namespace of its own (the script runs again there), for tests that must
# bind-mount over system directories such as /sbin.  The namespace starts
# with a copy of every mount, other tests' FUSE mounts among them; a copy
# would keep such a filesystem alive after its own test unmounted it, and
# its daemon would never hear that it is done.  So the copies of FUSE
# mounts are let go of at once (only the copies: nothing outside changes).
private_mount_namespace() {
	local m
	if [ -z "${DIOFS_TEST_OUTER_MNTNS:-}" ]; then
		command -v unshare >/dev/null ||
			skip_or_fail "unshare is not installed"
		unshare --mount --propagation private true 2>/dev/null ||
			skip_or_fail "cannot make a private mount namespace (unshare --mount)"
		DIOFS_TEST_OUTER_MNTNS=$(readlink /proc/self/ns/mnt)
		export DIOFS_TEST_OUTER_MNTNS
		exec unshare --mount --propagation private bash "$0" "$@"
	fi
	[ "$(readlink /proc/self/ns/mnt)" != "$DIOFS_TEST_OUTER_MNTNS" ] ||
		fail "not in a mount namespace of its own"
	awk '$3 ~ /^fuse/ { print $2 }' /proc/self/mounts | sort -r |
		while read -r m; do
			umount -l "$(printf '%b' "$m")" 2>/dev/null || true
		done
}

lib_init() {
	local tool fd

	for tool in "$DIOFS_BIN" "$MKFS_BIN"; do
		[ -x "$tool" ] || fail "$tool is not built (run make first)"
	done
	for tool in python3 fusermount3; do
		command -v "$tool" >/dev/null || skip_or_fail "$tool is not installed"
	done
	[ -c /dev/fuse ] || skip_or_fail "/dev/fuse does not exist"
	if ! { exec {fd}<>/dev/fuse; } 2>/dev/null; then
		skip_or_fail "/dev/fuse cannot be opened"
	fi
	exec {fd}>&-
	T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/diofs-$TEST_NAME.XXXXXX")
	trap lib_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# new_image PATH SIZE: a sparse image file inside the test directory.
new_image() {
	truncate -s "$2" "$1"
}

# need_diofs_stat: sets STAT_BIN to the build tree's diofs-stat, or fails.
need_diofs_stat() {
	STAT_BIN=$abs_top_builddir/src/stat/diofs-stat
	[ -x "$STAT_BIN" ] || fail "$STAT_BIN is not built (run make first)"
}

# scratch_fs SIZE [--loop]: a diofs with 4 KiB blocks on an image of SIZE
# in the test directory, made through a loop device of the test's own
# with --loop, and an empty mountpoint.  Sets img, mnt and dev (the loop
# device, else the image: what to mount).
scratch_fs() {
	img=$T_DIR/img
	mnt=$T_DIR/mnt
	mkdir "$mnt"
	new_image "$img" "$1"
	dev=$img
	if [ "${2:-}" = --loop ]; then
		attach_loop "$img"
		dev=$LOOP_DEV
	fi
	make_fs "$dev" -b 4096
}

# attach_loop IMAGE: attach a loop device with direct I/O; sets LOOP_DEV.
attach_loop() {
	local out

	command -v losetup >/dev/null || skip_or_fail "losetup is not installed"
	if ! out=$(losetup --find --show --direct-io=on "$1" 2>&1); then
		skip_or_fail "cannot attach a loop device: $out"
	fi
	LOOP_DEV=$out
	T_LOOPS+=("$LOOP_DEV $1")
}

# make_fs DEVICE [mkfs.diofs options...]
make_fs() {
	local dev=$1 out
	shift
	if ! out=$("$MKFS_BIN" "$@" "$dev" 2>&1); then
		printf '%s\n' "$out" >&2
		fail "mkfs.diofs $* $dev failed"
	fi
}

# Run by root, diofs mounts fuseblk (on the device, or on a loop device of
# its own for an image file); otherwise fuse.
is_mounted() {
	local dev mnt type rest
	while read -r dev mnt type rest; do
		[ "$mnt" = "$1" ] || continue
		case ${type%%.*} in fuse | fuseblk) return 0 ;; esac
	done </proc/mounts
	return 1
}

# The state of process $1 ("Z" for a zombie), empty when it is gone.
proc_state() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	printf '%s' "${stat%% *}"
}

proc_alive() {
	local s
	s=$(proc_state "$1")
	[ -n "$s" ] && [ "$s" != Z ]
}

wait_mounted() {
	local mnt=$1 pid=$2 i

	for ((i = 0; i < 200; i++)); do
		is_mounted "$mnt" && return 0
		proc_alive "$pid" || break
		sleep 0.1
	done
	[ -n "${T_MNT_LOG[$mnt]:-}" ] && cat "${T_MNT_LOG[$mnt]}" >&2
	fail "$mnt did not become a FUSE mount"
}

# DIOFS_MOUNT_OPTS (for instance writeback_cache) is added as one more -o
# to every mount that mount_fs and try_mount make, to run a test in
# another mode.
extra_opts=()
[ -z "${DIOFS_MOUNT_OPTS:-}" ] || extra_opts=(-o "$DIOFS_MOUNT_OPTS")

# mount_fs DEVICE MOUNTPOINT [diofs options...]: a foreground daemon, our
# child, logging to a file in the test directory.
mount_fs() {
	local dev=$1 mnt=$2 log pid
	shift 2
	log=$T_DIR/diofs.$(basename "$mnt").log
	"$DIOFS_BIN" -f "$dev" "$mnt" "$@" "${extra_opts[@]}" >"$log" 2>&1 &
	pid=$!
	T_MNT_PID[$mnt]=$pid
	T_MNT_DEV[$mnt]=$dev
	T_MNT_CHILD[$mnt]=1
	T_MNT_LOG[$mnt]=$log
	wait_mounted "$mnt" "$pid"
}

# The daemon serving MOUNTPOINT $2 for DEVICE $1, found by its arguments.
find_daemon() {
	local p argv
	for p in /proc/[0-9]*; do
		argv=$(tr '\0' '\n' 2>/dev/null <"$p/cmdline") || continue
		case $(head -n1 <<<"$argv") in
		*diofs) ;;
		*) continue ;;
		esac
		grep -qxF -- "$1" <<<"$argv" && grep -qxF -- "$2" <<<"$argv" &&
			{ echo "${p#/proc/}"; return 0; }
	done
	return 1
}

# mount_daemon PROGRAM DEVICE MOUNTPOINT [options...]: run PROGRAM (diofs
# or a mount.diofs link to it) the way mount(8) does, without -f; it must
# return only once the filesystem is mounted.
mount_daemon() {
	local prog=$1 dev=$2 mnt=$3 pid
	shift 3
	"$prog" "$dev" "$mnt" "$@" || fail "$prog $dev $mnt $* failed"
	is_mounted "$mnt" || fail "$prog returned before $mnt was mounted"
	pid=$(find_daemon "$dev" "$mnt") || fail "no daemon serves $mnt"
	T_MNT_PID[$mnt]=$pid
	T_MNT_DEV[$mnt]=$dev
	T_MNT_CHILD[$mnt]=
	T_MNT_LOG[$mnt]=
}

# run_fsck DEVICE: fsck.diofs -n must find nothing wrong (when it exists).
run_fsck() {
	local out
	[ -x "$FSCK_BIN" ] || return 0
	if ! out=$("$FSCK_BIN" -n "$1" 2>&1); then
		printf '%s\n' "$out" >&2
		fail "fsck.diofs -n $1 reports errors"
	fi
}

# unmount_fs MOUNTPOINT [umount-command...]: unmount (fusermount3 -u by
# default), wait for the daemon to exit cleanly, then fsck the device.
unmount_fs() {
	local mnt=$1 pid dev status=0 i
	shift
	pid=${T_MNT_PID[$mnt]:?"$mnt is not mounted by this test"}
	dev=${T_MNT_DEV[$mnt]}
	if [ $# -gt 0 ]; then
		"$@" "$mnt" || fail "$* $mnt failed"
	else
		fusermount3 -u "$mnt" || fail "fusermount3 -u $mnt failed"
	fi
	for ((i = 0; i < 600; i++)); do
		proc_alive "$pid" || break
		sleep 0.1
	done
	proc_alive "$pid" && fail "the daemon for $mnt did not exit after unmount"
	if [ -n "${T_MNT_CHILD[$mnt]}" ]; then
		wait "$pid" || status=$?
	fi
	unset "T_MNT_PID[$mnt]"
	if [ "$status" -ne 0 ]; then
		[ -n "${T_MNT_LOG[$mnt]}" ] && cat "${T_MNT_LOG[$mnt]}" >&2
		fail "the daemon for $mnt exited with status $status"
	fi
	! is_mounted "$mnt" || fail "$mnt is still mounted"
	run_fsck "$dev"
}

# fio_verified DIR RW [fio options...]: fio's RW over a 16 MiB file per job
# in DIR, 4 KiB blocks, libaio at iodepth 32, two jobs, every block
# checksummed and checked; fio's output and a failure if it fails.
fio_verified() {
	local dir=$1 rw=$2
	shift 2
	timeout 120 fio --name=j --directory="$dir" --size=16M --bs=4k \
		--rw="$rw" --ioengine=libaio --iodepth=32 --numjobs=2 \
		--verify=crc32c --verify_state_save=0 --group_reporting "$@" \
		>"$T_DIR/fio.out" 2>&1 ||
		{ cat "$T_DIR/fio.out" >&2; fail "fio $rw $* failed"; }
}

# ---- crashes on purpose ------------------------------------------------------
# try_mount, kill_fs and try_unmount do not fail the test: they return 1
# with the reason in LIB_ERR, so that a test can go on and count.

LIB_ERR=

# try_mount DEVICE MOUNTPOINT [diofs options...]: mount_fs, but a daemon
# that does not mount within 20 s is ended and forgotten, and its log is
# in LIB_ERR.
try_mount() {
	local dev=$1 mnt=$2 log pid i
	shift 2
	log=$T_DIR/diofs.$(basename "$mnt").log
	"$DIOFS_BIN" -f "$dev" "$mnt" "$@" "${extra_opts[@]}" >"$log" 2>&1 &
	pid=$!
	T_MNT_PID[$mnt]=$pid
	T_MNT_DEV[$mnt]=$dev
	T_MNT_CHILD[$mnt]=1
	T_MNT_LOG[$mnt]=$log
	for ((i = 0; i < 200; i++)); do
		is_mounted "$mnt" && return 0
		proc_alive "$pid" || break
		sleep 0.1
	done
	kill_fs "$mnt" || true
	LIB_ERR="$mnt did not become a FUSE mount: $(tr '\n' ' ' <"$log")"
	return 1
}

# kill_fs MOUNTPOINT: SIGKILL the daemon serving MOUNTPOINT, as a crash
# would, and wait until it is gone, so that the device is free again; then
# take down the dead mount (fusermount3 -u, or umount -l while files on it
# are still open) and forget it.  Nothing is written back or checked.
kill_fs() {
	local mnt=$1 pid i
	pid=${T_MNT_PID[$mnt]:?"$mnt is not mounted by this test"}
	kill -KILL "$pid" 2>/dev/null || true
	if [ -n "${T_MNT_CHILD[$mnt]}" ]; then
		wait "$pid" 2>/dev/null || true
	fi
	for ((i = 0; i < 300; i++)); do
		proc_alive "$pid" || break
		sleep 0.1
	done
	if proc_alive "$pid"; then
		LIB_ERR="the daemon for $mnt outlived SIGKILL"
		return 1
	fi
	if is_mounted "$mnt"; then
		fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" || true
	fi
	unset "T_MNT_PID[$mnt]"
	if is_mounted "$mnt"; then
		LIB_ERR="the dead mount $mnt is still there"
		return 1
	fi
	return 0
}

# try_unmount MOUNTPOINT: unmount_fs without the fsck: fusermount3 -u,
# and the daemon must exit with status 0 within 60 s (else it is killed).
try_unmount() {
	local mnt=$1 pid out status=0 i
	pid=${T_MNT_PID[$mnt]:?"$mnt is not mounted by this test"}
	if ! out=$(fusermount3 -u "$mnt" 2>&1); then
		kill_fs "$mnt" || true
		LIB_ERR="fusermount3 -u $mnt failed: $out"
		return 1
	fi
	for ((i = 0; i < 600; i++)); do
		proc_alive "$pid" || break
		sleep 0.1
	done
	if proc_alive "$pid"; then
		kill_fs "$mnt" || true
		LIB_ERR="the daemon for $mnt did not exit after unmount"
		return 1
	fi
	if [ -n "${T_MNT_CHILD[$mnt]}" ]; then
		wait "$pid" || status=$?
	fi
	unset "T_MNT_PID[$mnt]"
	if [ "$status" -ne 0 ]; then
		LIB_ERR="the daemon for $mnt exited with status $status"
		[ -n "${T_MNT_LOG[$mnt]}" ] &&
			LIB_ERR+=": $(tr '\n' ' ' <"${T_MNT_LOG[$mnt]}")"
		return 1
	fi
	if is_mounted "$mnt"; then
		LIB_ERR="$mnt is still mounted"
		return 1
	fi
	return 0
}

# Tear down whatever is still up, whatever the test's outcome.
lib_cleanup() {
	local rc=$? mnt pid pair dev img back i fd busy=

	set +e
	trap - EXIT
	# The test's own working directory and open files would keep a
	# mount busy and its daemon alive.
	cd /
	for fd in /proc/$$/fd/*; do
		fd=${fd##*/}
		[ "$fd" -gt 2 ] || continue
		case $(readlink "/proc/$$/fd/$fd") in
		"$T_DIR"/*) eval "exec $fd>&-" ;;
		esac
	done
	for mnt in "${!T_MNT_PID[@]}"; do
		pid=${T_MNT_PID[$mnt]}
		if is_mounted "$mnt"; then
			fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"
		fi
		for ((i = 0; i < 300; i++)); do
			proc_alive "$pid" || break
			sleep 0.1
		done
		if proc_alive "$pid"; then
			printf '%s: daemon %s for %s still running\n' \
				"$TEST_NAME" "$pid" "$mnt" >&2
			busy=1
			rc=1
			continue
		fi
		[ -n "${T_MNT_CHILD[$mnt]}" ] && wait "$pid" 2>/dev/null
		if [ "$rc" -eq 0 ] && [ -x "$FSCK_BIN" ] &&
		   ! "$FSCK_BIN" -n "${T_MNT_DEV[$mnt]}" >&2; then
			printf '%s: FAIL: fsck.diofs -n %s reports errors\n' \
				"$TEST_NAME" "${T_MNT_DEV[$mnt]}" >&2
			rc=1
		fi
	done
	for pair in "${T_LOOPS[@]}"; do
		dev=${pair%% *}
		img=${pair#* }
		back=$(losetup -n -O BACK-FILE "$dev" 2>/dev/null)
		[ "$back" = "$(realpath "$img")" ] && losetup -d "$dev"
	done
	if [ -n "$T_DIR" ]; then
		if [ -z "$busy" ] && ! grep -qF " $T_DIR/" /proc/mounts; then
			rm -rf "$T_DIR"
		else
			printf '%s: left %s in place: still mounted\n' \
				"$TEST_NAME" "$T_DIR" >&2
		fi
	fi
	exit "$rc"
}

# pyrun CODE [args...]: run python3 with CODE and the helpers below; the
# test fails if it raises.
pyrun() {
	local code=$1
	shift
	python3 -c "
import ctypes, errno, os, stat, sys
libc = ctypes.CDLL(None, use_errno=True)
RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT = 1, 2, 4
def renameat2(a, b, flags):
    if libc.renameat2(-100, os.fsencode(a), -100, os.fsencode(b), flags):
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), a)
# POSIX ACLs in their extended-attribute encoding
ACL_UO, ACL_U, ACL_GO, ACL_G, ACL_M, ACL_O, ACL_X = 1, 2, 4, 8, 16, 32, 0xffffffff
def acl(*entries):
    import struct
    return struct.pack('<I', 2) + b''.join(struct.pack('<HHI', t, p, i) for t, p, i in entries)
$code
" "$@"
}

# expect_errno NAME CODE: CODE (python, with pyrun's helpers) must raise
# OSError with errno NAME.
expect_errno() {
	local name=$1 code=$2 out
	out=$(pyrun "
try:
    $code
except OSError as e:
    if e.errno != errno.$name:
        sys.exit('got %s, not $name' % errno.errorcode.get(e.errno, e.errno))
    sys.exit(0)
sys.exit('succeeded instead of failing with $name')
" 2>&1) || fail "$code: $out"
}
