#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# posix.sh: the POSIX corners of a mounted diofs that basic.sh and
# programs.sh leave out: ENAMETOOLONG in every call that takes a name,
# permissions decided by the kernel (default_permissions) for a non-root
# user, set-id bits cleared on a write by another user, the largest file
# size, nanosecond timestamps on symlinks and directories across a
# remount, open unlinked files (also across a crash of the daemon),
# fallocate modes against a model, unknown ioctls, a full filesystem,
# exclusive use of a mounted device, -o ro, -o allow_other, device nodes
# and sockets, shared writable mmap across a remount, readdir while the
# directory changes, statfs accounting and concurrent writers.
#
# Sizes past 2^63 - 1 cannot reach diofs: the VFS refuses an offset that
# does not fit in loff_t with EINVAL (truncate to 2^63, pwrite of 2 bytes
# at 2^63 - 1, as on every Linux filesystem) and a range past the limit
# with EFBIG; the check below asserts exactly that, that RLIMIT_FSIZE gives
# EFBIG, and that a file of 2^63 - 1 bytes really works.
#
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_init
command -v setpriv >/dev/null || skip_or_fail "setpriv is not installed"

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

# user_errno NAME CODE: CODE, run as the unprivileged user, must fail with
# errno NAME.  user_ok CODE [ARGS...]: it must succeed.
user_errno() {
	local out
	out=$(as_user "$UPY" -c "
import errno, os, sys
try:
    $2
except OSError as e:
    if e.errno != errno.$1:
        sys.exit('got %s, not $1' % errno.errorcode.get(e.errno, e.errno))
    sys.exit(0)
sys.exit('succeeded instead of failing with $1')
" 2>&1) || fail "as uid $NOBODY: $2: $out"
}
user_ok() {
	local out
	out=$(as_user "$UPY" -c "import os, sys
$1" "${@:2}" 2>&1) || fail "as uid $NOBODY: $1: $out"
}

# Free bytes of the filesystem at $1.
free_bytes() { stat -f -c '%f %S' "$1" | { read -r f s; echo $((f * s)); }; }

# settle MOUNTPOINT: wait until deferred frees have landed.
settle() {
	local a b i
	sync -f "$1"
	b=$(free_bytes "$1")
	for ((i = 0; i < 50; i++)); do
		sleep 0.2
		a=$b
		b=$(free_bytes "$1")
		[ "$a" = "$b" ] && return 0
	done
	fail "free space of $1 does not settle"
}

# wait_free MOUNTPOINT BYTES: the kernel sends release and forget after
# close(2) returns, so freed space shows up a moment later.
wait_free() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(free_bytes "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

new_image "$T_DIR/loop.img" 512M
attach_loop "$T_DIR/loop.img"
dev=$LOOP_DEV
make_fs "$dev"
m=$T_DIR/mnt
mkdir "$m" "$T_DIR/mnt2"
# the unprivileged user must reach the mountpoint
chmod 0711 "$T_DIR"
# nodev: root's mounts honour device files by default, as a kernel
# filesystem's do; the device node checks below want them refused until
# the remount with -o dev
mount_fs "$dev" "$m" -o allow_other,nodev

remount() {
	unmount_fs "$m"
	mount_fs "$dev" "$m" "$@"
}

step "names: ENAMETOOLONG past 255 bytes, 255 bytes work"
n255=$(printf 'n%.0s' {1..255})
: >"$m/f"
mkdir "$m/d"
expect_errno ENAMETOOLONG "os.mkfifo('$m/${n255}x')"
expect_errno ENAMETOOLONG "os.mknod('$m/${n255}x', stat.S_IFREG | 0o644)"
expect_errno ENAMETOOLONG "os.mknod('$m/${n255}x', stat.S_IFCHR | 0o644, os.makedev(1, 3))"
expect_errno ENAMETOOLONG "os.unlink('$m/${n255}x')"
expect_errno ENAMETOOLONG "os.rmdir('$m/${n255}x')"
expect_errno ENAMETOOLONG "os.lstat('$m/${n255}x')"
expect_errno ENAMETOOLONG "os.rename('$m/${n255}x', '$m/g')"
expect_errno ENAMETOOLONG "os.rename('$m/d', '$m/${n255}x')"
pyrun "
m, n = sys.argv[1], sys.argv[2]
p, q = m + '/' + n, m + '/d/' + n
os.mkfifo(p); assert stat.S_ISFIFO(os.lstat(p).st_mode); os.unlink(p)
os.mknod(p, stat.S_IFREG | 0o644); os.rename(p, q); os.rename(q, p)
os.link(p, q); assert os.stat(q).st_nlink == 2; os.unlink(q); os.unlink(p)
os.mkdir(p); os.rename(p, q); os.rmdir(q)
os.symlink(n, p); assert os.readlink(p) == n; os.unlink(p)
assert os.listdir(m + '/d') == [] and n not in os.listdir(m)
" "$m" "$n255" || fail "a 255-byte name in mknod, mkdir, symlink, link, rename, unlink, rmdir"

step "permissions: the kernel decides, for uid $NOBODY"
mkdir "$m/pub" "$m/priv" "$m/closed" "$m/sticky"
chmod 0777 "$m/pub"
chmod 0755 "$m/priv"
chmod 0700 "$m/closed"
chmod 1777 "$m/sticky"
echo root >"$m/pub/ro644"
echo secret >"$m/pub/s600"
echo shared >"$m/pub/rw666"
echo other >"$m/sticky/rootfile"
chmod 0644 "$m/pub/ro644"
chmod 0600 "$m/pub/s600"
chmod 0666 "$m/pub/rw666"
chmod 0666 "$m/sticky/rootfile"
: >"$m/closed/inside"
user_errno EACCES "open('$m/pub/ro644', 'a')"
user_errno EACCES "open('$m/pub/s600').read()"
user_errno EACCES "open('$m/priv/new', 'w')"
user_errno EACCES "os.mkdir('$m/priv/new')"
user_errno EACCES "os.unlink('$m/f')"
user_errno EACCES "os.listdir('$m/closed')"
user_errno EACCES "os.stat('$m/closed/inside')"
user_errno EPERM "os.chmod('$m/pub/rw666', 0o777)"
user_errno EPERM "os.utime('$m/pub/rw666', (1, 1))"
user_errno EPERM "os.unlink('$m/sticky/rootfile')"
user_ok "
p = sys.argv[1]
with open(p + '/pub/rw666', 'a') as f: f.write('more\n')
os.truncate(p + '/pub/rw666', 3)
os.utime(p + '/pub/rw666')                  # now: write permission suffices
with open(p + '/pub/rw666', 'r+') as f: f.truncate(2)
with open(p + '/sticky/rootfile', 'w') as f: f.write('x')
with open(p + '/pub/mine', 'w') as f: f.write('mine\n')
os.chmod(p + '/pub/mine', 0o600)
os.utime(p + '/pub/mine', ns=(1, 123456789))
assert os.stat(p + '/pub/mine').st_mtime_ns == 123456789
os.chown(p + '/pub/mine', $NOBODY, $NOBODY)
os.setxattr(p + '/pub/mine', 'user.k', b'v')
os.mkdir(p + '/pub/ud'); os.symlink('x', p + '/pub/ud/sl')
os.link(p + '/pub/mine', p + '/pub/ud/hl'); os.mkfifo(p + '/pub/ud/ff')
os.rename(p + '/pub/mine', p + '/pub/mine2')
os.rename(p + '/pub/ro644', p + '/pub/ro644.moved')   # a file: no write access needed
for e in os.listdir(p + '/pub/ud'): os.unlink(p + '/pub/ud/' + e)
os.rmdir(p + '/pub/ud')
os.chmod(p + '/pub/mine2', 0)
try:
    open(p + '/pub/mine2').read()
    sys.exit('mode 0 did not keep the owner out')
except PermissionError:
    pass
os.chmod(p + '/pub/mine2', 0o644)
os.unlink(p + '/pub/s600')                  # a 0777 directory without the sticky bit
" "$m"
[ "$(stat -c %u:%g:%a "$m/pub/mine2")" = $NOBODY:$NOBODY:644 ] ||
	fail "owner and mode of a file uid $NOBODY made: $(stat -c %u:%g:%a "$m/pub/mine2")"
[ "$(cat "$m/pub/rw666")" = sh ] || fail "writes and truncation by uid $NOBODY"

step "set-id bits: cleared by the kernel on a write by another user"
# A setgid file without group execute is a locking mark and keeps the bit;
# the owner's own write clears the bits too (no CAP_FSETID).
for spec in "6777 append 777" "4766 truncate 766" "2767 append 2767" "6775 owner 775"; do
	read -r mode how want <<<"$spec"
	f=$m/pub/setid-$mode
	echo data >"$f"
	chmod "$mode" "$f"
	case $how in
	append) as_user sh -c "echo more >>'$f'" ;;
	truncate) as_user truncate -s 1 "$f" ;;
	owner) chown $NOBODY "$f" && chmod "$mode" "$f" &&
		as_user sh -c "echo more >>'$f'" ;;
	esac || fail "uid $NOBODY could not $how $f"
	[ "$(stat -c %a "$f")" = "$want" ] ||
		fail "mode $mode after $how by uid $NOBODY: $(stat -c %a "$f"), not $want"
