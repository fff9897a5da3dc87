#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# logging.sh: what the daemon logs, and where.
#
# With -f: mount and unmount lines on standard error.  Detached, with no
# syslog daemon: the same lines on the standard error it was started with,
# as "diofs[PID]: ...", if that is a file; a pipe is let go of, so that
# $(diofs ...) returns.  Detached, with a syslog daemon: datagrams on
# /dev/log with facility daemon and "diofs[PID]:"; a filesystem with a
# corrupt inode-table block (stat fails with EUCLEAN) logs the block and
# the failed request, and a flood of them is rate-limited: what is left out
# is counted in a "messages suppressed" line.
#
# The syslog daemon is this test's own python3 listener.  It needs a
# /dev/log that nobody else sees, and this machine's /dev must not change:
# the test runs in a private mount namespace, and there mounts an overlay
# over /dev (lower: the real /dev, upper: a directory of the test), so
# the socket the listener binds at /dev/log lives in the test's
# directory.  Without mount namespaces or overlayfs the test is skipped (a
# failure under CI=true).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

private_mount_namespace "$@"
lib_init
T_DIR=$(realpath "$T_DIR")

mkdir "$T_DIR/dev.upper" "$T_DIR/dev.work"
mount -t overlay overlay -o "lowerdir=/dev,upperdir=$T_DIR/dev.upper,workdir=$T_DIR/dev.work" /dev ||
	skip_or_fail "cannot mount an overlay over /dev in this namespace"
rm -f /dev/log		# only in the overlay: a whiteout in the test's directory

img=$T_DIR/fs.img
mnt=$T_DIR/mnt
mkdir "$mnt"
new_image "$img" 64M
make_fs "$img"

# wait_gone PID: the daemon PID has exited.
wait_gone() {
	local i
	for ((i = 0; i < 600; i++)); do
		proc_alive "$1" || return 0
		sleep 0.1
	done
	fail "daemon $1 did not exit"
}

step "-f: the mount and unmount lines on standard error"
mount_fs "$img" "$mnt"
for i in $(seq 1 60); do echo "file $i" >"$mnt/f$i"; done
unmount_fs "$mnt"
log=$(cat "$T_DIR/diofs.mnt.log")
# the default workers: two per CPU, at least 4
cpus=$(getconf _NPROCESSORS_ONLN)
threads=$((cpus * 2 > 4 ? cpus * 2 : 4))
grep -qE "^diofs: mounted $img on $mnt \(rw,fuse(blk)?,commit=5,acl,max_threads=$threads\): the filesystem was clean$" <<<"$log" ||
	fail "no mount line: $log"
grep -qxF "diofs: unmounted $img from $mnt cleanly" <<<"$log" ||
	fail "no unmount line: $log"

step "detached, no /dev/log: the lines go to the standard error it had"
"$DIOFS_BIN" "$img" "$mnt" -o ro 2>"$T_DIR/stderr" ||
	fail "diofs $img $mnt -o ro failed: $(cat "$T_DIR/stderr")"
pid=$(find_daemon "$img" "$mnt") || fail "no daemon serves $mnt"
T_MNT_PID[$mnt]=$pid T_MNT_DEV[$mnt]=$img T_MNT_CHILD[$mnt]= T_MNT_LOG[$mnt]=
unmount_fs "$mnt" umount
log=$(cat "$T_DIR/stderr")
grep -qE "^diofs\[$pid\]: mounted $img on $mnt \(ro,fuse(blk)?,.*\): the filesystem was clean$" <<<"$log" ||
	fail "no mount line from daemon $pid on its standard error: $log"
grep -qxF "diofs[$pid]: unmounted $img from $mnt cleanly" <<<"$log" ||
	fail "no unmount line from daemon $pid on its standard error: $log"

step "detached, no /dev/log, standard error a pipe: not kept, \$(...) returns"
out=$(timeout 20 "$DIOFS_BIN" "$img" "$mnt" -o ro 2>&1) ||
	fail "diofs $img $mnt -o ro in \$(...) failed or did not return: $out"
pid=$(find_daemon "$img" "$mnt") || fail "no daemon serves $mnt"
T_MNT_PID[$mnt]=$pid T_MNT_DEV[$mnt]=$img T_MNT_CHILD[$mnt]= T_MNT_LOG[$mnt]=
[ -z "$out" ] || fail "the daemon wrote to the pipe: $out"
[ "$(readlink "/proc/$pid/fd/2")" = /dev/null ] ||
	fail "the daemon kept $(readlink "/proc/$pid/fd/2") as standard error"
unmount_fs "$mnt" umount

step "a syslog daemon of our own on /dev/log"
python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('/dev/log')
open(sys.argv[1], 'w').close()
with open(sys.argv[2], 'ab', buffering=0) as out:
    while True:
        out.write(s.recv(4096).rstrip(b'\n') + b'\n')
