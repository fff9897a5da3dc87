#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# setid.sh: set-user-ID and set-group-ID bits and the security.capability
# attribute are cleared on diofs exactly as on kernel ext4, now that the
# daemon clears the bits itself (FUSE_HANDLE_KILLPRIV_V2):
#  - a write (buffered or O_DIRECT), a truncate or an O_TRUNC open by a
#    user without CAP_FSETID clears set-user-ID, and set-group-ID when the
#    file is group-executable; by root they stay;
#  - a change of owner or group clears them, by root too (set-group-ID of
#    a file that is not group-executable stays);
#  - a write, truncate or chown removes security.capability, by root too.
# The same workload runs on ext4 (in a mount namespace of the test's own)
# and on diofs, with and without -o writeback_cache, and must print the
# same.  Then the point of it: 1000 write(2) calls to one file cost the
# kernel at most two security.capability lookups in the daemon, not one
# per write (diofs-stat's getxattr count).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_diofs_stat
private_mount_namespace "$@"
lib_init
command -v mkfs.ext4 >/dev/null || skip_or_fail "mkfs.ext4 is not installed"

# The workload: one line per case, the mode's set-id bits and whether
# security.capability is there afterwards.  Unprivileged steps run in a
# child as nobody, with no capabilities.
workload() {
	pyrun '
import mmap, struct, subprocess
top = sys.argv[1]
NOBODY = 65534
CAP = "security.capability"
# VFS_CAP_REVISION_2, effective; permitted: CAP_NET_RAW
CAPVAL = struct.pack("<5I", 0x02000001, 1 << 13, 0, 0, 0)

def as_nobody(fn):
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            fn()
            os._exit(0)
        except BaseException as e:
            print(e, file=sys.stderr)
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    if status:
        raise SystemExit("the unprivileged step failed")

def as_root(fn):
    fn()

def new_file(name, mode, cap=False):
    p = os.path.join(top, name)
    with open(p, "wb") as f:
        f.write(b"x" * 8192)
    os.chmod(p, mode)
    if cap:
        os.setxattr(p, CAP, CAPVAL)
    return p

def append(p, flags=0):
    def fn():
        if flags & os.O_DIRECT:
            buf = mmap.mmap(-1, 4096)
            buf.write(b"y" * 4096)
            fd = os.open(p, os.O_WRONLY | flags)
            os.pwrite(fd, buf, 8192)
        else:
            fd = os.open(p, os.O_WRONLY | os.O_APPEND)
            os.write(fd, b"more")
        os.close(fd)
    return fn

def report(case, p):
    # stat -c %a asks for the mode alone (statx), which the kernel answers
    # from its cache when it can: the bits must be gone there as well.
    alone = subprocess.run(["stat", "-c", "%a", p], check=True,
                           capture_output=True, text=True).stdout.strip()
    st = os.stat(p)
    if int(alone, 8) != stat.S_IMODE(st.st_mode):
        raise SystemExit("%s: stat -c %%a says %s, stat(2) %o" %
                         (case, alone, stat.S_IMODE(st.st_mode)))
    try:
        os.getxattr(p, CAP)
        cap = "cap"
    except OSError as e:
        if e.errno != errno.ENODATA:
            raise
        cap = "nocap"
    print("%-28s %04o %s" % (case, stat.S_IMODE(st.st_mode) & 0o7000, cap))

cases = [
    ("write-nobody-6777", 0o6777, as_nobody, append),
    ("write-nobody-4777", 0o4777, as_nobody, append),
    ("write-root-6777", 0o6777, as_root, append),
    ("odirect-nobody-6777", 0o6777, as_nobody,
     lambda p: append(p, os.O_DIRECT)),
    ("odirect-root-6777", 0o6777, as_root,
     lambda p: append(p, os.O_DIRECT)),
    ("truncate-nobody-6777", 0o6777, as_nobody,
     lambda p: lambda: os.truncate(p, 100)),
    ("truncate-root-6777", 0o6777, as_root,
     lambda p: lambda: os.truncate(p, 100)),
    ("otrunc-nobody-6777", 0o6777, as_nobody,
     lambda p: lambda: os.close(os.open(p, os.O_WRONLY | os.O_TRUNC))),
    ("chown-root-6755", 0o6755, as_root,
     lambda p: lambda: os.chown(p, NOBODY, NOBODY)),
    ("chown-root-2745", 0o2745, as_root,
     lambda p: lambda: os.chown(p, NOBODY, NOBODY)),
    ("chmod-root-6755", 0o6755, as_root,
     lambda p: lambda: os.chmod(p, 0o6750)),
]
for name, mode, who, action in cases:
    p = new_file(name, mode)
    who(action(p))
    report(name, p)

for name, action in [
        ("cap-write-root", append),
        ("cap-truncate-root", lambda p: lambda: os.truncate(p, 10)),
        ("cap-chown-root", lambda p: lambda: os.chown(p, NOBODY, NOBODY)),
        ("cap-read-root", lambda p: lambda: open(p, "rb").read())]:
    p = new_file(name, 0o755, cap=True)
    action(p)()
    report(name, p)
' "$1"
}

step "ext4: the reference"
chmod 0755 "$T_DIR"	# the unprivileged user reaches the mounts
ext_img=$T_DIR/ext4.img
ext_mnt=$T_DIR/ext4
mkdir "$ext_mnt"
new_image "$ext_img" 64M
attach_loop "$ext_img"
mkfs.ext4 -q -F "$LOOP_DEV" >/dev/null 2>&1 || fail "mkfs.ext4 failed"
mount "$LOOP_DEV" "$ext_mnt" || fail "cannot mount ext4"
# ext4 is unmounted before the loop device is detached, whatever happens.
ext4_cleanup() {
	local rc=$?
	set +e
	umount "$ext_mnt" 2>/dev/null
	(exit "$rc")
	lib_cleanup
}
trap ext4_cleanup EXIT
chmod 0777 "$ext_mnt"
workload "$ext_mnt" >"$T_DIR/ext4.out" || fail "the workload failed on ext4"
umount "$ext_mnt" || fail "cannot unmount ext4"
cat "$T_DIR/ext4.out"

img=$T_DIR/fs.img
mnt=$T_DIR/mnt
mkdir "$mnt"
new_image "$img" 128M
make_fs "$img"
for opts in allow_other allow_other,writeback_cache; do
	step "diofs -o $opts: as ext4"
	mount_fs "$img" "$mnt" -o "$opts"
	chmod 0777 "$mnt"
	workload "$mnt" >"$T_DIR/diofs.out" ||
		fail "the workload failed on diofs -o $opts"
	diff -u "$T_DIR/ext4.out" "$T_DIR/diofs.out" >&2 ||
		fail "diofs -o $opts clears other bits than ext4"
	rm -f "$mnt"/*
	unmount_fs "$mnt"
done

step "1000 writes, at most two security.capability lookups"
mount_fs "$img" "$mnt"
pyrun '
import json, subprocess
stat_bin, mnt = sys.argv[1], sys.argv[2]
def getxattrs():
    out = subprocess.run([stat_bin, "-j", mnt], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)["requests"]["getxattr"]["count"]
fd = os.open(os.path.join(mnt, "log"), os.O_CREAT | os.O_WRONLY | os.O_APPEND)
before = getxattrs()
for i in range(1000):
    os.write(fd, b"line")
os.close(fd)
n = getxattrs() - before
if n > 2:
    raise SystemExit("%d getxattr requests for 1000 writes" % n)
print("getxattr requests for 1000 writes:", n)
' "$STAT_BIN" "$mnt"
unmount_fs "$mnt"
