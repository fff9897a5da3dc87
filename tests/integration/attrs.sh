#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# attrs.sh: chattr(1) and lsattr(1) on a mounted diofs, as root and as an
# unprivileged user.  Immutable (+i), append-only (+a), nodump (+d) and
# noatime (+A) are kept across a remount and fsck; flags diofs does not
# keep (+c) fail with EOPNOTSUPP, as on ext4.  An immutable file refuses
# writes, truncation, chmod, chown, utimes, xattr changes, rename, unlink
# and links; an append-only one takes only appending opens and writes and
# cannot be removed; an immutable directory takes no new or removed
# names, an append-only one new names only.  Only a caller with
# CAP_LINUX_IMMUTABLE may set or clear +i and +a; the owner (or
# CAP_FOWNER) the others.  The FS_IOC_FSGETXATTR / FSSETXATTR forms say
# the same as the flags.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_init
for tool in chattr lsattr setpriv; do
	command -v "$tool" >/dev/null || skip_or_fail "$tool is not installed"
done

NOBODY=65534
as_user() { setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups -- "$@"; }

img=$T_DIR/fs.img
m=$T_DIR/mnt
mkdir "$m"
new_image "$img" 256M
make_fs "$img"
mount_fs "$img" "$m" -o allow_other
chmod 0755 "$T_DIR"	# the unprivileged user reaches the mount

# flags_of PATH: lsattr's flag letters without the dashes.
flags_of() { lsattr -d "$1" | awk '{ print $1 }' | tr -d -- -; }

# refused DESCRIPTION COMMAND...: COMMAND must fail with EPERM's message.
refused() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		fail "$what: succeeded"
	fi
	[[ $out == *"Operation not permitted"* ]] || fail "$what: $out"
}

step "lsattr shows no flags; +i +a +d +A set and clear"
echo content >"$m/f"
[ -z "$(flags_of "$m/f")" ] || fail "new file has flags $(flags_of "$m/f")"
for fl in i a d A; do
	chattr +$fl "$m/f" || fail "chattr +$fl"
	[ "$(flags_of "$m/f")" = "$fl" ] || fail "+$fl: lsattr says $(flags_of "$m/f")"
	chattr -$fl "$m/f" || fail "chattr -$fl"
	[ -z "$(flags_of "$m/f")" ] || fail "-$fl: lsattr says $(flags_of "$m/f")"
done
chattr +dA "$m/f"
[ "$(flags_of "$m/f")" = dA ] || fail "+dA: lsattr says $(flags_of "$m/f")"
out=$(chattr +c "$m/f" 2>&1) && fail "chattr +c succeeded"
[[ $out == *"Operation not supported"* ]] || fail "chattr +c: $out"
[ "$(flags_of "$m/f")" = dA ] || fail "a refused +c changed the flags"
chattr -dA "$m/f"

step "FS_IOC_FSGETXATTR and FS_IOC_FSSETXATTR"
pyrun "
import fcntl, struct
FSGET, FSSET = 0x801c581f, 0x401c5820
XI, XA, XN, XD = 0x8, 0x10, 0x40, 0x80
fd = os.open(sys.argv[1], os.O_RDONLY)
def get():
    return struct.unpack('5I8x', fcntl.ioctl(fd, FSGET, bytes(28)))
assert get() == (0, 0, 0, 0, 0), get()
fcntl.ioctl(fd, FSSET, struct.pack('5I8x', XD | XN, 0, 0, 0, 0))
assert get()[0] == XD | XN, get()
try:
    fcntl.ioctl(fd, FSSET, struct.pack('5I8x', 0x1, 0, 0, 0, 0))  # realtime
    sys.exit('an unknown xflag was taken')
except OSError as e:
    assert e.errno == errno.EOPNOTSUPP, e
fcntl.ioctl(fd, FSSET, struct.pack('5I8x', 0, 0, 0, 0, 0))
" "$m/f" || fail "fsxattr ioctls"