done
as_user sh -c "echo x >'$m/pub/nongroup'"
chgrp 0 "$m/pub/nongroup"
as_user chmod 2755 "$m/pub/nongroup"
[ "$(stat -c %a:%g "$m/pub/nongroup")" = 755:0 ] ||
	fail "chmod g+s by a non-member: $(stat -c %a:%g "$m/pub/nongroup")"
mkdir "$m/sgid"
chgrp 1234 "$m/sgid"
chmod 2777 "$m/sgid"
as_user sh -c "echo x >'$m/sgid/f' && mkdir '$m/sgid/sub'"
[ "$(stat -c %g "$m/sgid/f"):$(stat -c %a:%g "$m/sgid/sub")" = 1234:2755:1234 ] ||
	fail "setgid directory inheritance: $(stat -c %n:%a:%g "$m/sgid/f" "$m/sgid/sub")"

step "file size limit: 2^63-1 works, beyond fails"
pyrun "
m = sys.argv[1]
libc.ftruncate.argtypes = [ctypes.c_int, ctypes.c_uint64]
libc.pwrite.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
libc.pwrite.restype = ctypes.c_ssize_t
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
def err(rc):
    assert rc == -1, rc
    return errno.errorcode[ctypes.get_errno()]
MAX = 2**63 - 1
fd = os.open(m + '/huge', os.O_CREAT | os.O_RDWR, 0o644)
assert os.pwrite(fd, b'Z', MAX - 1) == 1
assert os.fstat(fd).st_size == MAX
assert os.pread(fd, 1, MAX - 1) == b'Z' and os.pread(fd, 3, MAX - 3) == b'\0\0Z'
assert os.lseek(fd, 0, os.SEEK_DATA) == MAX + 1 - 4096
os.ftruncate(fd, 0)
os.ftruncate(fd, MAX)
assert os.fstat(fd).st_size == MAX and os.fstat(fd).st_blocks == 0
assert os.pread(fd, 2, MAX - 2) == bytes(2)
# beyond 2^63-1 the VFS answers before diofs is asked: offsets that do not
# fit in loff_t are EINVAL (as on every Linux filesystem), a range past the
# limit is EFBIG; either way the file is unchanged.
assert err(libc.ftruncate(fd, 2**63)) == 'EINVAL'
assert err(libc.pwrite(fd, b'xy', 2, MAX)) == 'EINVAL'
assert err(libc.fallocate(fd, 0, MAX - 4095, 8192)) == 'EFBIG'
assert os.fstat(fd).st_size == MAX
os.close(fd)
os.unlink(m + '/huge')
" "$m" || fail "2^63-1 byte file"
# RLIMIT_FSIZE: EFBIG from write, truncate and fallocate, and nothing done;
# a write across the limit stops at it.  Python ignores SIGXFSZ.
for direct in 0 1; do
	pyrun "
