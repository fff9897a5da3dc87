#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# odirect.sh: O_DIRECT opens next to the page cache, on a loop device.
#
# A file opened with O_DIRECT can also be mapped shared, as on a kernel
# filesystem, and the two stay coherent: an O_DIRECT write is seen through
# the mapping at once, a write through the mapping is seen by O_DIRECT
# reads (through the same and another descriptor) after msync.  An
# O_DIRECT write reaches the device before it returns, without fsync: its
# bytes are found by reading the loop device with O_DIRECT.  Run with the
# default options and with -o writeback_cache; with -o direct_io shared
# mappings are refused (ENODEV) and private ones work.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lib_init

# The python helpers: aligned buffers (anonymous mappings) for O_DIRECT,
# and a scan of the whole device for a block of bytes.
helpers='
import mmap, random
BS = 4096
def aligned(data):
    b = mmap.mmap(-1, len(data))
    b[:] = data
    return b
def dpwrite(fd, data, off):
    n = os.pwritev(fd, [aligned(data)], off)
    assert n == len(data), n
def dpread(fd, n, off):
    b = mmap.mmap(-1, n)
    got = os.preadv(fd, [b], off)
    return bytes(b[:got])
def on_device(dev, data):
    fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
    try:
        chunk, off = 1 << 20, 0
        buf = mmap.mmap(-1, chunk)
        while True:
            got = os.preadv(fd, [buf], off)
            if got <= 0:
                return False
            if bytes(buf[:got]).find(data) >= 0:
                return True
            off += got
    finally:
        os.close(fd)
def block(tag):
    r = random.Random(tag)
    return bytes(r.getrandbits(8) for _ in range(BS))
'

# coherent MOUNTPOINT DEVICE: a shared mapping of an O_DIRECT descriptor.
coherent() {
	pyrun "$helpers"'
mnt, dev = sys.argv[1], sys.argv[2]
path = mnt + "/f"
with open(path, "wb") as f:
    f.write(block("a") * 16)
fd = os.open(path, os.O_RDWR | os.O_DIRECT)
m = mmap.mmap(fd, 16 * BS, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
assert m[:BS] == block("a"), "the mapping does not show the file"

# an O_DIRECT write: on the device at once, and no stale page in the map
b = block("direct write " + path)
dpwrite(fd, b, 2 * BS)
assert on_device(dev, b), "an O_DIRECT write is not on the device"
assert m[2 * BS:3 * BS] == b, "the mapping shows stale data after an O_DIRECT write"
assert dpread(fd, BS, 2 * BS) == b

# a write through the mapping: seen by O_DIRECT reads after msync
c = block("mapped write " + path)
m[4 * BS:5 * BS] = c
m.flush()
assert dpread(fd, BS, 4 * BS) == c, "O_DIRECT read misses a mapped write"
fd2 = os.open(path, os.O_RDONLY | os.O_DIRECT)
assert dpread(fd2, BS, 4 * BS) == c, "a second O_DIRECT descriptor misses it"
assert on_device(dev, c), "a mapped write is not on the device after msync"

# an unaligned O_DIRECT write in the middle of a mapped page
os.pwrite(fd, b"unaligned", 6 * BS + 100)
assert m[6 * BS + 100:6 * BS + 109] == b"unaligned"
assert dpread(fd2, BS, 6 * BS)[100:109] == b"unaligned"

# an O_DIRECT write past the end of the file grows the mapping file
e = block("extend " + path)
dpwrite(fd, e, 16 * BS)
assert os.fstat(fd2).st_size == 17 * BS
assert on_device(dev, e), "an extending O_DIRECT write is not on the device"
m.close()
m = mmap.mmap(fd, 17 * BS, mmap.MAP_SHARED, mmap.PROT_READ)
assert m[16 * BS:] == e
m.close()
os.close(fd2)
os.close(fd)
' "$1" "$2"
}

new_image "$T_DIR/loop.img" 64M
attach_loop "$T_DIR/loop.img"
make_fs "$LOOP_DEV"
mkdir "$T_DIR/mnt"

for opts in "" writeback_cache; do
	step "O_DIRECT and a shared mapping, ${opts:-default options}"
	if [ -n "$opts" ]; then
		mount_fs "$LOOP_DEV" "$T_DIR/mnt" -o "$opts"
	else
		mount_fs "$LOOP_DEV" "$T_DIR/mnt"
	fi
	coherent "$T_DIR/mnt" "$LOOP_DEV"
	unmount_fs "$T_DIR/mnt"
	mount_fs "$LOOP_DEV" "$T_DIR/mnt"
	pyrun "$helpers"'
path = sys.argv[1] + "/f"
with open(path, "rb") as f:
    d = f.read()
assert len(d) == 17 * 4096
assert d[2 * BS:3 * BS] == block("direct write " + path)
assert d[4 * BS:5 * BS] == block("mapped write " + path)
assert d[6 * BS + 100:6 * BS + 109] == b"unaligned"
' "$T_DIR/mnt"
	rm "$T_DIR/mnt/f"
	unmount_fs "$T_DIR/mnt"
done

step "-o direct_io: shared mappings refused, private ones and O_DIRECT work"
mount_fs "$LOOP_DEV" "$T_DIR/mnt" -o direct_io
pyrun "$helpers"'
mnt, dev = sys.argv[1], sys.argv[2]
path = mnt + "/g"
with open(path, "wb") as f:
    f.write(block("g") * 4)
fd = os.open(path, os.O_RDWR | os.O_DIRECT)
try:
    mmap.mmap(fd, 4 * BS, mmap.MAP_SHARED)
    sys.exit("a shared mapping under -o direct_io succeeded")
except OSError as e:
    assert e.errno == errno.ENODEV, e
m = mmap.mmap(fd, 4 * BS, mmap.MAP_PRIVATE, mmap.PROT_READ)
assert m[:BS] == block("g")
b = block("direct_io " + path)
dpwrite(fd, b, BS)
assert on_device(dev, b), "an O_DIRECT write is not on the device"
assert dpread(fd, BS, BS) == b
' "$T_DIR/mnt" "$LOOP_DEV"
unmount_fs "$T_DIR/mnt"

step "all O_DIRECT checks passed"
