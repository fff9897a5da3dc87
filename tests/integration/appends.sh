#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# appends.sh: many small appends, on a loop device.
#
# 20000 appends of 4 bytes (each a different record) through write(2) from
# one process, and 2 x 3000 appends of 16-byte records from two processes
# sharing the file with O_APPEND: the file must hold exactly every record,
# each process's in its order, before and after an unmount and mount, and
# fsck.diofs -n must find nothing wrong.  Run with the default options
# (every append a request of its own to the daemon, which keeps the file's
# tail block in memory), with -o writeback_cache (the kernel gathers the
# appends in its page cache) and with -o direct_io.  Then appends each
# followed by fsync, and a SIGKILL of the daemon: every fsynced append
# must be there after the next mount.  Last, what writeback caching
# changes: SEEK_DATA and SEEK_HOLE still see data the kernel holds (with
# a single worker, which must stay free to take that data from the
# kernel while the lseek waits), and a full filesystem is reported by
# fsync.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_init

# append_one FILE COUNT: COUNT 4-byte records, numbered, one write each.
append_one() {
	pyrun '
import struct
path, n = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
for i in range(n):
    assert os.write(fd, struct.pack("<I", i)) == 4
os.close(fd)
' "$1" "$2"
}

check_one() {
	pyrun '
import struct
path, n = sys.argv[1], int(sys.argv[2])
d = open(path, "rb").read()
assert len(d) == 4 * n, "%d bytes, not %d" % (len(d), 4 * n)
for i in range(n):
    got = struct.unpack_from("<I", d, 4 * i)[0]
    assert got == i, "record %d holds %d" % (i, got)
' "$1" "$2"
}

# append_two FILE COUNT: two processes, COUNT 16-byte records each.
append_two() {
	pyrun '
path, n = sys.argv[1], int(sys.argv[2])
fds = [os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
       for _ in range(2)]
pids = []
for p in range(2):
    pid = os.fork()
    if pid == 0:
        try:
            for i in range(n):
                rec = b"%c%014d\n" % (b"ab"[p], i)
                assert os.write(fds[p], rec) == 16
            os._exit(0)
        except BaseException:
            os._exit(1)
    pids.append(pid)
for pid in pids:
    assert os.waitpid(pid, 0)[1] == 0, "an appending process failed"
' "$1" "$2"
}

check_two() {
	pyrun '
path, n = sys.argv[1], int(sys.argv[2])
d = open(path, "rb").read()
assert len(d) == 32 * n, "%d bytes, not %d" % (len(d), 32 * n)
nxt = {b"a": 0, b"b": 0}
for off in range(0, len(d), 16):
    rec = d[off:off + 16]
    who, num = rec[:1], int(rec[1:15])
    assert rec[15:] == b"\n" and who in nxt, "record at %d is torn" % off
    assert num == nxt[who], "record at %d out of order" % off
    nxt[who] += 1
' "$1" "$2"
}

new_image "$T_DIR/loop.img" 64M
attach_loop "$T_DIR/loop.img"
make_fs "$LOOP_DEV"
mnt=$T_DIR/mnt
mkdir "$mnt"

for opts in default writeback_cache direct_io; do
	step "appends, $opts"
	args=()
	[ "$opts" = default ] || args=(-o "$opts")
	one=4000 two=3000
	# with writeback caching appends do not wait for the daemon
	[ "$opts" = writeback_cache ] && one=20000
	mount_fs "$LOOP_DEV" "$mnt" "${args[@]}"
	append_one "$mnt/one.$opts" "$one"
	check_one "$mnt/one.$opts" "$one"
	append_two "$mnt/two.$opts" "$two"
	check_two "$mnt/two.$opts" "$two"
	unmount_fs "$mnt"
	mount_fs "$LOOP_DEV" "$mnt"
	check_one "$mnt/one.$opts" "$one"
	check_two "$mnt/two.$opts" "$two"
	unmount_fs "$mnt"
done

step "fsynced appends survive SIGKILL of the daemon"
for opts in default writeback_cache; do
	args=()
	[ "$opts" = default ] || args=(-o "$opts")
	mount_fs "$LOOP_DEV" "$mnt" "${args[@]}"
	rm -f "$T_DIR/ready"
	# the appender (python, whose pid lands in ready) keeps the file
	# open, with appends after its last fsync, until it is killed after
	# the daemon
	pyrun '
import struct, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
for i in range(500):
    os.write(fd, struct.pack("<I", i))
    if i % 10 == 9:
        os.fsync(fd)
dfd = os.open(os.path.dirname(sys.argv[1]), os.O_RDONLY)
os.fsync(dfd)
for i in range(500, 510):
    os.write(fd, struct.pack("<I", i))
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
time.sleep(60)
' "$mnt/synced.$opts" "$T_DIR/ready" &
	appender=$!
	while [ ! -e "$T_DIR/ready" ]; do
		proc_alive "$appender" || fail "the appender died"
		sleep 0.05
	done
	kill_fs "$mnt"
	kill "$(cat "$T_DIR/ready")"
	wait "$appender" || true
	# the dead mount lets go of the device once the appender's file is
	# closed
	for ((i = 0; i < 50; i++)); do
		try_mount "$LOOP_DEV" "$mnt" && break
		sleep 0.2
	done
	is_mounted "$mnt" || fail "no mount after the crash: $LIB_ERR"
	pyrun '
import struct
d = open(sys.argv[1], "rb").read()
assert len(d) % 4 == 0 and 2000 <= len(d) <= 2040, "size %d" % len(d)
for i in range(len(d) // 4):
    assert struct.unpack_from("<I", d, 4 * i)[0] == i, "record %d" % i
' "$mnt/synced.$opts"
	unmount_fs "$mnt"
done

step "-o writeback_cache: SEEK_DATA sees cached data, fsync reports ENOSPC"
new_image "$T_DIR/small.img" 32M
make_fs "$T_DIR/small.img"
mount_fs "$T_DIR/small.img" "$mnt" -o writeback_cache,max_threads=1
pyrun '
m = sys.argv[1]
fd = os.open(m + "/sparse", os.O_CREAT | os.O_RDWR, 0o644)
os.ftruncate(fd, 1 << 20)
os.pwrite(fd, b"data", 300000)		# still in the page cache
assert os.lseek(fd, 0, os.SEEK_DATA) == 300000 // 4096 * 4096
assert os.lseek(fd, 300000, os.SEEK_HOLE) == 300000 // 4096 * 4096 + 4096
os.close(fd)
fd = os.open(m + "/big", os.O_CREAT | os.O_WRONLY, 0o644)
for i in range(64):
    assert os.write(fd, b"x" * (1 << 20)) == 1 << 20
try:
    os.fsync(fd)
    sys.exit("fsync of 64 MiB on a 32 MiB filesystem succeeded")
except OSError as e:
    assert e.errno == errno.ENOSPC, e
os.close(fd)
os.unlink(m + "/big")
' "$mnt"
unmount_fs "$mnt"

step "all append checks passed"
