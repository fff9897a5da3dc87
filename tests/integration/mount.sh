#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# mount.sh: mount(8), umount(8) and fstab treat diofs as they treat a kernel
# filesystem, on an image file and on a loop device:
#  - the three fstab forms (type diofs, type fuse.diofs, diofs#SOURCE with
#    type fuse) give the same set-id, device and exec flags: honoured on
#    root's mounts unless nosuid/nodev/noexec, and user, users and owner
#    imply what mount(8) says they imply;
#  - nofail with a device that does not exist succeeds quietly;
#  - mount -o remount,ro makes everything durable and refuses changes,
#    remount,rw takes them again, also on a filesystem mounted read-only
#    (refused on a write-protected device, or after a replay in memory);
#  - -o max_threads=N works alone;
#  - when umount returns the device is free: umount && fsck.diofs -n, 20
#    times each, and a second mount under either name is still refused;
#  - UUID= and LABEL= sources: mount(8) cannot resolve them for diofs,
#    diofs#UUID=/diofs#LABEL= work with all three types.
#
# mount(8) runs helpers only from /sbin, and mount.fuse runs diofs from a
# fixed PATH with /sbin in it; linking the built daemon into the real /sbin
# would change the machine for everyone while the test runs, and leave it
# changed if the test were killed.  So the test runs in a mount namespace
# of its own (unshare --mount) and there bind-mounts over /sbin a directory
# of links to everything in /sbin (through a descriptor the shell holds on
# it) plus mount.diofs, mount.fuse.diofs, mount.fuseblk.diofs and diofs,
# links to the built daemon.  Nobody outside sees them, and they go with
# the namespace.  Every mount(8) call names a fstab file of the test's own
# (--fstab); /etc/fstab is never read.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

private_mount_namespace "$@"

lib_init
for tool in mount umount setpriv; do
	command -v "$tool" >/dev/null || skip_or_fail "$tool is not installed"
done
T_DIR=$(realpath "$T_DIR")	# as mount(8) passes paths on

# ---- helpers in /sbin, in this namespace only -------------------------------

HELPERS="mount.diofs mount.fuse.diofs mount.fuseblk.diofs diofs"
sbin=$(realpath /sbin)
exec {sbin_fd}<"$sbin"
mkdir "$T_DIR/sbin"
for f in "$sbin"/* "$sbin"/.[!.]*; do
	[ -e "$f" ] || [ -h "$f" ] || continue
	f=${f##*/}
	[[ " $HELPERS " == *" $f "* ]] && continue
	ln -s "/proc/$$/fd/$sbin_fd/$f" "$T_DIR/sbin/$f"
done
for f in $HELPERS; do
	ln -s "$DIOFS_BIN" "$T_DIR/sbin/$f"
done
mount --bind "$T_DIR/sbin" "$sbin" || fail "bind mount over $sbin"
[ /sbin/mount.diofs -ef "$DIOFS_BIN" ] || fail "/sbin/mount.diofs is not the built diofs"
# what mount.fuse runs for the diofs#SOURCE form
[ "$(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v diofs)" -ef "$DIOFS_BIN" ] ||
	skip_or_fail "an installed diofs comes before /sbin in the PATH mount.fuse searches"

FSTAB=$T_DIR/fstab

# fstab_mount MOUNTPOINT DEVICE [mount options...]: mount(8) with the
# test's fstab, and the daemon registered for lib.sh's unmount and cleanup.
fstab_mount() {
	local mnt=$1 dev=$2 pid
	shift 2
	mount --fstab "$FSTAB" "$@" "$mnt" || fail "mount --fstab $mnt failed: $(cat "$FSTAB")"
	is_mounted "$mnt" || fail "mount returned before $mnt was mounted"
	pid=$(find_daemon_of "$mnt") || fail "no daemon serves $mnt"
	T_MNT_PID[$mnt]=$pid
	T_MNT_DEV[$mnt]=$dev
	T_MNT_CHILD[$mnt]=
	T_MNT_LOG[$mnt]=
}