step "immutable file: no change of any kind"
chattr +i "$m/f"
refused "write" sh -c "echo x >>'$m/f'"
refused "truncate" truncate -s 0 "$m/f"
refused "chmod" chmod 600 "$m/f"
refused "chown" chown 1:1 "$m/f"
refused "touch" touch "$m/f"
refused "rm" rm -f "$m/f"
refused "mv" mv "$m/f" "$m/g"
refused "ln" ln "$m/f" "$m/h"
expect_errno EPERM "os.setxattr('$m/f', 'user.k', b'v')"
expect_errno EPERM "os.open('$m/f', os.O_WRONLY)"
[ "$(cat "$m/f")" = content ] || fail "the immutable file changed"
[ ! -e "$m/g" ] && [ ! -e "$m/h" ] || fail "a name appeared"

step "append-only file: appending opens and writes only"
chattr -i +a "$m/f"
echo more >>"$m/f" || fail "append to +a"
[ "$(cat "$m/f")" = "content
more" ] || fail "append-only content: $(cat "$m/f")"
refused "overwrite" sh -c "echo x >'$m/f'"
refused "truncate" truncate -s 0 "$m/f"
refused "chmod" chmod 600 "$m/f"
refused "rm" rm -f "$m/f"
refused "mv" mv "$m/f" "$m/g"
refused "ln" ln "$m/f" "$m/h"
expect_errno EPERM "os.open('$m/f', os.O_RDWR)"
expect_errno EPERM "os.setxattr('$m/f', 'user.k', b'v')"
touch "$m/f" || fail "touch (times to now) of an append-only file"

step "directories: immutable takes no names, append-only only new ones"
mkdir "$m/d"
echo in >"$m/d/old"
chattr +i "$m/d"
refused "create in +i" touch "$m/d/new"
refused "mkdir in +i" mkdir "$m/d/sub"
refused "rm in +i" rm "$m/d/old"
refused "mv out of +i" mv "$m/d/old" "$m/old"
echo changed >"$m/d/old" || fail "a file in an immutable directory is not immutable"
chattr -i +a "$m/d"
touch "$m/d/new" || fail "create in +a"
refused "rm in +a" rm "$m/d/new"
refused "mv out of +a" mv "$m/d/new" "$m/new"
chattr -a "$m/d"
rm "$m/d/new" "$m/d/old"
mkdir "$m/e"
chattr +a "$m/e"
refused "rmdir of an empty +a directory" rmdir "$m/e"
chattr -a "$m/e"
rmdir "$m/e"

step "as uid $NOBODY: owner may set +d +A, nobody but root +i +a"
chmod 1777 "$m/d"
as_user touch "$m/d/mine" || fail "uid $NOBODY cannot create a file"
as_user chattr +dA "$m/d/mine" || fail "the owner cannot set +dA"
[ "$(flags_of "$m/d/mine")" = dA ] || fail "owner's +dA: $(flags_of "$m/d/mine")"
refused "owner +i" as_user chattr +i "$m/d/mine"
refused "owner +a" as_user chattr +a "$m/d/mine"
refused "non-owner +d" as_user chattr +d "$m/f"
chattr +i "$m/d/mine"
refused "owner -i" as_user chattr -i "$m/d/mine"
refused "owner write to +i" as_user sh -c "echo x >>'$m/d/mine'"
refused "owner rm of +i" as_user rm -f "$m/d/mine"
[ "$(flags_of "$m/d/mine")" = idA ] || fail "flags after refusals: $(flags_of "$m/d/mine")"

step "root without CAP_LINUX_IMMUTABLE may not set +i"
refused "root without the capability" \
	setpriv --inh-caps=-linux_immutable --bounding-set=-linux_immutable \
	chattr +i "$m/f"

step "the flags survive a remount and fsck"
unmount_fs "$m"
mount_fs "$img" "$m"
[ "$(flags_of "$m/f")" = a ] || fail "f after remount: $(flags_of "$m/f")"
[ "$(flags_of "$m/d/mine")" = idA ] || fail "mine after remount: $(flags_of "$m/d/mine")"
refused "rm of +i after remount" rm -f "$m/d/mine"
chattr -ia "$m/f" "$m/d/mine"
rm "$m/f" "$m/d/mine"
rmdir "$m/d"
unmount_fs "$m"

step "all checks passed"
