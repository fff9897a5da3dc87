#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# readahead.sh: buffered sequential reads reach the daemon in large
# requests (src/fuse/ops.c rule 18), on a fuseblk mount of a loop device:
#  - the mount's backing device info reads ahead 1 MiB, not the kernel's
#    default 128 KiB;
#  - a cold read of a 16 MiB file takes at most 40 READ requests (in
#    128 KiB requests it would take at least 128), and reads back intact;
#  - -o max_readahead lowers the read-ahead to what it gives.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

STAT_BIN=$abs_top_builddir/src/stat/diofs-stat
[ -x "$STAT_BIN" ] || fail "$STAT_BIN is not built (run make first)"
lib_init

img=$T_DIR/img
mnt=$T_DIR/mnt
mkdir "$mnt"
new_image "$img" 256M
make_fs "$img" -b 4096

# read_ahead MOUNTPOINT: the read-ahead of a fuseblk mount, in KiB
read_ahead() {
	local bdi
	bdi=/sys/class/bdi/$(stat -c '%Hd:%Ld' "$1")-fuseblk
	[ -r "$bdi/read_ahead_kb" ] || fail "$1 is not a fuseblk mount (no $bdi)"
	cat "$bdi/read_ahead_kb"
}

step "the read-ahead is 1 MiB"
mount_fs "$img" "$mnt"
ra=$(read_ahead "$mnt")
[ "$ra" = 1024 ] || fail "read_ahead_kb is $ra, not 1024"

step "a cold 16 MiB read takes few READ requests"
head -c 16M /dev/urandom >"$T_DIR/data"
# O_DIRECT: nothing of it stays in the page cache
dd if="$T_DIR/data" of="$mnt/f" bs=1M oflag=direct status=none
before=$("$STAT_BIN" -j "$mnt")
cmp "$T_DIR/data" "$mnt/f" || fail "the file reads back differently"
after=$("$STAT_BIN" -j "$mnt")
pyrun '
import json
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
n = b["requests"]["read"]["count"] - a["requests"]["read"]["count"]
print("READ requests for 16 MiB: %d" % n)
assert 16 <= n <= 40, "16 MiB read in %d READ requests, not 16 to 40" % n
' "$before" "$after"
unmount_fs "$mnt"

step "-o max_readahead lowers it"
mount_fs "$img" "$mnt" -o max_readahead=262144
ra=$(read_ahead "$mnt")
[ "$ra" = 256 ] || fail "read_ahead_kb is $ra with max_readahead=262144, not 256"
unmount_fs "$mnt"