# The daemon serving MOUNTPOINT $1, whatever source its command line names.
find_daemon_of() {
	local p argv
	for p in /proc/[0-9]*; do
		argv=$(tr '\0' '\n' 2>/dev/null <"$p/cmdline") || continue
		case $(head -n1 <<<"$argv") in
		*diofs) ;;
		*) continue ;;
		esac
		grep -qxF -- "$1" <<<"$argv" && { echo "${p#/proc/}"; return 0; }
	done
	return 1
}

# The per-mount flags of MOUNTPOINT $1 among nosuid, nodev, noexec, ro.
mount_flags() {
	awk -v m="$1" '$5 == m { last = $6 } END { n = split(last, o, ",")
		for (i = 1; i <= n; i++)
			if (o[i] ~ /^(nosuid|nodev|noexec|ro)$/)
				s = s (s == "" ? "" : ",") o[i]
		print s }' /proc/self/mountinfo
}

# The type and source the kernel lists for MOUNTPOINT $1.
mount_source() {
	awk -v m="$1" '$5 == m { for (i = 7; $i != "-"; i++); s = $(i + 1) " " $(i + 2) }
		END { print s }' /proc/self/mountinfo
}

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }

# one_line_error WHAT PREFIX COMMAND...: COMMAND fails with one line that
# starts with PREFIX.
one_line_error() {
	local what=$1 prefix=$2 out
	shift 2
	if out=$(timeout 20 "$@" 2>&1 </dev/null); then
		fail "$what succeeded"
	fi
	[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && [[ $out == "$prefix"* ]] ||
		fail "$what: not one line starting with '$prefix': $out"
}

# ---- devices -----------------------------------------------------------------

TAG=mt$$.$RANDOM
img=$T_DIR/file.img
new_image "$img" 128M
make_fs "$img" -L "$TAG-img"
new_image "$T_DIR/loop.img" 128M
attach_loop "$T_DIR/loop.img"
loop=$LOOP_DEV
UUID_LOOP=$(python3 -c 'import uuid; print(uuid.uuid4())')
make_fs "$loop" -L "$TAG-loop" -U "$UUID_LOOP"
m=$T_DIR/mnt
m2=$T_DIR/mnt2
mkdir "$m" "$m2"
# other users must reach the mountpoint for the set-id checks
chmod 0711 "$T_DIR"

# ---- 1. the three forms, the same flags ------------------------------------

# form_line FORM DEVICE MOUNTPOINT: the first three fields of an fstab line.
form_line() {
	case $1 in
	diofs) printf '%s %s diofs' "$2" "$3" ;;
	fuse.diofs) printf '%s %s fuse.diofs' "$2" "$3" ;;
	fuse) printf 'diofs#%s %s fuse' "$2" "$3" ;;
	esac
}

