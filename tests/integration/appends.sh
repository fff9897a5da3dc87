#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# appends.sh: many small appends, on a loop device.
#
# 20000 appends of 4 bytes (each a different record) through write(2) from
# one process, and 2 x 3000 appends of 16-byte records from two processes
# sharing the file with O_APPEND: the file must hold exactly every record,
# each process's in its order, before and after an unmount and mount, and
# fsck.diofs -n must find nothing wrong.  Run with the default writeback
# caching, with -o no_writeback_cache (every append a request of its own
# to the daemon, which keeps the file's tail block in memory) and with -o
# direct_io.  Then appends each followed by fsync, and a SIGKILL of the
# daemon: every fsynced append must be there after the next mount.
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

for opts in default no_writeback_cache direct_io; do
	step "appends, $opts"
	args=()
	[ "$opts" = default ] || args=(-o "$opts")
	one=20000 two=3000
	# without writeback caching every append is a round trip to the daemon
	[ "$opts" = default ] || one=4000
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
for opts in default no_writeback_cache; do
	args=()
	[ "$opts" = default ] || args=(-o "$opts")
	mount_fs "$LOOP_DEV" "$mnt" "${args[@]}"
	pyrun '
import struct
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
for i in range(500):
    os.write(fd, struct.pack("<I", i))
    if i % 10 == 9:
        os.fsync(fd)
dfd = os.open(os.path.dirname(sys.argv[1]), os.O_RDONLY)
os.fsync(dfd)
# unsynced appends after the last fsync, still open when the daemon dies
for i in range(500, 510):
    os.write(fd, struct.pack("<I", i))
pid = os.fork()
if pid == 0:
    import time
    time.sleep(60)
    os._exit(0)
print(pid)
' "$mnt/synced.$opts" >"$T_DIR/holder"
	kill_fs "$mnt"
	kill "$(cat "$T_DIR/holder")" 2>/dev/null || true
	mount_fs "$LOOP_DEV" "$mnt"
	pyrun '
import struct
d = open(sys.argv[1], "rb").read()
assert len(d) % 4 == 0 and 2000 <= len(d) <= 2040, "size %d" % len(d)
for i in range(len(d) // 4):
    assert struct.unpack_from("<I", d, 4 * i)[0] == i, "record %d" % i
' "$mnt/synced.$opts"
	unmount_fs "$mnt"
done

step "all append checks passed"