" "$T_DIR/syslog.ready" "$T_DIR/syslog" &
listener=$!
# the listener and the overlay go first, then lib.sh's own cleanup
trap 'rc=$?; kill "$listener" 2>/dev/null; umount -l /dev; (exit "$rc"); lib_cleanup' EXIT
for ((i = 0; i < 100; i++)); do
	[ -e "$T_DIR/syslog.ready" ] && break
	sleep 0.1
done
[ -S /dev/log ] || fail "the listener did not bind /dev/log"
[ -S "$T_DIR/dev.upper/log" ] || fail "/dev/log is not in the test's overlay"

step "detached: mount and unmount lines go to syslog, facility daemon"
mount_daemon "$DIOFS_BIN" "$img" "$mnt" 2>"$T_DIR/stderr"
pid=${T_MNT_PID[$mnt]}
[ "$(cat "$mnt/f7")" = "file 7" ] || fail "data of f7"
unmount_fs "$mnt" umount
[ ! -s "$T_DIR/stderr" ] || fail "the daemon wrote on standard error: $(cat "$T_DIR/stderr")"
log=$(cat "$T_DIR/syslog")
# <29>: facility daemon (3) * 8 + notice (5)
grep -qE "^<29>.* diofs\[$pid\]: mounted $img on $mnt \(rw,fuse(blk)?,.*\): the filesystem was clean$" <<<"$log" ||
	fail "no mount line in syslog: $log"
grep -qE "^<29>.* diofs\[$pid\]: unmounted $img from $mnt cleanly$" <<<"$log" ||
	fail "no unmount line in syslog: $log"

step "a corrupt inode-table block: stat fails with EUCLEAN"
bs=$(od -An -t u4 -j 36 -N 4 "$img" | tr -d ' ')
gstart=$(od -An -t u8 -j 96 -N 8 "$img" | tr -d ' ')
blk=$((gstart + 6))	# an inode-table block of group 0, past the root's
printf 'X' | dd of="$img" bs=1 seek=$((blk * bs + 1000)) conv=notrunc status=none
: >"$T_DIR/syslog"
mount_daemon "$DIOFS_BIN" "$img" "$mnt"
pid=${T_MNT_PID[$mnt]}
bad=()
for i in $(seq 1 60); do
	if ! out=$(stat "$mnt/f$i" 2>&1); then
		[[ $out == *"Structure needs cleaning"* ]] || fail "stat f$i: $out"
		bad+=("f$i")
	fi
done
[ ${#bad[@]} -gt 0 ] || fail "no file of the corrupt block fails"
step "a flood: ${#bad[@]} files stat'ed 20 times each"
for ((r = 0; r < 20; r++)); do
	for f in "${bad[@]}"; do stat "$mnt/$f" >/dev/null 2>&1 || true; done
done
umount "$mnt"
wait_gone "$pid"
unset "T_MNT_PID[$mnt]"
log=$(grep -F " diofs[$pid]: " "$T_DIR/syslog")
# <27>: daemon.err
grep -qE "^<27>.* diofs\[$pid\]: metadata block $blk is corrupt: its checksum or header does not verify$" <<<"$log" ||
	fail "the corrupt block is not logged: $log"
grep -qE "^<27>.* diofs\[$pid\]: lookup of \"${bad[0]}\" in directory inode 1 failed: Structure needs cleaning$" <<<"$log" ||
	fail "the failed lookup is not logged: $log"
errors=$(sed -nE 's/.* cleanly, after ([0-9]+) errors: run fsck.diofs$/\1/p' <<<"$log")
[ -n "$errors" ] || fail "the unmount line does not count the errors: $log"
logged=$(grep -cE ": (metadata block .* is corrupt|lookup of .* failed)" <<<"$log")
suppressed=$(awk '/: [0-9]+ messages? suppressed \(at most 10 every 5 seconds\)$/ {
	for (i = 1; i < NF; i++) if ($(i + 1) ~ /^messages?$/) n += $i; found = 1 }
	END { if (found) print n }' <<<"$log")
[ -n "$suppressed" ] || fail "no line counts what was suppressed: $log"
[ $((logged + suppressed)) -eq "$errors" ] ||
	fail "$logged logged and $suppressed suppressed, but $errors errors"
[ "$logged" -lt $((errors / 2)) ] ||
	fail "the flood was not rate-limited: $logged of $errors errors logged"
step "$errors errors: $logged logged, $suppressed suppressed"

step "fsck.diofs -y repairs the image"
"$FSCK_BIN" -y "$img" >/dev/null 2>&1 || [ $? -eq 1 ] || fail "fsck.diofs -y $img"
run_fsck "$img"

step "all checks passed"