step "fstab forms: set-id, device and exec flags as for a kernel filesystem"
# options -> the flags the mount must have
cases=(
	"defaults|"
	"nosuid|nosuid"
	"nodev|nodev"
	"noexec|noexec"
	"user|nosuid,nodev,noexec"
	"users,exec|nosuid,nodev"
	"owner|nosuid,nodev"
	"user,exec,suid,dev|"
	"ro,nosuid|ro,nosuid"
)
for dev in "$img" "$loop"; do
	for form in diofs fuse.diofs fuse; do
		for c in "${cases[@]}"; do
			opts=${c%%|*}
			want=${c#*|}
			echo "$(form_line "$form" "$dev" "$m") $opts 0 0" >"$FSTAB"
			fstab_mount "$m" "$dev"
			got=$(mount_flags "$m")
			[ "$got" = "$want" ] ||
				fail "$form on $dev with $opts: flags '$got', want '$want'"
			[[ $(mount_source "$m") == fuseblk.diofs\ /dev/* ]] ||
				fail "$form on $dev: the kernel lists $(mount_source "$m")"
			unmount_fs "$m" umount
		done
	done
done

step "fstab forms: a set-id root program and a device node work unless nosuid, nodev"
for form in diofs fuse.diofs fuse; do
	for opts in defaults nosuid,nodev; do
		echo "$(form_line "$form" "$img" "$m") $opts,allow_other 0 0" >"$FSTAB"
		fstab_mount "$m" "$img"
		rm -f "$m/id" "$m/null"
		cp /usr/bin/id "$m/id"
		chmod 4755 "$m/id"
		mknod -m 0666 "$m/null" c 1 3
		euid=$(as_nobody "$m/id" -u)
		if [ "$opts" = defaults ]; then
			[ "$euid" = 0 ] || fail "$form: a setuid-root program runs as $euid"
			echo discarded >"$m/null" || fail "$form: writing to a device node"
		else
			[ "$euid" = 65534 ] || fail "$form, nosuid: a setuid-root program runs as $euid"
			! echo x 2>/dev/null >"$m/null" || fail "$form, nodev: a device node opened"
		fi
		unmount_fs "$m" umount
	done
done

# ---- 2. nofail ---------------------------------------------------------------

step "nofail: a missing device is no error, quietly, in the three forms"
missing=$T_DIR/no-such-device
# mount.fuse drops nofail before it runs diofs (the fuse form): diofs
# finds it in the fstab line mount(8) is mounting
for form in diofs fuse.diofs fuse; do
	{
		echo "$(form_line "$form" "$missing" "$m") nofail 0 0"
		echo "$(form_line "$form" "$img" "$m2") noauto 0 0"
	} >"$FSTAB"
	out=$(mount --fstab "$FSTAB" "$m" 2>&1) || fail "$form: mount DIR with nofail failed: $out"
	[ -z "$out" ] || fail "$form: mount DIR with nofail said: $out"
	out=$(mount -a --fstab "$FSTAB" 2>&1) || fail "$form: mount -a with nofail failed: $out"
	[ -z "$out" ] || fail "$form: mount -a with nofail said: $out"
	! is_mounted "$m" && ! is_mounted "$m2" || fail "$form: nofail mounted something"
done
for line in "LABEL=$TAG-none $m diofs" "LABEL=$TAG-none $m fuse.diofs" \
	"diofs#LABEL=$TAG-none $m diofs" "diofs#LABEL=$TAG-none $m fuse"; do
	echo "$line nofail 0 0" >"$FSTAB"
	out=$(mount -a --fstab "$FSTAB" 2>&1) || fail "mount -a, $line nofail: $out"
	[ -z "$out" ] || fail "mount -a, $line nofail said: $out"
	! is_mounted "$m" || fail "$line nofail mounted something"
done
step "nofail of another fstab line does not count"
{
	echo "$(form_line fuse "$missing" "$m") defaults 0 0"
	echo "$(form_line fuse "$missing" "$m2") nofail 0 0"
} >"$FSTAB"
if out=$(mount --fstab "$FSTAB" "$m" 2>&1); then
	fail "fuse form: a missing device without nofail mounted: $out"
fi
[[ $out == *"diofs: $missing: "* ]] || fail "fuse form: a missing device without nofail said: $out"
out=$("$DIOFS_BIN" -o nofail "LABEL=$TAG-none" "$m" 2>&1) ||
	fail "diofs -o nofail LABEL=...: $out"
[ -z "$out" ] && ! is_mounted "$m" || fail "diofs -o nofail LABEL=... said: $out"
one_line_error "a missing device without nofail" "diofs: $missing: " \
	"$DIOFS_BIN" "$missing" "$m"
echo "$(form_line diofs "$missing" "$m") defaults 0 0" >"$FSTAB"
if mount --fstab "$FSTAB" "$m" 2>/dev/null; then
	fail "mount of a missing device without nofail succeeded"
fi

# ---- 3. remount --------------------------------------------------------------

# remount_checks DEVICE: write, remount ro (durable, refuses changes),
# SIGKILL, check, mount again, remount rw.
remount_checks() {
	local dev=$1 sums pid out
	echo "$dev $m diofs defaults 0 0" >"$FSTAB"
	fstab_mount "$m" "$dev"
	mkdir -p "$m/ro"
	head -c 3000000 /dev/urandom >"$m/ro/data"
	echo "before remount" >"$m/ro/text"
	ln -s text "$m/ro/link"
	sums=$(cd "$m/ro" && sha256sum data text)

	step "remount,ro on $dev: refused while a file is open for writing"
	exec {wfd}>>"$m/ro/text"
	one_line_error "remount,ro with a file open for writing" "diofs: $m: " \
		mount --fstab "$FSTAB" -o remount,ro "$m"
	exec {wfd}>&-
	[ -z "$(mount_flags "$m")" ] || fail "a refused remount left $(mount_flags "$m")"

	step "remount,ro on $dev: changes fail with EROFS"
	mount --fstab "$FSTAB" -o remount,ro "$m" || fail "mount -o remount,ro $m"
	[ "$(mount_flags "$m")" = ro ] || fail "flags after remount,ro: $(mount_flags "$m")"
	expect_errno EROFS "os.open('$m/new', os.O_CREAT | os.O_WRONLY)"
	expect_errno EROFS "os.open('$m/ro/text', os.O_WRONLY)"
	expect_errno EROFS "os.mkdir('$m/newdir')"
	expect_errno EROFS "os.unlink('$m/ro/text')"
	pyrun "assert os.statvfs(sys.argv[1]).f_flag & os.ST_RDONLY" "$m" ||
		fail "statvfs after remount,ro"

	step "remount,ro on $dev: durable when it returns (SIGKILL, fsck, mount)"
	kill_fs "$m" || fail "$LIB_ERR"
	out=$("$FSCK_BIN" -p "$dev" 2>&1) || fail "fsck.diofs -p after SIGKILL: $out"
	[[ $out == *clean* ]] || fail "not clean after remount,ro and SIGKILL: $out"
	run_fsck "$dev"
	fstab_mount "$m" "$dev"
	[ "$(cd "$m/ro" && sha256sum data text)" = "$sums" ] ||
		fail "data written before remount,ro is gone after SIGKILL"
	[ "$(readlink "$m/ro/link")" = text ] || fail "symlink after SIGKILL"

	step "remount,ro then remount,rw on $dev: changes work again"
	mount --fstab "$FSTAB" -o remount,ro "$m" || fail "mount -o remount,ro $m"
	expect_errno EROFS "os.open('$m/new', os.O_CREAT | os.O_WRONLY)"
	mount --fstab "$FSTAB" -o remount,rw "$m" || fail "mount -o remount,rw $m"
	[ -z "$(mount_flags "$m")" ] || fail "flags after remount,rw: $(mount_flags "$m")"
	echo "after remount" >"$m/new" || fail "writing after remount,rw"
	rm -r "$m/ro"
	[ "$(cat "$m/new")" = "after remount" ] || fail "reading after remount,rw"

	step "remount of a mount not in fstab (mount.fuseblk.diofs), and diofs -o remount"
	: >"$T_DIR/empty-fstab"
	mount --fstab "$T_DIR/empty-fstab" -o remount,ro,nosuid "$m" ||
		fail "mount -o remount,ro of a mount not in fstab"
	[ "$(mount_flags "$m")" = ro,nosuid ] || fail "flags: $(mount_flags "$m")"
	"$DIOFS_BIN" "$dev" "$m" -o remount,rw || fail "diofs -o remount,rw"
	[ -z "$(mount_flags "$m")" ] || fail "flags after diofs -o remount,rw: $(mount_flags "$m")"
	echo again >>"$m/new" || fail "writing after diofs -o remount,rw"
	unmount_fs "$m" umount

	step "remount,rw of a filesystem mounted read-only on $dev: it takes changes"
	echo "$dev $m diofs ro 0 0" >"$FSTAB"
	fstab_mount "$m" "$dev"
	expect_errno EROFS "os.open('$m/new2', os.O_CREAT | os.O_WRONLY)"
	mount --fstab "$FSTAB" -o remount,rw "$m" || fail "mount -o remount,rw of a read-only mount"
	[ -z "$(mount_flags "$m")" ] || fail "flags after remount,rw: $(mount_flags "$m")"
	echo "written after remount,rw" >"$m/new2" || fail "writing after remount,rw"
	mkdir "$m/dir2" && ln -s new2 "$m/dir2/link" || fail "changes after remount,rw"
	mount --fstab "$FSTAB" -o remount,ro "$m" || fail "remount,ro again"
	expect_errno EROFS "os.unlink('$m/new2')"
	mount --fstab "$FSTAB" -o remount,rw "$m" || fail "remount,rw again"
	rm "$m/dir2/link" || fail "a change after the second remount,rw"
	unmount_fs "$m" umount
	echo "$dev $m diofs defaults 0 0" >"$FSTAB"
	fstab_mount "$m" "$dev"
	[ "$(cat "$m/new2")" = "written after remount,rw" ] || fail "data written after remount,rw"
	rm -r "$m/new2" "$m/dir2"
	unmount_fs "$m" umount

	step "remount,rw of a read-only mount that replayed the journal in memory: refused"
	echo "$dev $m diofs defaults 0 0" >"$FSTAB"
	fstab_mount "$m" "$dev"
	echo "before the crash" >"$m/crash"
	sync "$m/crash"	# fsync: the file and its name
	kill_fs "$m" || fail "$LIB_ERR"
	echo "$dev $m diofs ro 0 0" >"$FSTAB"
	fstab_mount "$m" "$dev"
	one_line_error "remount,rw after an in-memory replay" \
		"diofs: $m: its journal was replayed in memory only" \
		mount --fstab "$FSTAB" -o remount,rw "$m"
	[ "$(mount_flags "$m")" = ro ] || fail "flags after a refused remount,rw: $(mount_flags "$m")"
	[ "$(cat "$m/crash")" = "before the crash" ] || fail "the replayed file"
	unmount_fs "$m" umount
	echo "$dev $m diofs defaults 0 0" >"$FSTAB"
	fstab_mount "$m" "$dev"
	rm "$m/crash"
	unmount_fs "$m" umount
}
remount_checks "$loop"
remount_checks "$img"
for form in fuse.diofs fuse; do
	step "remount,ro and remount,rw in the $form form"
	echo "$(form_line "$form" "$img" "$m") nosuid 0 0" >"$FSTAB"
	fstab_mount "$m" "$img"
	echo "$form" >"$m/form"
	mount --fstab "$FSTAB" -o remount,ro "$m" || fail "$form: mount -o remount,ro"
	[ "$(mount_flags "$m")" = ro,nosuid ] || fail "$form: flags after remount,ro: $(mount_flags "$m")"
	expect_errno EROFS "os.open('$m/form', os.O_WRONLY)"
	mount --fstab "$FSTAB" -o remount,rw "$m" || fail "$form: mount -o remount,rw"
	[ "$(mount_flags "$m")" = nosuid ] || fail "$form: flags after remount,rw: $(mount_flags "$m")"
	rm "$m/form" || fail "$form: a change after remount,rw"
	unmount_fs "$m" umount
done
step "remount,rw of a read-only mount of a write-protected device: refused"
ro_loop=$(losetup --find --show --read-only "$img") || fail "losetup --read-only $img"
T_LOOPS+=("$ro_loop $img")
echo "$ro_loop $m diofs ro 0 0" >"$FSTAB"
fstab_mount "$m" "$ro_loop"
one_line_error "remount,rw on a write-protected device" "diofs: $m: it stays read-only" \
	mount --fstab "$FSTAB" -o remount,rw "$m"
[ "$(mount_flags "$m")" = ro ] || fail "flags after a refused remount,rw: $(mount_flags "$m")"
unmount_fs "$m" umount
losetup -d "$ro_loop"
one_line_error "remount of a directory that is not a diofs mount" "diofs: $m2: " \
	"$DIOFS_BIN" "$img" "$m2" -o remount,ro

# ---- 4. max_threads ----------------------------------------------------------

step "-o max_threads=N alone"
echo "$img $m diofs max_threads=2 0 0" >"$FSTAB"
fstab_mount "$m" "$img"
head -c 1000000 /dev/urandom >"$T_DIR/rand"
cp "$T_DIR/rand" "$m/rand"
cmp "$T_DIR/rand" "$m/rand" || fail "data under max_threads=2"
unmount_fs "$m" umount
one_line_error "max_idle_threads above max_threads" "diofs: max_idle_threads=8" \
	"$DIOFS_BIN" -o max_threads=4,max_idle_threads=8 "$img" "$m"

# ---- 5. umount leaves the device free ---------------------------------------

# The check runs the moment umount returns: the daemon may still be on its
# way out, but it must have let go of the device.
for dev in "$img" "$loop"; do
	step "umount $m && fsck.diofs -n $dev, 20 times"
	echo "$dev $m diofs defaults 0 0" >"$FSTAB"
	for ((i = 0; i < 20; i++)); do
		fstab_mount "$m" "$dev"
		head -c $((100000 * (i + 1))) /dev/urandom >"$m/f$i"
		pid=${T_MNT_PID[$m]}
		umount "$m" || fail "umount $m (round $i)"
		out=$("$FSCK_BIN" -n "$dev" 2>&1) ||
			fail "fsck.diofs -n $dev right after umount (round $i): $out"
		for ((j = 0; j < 300; j++)); do proc_alive "$pid" || break; sleep 0.1; done
		proc_alive "$pid" && fail "the daemon for $m did not exit (round $i)"
		unset "T_MNT_PID[$m]"
	done
done

step "a second mount of a mounted filesystem is refused, under either name"
echo "$img $m diofs defaults 0 0" >"$FSTAB"
fstab_mount "$m" "$img"
one_line_error "a second mount of the image" "diofs: $img: " \
	"$DIOFS_BIN" "$img" "$m2"
attach_loop "$img"
one_line_error "a mount of a loop device over the mounted image" \
	"diofs: $LOOP_DEV: " "$DIOFS_BIN" "$LOOP_DEV" "$m2"
kernel_dev=$(mount_source "$m")
kernel_dev=${kernel_dev#* }
one_line_error "a mount of the loop device the kernel holds" \
	"diofs: $kernel_dev: " "$DIOFS_BIN" "$kernel_dev" "$m2"
! is_mounted "$m2" || fail "a refused mount left $m2 mounted"
unmount_fs "$m" umount
losetup -d "$LOOP_DEV"
echo "$loop $m diofs defaults 0 0" >"$FSTAB"
fstab_mount "$m" "$loop"
one_line_error "a second mount of the loop device" "diofs: $loop: " \
	"$DIOFS_BIN" "$loop" "$m2"
one_line_error "a mount of the image behind the mounted loop device" \
	"diofs: $T_DIR/loop.img: " "$DIOFS_BIN" "$T_DIR/loop.img" "$m2"
[ -x "$FSCK_BIN" ] &&
	one_line_error "fsck.diofs -n of the mounted loop device" "fsck.diofs: " \
		"$FSCK_BIN" -n "$loop"
! is_mounted "$m2" || fail "a refused mount left $m2 mounted"
unmount_fs "$m" umount

# ---- 6. UUID= and LABEL= -----------------------------------------------------

step "LABEL= and UUID= sources"
"$DIOFS_BIN" "LABEL=$TAG-loop" "$m" || fail "diofs LABEL=$TAG-loop"
register() {
	T_MNT_PID[$1]=$(find_daemon_of "$1") || fail "no daemon serves $1"
	T_MNT_DEV[$1]=$2
	T_MNT_CHILD[$1]=
	T_MNT_LOG[$1]=
}
register "$m" "$loop"
[ "$(mount_source "$m")" = "fuseblk.diofs $loop" ] ||
	fail "LABEL=$TAG-loop mounted $(mount_source "$m")"
unmount_fs "$m" umount
for u in "$UUID_LOOP" "${UUID_LOOP^^}"; do
	"$DIOFS_BIN" "UUID=$u" "$m" || fail "diofs UUID=$u"
	register "$m" "$loop"
	[ "$(mount_source "$m")" = "fuseblk.diofs $loop" ] ||
		fail "UUID=$u mounted $(mount_source "$m")"
	unmount_fs "$m" umount
done
/sbin/mount.diofs "LABEL=$TAG-loop" "$m" -o rw || fail "mount.diofs LABEL=$TAG-loop"
register "$m" "$loop"
unmount_fs "$m" umount
# mount(8) resolves LABEL= itself, through libblkid, unless the source is
# diofs#LABEL=..., which mount.fuse hands to diofs as it is
# (with a libblkid that knows diofs it would, and mount)
for type in diofs fuse.diofs; do
	echo "LABEL=$TAG-loop $m $type defaults 0 0" >"$FSTAB"
	if out=$(mount --fstab "$FSTAB" "$m" 2>&1); then
		register "$m" "$loop"
		unmount_fs "$m" umount
	else
		[[ $out == *"can't find LABEL=$TAG-loop"* ]] || fail "LABEL= with type $type: $out"
	fi
done
# ... and diofs#LABEL=... passes mount(8) unresolved whatever the type
for type in fuse diofs fuse.diofs; do
	step "fstab diofs#LABEL= with type $type"
	echo "diofs#LABEL=$TAG-loop $m $type defaults 0 0" >"$FSTAB"
	fstab_mount "$m" "$loop"
	[ "$(mount_source "$m")" = "fuseblk.diofs $loop" ] ||
		fail "fstab diofs#LABEL= with type $type mounted $(mount_source "$m")"
	unmount_fs "$m" umount
	echo "diofs#UUID=$UUID_LOOP $m $type defaults 0 0" >"$FSTAB"
	fstab_mount "$m" "$loop"
	[ "$(mount_source "$m")" = "fuseblk.diofs $loop" ] ||
		fail "fstab diofs#UUID= with type $type mounted $(mount_source "$m")"
	unmount_fs "$m" umount
done
# the image itself is no block device: found through a loop device over it
attach_loop "$img"
img_loop=$LOOP_DEV
"$DIOFS_BIN" "LABEL=$TAG-img" "$m" || fail "diofs LABEL=$TAG-img"
register "$m" "$img_loop"
[ "$(mount_source "$m")" = "fuseblk.diofs $img_loop" ] ||
	fail "LABEL=$TAG-img mounted $(mount_source "$m")"
unmount_fs "$m" umount
one_line_error "a label nothing carries" "diofs: LABEL=$TAG-none: " \
	"$DIOFS_BIN" "LABEL=$TAG-none" "$m"
one_line_error "a malformed UUID" "diofs: UUID=xyz: " "$DIOFS_BIN" UUID=xyz "$m"
# two filesystems with one label
new_image "$T_DIR/twin.img" 64M
attach_loop "$T_DIR/twin.img"
make_fs "$LOOP_DEV" -L "$TAG-loop"
one_line_error "a label two filesystems carry" "diofs: LABEL=$TAG-loop: 2 filesystems carry it" \
	"$DIOFS_BIN" "LABEL=$TAG-loop" "$m"
! is_mounted "$m" || fail "an ambiguous label mounted $m"

step "all checks passed"