import resource
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR | os.O_TRUNC | (os.O_DIRECT if sys.argv[2] == '1' else 0), 0o644)
def efbig(f):
    try:
        f()
    except OSError as e:
        assert e.errno == errno.EFBIG, e
        return
    sys.exit('succeeded past RLIMIT_FSIZE')
efbig(lambda: os.pwrite(fd, b'x' * 4096, 1 << 20))
assert os.fstat(fd).st_size == 0
assert os.pwrite(fd, b'y' * 8192, (1 << 20) - 4096) == 4096
efbig(lambda: os.ftruncate(fd, 2 << 20))
if libc.fallocate(fd, 0, 0, 2 << 20):
    assert ctypes.get_errno() == errno.EFBIG, ctypes.get_errno()
else:
    sys.exit('fallocate succeeded past RLIMIT_FSIZE')
st = os.fstat(fd)
assert st.st_size == 1 << 20, st.st_size
assert os.pread(fd, 4096, (1 << 20) - 4096) == b'y' * 4096
" "$m/fsize" "$direct" || fail "RLIMIT_FSIZE (O_DIRECT: $direct)"
done
rm "$m/fsize"

step "timestamps keep nanoseconds: file, directory, symlink"
echo t >"$m/ts-file"
mkdir "$m/ts-dir"
ln -s ts-file "$m/ts-link"
for f in ts-file ts-dir ts-link; do
	touch -h -m -d '2003-04-05 06:07:08.123456789' "$m/$f"
	touch -h -a -d '1999-12-31 23:59:59.987654321' "$m/$f"
done
touch -h -m -d '1969-12-31 23:59:58.5' "$m/ts-dir"
ts_check() {
	local want
	want="2003-04-05 06:07:08.123456789 +0000|1999-12-31 23:59:59.987654321 +0000|1049522828|946684799"
	for f in ts-file ts-link; do
		[ "$(stat -c '%y|%x|%Y|%X' "$m/$f")" = "$want" ] ||
			fail "$f $1: $(stat -c '%y|%x|%Y|%X' "$m/$f")"
	done
	[ "$(stat -c '%y|%Y|%x' "$m/ts-dir")" = "1969-12-31 23:59:58.500000000 +0000|-2|1999-12-31 23:59:59.987654321 +0000" ] ||
		fail "ts-dir $1: $(stat -c '%y|%Y|%x' "$m/ts-dir")"
	[ "$(stat -L -c %y "$m/ts-link")" = "2003-04-05 06:07:08.123456789 +0000" ] ||
		fail "the symlink's target $1"
}
ts_check "before remount"

step "open unlinked file: nlink 0, usable until the last close, space freed"
free0=$(free_bytes "$m")
pyrun "
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR, 0o644)
data = os.urandom(8 << 20)
assert os.write(fd, data) == len(data)
os.unlink(sys.argv[1])
st = os.fstat(fd)
assert st.st_nlink == 0 and st.st_size == len(data), (st.st_nlink, st.st_size)
assert os.pread(fd, len(data), 0) == data
assert os.pwrite(fd, b'tail', len(data)) == 4
os.fsync(fd)
fd2 = os.open('/proc/self/fd/%d' % fd, os.O_RDWR)   # another open of it
os.close(fd)
assert os.pread(fd2, 4, len(data)) == b'tail' and os.fstat(fd2).st_nlink == 0
os.ftruncate(fd2, 1 << 20)
os.fchmod(fd2, 0o600)
assert os.fstat(fd2).st_size == 1 << 20 and os.fstat(fd2).st_mode & 0o777 == 0o600
assert os.pread(fd2, 1 << 20, 0) == data[:1 << 20]
free = os.statvfs(sys.argv[2])
assert free.f_bfree * free.f_frsize <= int(sys.argv[3]) - (1 << 20), 'space freed while open'
os.close(fd2)
assert not os.path.exists(sys.argv[1])
" "$m/unlinked" "$m" "$free0" || fail "open unlinked file"
wait_free "$m" "$free0" ||
	fail "space of a closed unlinked file not freed: $(free_bytes "$m") < $free0"

