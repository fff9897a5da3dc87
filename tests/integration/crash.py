#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""crash.py: the workload and the checker of crash.sh.

    crash.py work MOUNTPOINT LOG SEED READY KILLED
    crash.py check MOUNTPOINT LOG

work runs an fsync-heavy workload in MOUNTPOINT/w until a call fails:
files are created, written at random offsets and sizes, appended to,
truncated up and down, renamed (also over existing names and across two
directories), hard-linked, unlinked while open and written afterwards,
closed and reopened, fsynced and fdatasynced, and their directories
fsynced.  It keeps a model of every name and file, and writes what it
knows to LOG, a file outside the mount, one line per write(2) so that a
line is either there whole or not at all:

    D NAME             NAME is about to change (its contents through any
                       of its file's names, or what it names): written
                       before the change is made
    S NAME SIZE SHA    NAME is durable with SIZE bytes whose sha256 is SHA:
                       written once its file was fsynced (or fdatasynced)
                       after its last change AND its directory was fsynced
                       after NAME was made to point at it
    R SRC DST          SRC, durable, is about to be renamed over DST,
                       durable and another file: after a crash DST must
                       hold its own contents (and SRC still its own) or
                       SRC's (and SRC be gone)
    A NAME             NAME is durably gone: it was unlinked or renamed
                       away and its directory fsynced afterwards

A name's last line decides what is checked.  Beside it a second thread
churns four files in w/c with no log: writes that extend them by up to
256 KiB, truncates, renames over each other, unlinks.  It keeps the
daemon allocating blocks and moving ends of file while the first thread
waits in fsync; its files are checked for stale bytes only.  Neither
thread ever writes the byte 0xA5, which crash.sh fills the image with
before mkfs.

It makes the file READY once MOUNTPOINT/w, w/d and w/c exist on the mount
(not on the directory under it) and it holds them open: from then on it
reaches files only through those descriptors, so once the daemon is dead
every call fails, even after the dead mount is taken away.  When a call
fails and the file KILLED exists (crash.sh made it just before it killed
the daemon), the workload prints what it did and exits 0; a failure of
either thread before that is a failure of the filesystem (exit 2; a short
write counts as a failure too).  It stops by itself after DEADLINE seconds (exit 4).

check walks MOUNTPOINT/w after the remount: every name whose last line is
S exists with exactly that size and hash; a name renamed over (last line
R) holds the old or the new contents, and the source name agrees; a name
whose last line is A does not exist; no file contains a 0xA5 byte (stale
blocks exposed); no name exists that the workload never made.  It prints
"verified N absent M" (files checked against their fsynced contents,
names checked to be gone) and one line per problem, and exits 1 when
there is a problem.
"""
import errno
import hashlib
import os
import random
import stat
import sys
import threading
import time
import traceback

GARBAGE = 0xA5
NO_GARBAGE = bytes.maketrans(bytes([GARBAGE]), b'\x5a')
MAX_SIZE = 512 << 10	# largest file the workload makes
MAX_FILES = 10		# files with names
MAX_ORPHANS = 3		# open unlinked files
DIRS = ('', 'd')
POOL = tuple(os.path.join(d, 'f%d' % i) for d in DIRS for i in range(7))
DEADLINE = 20.0
CHURN = tuple('c/c%d' % i for i in range(4))
CHURN_MAX = 1 << 20


def sha(data):
    return hashlib.sha256(data).hexdigest()


class File:
    """A file as the workload believes it is."""

    def __init__(self):
        self.data = bytearray()
        self.names = set()
        self.fd = None
        self.clean = False	# fsynced since its last change


class Work:
    def __init__(self, mnt, log, seed):
        self.rng = random.Random(seed)
        self.mnt = mnt
        self.dfd = {}		# directory ('' is w) -> its descriptor
        self.logfd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC |
                             os.O_APPEND, 0o644)
        self.names = {}		# name -> File
        self.bound = set()	# names whose directory was fsynced since
        self.gone = set()	# names removed since their directory's fsync
        self.last = {}		# name -> kind of its last log line
        self.orphans = []	# open files without a name
        self.ops = 0
        self.syncs = 0
        self.published = 0

    # ---- the log ----------------------------------------------------------

    def rec(self, line):
        os.write(self.logfd, (line + '\n').encode())

    def dirty(self, name):
        if self.last.get(name) != 'D':
            self.rec('D ' + name)
            self.last[name] = 'D'

    def dirty_file(self, f):
        for n in sorted(f.names):
            self.dirty(n)

    def publish(self):
        """S (or A) for every name that became durable (or durably gone)."""
        for n in sorted(self.last):
            if n not in self.names and n not in self.gone and \
                    self.last[n] != 'A':
                self.rec('A ' + n)
                self.last[n] = 'A'
        for n in sorted(self.names):
            f = self.names[n]
            if self.last.get(n) != 'S' and f.clean and n in self.bound:
                self.rec('S %s %d %s' % (n, len(f.data), sha(f.data)))
                self.last[n] = 'S'
                self.published += 1

    # ---- helpers ----------------------------------------------------------

    def at(self, name):
        """The directory descriptor and the last component of NAME."""
        d, base = os.path.split(name)
        return self.dfd[d], base

    def open(self, name, flags, mode=0o644):
        d, base = self.at(name)
        return os.open(base, flags, mode, dir_fd=d)

    def gen(self, n):
        return self.rng.randbytes(n).translate(NO_GARBAGE)

    def length(self):
        r = self.rng.random()
        if r < 0.3:
            return self.rng.randint(1, 600)
        if r < 0.6:
            return self.rng.randint(1, 9000)
        if r < 0.8:
            return 4096 * self.rng.randint(1, 8)
        return self.rng.randint(1, 65536)

    def opened(self, f):
        if f.fd is None:
            f.fd = self.open(sorted(f.names)[0], os.O_RDWR)
        return f.fd

    def files(self):
        return list({id(f): f for f in self.names.values()}.values())

    def pick_file(self):
        fs = self.files() + self.orphans
        return self.rng.choice(fs) if fs else None

    def drop_name(self, name):
        f = self.names.pop(name)
        f.names.discard(name)
        self.bound.discard(name)
        self.gone.add(name)
        if not f.names:
            if f.fd is not None:
                self.orphans.append(f)
        return f

    def dsync(self, d):
        os.fsync(self.dfd[d])
        self.syncs += 1
        for n in self.names:
            if os.path.dirname(n) == d:
                self.bound.add(n)
        self.gone = {n for n in self.gone if os.path.dirname(n) != d}

    # ---- operations -------------------------------------------------------

    def op_create(self):
        free = [n for n in POOL if n not in self.names]
        if not free:
            return
        n = self.rng.choice(free)
        self.dirty(n)
        fd = self.open(n, os.O_RDWR | os.O_CREAT | os.O_EXCL)
        f = File()
        f.fd = fd
        f.names.add(n)
        self.names[n] = f
        self.gone.discard(n)
        if self.rng.random() < 0.7:
            self.op_write(f)

    def op_write(self, f):
        size = len(f.data)
        r = self.rng.random()
        if r < 0.5:
            off = self.rng.randint(0, size)
        elif r < 0.7:
            off = size
        elif r < 0.8:
            off = 4096 * self.rng.randint(0, size // 4096 + 1)
        else:
            off = size + self.rng.randint(1, 70000)
        n = self.length()
        if off + n > MAX_SIZE:
            return self.op_truncate(f)
        data = self.gen(n)
        self.dirty_file(f)
        f.clean = False
        got = os.pwrite(self.opened(f), data, off)
        if got != n:
            raise OSError(errno.EIO, 'pwrite of %d bytes wrote %d' % (n, got))
        if off > size:
            f.data.extend(bytes(off - size))
        f.data[off:off + n] = data

    def op_append(self, f):
        n = self.length()
        if not f.names or len(f.data) + n > MAX_SIZE:
            return self.op_truncate(f)
        data = self.gen(n)
        self.dirty_file(f)
        f.clean = False
        fd = self.open(self.rng.choice(sorted(f.names)),
                       os.O_WRONLY | os.O_APPEND)
        try:
            got = os.write(fd, data)
        finally:
            os.close(fd)
        if got != n:
            raise OSError(errno.EIO, 'append of %d bytes wrote %d' % (n, got))
        f.data.extend(data)

    def op_truncate(self, f):
        size = len(f.data)
        r = self.rng.random()
        if r < 0.15 or size > MAX_SIZE // 2:
            new = self.rng.randint(0, size // 4)
        elif r < 0.55:
            new = self.rng.randint(0, size)
        else:
            new = min(MAX_SIZE, size + self.rng.randint(1, 150000))
        self.dirty_file(f)
        f.clean = False
        os.ftruncate(self.opened(f), new)
        if new < size:
            del f.data[new:]
        else:
            f.data.extend(bytes(new - size))

    def op_rename(self):
        if not self.names:
            return
        src = self.rng.choice(sorted(self.names))
        dst = self.rng.choice([n for n in POOL if n != src])
        f, old = self.names[src], self.names.get(dst)
        if old is f:
            return		# two links of one file: rename does nothing
        if old is not None and self.last.get(src) == 'S' and \
                self.last.get(dst) == 'S':
            self.rec('R %s %s' % (src, dst))
            self.last[src] = self.last[dst] = 'R'
        else:
            self.dirty(src)
            self.dirty(dst)
        (sd, sb), (dd, db) = self.at(src), self.at(dst)
        os.rename(sb, db, src_dir_fd=sd, dst_dir_fd=dd)
        if old is not None:
            self.drop_name(dst)
        del self.names[src]
        self.bound.discard(src)
        self.gone.add(src)
        f.names.discard(src)
        f.names.add(dst)
        self.names[dst] = f
        self.gone.discard(dst)

    def op_link(self):
        free = [n for n in POOL if n not in self.names]
        if not self.names or not free:
            return
        src = self.rng.choice(sorted(self.names))
        dst = self.rng.choice(free)
        self.dirty(dst)
        (sd, sb), (dd, db) = self.at(src), self.at(dst)
        os.link(sb, db, src_dir_fd=sd, dst_dir_fd=dd)
        f = self.names[src]
        f.names.add(dst)
        self.names[dst] = f
        self.gone.discard(dst)

    def op_unlink(self):
        if not self.names:
            return
        n = self.rng.choice(sorted(self.names))
        f = self.names[n]
        # keep some files open, so that they live on unlinked
        if len(f.names) == 1 and f.fd is None and self.rng.random() < 0.5:
            self.opened(f)
        self.dirty(n)
        d, base = self.at(n)
        os.unlink(base, dir_fd=d)
        self.drop_name(n)

    def op_close(self, f):
        if f.fd is None:
            return
        fd, f.fd = f.fd, None
        if f in self.orphans:
            self.orphans.remove(f)
        os.close(fd)

    def op_fsync(self, f):
        fd = self.opened(f)
        if self.rng.random() < 0.5:
            os.fsync(fd)
        else:
            os.fdatasync(fd)
        self.syncs += 1
        f.clean = True
        # mostly make its names durable too; sometimes leave that to a
        # later directory fsync
        if self.rng.random() < 0.8:
            for d in sorted({os.path.dirname(n) for n in f.names}):
                self.dsync(d)
        self.publish()

    def op_dsync(self):
        self.dsync(self.rng.choice(DIRS))
        self.publish()

    def op_checkpoint(self):
        """Every file and both directories, as an application's save."""
        for f in self.files():
            fd = self.opened(f)
            if self.rng.random() < 0.5:
                os.fsync(fd)
            else:
                os.fdatasync(fd)
            self.syncs += 1
            f.clean = True
        for d in DIRS:
            self.dsync(d)
        self.publish()

    def step(self):
        self.ops += 1
        while len(self.orphans) > MAX_ORPHANS:
            self.op_close(self.orphans[0])
        nfiles = len(self.files())
        r = self.rng.random()
        if nfiles < 3 or (r < 0.08 and nfiles < MAX_FILES):
            return self.op_create()
        f = self.pick_file()
        if r < 0.35:
            return self.op_write(f)
        if r < 0.42:
            return self.op_append(f)
        if r < 0.52:
            return self.op_truncate(f)
        if r < 0.60:
            return self.op_rename()
        if r < 0.64:
            return self.op_link()
        if r < 0.70:
            return self.op_unlink()
        if r < 0.74:
            return self.op_close(f)
        if r < 0.93:
            return self.op_fsync(f)
        if r < 0.97:
            return self.op_dsync()
        return self.op_checkpoint()

    def setup(self, ready):
        """w and w/d on the mount, durable and held open; then READY."""
        dirf = os.O_RDONLY | os.O_DIRECTORY
        top = os.open(self.mnt, dirf)
        up = os.stat(os.path.join(self.mnt, '..'))
        if os.fstat(top).st_dev == up.st_dev:
            raise RuntimeError('%s is not mounted' % self.mnt)
        os.mkdir('w', dir_fd=top)
        self.dfd[''] = os.open('w', dirf, dir_fd=top)
        os.mkdir('d', dir_fd=self.dfd[''])
        self.dfd['d'] = os.open('d', dirf, dir_fd=self.dfd[''])
        os.mkdir('c', dir_fd=self.dfd[''])
        self.cfd = os.open('c', dirf, dir_fd=self.dfd[''])
        os.fsync(self.dfd[''])
        os.fsync(top)
        os.close(top)
        os.close(os.open(ready, os.O_WRONLY | os.O_CREAT, 0o644))

    def run(self, ready, killed, seed):
        start = time.monotonic()
        churn = None
        try:
            self.setup(ready)
            churn = Churn(self.cfd, seed + 1, killed)
            thread = threading.Thread(target=churn.run, daemon=True)
            thread.start()
            while time.monotonic() - start < DEADLINE and not churn.error:
                self.step()
            if churn.error:
                raise churn.error
        except OSError as e:
            report = 'ops %d syncs %d published %d' % (
                self.ops, self.syncs, self.published)
            killed_then = os.path.exists(killed)
            if churn:
                churn.stop = True
                thread.join()
                if e is churn.error:
                    killed_then = churn.error_killed
            if killed_then:
                print(report)
                return 0
            print('%s before the kill: %s' % (report, e))
            traceback.print_exception(e)
            if churn and churn.error and churn.error is not e:
                traceback.print_exception(churn.error)
            return 2
        churn.stop = True
        thread.join()
        print('still running after %.0f s: the daemon was not killed'
              % DEADLINE)
        return 4


class Churn:
    """Files in w/c that keep growing and shrinking, without a log."""

    def __init__(self, dfd, seed, killed):
        self.rng = random.Random(seed)
        self.dfd = dfd
        self.killed = killed
        self.fd = {}		# name -> descriptor
        self.size = {}		# name -> size
        self.error = None
        self.error_killed = False	# the daemon was killed by then
        self.stop = False

    def write(self, n, off, length):
        data = self.rng.randbytes(length).translate(NO_GARBAGE)
        got = os.pwrite(self.fd[n], data, off)
        if got != length:
            raise OSError(errno.EIO, 'pwrite of %d bytes wrote %d'
                          % (length, got))
        self.size[n] = max(self.size[n], off + length)

    def step(self):
        n = self.rng.choice(CHURN)
        base = os.path.basename(n)
        if n not in self.fd:
            self.fd[n] = os.open(base, os.O_RDWR | os.O_CREAT | os.O_TRUNC,
                                 0o644, dir_fd=self.dfd)
            self.size[n] = 0
        size = self.size[n]
        r = self.rng.random()
        if size > CHURN_MAX or r < 0.15:
            new = self.rng.randint(0, size // 2)
            os.ftruncate(self.fd[n], new)
            self.size[n] = new
        elif r < 0.70:
            self.write(n, size, self.rng.randint(1, 256 << 10))
        elif r < 0.80:
            self.write(n, size + self.rng.randint(1, 100000),
                       self.rng.randint(1, 64 << 10))
        elif r < 0.88:
            self.write(n, self.rng.randint(0, size),
                       self.rng.randint(1, 64 << 10))
        elif r < 0.94:
            dst = self.rng.choice([c for c in CHURN if c != n])
            os.rename(base, os.path.basename(dst), src_dir_fd=self.dfd,
                      dst_dir_fd=self.dfd)
            if dst in self.fd:
                os.close(self.fd.pop(dst))
            self.fd[dst], self.size[dst] = self.fd.pop(n), self.size.pop(n)
        elif r < 0.97:
            os.unlink(base, dir_fd=self.dfd)
            os.close(self.fd.pop(n))
        else:
            os.fdatasync(self.fd[n])

    def run(self):
        try:
            while not self.stop:
                self.step()
        except OSError as e:
            self.error_killed = os.path.exists(self.killed)
            self.error = e


# ---- the check after the remount ---------------------------------------------

def read_log(log):
    """The state each name's log lines leave it in."""
    state = {}
    with open(log) as fh:
        for line in fh:
            if not line.endswith('\n'):
                break
            p = line.split()
            if p[0] == 'D':
                state[p[1]] = ('D',)
            elif p[0] == 'S':
                state[p[1]] = ('S', int(p[2]), p[3])
            elif p[0] == 'A':
                state[p[1]] = ('A',)
            elif p[0] == 'R':
                src, dst = p[1], p[2]
                old, new = state.get(dst), state.get(src)
                if old and new and old[0] == 'S' and new[0] == 'S':
                    state[dst] = ('R', old, new, src)
                    state[src] = ('G', dst)
                else:
                    state[dst] = state[src] = ('D',)
            else:
                raise ValueError('bad log line: %r' % line)
    return state


def check(mnt, log):
    state = read_log(log)
    root = os.path.join(mnt, 'w')
    problems = []
    found = {}		# name -> (size, sha) of every regular file
    seen = set()	# every name there
    verified = absent = 0

    def bad(msg):
        problems.append(msg)

    if os.path.isdir(root):
        for d in DIRS + ('c',):
            try:
                entries = sorted(os.listdir(os.path.join(root, d)))
            except OSError as e:
                bad('w/%s: cannot list: %s' % (d, e))
                continue
            for e in entries:
                n = os.path.join(d, e)
                p = os.path.join(root, n)
                seen.add(n)
                try:
                    st = os.lstat(p)
                    if stat.S_ISDIR(st.st_mode) and n in DIRS + ('c',):
                        continue
                    if not stat.S_ISREG(st.st_mode):
                        bad('%s: not a regular file (mode %o)'
                            % (n, st.st_mode))
                        continue
                    with open(p, 'rb') as fh:
                        data = fh.read()
                except OSError as e:
                    bad('%s: cannot read: %s' % (n, e))
                    continue
                if n not in state and n not in CHURN:
                    bad('%s: a name the workload never made' % n)
                if len(data) != st.st_size:
                    bad('%s: read %d bytes of a %d-byte file'
                        % (n, len(data), st.st_size))
                g = data.count(GARBAGE)
                if g:
                    bad('%s: %d stale bytes (0xA5) in %d, first at %d'
                        % (n, g, len(data), data.index(GARBAGE)))
                found[n] = (len(data), sha(data))
    elif any(s[0] not in 'DA' for s in state.values()):
        bad('w: missing, though files in it were fsynced')

    def show(got):
        return 'missing' if got is None else '%d bytes %s' % (got[0],
                                                              got[1][:12])

    for n in sorted(state):
        s = state[n]
        got = found.get(n)
        if s[0] == 'S':
            if got != (s[1], s[2]):
                bad('%s: fsynced as %d bytes %s, found %s'
                    % (n, s[1], s[2][:12], show(got)))
            verified += 1
        elif s[0] == 'R':
            old, new, src = s[1], s[2], s[3]
            tied = state.get(src) == ('G', n)
            if got == (old[1], old[2]):
                if tied and found.get(src) != (new[1], new[2]):
                    bad('rename %s over %s undone, but %s is %s, not %d bytes %s'
                        % (src, n, src, show(found.get(src)), new[1],
                           new[2][:12]))
            elif got == (new[1], new[2]):
                if tied and src in found:
                    bad('rename %s over %s done, but %s is still there'
                        % (src, n, src))
            else:
                bad('%s: renamed over, found %s, neither the old %d bytes %s nor the new %d bytes %s'
                    % (n, show(got), old[1], old[2][:12], new[1], new[2][:12]))
            verified += 1
        elif s[0] == 'A':
            if n in seen:
                bad('%s: unlinked or renamed away and its directory fsynced, but it is there'
                    % n)
            absent += 1
    print('verified %d absent %d' % (verified, absent))
    for p in problems:
        print(p)
    return 1 if problems else 0


def main(argv):
    if len(argv) == 7 and argv[1] == 'work':
        return Work(argv[2], argv[3], int(argv[4])).run(argv[5], argv[6],
                                                        int(argv[4]))
    if len(argv) == 4 and argv[1] == 'check':
        return check(argv[2], argv[3])
    sys.stderr.write(__doc__)
    return 64


if __name__ == '__main__':
    sys.exit(main(sys.argv))
