#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# crash.sh: crash safety of real mounts, by SIGKILL of the daemon.
#
# Each round fills a 32 MiB image with the byte 0xA5, makes a filesystem
# on it, mounts it and starts crash.py's workload on the mount: files
# created, written at random offsets and sizes, appended to, truncated up
# and down, renamed over each other and across directories, hard-linked,
# unlinked while open, fsynced, fdatasynced and their directories fsynced,
# each step logged outside the mount.  A random 0.05 to 1 s after the
# workload has started on the mount the daemon gets SIGKILL; the dead mount is taken down and the filesystem
# mounted again.  Then every name that was durable (its file fsynced after
# its last change and its directory fsynced after it was made) must have
# exactly the size and contents it was fsynced with, a name renamed over
# another must hold the old or the new contents, a name durably removed
# must be gone, and no file may contain 0xA5 (blocks that were never
# written, exposed); finally a clean unmount and fsck.diofs -n must find
# nothing wrong.  Rounds 4, 14, 24... run on a loop device, rounds 7, 17,
# 27... with -o direct_io, rounds 2, 12, 22... with -o writeback_cache
# (what was not fsynced may still be in the kernel when the daemon dies),
# the rest on the image file.
#
# One line per round, then a summary; the test fails if any round did.
# CRASH_ROUNDS (50) and CRASH_SEED (from the clock; printed) repeat a run
# (its operations and kill delays, not the exact moments of the kills);
# CRASH_KEEP=DIR keeps each failed round's image as it was after the crash
# and as it was after the recovery, with the logs, in DIR/round-N.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

lib_init
[ -x "$FSCK_BIN" ] || fail "$FSCK_BIN is not built (run make first)"

ROUNDS=${CRASH_ROUNDS:-50}
SEED=${CRASH_SEED:-$(($(date +%s%N) / 1000 % 1000000))}
KEEP=${CRASH_KEEP:-}
SIZE_MB=32
RANDOM=$SEED

# The workload's open files would keep a mount alive past the test.
work_pid=
trap 'rc=$?; set +e; [ -n "$work_pid" ] && kill -KILL "$work_pid" 2>/dev/null;
	(exit $rc); lib_cleanup' EXIT

step "seed $SEED, $ROUNDS rounds (CRASH_SEED=$SEED repeats them)"
head -c "${SIZE_MB}M" /dev/zero | tr '\0' '\245' >"$T_DIR/garbage"
new_image "$T_DIR/loop.img" "${SIZE_MB}M"
attach_loop "$T_DIR/loop.img"
loop=$LOOP_DEV
img=$T_DIR/file.img
mnt=$T_DIR/mnt
mkdir "$mnt"
[ -z "$KEEP" ] || mkdir -p "$KEEP"

total_verified=0
total_absent=0
failed=0
passed=0

# fill DEVICE: nothing but 0xA5, the byte the workload never writes.
fill() {
	dd if="$T_DIR/garbage" of="$1" bs=1M oflag=direct conv=notrunc \
		status=none
}

# The image file behind DEVICE.
backing() {
	if [ "$1" = "$loop" ]; then echo "$T_DIR/loop.img"; else echo "$1"; fi
}