step "fallocate: unsupported modes EOPNOTSUPP, supported ones against a model"
pyrun "
import random, mmap
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
KEEP, PUNCH, COLLAPSE, ZERO, INSERT, UNSHARE = 1, 2, 8, 16, 32, 64
def falloc(fd, mode, off, ln):
    if libc.fallocate(fd, mode, off, ln):
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
p, ref = sys.argv[1], sys.argv[2]
random.seed(20251126)
fd = os.open(p, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)
dfd = os.open(p, os.O_RDWR | os.O_DIRECT)
model = bytearray(os.urandom(300001))
os.write(fd, model)
for mode in (COLLAPSE, INSERT, COLLAPSE | KEEP, INSERT | KEEP, UNSHARE, PUNCH):
    for f in (fd, dfd):
        try:
            falloc(f, mode, 4096, 4096)
            sys.exit('fallocate mode %#x succeeded' % mode)
        except OSError as e:
            assert e.errno == errno.EOPNOTSUPP, (mode, e)
assert os.pread(fd, len(model) + 1, 0) == model
# preallocation past EOF reads as zeros once the size reaches it
os.ftruncate(fd, 250001)
del model[250001:]
falloc(dfd, KEEP, 250001, 100000)
assert os.fstat(fd).st_size == 250001
os.ftruncate(fd, 350001)
model.extend(bytes(100000))
def check(tag):
    want = bytes(model)
    got = os.pread(fd, len(model) + 4096, 0)
    f = os.open(p, os.O_RDONLY)
    fresh = os.pread(f, len(model) + 4096, 0)
    os.close(f)
    buf = mmap.mmap(-1, (len(model) + 8191) // 4096 * 4096)
    f = os.open(p, os.O_RDONLY | os.O_DIRECT)
    n = os.preadv(f, [buf], 0)
    os.close(f)
    for how, g in (('same descriptor', got), ('new descriptor', fresh), ('O_DIRECT', bytes(buf[:n]))):
        if g != want:
            i = next((i for i in range(min(len(g), len(want))) if g[i] != want[i]), min(len(g), len(want)))
            sys.exit('%s: %s read %d bytes, want %d, first difference at %d' % (tag, how, len(g), len(want), i))
check('KEEP_SIZE past EOF then truncate up')
for it in range(250):
    mode = random.choice([0, KEEP, PUNCH | KEEP, ZERO, ZERO | KEEP])
    off = random.randrange(0, len(model) + 50000)
    ln = random.randrange(1, 70000)
    direct = random.random() < 0.5
    falloc(dfd if direct else fd, mode, off, ln)
    end = off + ln
    if mode & (PUNCH | ZERO):
        lo, hi = min(off, len(model)), min(end, len(model))
        model[lo:hi] = bytes(hi - lo)
    if not mode & KEEP and end > len(model):
        model.extend(bytes(end - len(model)))
    if random.random() < 0.3:
        woff = random.randrange(0, len(model) + 5000)
        data = os.urandom(random.randrange(1, 20000))
        os.pwrite(fd, data, woff)
        if woff > len(model):
            model.extend(bytes(woff - len(model)))
        model[woff:woff + len(data)] = data
    if random.random() < 0.1:
        t = random.randrange(0, len(model) + 30000)
        os.ftruncate(fd, t)
        if t < len(model):
            del model[t:]
        else:
            model.extend(bytes(t - len(model)))
    if it % 5 == 0 or it > 240:
        check('step %d: mode %#x off %d len %d%s' % (it, mode, off, ln, ' (O_DIRECT)' if direct else ''))
    assert os.fstat(fd).st_size == len(model), (it, os.fstat(fd).st_size, len(model))
with open(ref, 'wb') as f:
    f.write(model)
" "$m/falloc" "$T_DIR/falloc.ref" || fail "fallocate"
cmp "$m/falloc" "$T_DIR/falloc.ref" || fail "fallocate model differs"

# (FS_IOC_GETFLAGS, SETFLAGS and FSGETXATTR are known: attrs.sh)
step "unknown ioctls: ENOTTY on files and directories"
for path in "$m/f" "$m/d"; do
	for req in 0x1234 0x40085a01 0xc0105a02 0x80087601 0x40087602 0x8008581e; do
		expect_errno ENOTTY "import fcntl; fcntl.ioctl(os.open('$path', os.O_RDONLY), $req, bytearray(32))"
	done
done

step "device nodes, fifos and sockets keep their type and rdev"
mknod "$m/chr" c 1 3
mknod "$m/zero" c 1 5
mknod "$m/blk" b 7 200
mknod "$m/chr-big" c 259 1048575
mknod "$m/blk-big" b 4095 1048575
mknod "$m/fifo" p
nodes_check() {
	local out
	out=$(cd "$m" && stat -c '%n %F %t:%T' chr zero blk chr-big blk-big fifo | tr '\n' ,)
	[ "$out" = "chr character special file 1:3,zero character special file 1:5,blk block special file 7:c8,chr-big character special file 103:fffff,blk-big block special file fff:fffff,fifo fifo 0:0," ] ||
		fail "device nodes $1: $out"
}
nodes_check "after mknod"
pyrun "
import socket, threading
m = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(m + '/sock')
s.listen(1)
assert stat.S_ISSOCK(os.lstat(m + '/sock').st_mode)
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(m + '/sock')
a, _ = s.accept()
c.sendall(b'stream')
assert a.recv(6) == b'stream'
d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
d.bind(m + '/dsock')
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b'dgram', m + '/dsock')
assert d.recv(5) == b'dgram'
r = os.open(m + '/fifo', os.O_RDONLY | os.O_NONBLOCK)
w = os.open(m + '/fifo', os.O_WRONLY)
os.write(w, b'fifo')
assert os.read(r, 4) == b'fifo'
try:
    open(m + '/chr', 'wb')
    sys.exit('opened a device node on a nodev mount')
