/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * file: the operations of fs.h on one inode's attributes and data:
 * getattr, setattr (truncate included), open and release, read and write
 * through the direct-I/O worker, fsync, fallocate (collapse and insert
 * range among its modes), lseek for data and holes, copy_file_range.
 *
 * Rules:
 *  1. Lock order: dfile.lock, then meta_lock (a transaction), then
 *     icache_lock.  Truncate, hole punching, zeroing and preallocation hold
 *     dfile.lock exclusive for their whole length, so no worker I/O on the
 *     file overlaps them; the worker takes dfile.lock itself (dio.h rule 5).
 *  2. The bytes of a file's last block past end of file read as zeros from
 *     the device: the worker zero-fills new blocks, and every size change
 *     (truncate either way, fallocate past end of file) first zeroes the
 *     tail of the last block (when it holds data) from the lower of the
 *     two sizes, so neither a truncated tail nor the bytes of a write that
 *     failed past end of file ever become visible.  Hole
 *     punching and zeroing a range likewise zero the partial blocks at
 *     their edges on the device; whole blocks are freed or made unwritten.
 *     The zeros go through the worker (dio_zero_range()) on the caller's
 *     dio_ctx, with dfile.lock held exclusive.
 *  3. Unwritten (preallocated) blocks count as holes for SEEK_DATA and
 *     SEEK_HOLE: they read as zeros, so a copy that skips them loses
 *     nothing.
 *  4. Times: every change sets ctime.  A write that moves end of file
 *     commits mtime and ctime with the size (extent.c set_size); any other
 *     write sets them in memory only, at most once per clock tick
 *     (inode_now() is the coarse clock), and they reach the disk later
 *     (inode.h rule 8): no transaction per write.  A read sets atime the
 *     same way, as the mount's atime mode says (inode_accessed()).
 *  6. Attribute flags (fs.h rule 6) are checked here for data, size and
 *     attribute changes, and kept by fs_set_flags() in the inode's flags
 *     (format.h DIOFS_IFL_*, the same bits as Linux's FS_*_FL).
 *  5. Sizes stop at 2^63 - 1 bytes: beyond is -EFBIG.
 *  6. Collapse and insert range are ext4's: alone in mode (anything else
 *     with them is -EOPNOTSUPP, as the VFS says before ext4 sees it),
 *     offset and length whole fs blocks (-EINVAL), a collapse ending
 *     before end of file and an insert starting before it (-EINVAL), an
 *     insert that would grow the file past rule 5 -EFBIG.  The extents move
 *     and the size changes in one transaction (extent.c rule 7), with
 *     dfile.lock exclusive as for a punch.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "diofs/inode.h"
#include "diofs/stats.h"
#include "diofs/util.h"

#define FILE_MAX_SIZE		((uint64_t)INT64_MAX)
#define COPY_CHUNK		(1024u * 1024u)

static inline uint64_t align_down(uint64_t x, uint64_t a)
{
	return x & ~(a - 1);
}

