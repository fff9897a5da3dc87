#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# shutdown.sh: FS_IOC_SHUTDOWN on a live mount, with each of its flags.
#
# For FULLSYNC, METAFLUSH and NOSYNC in turn: write and fsync one file,
# write another without fsync, refuse the ioctl to an unprivileged caller
# (EPERM), shut down as root; then every operation, reads included,
# fails with EIO; umount works and writes nothing to the image (its
# checksum does not change); fsck.diofs -n replays the journal in memory
# and finds no errors; the next mount replays it and has the fsynced file
# whole, with FULLSYNC and METAFLUSH the other one too, and with NOSYNC
# (and no timed commit) not the other one.  An unknown
# flag is EINVAL and leaves the filesystem up.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_init
command -v setpriv >/dev/null || skip_or_fail "setpriv is not installed"
[ "$(id -u)" = 0 ] || skip_or_fail "FS_IOC_SHUTDOWN needs root"

NOBODY=65534
as_user() { setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups -- "$@"; }
# A python3 that the unprivileged user can run (python3 on PATH may live
# under a directory only root can enter).
UPY=
for py in /usr/bin/python3 "$(command -v python3)"; do
	if as_user "$py" -c '' 2>/dev/null; then
		UPY=$py
		break
	fi
done
[ -n "$UPY" ] || skip_or_fail "no python3 that uid $NOBODY can run"
img=$T_DIR/fs.img
m=$T_DIR/mnt
mkdir "$m"
chmod 0755 "$T_DIR"
new_image "$img" 256M
make_fs "$img"

# shutdown_as FLAG [setpriv options...]: FS_IOC_SHUTDOWN on the mount's
# root; prints the errno name, or "ok".
shutdown_as() {
	local flag=$1
	shift
	"$@" "$UPY" -c "
import errno, fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    fcntl.ioctl(fd, 0x8004587d, struct.pack('I', int(sys.argv[2])))
    print('ok')
except OSError as e:
    print(errno.errorcode[e.errno])
" "$m" "$flag"
}

# eio DESCRIPTION COMMAND...: COMMAND must fail with EIO's message.
eio() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		fail "$what after shutdown: succeeded"
	fi
	[[ $out == *"Input/output error"* ]] || fail "$what after shutdown: $out"
}

step "an unknown flag is EINVAL, and the filesystem stays up"
mount_fs "$img" "$m" -o allow_other
[ "$(shutdown_as 3)" = EINVAL ] || fail "flag 3: $(shutdown_as 3)"
echo up >"$m/up" || fail "the filesystem went down on flag 3"
unmount_fs "$m"

n=0
for how in FULLSYNC METAFLUSH NOSYNC; do
	step "$how: fsynced and unsynced writes, then shutdown"
	mount_fs "$img" "$m" -o allow_other,commit=3600
	pyrun "
p = sys.argv[1]
with open(p + '/synced-$how', 'wb') as f:
    f.write(b'S' * 100000)
    os.fsync(f.fileno())
with open(p + '/unsynced-$how', 'wb') as f:
    f.write(b'U' * 100000)
" "$m" || fail "writes"
	got=$(shutdown_as $n as_user)
	[ "$got" = EPERM ] || fail "unprivileged shutdown: $got"
	cat "$m/synced-$how" >/dev/null || fail "a refused shutdown took effect"
	got=$(shutdown_as $n)
	[ "$got" = ok ] || fail "shutdown $how: $got"

	step "$how: EIO for reads and writes"
	eio "cat" cat "$m/synced-$how"
	eio "ls" ls "$m"
	eio "stat of a new name" stat "$m/never-seen"
	eio "touch" touch "$m/new"
	eio "mkdir" mkdir "$m/newdir"
	eio "df" df "$m"
	[ "$(shutdown_as $n)" = ok ] || fail "a second shutdown"

	step "$how: umount writes nothing; fsck -n replays and is clean"
	sum=$(sha256sum <"$img")
	unmount_fs "$m" umount
	[ "$(sha256sum <"$img")" = "$sum" ] || fail "$how: the image changed after the shutdown"
	out=$("$FSCK_BIN" -n "$img" 2>&1) || fail "fsck -n after $how: $out"
	[[ $out == *"replayed in memory only"* ]] || fail "fsck -n after $how did not replay: $out"
	[[ $out == *"no errors found"* ]] || fail "fsck -n after $how: $out"

	step "$how: the next mount replays; fsynced data is whole"
	mount_fs "$img" "$m"
	grep -q "recovered the journal" "${T_MNT_LOG[$m]}" ||
		fail "$how: the mount did not replay: $(cat "${T_MNT_LOG[$m]}")"
	pyrun "
assert open(sys.argv[1], 'rb').read() == b'S' * 100000, 'fsynced file'
" "$m/synced-$how" || fail "$how: the fsynced file"
	if [ "$how" != NOSYNC ]; then
		pyrun "
assert open(sys.argv[1], 'rb').read() == b'U' * 100000, 'unsynced file'
" "$m/unsynced-$how" || fail "$how: the file written without fsync"
	else
		# commit=3600: nothing but the fsync committed, and nothing
		# was written after the shutdown
		[ ! -e "$m/unsynced-$how" ] ||
			fail "NOSYNC: a file never committed is there"
	fi
	[ "$(cat "$m/up")" = up ] || fail "$how: an older file"
	unmount_fs "$m"
	n=$((n + 1))
done

step "all checks passed"