except PermissionError:
    pass
" "$m" || fail "sockets and fifos"
[ "$(stat -c %F "$m/sock")" = socket ] || fail "socket type after close"

step "shared writable mmap: write, msync, read back after remount"
pyrun "
import mmap
p, ref = sys.argv[1], sys.argv[2]
fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
os.ftruncate(fd, 100001)
mm = mmap.mmap(fd, 100001, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
data = bytearray(os.urandom(100001))
mm[:] = data
mm.flush()
mm.close()
os.ftruncate(fd, 200003)
mm2 = mmap.mmap(fd, 200003, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
tail = os.urandom(1000)
mm2[199003:200003] = tail
mm2[4095:4101] = b'across'
mm2.flush()
data.extend(bytes(100002))
data[199003:200003] = tail
data[4095:4101] = b'across'
mm2.close()
os.close(fd)
with open(ref, 'wb') as f:
    f.write(data)
" "$m/mapped" "$T_DIR/mapped.ref" || fail "shared writable mmap"

step "directories: hard link EPERM, rename into a descendant EINVAL"
mkdir -p "$m/tree/sub/deeper"
expect_errno EPERM "os.link('$m/tree', '$m/tree-link')"
expect_errno EPERM "os.link('$m/tree/sub', '$m/tree/sub2')"
expect_errno EINVAL "os.rename('$m/tree', '$m/tree/sub/deeper/tree')"
expect_errno ENOTEMPTY "os.rmdir('$m/tree/sub')"
expect_errno ENOTEMPTY "os.rename('$m/d', '$m/tree')"
[ -d "$m/tree/sub/deeper" ] && [ "$(stat -c %h "$m/tree")" -eq 3 ] ||
	fail "the tree after failed renames and links"

step "readdir while entries are added and removed"
pyrun "
import random, collections
m = sys.argv[1]
random.seed(7)
for run in range(2):
    d = '%s/rd%d' % (m, run)
    os.mkdir(d)
    names = ['e%05d-%s' % (i, 'x' * (i % 60)) for i in range(4000)]
    for n in names:
        os.close(os.open(d + '/' + n, os.O_CREAT | os.O_WRONLY, 0o644))
    doomed = random.sample(names, 2000)
    untouched = set(names) - set(doomed)
    seen, added = collections.Counter(), set()
    with os.scandir(d) as it:
        for k, e in enumerate(it):
            seen[e.name] += 1
            if run == 0 and k % 2 == 0:
                # steady churn: two out, one in
                for _ in range(2):
                    if doomed:
                        os.unlink(d + '/' + doomed.pop())
                added.add('new%05d' % k)
                os.close(os.open(d + '/new%05d' % k, os.O_CREAT | os.O_WRONLY, 0o644))
            elif run == 1 and k < 100:
                # a burst of additions early, then removals
                for j in range(30):
                    n = 'g%03d-%02d-%s' % (k, j, 'y' * random.randrange(120))
                    os.close(os.open(d + '/' + n, os.O_CREAT | os.O_WRONLY, 0o644))
                    added.add(n)
            elif run == 1:
                for _ in range(3):
                    if doomed:
                        os.unlink(d + '/' + doomed.pop())
    twice = [n for n, c in seen.items() if c > 1]
    missed = untouched - set(seen)
    unknown = set(seen) - set(names) - added
    assert not twice, 'run %d: returned twice: %s' % (run, twice[:5])
    assert not missed, 'run %d: missed: %s' % (run, sorted(missed)[:5])
    assert not unknown, 'run %d: never existed: %s' % (run, sorted(unknown)[:5])
    assert set(os.listdir(d)) == untouched | added | set(doomed), 'run %d: final listing' % run
" "$m" || fail "readdir during changes"
rm -rf "$m/rd0" "$m/rd1"

step "statfs: 100 MiB written and removed"
settle "$m"
read -r blocks0 bfree0 files0 ffree0 bsize < <(stat -f -c '%b %f %c %d %S' "$m")
head -c 100M /dev/zero >"$m/hundred"
read -r blocks1 bfree1 files1 ffree1 _ < <(stat -f -c '%b %f %c %d %S' "$m")
used=$(((bfree0 - bfree1) * bsize))
[ "$used" -ge $((100 << 20)) ] && [ "$used" -le $((101 << 20)) ] ||
	fail "free space fell by $used bytes for a 100 MiB file"
[ "$blocks1" -eq "$blocks0" ] && [ "$files1" -eq "$files0" ] &&
	[ "$((ffree0 - ffree1))" -eq 1 ] ||
	fail "statfs blocks $blocks0/$blocks1 files $files0/$files1 ffree $ffree0/$ffree1"
[ "$(df -B1 --output=used "$m" | tail -n1)" -ge $((100 << 20)) ] || fail "df used"
rm "$m/hundred"
wait_free "$m" $((bfree0 * bsize)) ||
	fail "free space after removing 100 MiB: $(free_bytes "$m"), was $((bfree0 * bsize))"

step "4 writers on 4 files and 2 on disjoint stripes of one file"
conc() {
	pyrun "
import random
m, role = sys.argv[1], sys.argv[2]
STRIPE, NSTRIPES, FILE = 1000, 6000, 8 << 20   # stripes straddle blocks
def pattern(seed, n):
    return random.Random(seed).randbytes(n)
if role.startswith('file'):
    i = int(role[4:])
    data = pattern(role, FILE)
    fd = os.open('%s/conc-%d' % (m, i), os.O_CREAT | os.O_WRONLY | (os.O_DIRECT if i == 3 else 0), 0o644)
    pos, step = 0, 4096 * (i + 1) + 123 * i
    while pos < len(data):
        pos += os.pwrite(fd, data[pos:pos + step], pos)
    os.close(fd)
elif role.startswith('stripe'):
    k = int(role[6:])
    fd = os.open(m + '/shared', os.O_WRONLY | (os.O_DIRECT if k else 0))
    for s in range(k, NSTRIPES, 2):
        os.pwrite(fd, pattern('s%d' % s, STRIPE), s * STRIPE)
    os.close(fd)
else:
    for i in range(4):
        with open('%s/conc-%d' % (m, i), 'rb') as f:
            assert f.read() == pattern('file%d' % i, FILE), 'conc-%d differs' % i
    with open(m + '/shared', 'rb') as f:
        d = f.read()
    assert len(d) == STRIPE * NSTRIPES, len(d)
    bad = [s for s in range(NSTRIPES) if d[s * STRIPE:(s + 1) * STRIPE] != pattern('s%d' % s, STRIPE)]
    assert not bad, '%d stripes differ, the first is %d' % (len(bad), bad[0])
" "$m" "$1"
}
# shared file empty (extending writes), full (overwrites), sparse (holes)
for start in empty full sparse; do
	rm -f "$m/shared" "$m"/conc-*
	case $start in
	empty) : >"$m/shared" ;;
	full) head -c 6000000 /dev/urandom >"$m/shared" ;;
	sparse) truncate -s 6000000 "$m/shared" ;;
	esac
	pids=()
	for role in file0 file1 file2 file3 stripe0 stripe1; do
		conc "$role" &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do wait "$pid" || fail "a concurrent writer failed ($start)"; done
	conc verify || fail "concurrent writes ($start shared file)"