# round R: one crash and its checks; problems go to the array problems.
round() {
	local r=$1 dev=$img kind=image opts=() seed delay pid status i
	local out verified=0 absent=0 stats=

	problems=()
	if ((r % 10 == 4)); then
		dev=$loop
		kind=loop
	elif ((r % 10 == 7)); then
		opts=(-o direct_io)
		kind=direct_io
	elif ((r % 10 == 2)); then
		opts=(-o writeback_cache)
		kind=writeback_cache
	fi
	seed=$((SEED * 100 + r))
	delay=$(printf '0.%03d' $((50 + RANDOM % 951)))
	[ "$delay" != 0.1000 ] || delay=1.000
	desc="$kind, kill after ${delay}s"
	rm -f "$T_DIR"/{log,work.out,check.out,fsck.out,ready,killed}

	fill "$dev"
	make_fs "$dev" -q
	# what a workload left under a dead mount would hide from the checks
	[ -z "$(ls -A "$mnt")" ] || fail "$mnt is not empty: $(ls -A "$mnt")"
	if ! try_mount "$dev" "$mnt" "${opts[@]}"; then
		problems+=("mount of the new filesystem: $LIB_ERR")
		return
	fi
	pid=${T_MNT_PID[$mnt]}
	python3 "$here/crash.py" work "$mnt" "$T_DIR/log" "$seed" \
		"$T_DIR/ready" "$T_DIR/killed" >"$T_DIR/work.out" 2>&1 &
	work_pid=$!
	for ((i = 0; i < 200; i++)); do
		if [ -e "$T_DIR/ready" ] || ! proc_alive "$work_pid"; then
			break
		fi
		sleep 0.05
	done
	[ -e "$T_DIR/ready" ] || problems+=("the workload did not start")
	sleep "$delay"
	proc_alive "$pid" || problems+=("the daemon died before the kill")
	: >"$T_DIR/killed"
	kill_fs "$mnt" || problems+=("$LIB_ERR")
	for ((i = 0; i < 300; i++)); do
		proc_alive "$work_pid" || break
		sleep 0.1
	done
	if proc_alive "$work_pid"; then
		kill -KILL "$work_pid"
		problems+=("the workload hung after the kill")
	fi
	status=0
	wait "$work_pid" || status=$?
	work_pid=
	if [ "$status" -eq 0 ]; then
		stats=$(head -n1 "$T_DIR/work.out")
		desc+=" ($stats)"
	else
		problems+=("workload exit $status: $(tail -n 4 "$T_DIR/work.out" | tr '\n' ' ')")
	fi
	if [ -n "$KEEP" ]; then
		cp --sparse=always "$(backing "$dev")" "$T_DIR/crashed.img"
		cp "${T_MNT_LOG[$mnt]}" "$T_DIR/daemon.log"
	fi

	[ -z "$(ls -A "$mnt")" ] || fail "$mnt is not empty: $(ls -A "$mnt")"
	if try_mount "$dev" "$mnt" "${opts[@]}"; then
		status=0
		python3 "$here/crash.py" check "$mnt" "$T_DIR/log" \
			>"$T_DIR/check.out" 2>&1 || status=$?
		read -r _ verified _ absent <"$T_DIR/check.out" || true
		[[ $verified =~ ^[0-9]+$ ]] || verified=0
		[[ $absent =~ ^[0-9]+$ ]] || absent=0
		if [ "$status" -ne 0 ]; then
			while IFS= read -r out; do
				problems+=("$out")
			done < <(tail -n +2 "$T_DIR/check.out")
		fi
		try_unmount "$mnt" || problems+=("after the checks: $LIB_ERR")
	else
		problems+=("remount after the crash: $LIB_ERR")
	fi
	total_verified=$((total_verified + verified))
	total_absent=$((total_absent + absent))
	status=0
	"$FSCK_BIN" -n "$dev" >"$T_DIR/fsck.out" 2>&1 || status=$?
	if [ "$status" -ne 0 ]; then
		problems+=("fsck.diofs -n exit $status: $(grep -v '^  *$' "$T_DIR/fsck.out" | head -n 4 | tr '\n' ' ')")
	fi
	desc+=", $verified fsynced files and $absent removed names verified"
}

# keep R: the failed round's images and logs into $KEEP/round-R.
keep() {
	local d=$KEEP/round-$1 f
	mkdir -p "$d"
	cp --sparse=always "$(backing "$dev")" "$d/recovered.img"
	for f in crashed.img daemon.log log work.out check.out fsck.out; do
		[ ! -e "$T_DIR/$f" ] || cp --sparse=always "$T_DIR/$f" "$d/"
	done
	printf '%s\n' "${problems[@]}" >"$d/problems"
}

start=$SECONDS
for ((r = 1; r <= ROUNDS; r++)); do
	dev=$img
	((r % 10 == 4)) && dev=$loop
	desc=
	round "$r"
	if [ "${#problems[@]}" -eq 0 ]; then
		step "round $r/$ROUNDS: ok: $desc"
		passed=$((passed + 1))
	else
		step "round $r/$ROUNDS: FAIL: $desc"
		for ((i = 0; i < ${#problems[@]} && i < 8; i++)); do
			printf '    %s\n' "${problems[$i]}"
		done
		((${#problems[@]} <= 8)) ||
			printf '    ... and %d more\n' $((${#problems[@]} - 8))
		failed=$((failed + 1))
		[ -z "$KEEP" ] || keep "$r"
	fi
done

step "$ROUNDS rounds in $((SECONDS - start)) s (seed $SEED): $total_verified fsynced files and $total_absent removed names verified, $failed rounds failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