static inline uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static bool ts_eq(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static bool fs_writable(struct fs *fs)
{
	return !fs->read_only && !fs_error(fs);
}

/* Why a change is refused: -EIO after a shutdown, else -EROFS. */
static int unwritable_err(struct fs *fs)
{
	return fs_is_shut_down(fs) ? -EIO : -EROFS;
}

/* fs.h rule 6 for a write of [off, ...) to ip's data. */
static int may_write_at(struct inode *ip, uint64_t off)
{
	struct fs *fs = ip->fs;
	bool taken = fs_meta_rdlock(fs);
	int err = 0;

	if (inode_immutable(ip))
		err = -EPERM;
	else if (inode_append_only(ip) &&
		 off < __atomic_load_n(&ip->dfile.size, __ATOMIC_RELAXED))
		err = -EPERM;
	fs_meta_unlock(fs, taken);
	return err;
}

/* Pin a regular file: -EISDIR for a directory, bad for anything else. */
static int get_regular(struct fs *fs, uint64_t ino, int bad,
		       struct inode **out)
{
	struct inode *ip;
	int err;

	err = inode_get(fs, ino, &ip);
	if (err)
		return err;
	if (!S_ISREG(ip->mode)) {
		err = S_ISDIR(ip->mode) ? -EISDIR : bad;
		inode_put(ip);
		return err;
	}
	*out = ip;
	return 0;
}

/* Rule 4: a write's mtime and ctime, deferred. */
static void file_touch(struct inode *ip)
{
	struct fs *fs = ip->fs;
	struct timespec now = inode_now();
	bool same;

	pthread_rwlock_rdlock(&fs->meta_lock);
	same = ts_eq(ip->mtime, now) && ts_eq(ip->ctime, now);
	pthread_rwlock_unlock(&fs->meta_lock);
	if (same)
		return;
	pthread_rwlock_wrlock(&fs->meta_lock);
	ip->mtime = ip->ctime = now;
	ip->times_dirty = true;
	pthread_rwlock_unlock(&fs->meta_lock);
}

/*
 * Take ip's dfile.lock exclusive for a change of its blocks or size, which
 * may zero bytes through ctx.  What ctx has in flight may hold that very
 * lock, so it completes first (dio.h, asynchronous use, rule 4).
 */
static void lock_for_change(struct dio_ctx *ctx, struct inode *ip)
{
	if (dio_ctx_pending(ctx))
		dio_reap(ctx, dio_ctx_pending(ctx));
	pthread_rwlock_wrlock(&ip->dfile.lock);
}

/*
 * Rule 2: zero the rest of the block holding byte `size` (a new or old end
 * of file), so that moving end of file past it never shows old bytes:
 * those of a truncated tail, or of a write that failed past end of file.
 * The worker writes only where the block holds data.
 */
static int zero_eof_tail(struct dio_ctx *ctx, struct inode *ip,
			 uint64_t size)
{
	uint64_t bs = ip->fs->sb.block_size;
	uint64_t end = align_up(size, bs);

	/* No write reaches past rule 5's limit, so the bytes there are still
	 * the zeros of the block's allocation, and the worker takes no range
	 * that ends there. */
	if (end > FILE_MAX_SIZE)
		end = FILE_MAX_SIZE;
	return end > size ? dio_zero_range(ctx, &ip->dfile, size, end - size)
			  : 0;
}

/* Zero the partial blocks at the edges of [off, end); returns the whole
 * blocks inside it as [*first, *last). */
static int zero_edges(struct dio_ctx *ctx, struct inode *ip, uint64_t off,
		      uint64_t end, uint64_t *first, uint64_t *last)
{
	uint32_t bits = ip->fs->sb.block_bits;
	uint64_t bs = 1ull << bits;
	int err = 0;

	*first = align_up(off, bs) >> bits;
	*last = end >> bits;
	if (*first > *last) {
		/* Inside one block. */
		*first = *last;
		return dio_zero_range(ctx, &ip->dfile, off, end - off);
	}
	if (off & (bs - 1))
		err = dio_zero_range(ctx, &ip->dfile, off,
				     (*first << bits) - off);
	if (!err && (end & (bs - 1)))
		err = dio_zero_range(ctx, &ip->dfile, *last << bits,
				     end - (*last << bits));
	return err;
}

/* ---- attributes ------------------------------------------------------------ */

int fs_getattr(struct fs *fs, uint64_t ino, struct fs_attr *attr)
{
	struct inode *ip;
	int err;

	err = inode_get(fs, ino, &ip);
	if (err)
		return err;
	pthread_rwlock_rdlock(&fs->meta_lock);
	inode_attr(ip, attr);
	pthread_rwlock_unlock(&fs->meta_lock);
	inode_put(ip);
	return 0;
}

/* The changes of sa other than the size, in t. */
/* The set-id bits FS_SET_KILL_SETID clears from @mode. */
static mode_t setid_to_kill(mode_t mode)
{
	mode_t kill = S_ISUID;

	if (S_ISDIR(mode))
		return 0;
	if (mode & S_IXGRP)
		kill |= S_ISGID;
	return mode & kill;
}

static void setattr_apply(struct inode *ip, const struct fs_setattr *sa,
			  struct timespec now)
{
	if (sa->mask & FS_SET_MODE)
		ip->mode = (ip->mode & S_IFMT) | (sa->mode & 07777);
	if (sa->mask & FS_SET_KILL_SETID)
		ip->mode &= ~setid_to_kill(ip->mode);
	if (sa->mask & FS_SET_UID)
		ip->uid = sa->uid;
	if (sa->mask & FS_SET_GID)
		ip->gid = sa->gid;
	if (sa->mask & FS_SET_ATIME_NOW)
		ip->atime = now;
	else if (sa->mask & FS_SET_ATIME)
		ip->atime = sa->atime;
	if (sa->mask & FS_SET_MTIME_NOW)
		ip->mtime = now;
	else if (sa->mask & FS_SET_MTIME)
		ip->mtime = sa->mtime;
	ip->ctime = (sa->mask & FS_SET_CTIME) ? sa->ctime : now;
}

/* Truncate (or extend) ip to size with dfile.lock held exclusive. */
static int truncate_locked(struct inode *ip, uint64_t size, struct txn *t)
{
	uint32_t bits = ip->fs->sb.block_bits;
	uint64_t old = ip->dfile.size, keep;
	int err = 0;

	if (size <= old) {
		/* Every block from the first one wholly past the new end,
		 * preallocations past end of file included (as ext4 does). */
		keep = align_up(size, 1ull << bits) >> bits;
		err = extent_punch(t, ip, keep, UINT64_MAX - keep);
	}
	if (!err && size != old) {
		__atomic_store_n(&ip->dfile.size, size, __ATOMIC_RELAXED);
		ip->mtime = inode_now();
	}
	return err;
}

/*
 * fs.h rule 6, as Linux's notify_change() and utimes: an immutable inode
 * takes no change; an append-only one no size, mode or owner change and
 * no explicit times, but its times may still be set to now (touch).  The
 * kernel sends no setattr without a change; only the ctime it adds alone
 * to a now-only change is let through with it.
 */
static int setattr_allowed(const struct inode *ip, unsigned mask)
{
	const unsigned now_only = FS_SET_ATIME_NOW | FS_SET_MTIME_NOW |
				  FS_SET_CTIME;

	if (inode_immutable(ip))
		return -EPERM;
	if (inode_append_only(ip) && (mask & ~now_only))
		return -EPERM;
	return 0;
}

static bool ts_valid(struct timespec ts)
{
	return ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L;
}

int fs_setattr(struct fs *fs, struct dio_ctx *ctx, uint64_t ino,
	       const struct fs_setattr *sa, struct fs_attr *attr)
{
	bool sizing = sa->mask & FS_SET_SIZE;
	unsigned changes = sa->mask;
	uint64_t old = 0;
	struct inode *ip;
	struct txn *t;
	int err;

	if (((sa->mask & FS_SET_ATIME) && !ts_valid(sa->atime)) ||
	    ((sa->mask & FS_SET_MTIME) && !ts_valid(sa->mtime)) ||
	    ((sa->mask & FS_SET_CTIME) && !ts_valid(sa->ctime)))
		return -EINVAL;
	err = inode_get(fs, ino, &ip);
	if (err)
		return err;
	if (sizing) {
		if (S_ISDIR(ip->mode))
			err = -EISDIR;
		else if (!S_ISREG(ip->mode) || !ctx)
			err = -EINVAL;
		else if (sa->size > FILE_MAX_SIZE)
			err = -EFBIG;
		if (err)
			goto out_put;
	}
	if (changes & FS_SET_KILL_SETID) {
		pthread_rwlock_rdlock(&fs->meta_lock);
		if (!setid_to_kill(ip->mode))
			changes &= ~FS_SET_KILL_SETID;
		pthread_rwlock_unlock(&fs->meta_lock);
	}
	if (!changes)
		goto out_attr;
	if (!fs_writable(fs)) {
		err = unwritable_err(fs);
		goto out_put;
	}
	pthread_rwlock_rdlock(&fs->meta_lock);
	err = setattr_allowed(ip, changes);
	pthread_rwlock_unlock(&fs->meta_lock);
	if (err)
		goto out_put;

	if (sizing) {
		lock_for_change(ctx, ip);
		old = ip->dfile.size;
		/* Rule 2: the tail of the last block, old or new. */
		if (sa->size != old)
			err = zero_eof_tail(ctx, ip,
					    sa->size < old ? sa->size : old);
		if (err)
			goto out_unlock;
	}
	err = fs_txn_begin(fs, &t);
	if (err)
		goto out_unlock;
	err = inode_join(t, ip);
	if (!err && sizing)
		err = truncate_locked(ip, sa->size, t);
	if (!err) {
		setattr_apply(ip, sa, inode_now());
		err = inode_write(t, ip);
	}
	err = fs_txn_end(fs, t, err);
	if (err && sizing)
		__atomic_store_n(&ip->dfile.size, old, __ATOMIC_RELAXED);
out_unlock:
	if (sizing)
		pthread_rwlock_unlock(&ip->dfile.lock);
	if (err)
		goto out_put;
out_attr:
	pthread_rwlock_rdlock(&fs->meta_lock);
	inode_attr(ip, attr);
	pthread_rwlock_unlock(&fs->meta_lock);
out_put:
	inode_put(ip);
	return err;
}

/* ---- attribute flags (rule 6) ---------------------------------------------- */

/* The format keeps Linux's own bits, so no translation is needed. */
static_assert(DIOFS_IFL_IMMUTABLE == FS_FL_IMMUTABLE &&
	      DIOFS_IFL_APPEND == FS_FL_APPEND &&
	      DIOFS_IFL_NODUMP == FS_FL_NODUMP &&
	      DIOFS_IFL_NOATIME == FS_FL_NOATIME, "flag bits");

int fs_get_flags(struct fs *fs, uint64_t ino, uint32_t *flags)
{
	struct inode *ip;
	int err;

	err = inode_get(fs, ino, &ip);
	if (err)
		return err;
	pthread_rwlock_rdlock(&fs->meta_lock);
	*flags = ip->flags & FS_FL_SETTABLE;
	pthread_rwlock_unlock(&fs->meta_lock);
	inode_put(ip);
	return 0;
}

/* ext4's rules (fs.h); the kernel checks the same before it asks. */
static int flags_allowed(const struct inode *ip, uint32_t flags,
			 const struct fs_flags_caller *who)
{
	uint32_t old = ip->flags & FS_FL_SETTABLE;

	if (who->uid != ip->uid && !who->cap_fowner)
		return -EPERM;
	if ((old ^ flags) & (FS_FL_IMMUTABLE | FS_FL_APPEND) &&
	    !who->cap_linux_immutable)
		return -EPERM;
	if (old & flags & FS_FL_IMMUTABLE && old != flags)
		return -EPERM;
	return 0;
}

int fs_set_flags(struct fs *fs, uint64_t ino, uint32_t flags,
		 const struct fs_flags_caller *who)
{
	struct inode *ip;
	struct txn *t;
	int err;

	if (flags & ~FS_FL_SETTABLE)
		return -EOPNOTSUPP;
	err = inode_get(fs, ino, &ip);
	if (err)
		return err;
	err = fs_txn_begin(fs, &t);
	if (err)
		goto out_put;
	err = flags_allowed(ip, flags, who);
	if (!err)
		err = inode_join(t, ip);
	if (!err) {
		ip->flags = (ip->flags & ~FS_FL_SETTABLE) | flags;
		ip->ctime = inode_now();
		err = inode_write(t, ip);
	}
	err = fs_txn_end(fs, t, err);
out_put:
	inode_put(ip);
	return err;
}

/* ---- open files ---------------------------------------------------------------- */

int fs_open(struct fs *fs, uint64_t ino, int flags)
{
	bool writing = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
	struct inode *ip;
	bool taken;
	int err;

	err = inode_get(fs, ino, &ip);
	if (err)
		return err;
	/* Rule 6, as the kernel's may_open() for IS_APPEND and IS_IMMUTABLE. */
	taken = fs_meta_rdlock(fs);
	if (writing && inode_immutable(ip))
		err = -EPERM;
	else if (inode_append_only(ip) &&
		 (flags & O_TRUNC ||
		  (writing && !(flags & O_APPEND))))
		err = -EPERM;
	fs_meta_unlock(fs, taken);
	if (err) {
		inode_put(ip);
		return err;
	}
	pthread_mutex_lock(&fs->icache_lock);
	ip->nopen++;
	pthread_mutex_unlock(&fs->icache_lock);
	inode_put(ip);
	return 0;
}

bool fs_atime_due(struct fs *fs, uint64_t ino)
{
	struct inode *ip;
	bool due;

	if (inode_get(fs, ino, &ip))
		return false;
	due = inode_atime_due(ip);
	inode_put(ip);
	return due;
}

void fs_release(struct fs *fs, uint64_t ino)
{
	struct inode *ip;
	bool last;

	if (inode_get(fs, ino, &ip))
		return;
	pthread_mutex_lock(&fs->icache_lock);
	last = ip->nopen == 1;
	pthread_mutex_unlock(&fs->icache_lock);
	/* The last close makes deferred times durable (rule 4). */
	if (last && ip->links && fs_writable(fs))
		inode_sync(ip);
	pthread_mutex_lock(&fs->icache_lock);
	if (ip->nopen)
		ip->nopen--;
	pthread_mutex_unlock(&fs->icache_lock);
	inode_put(ip);		/* frees an unlinked file (inode.h rule 4) */
}

ssize_t fs_read(struct fs *fs, struct dio_ctx *ctx, uint64_t ino,
		uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct fs_read rd;
	int err;

	err = get_regular(fs, ino, -EINVAL, &rd.ip);
	if (err)
		return err;
	return fs_read_end(&rd, dio_rw(ctx, &rd.ip->dfile, DIO_READ, off, iov,
				       iovcnt));
}

int fs_read_start(struct fs *fs, struct dio_ctx *ctx, uint64_t ino,
		  uint64_t off, const struct iovec *iov, int iovcnt,
		  dio_done_fn done, void *priv, struct fs_read *rd)
{
	int err;

	err = get_regular(fs, ino, -EINVAL, &rd->ip);
	if (err)
		return err;
	dio_submit(ctx, &rd->ip->dfile, DIO_READ, off, iov, iovcnt, done,
		   priv);
	return 0;
}

ssize_t fs_read_end(struct fs_read *rd, ssize_t result)
{
	if (result >= 0)
		inode_accessed(rd->ip);
	inode_put(rd->ip);
	rd->ip = NULL;
	return result;
}

/* The file a write at off goes to, held, once the write may be made. */
static int write_begin(struct fs *fs, uint64_t ino, uint64_t off,
		       struct inode **out)
{
	struct inode *ip;
	int err;

	if (!fs_writable(fs))
		return unwritable_err(fs);
	err = get_regular(fs, ino, -EINVAL, &ip);
	if (err)
		return err;
	err = may_write_at(ip, off);
	if (err) {
		inode_put(ip);
		return err;
	}
	*out = ip;
	return 0;
}

/*
 * The end of a write that transferred n: once more after an ENOSPC that
 * the next commit may cure (blocks freed but not yet committed), then the
 * times, and the file goes.
 */
static ssize_t write_finish(struct dio_ctx *ctx, struct inode *ip,
			    uint64_t off, const struct iovec *iov, int iovcnt,
			    ssize_t n)
{
	if (n < 0 && fs_retry_nospc(ip->fs, (int)n))
		n = dio_rw(ctx, &ip->dfile, DIO_WRITE, off, iov, iovcnt);
	if (n > 0)
		file_touch(ip);
	inode_put(ip);
	return n;
}

ssize_t fs_write(struct fs *fs, struct dio_ctx *ctx, uint64_t ino,
		 uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct inode *ip;
	int err;

	err = write_begin(fs, ino, off, &ip);
	if (err)
		return err;
	return write_finish(ctx, ip, off, iov, iovcnt,
			    dio_rw(ctx, &ip->dfile, DIO_WRITE, off, iov,
				   iovcnt));
}

int fs_write_start(struct fs *fs, struct dio_ctx *ctx, uint64_t ino,
		   uint64_t off, const struct iovec *iov, int iovcnt,
		   bool behind, dio_done_fn done, void *priv,
		   struct fs_write *wr)
{
	int err;

	err = write_begin(fs, ino, off, &wr->ip);
	if (err)
		return err;
	*wr = (struct fs_write){
		.ip = wr->ip, .off = off, .iov = iov, .iovcnt = iovcnt,
	};
	if (behind)
		wr->in_place = dio_submit_behind(ctx, &wr->ip->dfile, off, iov,
						 iovcnt, done, priv);
	else
		dio_submit(ctx, &wr->ip->dfile, DIO_WRITE, off, iov, iovcnt,
			   done, priv);
	return 0;
}

ssize_t fs_write_behind(struct fs_write *wr)
{
	wr->behind = true;
	file_touch(wr->ip);
	stats_count(bdev_stats(wr->ip->fs->bdev), STATS_WRITES_BEHIND, 1);
	return (ssize_t)iov_total(wr->iov, wr->iovcnt);
}

/* A write answered early failed (fs.h, write-behind): keep the first such
 * error for the file's next fsync. */
static void keep_write_error(struct inode *ip, uint64_t off, ssize_t result)
{
	int err = result < 0 ? (int)-result : EIO;
	int none = 0;

	(void)__atomic_compare_exchange_n(&ip->write_error, &none, err, false,
					  __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	bdev_report(ip->fs->bdev, LOG_ERR,
		    "inode %llu: a write at byte %llu failed after it was "
		    "answered: %s; the file's next fsync reports it",
		    (unsigned long long)ip->ino, (unsigned long long)off,
		    strerror(err));
}

ssize_t fs_write_end(struct dio_ctx *ctx, struct fs_write *wr,
		     ssize_t result)
{
	if (wr->behind) {
		if (result < 0 ||
		    (size_t)result != iov_total(wr->iov, wr->iovcnt))
			keep_write_error(wr->ip, wr->off, result);
		inode_put(wr->ip);
	} else {
		result = write_finish(ctx, wr->ip, wr->off, wr->iov,
				      wr->iovcnt, result);
	}
	wr->ip = NULL;
	return result;
}

/*
 * What fsync does before the commit.  The writes in flight hold
 * dfile.lock shared: once it is free, the writes answered early are on
 * the device, and any that failed has left its error, which is taken
 * (*file_err: reported once, even if this fails).  Deferred times join
 * the running transaction (fdatasync does not need them).
 */
static int fsync_begin(struct fs *fs, uint64_t ino, bool datasync,
		       int *file_err)
{
	struct inode *ip;
	int err;

	err = inode_get(fs, ino, &ip);
	if (err)
		return err;
	pthread_rwlock_wrlock(&ip->dfile.lock);
	pthread_rwlock_unlock(&ip->dfile.lock);
	*file_err = -__atomic_exchange_n(&ip->write_error, 0,
					 __ATOMIC_ACQ_REL);
	if (!datasync && fs_writable(fs))
		err = inode_sync(ip);
	inode_put(ip);
	return err;
}

/* fsync's answer, once the commit (which made every file's changes
 * durable with this one's) returned commit_err, or what fsync_begin()
 * returned instead. */
static int fsync_result(struct fs *fs, int file_err, int commit_err)
{
	if (fs_error(fs))
		return fs_error(fs);
	return file_err ? file_err : commit_err;
}

int fs_fsync(struct fs *fs, uint64_t ino, bool datasync)
{
	int file_err = 0;
	int err;

	err = fsync_begin(fs, ino, datasync, &file_err);
	return fsync_result(fs, file_err, err ? err : fs_commit(fs));
}

static void fsync_committed(struct commit_wait *w, int err)
{
	struct fs_fsync *f = container_of(w, struct fs_fsync, wait);

	f->done(f, fsync_result(f->fs, f->file_err, err));
}

int fs_fsync_start(struct fs *fs, uint64_t ino, bool datasync,
		   struct fs_fsync *f)
{
	int err;

	f->file_err = 0;
	err = fsync_begin(fs, ino, datasync, &f->file_err);
	if (err || !fs->committing)	/* read-only: nothing to commit */
		return fsync_result(fs, f->file_err, err ? err : fs_commit(fs));
	f->fs = fs;
	f->wait.done = fsync_committed;
	commit_start(&fs->commit, &f->wait);
	return FS_FSYNC_STARTED;
}

/* ---- fallocate ----------------------------------------------------------------- */

/*
 * The inode of a fallocate() of any mode, to change: a regular file, a
 * writable filesystem, and rule 6 as vfs_fallocate() has it (an
 * append-only file may only grow: KEEP_SIZE alone, or nothing).
 */
static int get_fallocatable(struct fs *fs, uint64_t ino, int mode,
			    struct inode **out)
{
	struct inode *ip;
	int err;

	err = get_regular(fs, ino, -ENODEV, &ip);
	if (err)
		return err;
	if (!fs_writable(fs))
		err = unwritable_err(fs);
	else
		err = may_write_at(ip, mode & ~FALLOC_FL_KEEP_SIZE ?
					       0 : UINT64_MAX);
	if (err) {
		inode_put(ip);
		return err;
	}
	*out = ip;
	return 0;
}

static int fallocate_once(struct fs *fs, struct dio_ctx *ctx, uint64_t ino,
			  int mode, uint64_t off, uint64_t len)
{
	uint32_t bits = fs->sb.block_bits;
	bool keep = mode & FALLOC_FL_KEEP_SIZE;
	bool punch = mode & FALLOC_FL_PUNCH_HOLE;
	bool zero = mode & FALLOC_FL_ZERO_RANGE;
	uint64_t end, old, first = 0, last = 0;
	struct inode *ip;
	struct txn *t;
	int err;

	if ((mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE |
		      FALLOC_FL_ZERO_RANGE)) ||
	    (punch && (!keep || zero)))
		return -EOPNOTSUPP;
	if (!len)
		return -EINVAL;
	if (off > FILE_MAX_SIZE || len > FILE_MAX_SIZE - off)
		return -EFBIG;
	end = off + len;
	err = get_fallocatable(fs, ino, mode, &ip);
	if (err)
		return err;

	lock_for_change(ctx, ip);
	old = ip->dfile.size;
	if (punch || zero)
		err = zero_edges(ctx, ip, off, end, &first, &last);
	if (!err && !keep && end > old)
		err = zero_eof_tail(ctx, ip, old);
	if (err)
		goto out_unlock;
	err = fs_txn_begin(fs, &t);
	if (err)
		goto out_unlock;
	err = inode_join(t, ip);
	if (!err && (punch || zero) && first < last)
		err = extent_punch(t, ip, first, last - first);
	/* Preallocate every block the range touches: a partial edge block
	 * that was a hole becomes unwritten, reading as zeros all the same. */
	if (!err && !punch)
		err = extent_prealloc(t, ip, off >> bits,
				      (align_up(end, 1ull << bits) >> bits) -
				      (off >> bits));
	if (!err) {
		struct timespec now = inode_now();

		if (!keep && end > old) {
			__atomic_store_n(&ip->dfile.size, end,
					 __ATOMIC_RELAXED);
			ip->mtime = now;
		}
		if (punch || zero)
			ip->mtime = now;
		ip->ctime = now;
		err = inode_write(t, ip);
	}
	err = fs_txn_end(fs, t, err);
	if (err)
		__atomic_store_n(&ip->dfile.size, old, __ATOMIC_RELAXED);
out_unlock:
	pthread_rwlock_unlock(&ip->dfile.lock);
	inode_put(ip);
	return err;
}

/* Rule 6: the size checks of a collapse or insert, under dfile.lock. */
static int shift_check(bool collapse, uint64_t size, uint64_t off,
		       uint64_t len)
{
	if (collapse)
		return off + len >= size ? -EINVAL : 0;
	if (len > FILE_MAX_SIZE - size)
		return -EFBIG;
	return off >= size ? -EINVAL : 0;
}

/* Rule 6: FALLOC_FL_COLLAPSE_RANGE or FALLOC_FL_INSERT_RANGE, alone. */
static int shift_once(struct fs *fs, struct dio_ctx *ctx, uint64_t ino,
		      bool collapse, uint64_t off, uint64_t len)
{
	uint32_t bits = fs->sb.block_bits;
	uint64_t old, limit = (FILE_MAX_SIZE >> bits) + 1;
	struct inode *ip;
	struct txn *t;
	int err;

	err = get_fallocatable(fs, ino, FALLOC_FL_COLLAPSE_RANGE, &ip);
	if (err)
		return err;
	if ((off | len) & (fs->sb.block_size - 1)) {
		err = -EINVAL;
		goto out_put;
	}

	lock_for_change(ctx, ip);
	old = ip->dfile.size;
	err = shift_check(collapse, old, off, len);
	/* Rule 2: the old last block moves whole, its tail past end of file
	 * with it, and must hold zeros there at its new place too. */
	if (!err)
		err = zero_eof_tail(ctx, ip, old);
	if (err)
		goto out_unlock;
	err = fs_txn_begin(fs, &t);
	if (err)
		goto out_unlock;
	if (collapse)
		err = extent_collapse(t, ip, off >> bits, len >> bits);
	else
		err = extent_insert_range(t, ip, off >> bits, len >> bits,
					  limit);
	if (!err) {
		__atomic_store_n(&ip->dfile.size,
				 collapse ? old - len : old + len,
				 __ATOMIC_RELAXED);
		ip->mtime = ip->ctime = inode_now();
		err = inode_write(t, ip);
	}
	err = fs_txn_end(fs, t, err);
	if (err)
		__atomic_store_n(&ip->dfile.size, old, __ATOMIC_RELAXED);
out_unlock:
	pthread_rwlock_unlock(&ip->dfile.lock);
out_put:
	inode_put(ip);
	return err;
}

/* The checks the VFS makes before any filesystem sees a shift. */
static int shift_args(int mode, uint64_t off, uint64_t len)
{
	if (mode != FALLOC_FL_COLLAPSE_RANGE && mode != FALLOC_FL_INSERT_RANGE)
		return -EOPNOTSUPP;
	if (!len)
		return -EINVAL;
	if (off > FILE_MAX_SIZE || len > FILE_MAX_SIZE - off)
		return -EFBIG;
	return 0;
}

int fs_fallocate(struct fs *fs, struct dio_ctx *ctx, uint64_t ino, int mode,
		 uint64_t off, uint64_t len)
{
	bool collapse = mode & FALLOC_FL_COLLAPSE_RANGE;
	bool shift = mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE);
	int err;

	if (shift) {
		err = shift_args(mode, off, len);
		if (!err)
			err = shift_once(fs, ctx, ino, collapse, off, len);
		if (fs_retry_nospc(fs, err))
			err = shift_once(fs, ctx, ino, collapse, off, len);
		return err;
	}
	err = fallocate_once(fs, ctx, ino, mode, off, len);
	if (fs_retry_nospc(fs, err))
		err = fallocate_once(fs, ctx, ino, mode, off, len);
	return err;
}