done

step "the mounted device: second mount, mkfs and fsck refuse it"
# one_line_error WHAT PREFIX COMMAND...: COMMAND must fail with one line of
# error that starts with PREFIX.  A mount that wrongly succeeded in the
# background is taken down again.
one_line_error() {
	local what=$1 prefix=$2 out arg
	shift 2
	if out=$(timeout 20 "$@" 2>&1 </dev/null); then
		for arg; do
			[ -d "$arg" ] && [ -z "${T_MNT_PID[$arg]:-}" ] &&
				is_mounted "$arg" && fusermount3 -u "$arg"
		done
		fail "$what succeeded on a mounted filesystem"
	fi
	[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && [[ $out == "$prefix"* ]] ||
		fail "$what: not one line starting with '$prefix': $out"
}
one_line_error "a second mount (daemon form)" "diofs: $dev: " "$DIOFS_BIN" "$dev" "$T_DIR/mnt2"
! is_mounted "$T_DIR/mnt2" || fail "a second mount left $T_DIR/mnt2 mounted"
# The same filesystem under its other name: the image behind the loop device.
one_line_error "a mount of the image behind the mounted loop device" \
	"diofs: $T_DIR/loop.img: " "$DIOFS_BIN" "$T_DIR/loop.img" "$T_DIR/mnt2"
! is_mounted "$T_DIR/mnt2" || fail "a mount of loop.img left $T_DIR/mnt2 mounted"
one_line_error "mkfs.diofs" "mkfs.diofs: " "$MKFS_BIN" "$dev"
one_line_error "mkfs.diofs -f" "mkfs.diofs: " "$MKFS_BIN" -f "$dev"
if [ -x "$FSCK_BIN" ]; then
	one_line_error "fsck.diofs -n" "fsck.diofs: " "$FSCK_BIN" -n "$dev"
	one_line_error "fsck.diofs -y" "fsck.diofs: " "$FSCK_BIN" -y "$dev"
fi
[ "$(cat "$m/pub/rw666")" = sh ] || fail "the mount after the refused commands"

step "-o allow_other: another user reads world-readable files only"
echo world >"$m/world"
chmod 0644 "$m/world"
[ "$(as_user cat "$m/world")" = world ] || fail "uid $NOBODY cannot read a 0644 file"
user_errno EACCES "open('$m/pub/ro644.moved', 'w')"

step "remount (-o dev): everything above is still there"
sums=$(cd "$m" && sha256sum falloc mapped conc-* shared)
remount -o allow_other,dev
[ "$(cd "$m" && sha256sum falloc mapped conc-* shared)" = "$sums" ] ||
	fail "data changed across remount"
cmp "$m/falloc" "$T_DIR/falloc.ref" || fail "fallocated file after remount"
cmp "$m/mapped" "$T_DIR/mapped.ref" || fail "data written through mmap after remount"
conc verify || fail "concurrent writes after remount"
ts_check "after remount"
nodes_check "after remount"
[ "$(stat -c %F "$m/sock")" = socket ] || fail "socket type after remount"
echo discarded >"$m/chr" || fail "writing to a 1:3 node on a dev mount"
[ "$(head -c 4 "$m/zero" | od -An -tx1 | tr -d ' ')" = 00000000 ] ||
	fail "reading a 1:5 node on a dev mount"
pyrun "
import mmap
fd = os.open(sys.argv[1], os.O_RDWR)
mm = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
mm[100:104] = b'more'
mm.close(); os.close(fd)
with open(sys.argv[1], 'rb') as f:
    assert f.read()[100:104] == b'more'
" "$m/mapped" || fail "a second mmap write"

step "crash with open unlinked files: freed at the next mount"
rm -rf "${m:?}"/*
settle "$m"
free0=$(free_bytes "$m")
ready=$T_DIR/holder.ready
python3 -c "
import os, sys, time
m = sys.argv[1]
fds = []
for i, size in enumerate((16 << 20, 8 << 20, 4 << 20)):
    fd = os.open('%s/orphan%d' % (m, i), os.O_CREAT | os.O_RDWR, 0o644)
    os.write(fd, os.urandom(size))
    fds.append(fd)
os.ftruncate(fds[2], 1 << 62)
# a file replaced by rename while open
fd = os.open(m + '/victim', os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, os.urandom(2 << 20))
fds.append(fd)
open(m + '/replacement', 'w').close()
os.rename(m + '/replacement', m + '/victim')
for i in range(3):
    os.unlink('%s/orphan%d' % (m, i))
os.close(fds.pop(1))        # the middle of the orphan list goes first
for fd in fds:
    os.fsync(fd)
    assert os.fstat(fd).st_nlink == 0
open(sys.argv[2], 'w').close()
time.sleep(120)
" "$m" "$ready" &
holder=$!
# Its open files would keep the mount, and so the daemon, alive past the
# test if a check below failed.
trap 'rc=$?; set +e; kill "$holder" 2>/dev/null; (exit $rc); lib_cleanup' EXIT
for ((i = 0; i < 300; i++)); do
	[ -e "$ready" ] && break
	proc_alive "$holder" || fail "the process holding unlinked files died"
	sleep 0.1
done
[ -e "$ready" ] || fail "unlinked files were not set up"
[ "$(free_bytes "$m")" -le $((free0 - (18 << 20))) ] ||
	fail "open unlinked files hold no space: $(free_bytes "$m") of $free0 free"
pid=${T_MNT_PID[$m]}
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
kill "$holder"
wait "$holder" 2>/dev/null || true
trap lib_cleanup EXIT
fusermount3 -u "$m" 2>/dev/null || umount -l "$m"
unset "T_MNT_PID[$m]"
! is_mounted "$m" || fail "the dead mount is still there"
run_fsck "$dev"
mount_fs "$dev" "$m" -o allow_other
[ "$(ls -A "$m")" = victim ] || fail "after the crash: $(ls -A "$m")"
[ "$(stat -c %s "$m/victim")" -eq 0 ] || fail "the file that replaced victim"
# with its one entry gone the root directory holds no block either
rm "$m/victim"
wait_free "$m" "$free0" ||
	fail "space of open unlinked files after a crash: $(free_bytes "$m") free, was $free0"
unmount_fs "$m"

step "without -o allow_other another user is refused at the mountpoint"
mount_fs "$dev" "$m"
echo world >"$m/world"
chmod 0644 "$m/world"
user_errno EACCES "os.stat('$m')"
user_errno EACCES "open('$m/world').read()"
user_errno EACCES "os.listdir('$m')"
mkdir "$m/dir" "$m/full"
: >"$m/full/x"
ln -s world "$m/link"
unmount_fs "$m"

step "-o ro: every change is EROFS and the device is not written"
before=$(sha256sum <"$T_DIR/loop.img")
mount_fs "$dev" "$m" -o ro
for code in \
	"os.open('$m/new', os.O_CREAT | os.O_WRONLY)" \
	"os.open('$m/world', os.O_RDWR)" \
	"os.open('$m/world', os.O_RDONLY | os.O_TRUNC)" \
	"os.truncate('$m/world', 0)" \
	"os.unlink('$m/world')" \
	"os.rmdir('$m/dir')" \
	"os.rename('$m/world', '$m/w2')" \
	"os.rename('$m/dir', '$m/full/dir')" \
	"os.link('$m/world', '$m/w2')" \
	"os.symlink('x', '$m/w2')" \
	"os.mkfifo('$m/w2')" \
	"os.mknod('$m/w2', stat.S_IFCHR | 0o600, os.makedev(1, 3))" \
	"os.chmod('$m/world', 0o600)" \
	"os.chown('$m/world', 1, 1)" \
	"os.utime('$m/world', (1, 1))" \
	"os.utime('$m/link', (1, 1), follow_symlinks=False)" \
	"os.setxattr('$m/world', 'user.k', b'v')" \
	"os.removexattr('$m/world', 'user.k')"; do
	expect_errno EROFS "$code"
done
[ "$(cat "$m/world")" = world ] && [ "$(readlink "$m/link")" = world ] ||
	fail "reads on a ro mount"
pyrun "assert os.statvfs(sys.argv[1]).f_flag & os.ST_RDONLY" "$m" || fail "statvfs ST_RDONLY"
ls -lR "$m" >/dev/null
unmount_fs "$m"
[ "$(sha256sum <"$T_DIR/loop.img")" = "$before" ] || fail "a ro mount wrote to the device"

step "a full 64 MiB filesystem (image file)"
img=$T_DIR/small.img
sm=$T_DIR/mnt2
new_image "$img" 64M
make_fs "$img"
mount_fs "$img" "$sm"
one_line_error "a second mount of an image file" "diofs: $img: " "$DIOFS_BIN" -f "$img" "$m"
one_line_error "a second mount of an image file (daemon form)" "diofs: $img: " "$DIOFS_BIN" "$img" "$m"
! is_mounted "$m" || fail "a second mount of $img left $m mounted"
# ...and under its other name: a loop device over the mounted image.
attach_loop "$img"
one_line_error "a mount of a loop device over a mounted image" \
	"diofs: $LOOP_DEV: " "$DIOFS_BIN" "$LOOP_DEV" "$m"
! is_mounted "$m" || fail "a mount of $LOOP_DEV left $m mounted"
one_line_error "mkfs.diofs -f of a mounted image" "mkfs.diofs: " "$MKFS_BIN" -f "$img"
if [ -x "$FSCK_BIN" ]; then
	one_line_error "fsck.diofs -n of a mounted image" "fsck.diofs: " "$FSCK_BIN" -n "$img"
fi
statfs_sane() {
	local blocks bfree bavail files ffree bsize
	read -r blocks bfree bavail files ffree bsize < <(stat -f -c '%b %f %a %c %d %S' "$sm")
	[ "$blocks" -gt 0 ] && [ "$bfree" -le "$blocks" ] && [ "$bavail" -le "$bfree" ] &&
		[ "$ffree" -le "$files" ] && [ $((blocks * bsize)) -le $((64 << 20)) ] &&
		[ $((blocks * bsize)) -ge $((48 << 20)) ] ||
		fail "statfs $1: blocks $blocks bfree $bfree bavail $bavail files $files ffree $ffree"
}
statfs_sane "when empty"
free0=$(free_bytes "$sm")
pyrun "
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR, 0o644)
if libc.fallocate(fd, 0, 0, 100 << 20) == 0:
    sys.exit('fallocate of 100 MiB on a 64 MiB filesystem succeeded')
assert ctypes.get_errno() == errno.ENOSPC, errno.errorcode[ctypes.get_errno()]
st = os.fstat(fd)
assert st.st_size == 0 and st.st_blocks == 0, (st.st_size, st.st_blocks)
" "$sm/prealloc" || fail "fallocate past the free space"
rm "$sm/prealloc"
wait_free "$sm" "$free0" || fail "a failed fallocate kept space: $(free_bytes "$sm") free, was $free0"
for direct in 0 1; do
	pyrun "
import hashlib
m, direct = sys.argv[1], sys.argv[2] == '1'
sums = {}
for i in range(20):
    d = os.urandom(12345 * (i + 1))
    with open('%s/keep%d' % (m, i), 'wb') as f:
        f.write(d)
    sums[i] = hashlib.sha256(d).hexdigest()
sv = os.statvfs(m)
free_before = sv.f_bfree
fd = os.open(m + '/fill', os.O_CREAT | os.O_WRONLY | (os.O_DIRECT if direct else 0), 0o644)
import mmap
chunk = mmap.mmap(-1, 1 << 20)
chunk.write(os.urandom(1 << 20))
total = 0
while True:
    try:
        n = os.pwritev(fd, [chunk], total)
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
        break
    assert n > 0
    total += n
    assert total < 64 << 20, 'wrote more than the filesystem holds'
# An O_DIRECT write that does not fit fails whole (the kernel cuts the
# file back to its size before the write): the last megabyte goes in 4 KiB
# writes.
small = mmap.mmap(-1, 4096)
small.write(os.urandom(4096))
while True:
    try:
        n = os.pwritev(fd, [small], total)
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
        break
    assert n > 0
    total += n
    assert total < 64 << 20, 'wrote more than the filesystem holds'
assert os.fstat(fd).st_size == total, (os.fstat(fd).st_size, total)
assert total >= (free_before * sv.f_frsize) - (4 << 20), 'ENOSPC with %d of %d bytes written' % (total, free_before * sv.f_frsize)
sv = os.statvfs(m)
assert sv.f_bfree <= sv.f_blocks // 100, 'full, yet %d of %d blocks free' % (sv.f_bfree, sv.f_blocks)
for size in (4096, 1):
    try:
        os.pwrite(fd, b'x' * size, total + (1 << 20))
        sys.exit('a %d-byte write to a full filesystem succeeded' % size)
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
os.close(fd)
for i in range(20):
    with open('%s/keep%d' % (m, i), 'rb') as f:
        assert hashlib.sha256(f.read()).hexdigest() == sums[i], 'keep%d changed' % i
print(total)
" "$sm" "$direct" >"$T_DIR/filled" || fail "filling the filesystem (O_DIRECT: $direct)"
	statfs_sane "when full"
	rm "$sm/fill" "$sm"/keep*
	wait_free "$sm" $(($(cat "$T_DIR/filled") - (1 << 20))) ||
		fail "space after removing the fill file: $(free_bytes "$sm")"
	statfs_sane "after removing the fill file"
	head -c 20M /dev/urandom >"$T_DIR/again"
	cp "$T_DIR/again" "$sm/again" || fail "writing after space was freed"
	cmp "$T_DIR/again" "$sm/again" || fail "data written after space was freed"
	rm "$sm/again"
done
unmount_fs "$sm"

step "all checks passed"
