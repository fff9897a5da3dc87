#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# fsyncs.sh: fsyncs wait for their commit without holding a worker.
#
# A worker hands an fsync to the committer and goes on serving requests
# (diofs(8), -o max_threads).  On a loop device, mounted with a single
# worker, eight processes each rewrite a block of their own file and
# fsync it, over and over, and now and then fsync their directory:
#  - every fsync succeeds, and diofs-stat counts them all;
#  - at most two commits for three fsyncs: fsyncs from different
#    processes waited for the same commit, which the one worker could only
#    have let happen by serving requests while fsyncs waited;
#  - unmount, a clean fsck, and after mounting again every file holds its
#    last write.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_diofs_stat
lib_init

scratch_fs 128M --loop
mount_fs "$dev" "$mnt" -o max_threads=1

# counts: "FSYNCS FSYNCDIRS COMMITS" so far
counts() {
	"$STAT_BIN" -j "$mnt" | pyrun '
import json
d = json.load(sys.stdin)
print(d["requests"]["fsync"]["count"], d["requests"]["fsyncdir"]["count"],
      d["counters"]["commits"])'
}

step "eight processes rewriting and fsyncing, one worker"
mkdir "$mnt/d"
read -r f0 d0 c0 < <(counts)
pyrun '
import multiprocessing
d, rounds = sys.argv[1], 300

def writer(k):
    fd = os.open(f"{d}/f{k}", os.O_CREAT | os.O_WRONLY, 0o644)
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    for i in range(rounds):
        os.pwrite(fd, f"{k}:{i}\n".encode().ljust(4096, b"."), (i % 4) * 4096)
        os.fsync(fd)
        if i % 50 == 0:
            os.fsync(dfd)
    os.close(dfd)
    os.close(fd)

procs = [multiprocessing.Process(target=writer, args=(k,)) for k in range(8)]
for p in procs:
    p.start()
for p in procs:
    p.join()
    if p.exitcode:
        sys.exit(f"a writer failed with exit code {p.exitcode}")
' "$mnt/d" || fail "a writer's write or fsync failed"
read -r f1 d1 c1 < <(counts)
fsyncs=$((f1 - f0)) dirs=$((d1 - d0)) commits=$((c1 - c0))
echo "$fsyncs fsyncs and $dirs directory fsyncs in $commits commits"
[ "$fsyncs" -eq 2400 ] || fail "diofs-stat counted $fsyncs fsyncs, want 2400"
[ "$dirs" -eq 48 ] || fail "diofs-stat counted $dirs directory fsyncs, want 48"
[ "$commits" -gt 0 ] || fail "no commit made for $fsyncs fsyncs"
# Served one at a time, every fsync would need a commit of its own (each
# write changed the file's times); shared, a commit serves ~2.7 here.
[ $((commits * 3)) -le $((fsyncs * 2)) ] ||
	fail "$commits commits for $fsyncs fsyncs: fsyncs did not share commits (did one hold the worker?)"

step "unmount, fsck, mount again: every file holds its last write"
unmount_fs "$mnt"
mount_fs "$dev" "$mnt"
for k in 0 1 2 3 4 5 6 7; do
	# the last round, 299, went to block 3
	got=$(dd if="$mnt/d/f$k" bs=4096 skip=3 count=1 status=none | head -c 16 | tr -d '.\n')
	[ "$got" = "$k:299" ] || fail "f$k block 3 holds '$got', want '$k:299'"
done
unmount_fs "$mnt"