/* ---- lseek ----------------------------------------------------------------------- */

int fs_lseek(struct fs *fs, uint64_t ino, uint64_t off, int whence,
	     uint64_t *result)
{
	uint32_t bits = fs->sb.block_bits;
	uint64_t size, pos, eof_blk;
	struct inode *ip;
	struct dio_map m;
	int err;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	err = get_regular(fs, ino, -EINVAL, &ip);
	if (err)
		return err;
	pthread_rwlock_rdlock(&ip->dfile.lock);
	size = ip->dfile.size;
	if (off >= size) {
		err = -ENXIO;
		goto out;
	}
	eof_blk = align_up(size, 1ull << bits) >> bits;
	for (pos = off;;) {
		uint64_t lblk = pos >> bits;
		bool data;

		err = extent_map(ip, lblk, eof_blk - lblk, &m);
		if (err)
			goto out;
		data = m.type == DIO_MAP_MAPPED;	/* rule 3 */
		if (data == (whence == SEEK_DATA)) {
			*result = pos;
			break;
		}
		pos = (m.lblk + m.len) << bits;
		if (pos >= size) {
			/* The end of file is a hole; there is no data past it. */
			if (whence == SEEK_DATA)
				err = -ENXIO;
			else
				*result = size;
			break;
		}
	}
out:
	pthread_rwlock_unlock(&ip->dfile.lock);
	inode_put(ip);
	return err;
}

/* ---- copy_file_range ----------------------------------------------------------- */

ssize_t fs_copy_file_range(struct fs *fs, struct dio_ctx *ctx,
			   uint64_t ino_in, uint64_t off_in, uint64_t ino_out,
			   uint64_t off_out, size_t len)
{
	struct inode *in, *out;
	size_t done = 0;
	ssize_t ret;
	void *buf;

	if (!fs_writable(fs))
		return unwritable_err(fs);
	if (ino_in == ino_out && off_in < off_out + len && off_out < off_in + len)
		return -EINVAL;	/* overlapping ranges of one file */
	if (!len)
		return 0;
	ret = get_regular(fs, ino_in, -EINVAL, &in);
	if (ret)
		return ret;
	ret = get_regular(fs, ino_out, -EINVAL, &out);
	if (ret)
		goto out_in;
	ret = may_write_at(out, off_out);
	if (ret)
		goto out_out;
	if (posix_memalign(&buf, 4096, COPY_CHUNK)) {
		ret = -ENOMEM;
		goto out_out;
	}
	/* Chunk by chunk through an aligned buffer: the worker sends the
	 * caller's memory to the device directly when it is aligned. */
	while (done < len) {
		struct iovec iov = { buf, len - done };
		ssize_t r, w;

		if (iov.iov_len > COPY_CHUNK)
			iov.iov_len = COPY_CHUNK;
		r = dio_rw(ctx, &in->dfile, DIO_READ, off_in + done, &iov, 1);
		if (r <= 0) {
			ret = r;
			break;
		}
		iov.iov_len = (size_t)r;
		w = dio_rw(ctx, &out->dfile, DIO_WRITE, off_out + done, &iov,
			   1);
		if (w > 0)
			done += (size_t)w;
		if (w != r) {
			ret = w < 0 ? w : 0;
			break;
		}
	}
	free(buf);
	if (done) {
		inode_accessed(in);
		file_touch(out);
		ret = (ssize_t)done;	/* a later error waits for the next call */
	}
out_out:
	inode_put(out);
out_in:
	inode_put(in);
	return ret;
}
