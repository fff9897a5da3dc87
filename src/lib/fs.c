/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fs: mounting and unmounting, and the whole-filesystem operations
 * (statfs, sync).
 *
 *   fs_mount()        bdev_open ─▶ super_read ─▶ journal: replay what
 *                     committed (in memory only on a read-only mount)
 *                     ─▶ (read-write) RECOVER + DIRTY written in place
 *                     ─▶ cache_create (deferred) ─▶ alloc_open ─▶ commit
 *                     ─▶ mount time in a transaction
 *                     ─▶ orphan replay: every inode on the list is freed
 *   fs_shutdown()     (FULLSYNC: deferred times, commit; METAFLUSH:
 *                     commit) ─▶ every call -EIO, the committer stops
 *   fs_unmount()      (read-write) release the kernel's references, write
 *                     deferred times ─▶ clear DIRTY and RECOVER, refresh
 *                     the free counts ─▶ commit, checkpoint ─▶ close
 *
 * Transactions, the metadata lock and the sticky error are txn.c's; this
 * module sits on top of the engine and may call every module below it.
 * It installs the table through which inode.c frees an inode's contents
 * and binds its data to the worker (struct inode_content_ops), so that
 * inode.c calls none of extent.c, dir.c and xattr.c.
 *
 * Rules:
 *  1. The superblock's free counts are refreshed at unmount only
 *     (super.h rule 2); statfs asks the allocator.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "diofs/bdev_impl.h"	/* fs_bdev_set_exclusive(): the descriptor */
#include "diofs/inode.h"
#include "diofs/journal.h"

/* Metadata cache when the caller does not say: 1/64 of the machine's
 * memory, between 16 MiB and 1 GiB worth of blocks (blocks are allocated
 * as they are first used, so an idle filesystem costs little). */
#define FS_CACHE_MEM_SHARE	64
#define FS_CACHE_MIN_BYTES	(16ull << 20)
#define FS_CACHE_MAX_BYTES	(1ull << 30)
#define FS_CACHE_MIN_BLOCKS	256u
/* The engine's own worker context (inode.h, struct fs): a symlink target
 * and the zeros after it fit one request of the largest fs block. */
static const struct dio_params fs_dio_params = {
	.queue_depth = 4,
	.max_io = DIOFS_MAX_BLOCK_SIZE,
	.staging_bufs = 2,
};
/* Seconds between timed commits when the mount does not say (as ext4). */
#define FS_COMMIT_SECS		5u

/* What inodes hold, for inode.c (inode.h). */
static const struct inode_content_ops content_ops = {
	.free_data = extent_destroy,
	.free_dir = dir_destroy,
	.free_xattrs = xattr_destroy,
	.dio_ops = &extent_dio_ops,
};

static void commit_failed(void *arg, int err)
{
	struct fs *fs = arg;

	bdev_report(fs->bdev, LOG_CRIT,
		    "the journal aborted a commit (%s): what committed before is kept, and the next mount replays it",
		    strerror(-err));
	fs_set_error(fs, err);
}

/* ---- mount and unmount ------------------------------------------------------ */

static __thread char mount_msg[256];

static int mount_fail(const char **err_msg, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int mount_fail(const char **err_msg, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(mount_msg, sizeof(mount_msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(mount_msg) - 2)
		snprintf(mount_msg + n, sizeof(mount_msg) - (size_t)n,
			 ": %s", strerror(-err));
	if (err_msg)
		*err_msg = mount_msg;
	return err;
}

/* A reason that already says everything (super_read()'s): no errno text. */
static int mount_said(const char **err_msg, int err, const char *msg,
		      const char *fallback)
{
	if (!msg[0])
		return mount_fail(err_msg, err, "%s", fallback);
	snprintf(mount_msg, sizeof(mount_msg), "%s", msg);
	if (err_msg)
		*err_msg = mount_msg;
	return err;
}

/* The journal's reasons say everything, but for I/O errors, whose errno
 * text is worth adding. */
static int journal_fail(const char **err_msg, int err, const char *msg)
{
	if (err == -EUCLEAN || err == -EOPNOTSUPP)
		return mount_said(err_msg, err, msg, "cannot open the journal");
	return mount_fail(err_msg, err, "%s", msg);
}

/* Add a part to the mount notice, after what is there ("; " between). */
static void add_notice(struct fs *fs, const char *part)
{
	size_t n = strlen(fs->notice);

	snprintf(fs->notice + n, sizeof(fs->notice) - n, "%s%s",
		 n ? "; " : "", part);
}

/* Set the superblock's mount state in a transaction of its own. */
static int fs_mark(struct fs *fs, bool mounting)
{
	struct txn *t;
	int err;

	err = fs_txn_begin(fs, &t);
	if (err)
		return err;
	if (mounting) {
		fs->sb.state |= DIOFS_STATE_DIRTY;
		fs->sb.mount_time = time(NULL);
		fs->sb.mount_count++;
	} else {
		/* Journaled like any change: the checkpoint at unmount writes
		 * it home along with everything it describes. */
		fs->sb.state &= ~DIOFS_STATE_DIRTY;
		fs->sb.incompat &= ~DIOFS_FEAT_INCOMPAT_RECOVER;
		alloc_counts(fs->alloc, &fs->sb.free_blocks,
			     &fs->sb.free_inodes);
	}
	return fs_txn_end(fs, t, super_update(&fs->sb, fs->cache, t));
}

static void fs_free(struct fs *fs)
{
	if (fs->committing)
		commit_fini(&fs->commit);
	inode_cache_destroy(fs);
	dio_ctx_destroy(fs->dio);
	if (fs->xattr_q)
		bdev_queue_close(fs->xattr_q);
	alloc_close(fs->alloc);
	cache_destroy(fs->cache);
	journal_close(fs->journal);
	pthread_mutex_destroy(&fs->dio_lock);
	pthread_mutex_destroy(&fs->xattr_io_lock);
	pthread_mutex_destroy(&fs->icache_lock);
	pthread_rwlock_destroy(&fs->meta_lock);
	bdev_set_report(fs->bdev, NULL);	/* the caller's bdev outlives fs */
	free(fs);
}

/* Dirty blocks that start a commit: a quarter of the log, so that a
 * compound transaction always fits half of it, and at most half the cache,
 * whose dirty and pinned blocks cannot be evicted. */
static size_t default_cache_blocks(uint32_t block_size)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	uint64_t bytes = FS_CACHE_MIN_BYTES;
	size_t blocks;

	if (pages > 0 && page > 0)
		bytes = (uint64_t)pages * (uint64_t)page / FS_CACHE_MEM_SHARE;
	if (bytes < FS_CACHE_MIN_BYTES)
		bytes = FS_CACHE_MIN_BYTES;
	if (bytes > FS_CACHE_MAX_BYTES)
		bytes = FS_CACHE_MAX_BYTES;
	blocks = bytes / block_size;
	return blocks < FS_CACHE_MIN_BLOCKS ? FS_CACHE_MIN_BLOCKS : blocks;
}

static size_t commit_budget(const struct fs *fs, size_t cache_blocks)
{
	size_t budget = (fs->sb.journal_blocks - 1) / 4;

	if (budget > cache_blocks / 2)
		budget = cache_blocks / 2;
	return budget ? budget : 1;
}

/*
 * Open the journal and replay it if the filesystem needs it: for real on a
 * read-write mount, in memory on a read-only one (then nothing is written
 * and the replayed blocks overlay the device).  A read-write mount then
 * marks the superblock RECOVER and DIRTY in place, before anything is
 * journaled, so that a crash from here on sends the next mount, and fsck,
 * to the journal.
 */
static int journal_start(struct fs *fs, const struct fs_mount_opts *opts,
			 const char **err_msg)
{
	bool recover = fs->sb.incompat & DIOFS_FEAT_INCOMPAT_RECOVER;
	struct journal_replay info;
	char msg[200] = "";
	int err;

	err = journal_open(fs->bdev, &fs->sb, &fs->journal, msg, sizeof(msg));
	if (err)
		return journal_fail(err_msg, err, msg);
	journal_skip_commit_flush(fs->journal, opts->test_skip_commit_flush);
	if (recover) {
		err = journal_recover(fs->journal, !fs->read_only, &info, msg,
				      sizeof(msg));
		if (err)
			return journal_fail(err_msg, err, msg);
		fs->replayed = true;
		snprintf(fs->notice, sizeof(fs->notice),
			 "recovered the journal%s: %" PRIu64 " transaction%s, %" PRIu64 " block%s%s",
			 fs->read_only ? " in memory only (read-only mount: run fsck.diofs -y or mount read-write to write it)" : "",
			 info.transactions, info.transactions == 1 ? "" : "s",
			 info.blocks, info.blocks == 1 ? "" : "s",
			 info.torn ? "; an incomplete last transaction was discarded" : "");
		/* The replay may have rewritten the superblock itself. */
		err = super_read(fs->bdev, &fs->sb, msg, sizeof(msg));
		if (err)
			return mount_said(err_msg, err, msg,
					  "cannot read the superblock after replaying the journal");
	}
	if (fs->read_only)
		return 0;
	err = journal_reset(fs->journal);
	if (!err) {
		fs->sb.incompat |= DIOFS_FEAT_INCOMPAT_RECOVER;
		fs->sb.state |= DIOFS_STATE_DIRTY;
		err = super_write(fs->bdev, &fs->sb);
	}
	if (err)
		return mount_fail(err_msg, err, "cannot write the superblock");
	return 0;
}

const char *fs_mount_notice(const struct fs *fs)
{
	return fs->notice[0] ? fs->notice : NULL;
}

bool fs_mount_replayed(const struct fs *fs)
{
	return fs->replayed;
}

/*
 * A read-write mount's last steps, and a remount's from read-only: start
 * the committer, count the mount in the superblock, free the inodes left
 * on the orphan list by a crash.
 */
static int start_committing(struct fs *fs, const char **err_msg)
{
	int err;

	err = commit_init(&fs->commit, fs->cache, fs->journal, fs->bdev,
			  &fs->meta_lock, &fs->commit_opts);
	if (err)
		return mount_fail(err_msg, err, "cannot start the journal");
	fs->committing = true;
	err = fs_mark(fs, true);
	if (err)
		return mount_fail(err_msg, err, "cannot write the superblock");
	err = inode_orphan_replay(fs);
	if (err)
		return mount_fail(err_msg, err,
				  "cannot free the unlinked inodes left by a crash");
	return 0;
}

/* A filesystem whose root directory is damaged (corrupt, free, not a
 * directory) answers nothing but EUCLEAN: refuse it. */
static int check_root(struct fs *fs, const char **err_msg)
{
	struct inode *ip;
	bool dir;
	int err;

	err = inode_get(fs, DIOFS_ROOT_INO, &ip);
	if (err && err != -EUCLEAN && err != -ENOENT)
		return mount_fail(err_msg, err, "cannot read the root directory");
	if (!err) {
		dir = S_ISDIR(ip->mode);
		inode_put(ip);
		if (dir)
			return 0;
	}
	return mount_said(err_msg, -EUCLEAN,
			  "the root directory is damaged: run fsck.diofs", "");
}

int fs_mount_bdev(struct bdev *bdev, const struct fs_mount_opts *opts,
		  struct fs **out, const char **err_msg)
{
	char msg[200] = "";
	size_t cache_blocks;
	struct fs *fs;
	uint64_t g;
	int err;

	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return mount_fail(err_msg, -ENOMEM, "cannot mount");
	fs->bdev = bdev;
	bdev_set_report(bdev, opts->log);
	fs->atime = opts->atime;
	fs->nodiratime = opts->nodiratime;
	fs->content = &content_ops;
	pthread_rwlock_init(&fs->meta_lock, NULL);
	pthread_mutex_init(&fs->icache_lock, NULL);
	pthread_mutex_init(&fs->dio_lock, NULL);
	pthread_mutex_init(&fs->xattr_io_lock, NULL);

	err = super_read(bdev, &fs->sb, msg, sizeof(msg));
	if (err == -EINVAL && !strncmp(msg, FS_NOT_DIOFS, strlen(FS_NOT_DIOFS)))
		snprintf(msg, sizeof(msg), "%s (no superblock at the start or the end of the device): use mkfs.diofs to make one",
			 FS_NOT_DIOFS);
	if (err) {
		mount_said(err_msg, err, msg, "cannot read the superblock");
		goto out_free;
	}
	if (fs->sb.block_size < bdev_block_size(bdev)) {
		err = mount_fail(err_msg, -EINVAL,
				 "the filesystem's %u-byte blocks are smaller than the device's %u-byte sectors",
				 fs->sb.block_size, bdev_block_size(bdev));
		goto out_free;
	}
	fs->read_only = opts->read_only || fs->sb.read_only ||
			bdev_read_only(bdev);
	err = journal_start(fs, opts, err_msg);
	if (err)
		goto out_free;
	if (fs->sb.read_only) {
		snprintf(msg, sizeof(msg),
			 "unsupported read-only-compatible features 0x%x, mounting read-only",
			 fs->sb.ro_compat & ~DIOFS_FEAT_RO_COMPAT_KNOWN);
		add_notice(fs, msg);
	}
	if (fs->sb.state & DIOFS_STATE_ERROR)
		add_notice(fs, "the filesystem has errors: run fsck.diofs");
	for (g = 0; g < fs->sb.group_count; g++)
		fs->data_blocks += super_group_len(&fs->sb, g) -
				   super_group_meta(&fs->sb);

	cache_blocks = opts->cache_blocks;
	if (!cache_blocks)
		cache_blocks = default_cache_blocks(fs->sb.block_size);
	err = cache_create(bdev, fs->sb.block_size, fs->sb.uuid, cache_blocks,
			   &fs->cache);
	if (err) {
		mount_fail(err_msg, err, "cannot set up the metadata cache");
		goto out_free;
	}
	fs->commit_opts = (struct commit_opts){
		.interval_secs = opts->commit_secs ? opts->commit_secs :
						     FS_COMMIT_SECS,
		.sync = opts->sync,
		.budget = commit_budget(fs, cache_blocks),
		.on_error = commit_failed,
		.arg = fs,
	};
	if (!fs->read_only)
		cache_set_deferred(fs->cache);
	err = alloc_open(&fs->sb, fs->cache, &fs->alloc);
	if (err) {
		mount_fail(err_msg, err, "cannot read the group descriptors");
		goto out_free;
	}
	err = dio_ctx_create(bdev, &fs_dio_params, &fs->dio);
	if (!err)
		err = bdev_queue_open(bdev, 1, &fs->xattr_q);
	if (!err)
		err = inode_cache_init(fs);
	if (err) {
		mount_fail(err_msg, err, "cannot mount");
		goto out_free;
	}
	err = check_root(fs, err_msg);
	if (err)
		goto out_free;
	if (!fs->read_only) {
		err = start_committing(fs, err_msg);
		if (err)
			goto out_free;
	}
	*out = fs;
	return 0;

out_free:
	fs_free(fs);
	return err;
}

int fs_mount(const char *device, const struct fs_mount_opts *opts,
	     struct fs **out, const char **err_msg)
{
	const char *why = NULL;
	bool protected = false;
	struct bdev *bdev;
	char line[sizeof(((struct fs *)0)->notice)];
	int err;

	/* A read-only mount opens the device for writing too when it can,
	 * so that a remount can make it read-write (fs_set_read_only()),
	 * but writes nothing. */
	err = bdev_open(device, BDEV_RDWR, &bdev, &why);
	/* As the kernel does: a device that cannot be written is mounted
	 * read-only, and the notice says so. */
	if (err == -EROFS || err == -EACCES || err == -EPERM) {
		why = NULL;
		err = bdev_open(device, BDEV_RDONLY, &bdev, &why);
		protected = !err && !opts->read_only;
	} else if (!err && opts->read_only) {
		bdev_allow_writes(bdev, false);
	}
	if (err) {
		if (why && err_msg) {
			snprintf(mount_msg, sizeof(mount_msg), "%s", why);
			*err_msg = mount_msg;
		} else {
			mount_fail(err_msg, err, "cannot open the device");
		}
		return err;
	}
	err = fs_mount_bdev(bdev, opts, out, err_msg);
	if (err) {
		bdev_close(bdev);
		return err;
	}
	(*out)->own_bdev = true;
	if (protected) {
		snprintf(line, sizeof(line), "%s", (*out)->notice);
		(*out)->notice[0] = '\0';
		add_notice(*out, "write-protected, mounting read-only");
		if (line[0])
			add_notice(*out, line);
	}
	return 0;
}

bool fs_read_only(const struct fs *fs)
{
	return __atomic_load_n(&fs->read_only, __ATOMIC_ACQUIRE);
}

int fs_unmount(struct fs *fs)
{
	struct bdev *bdev = fs->bdev;
	bool own = fs->own_bdev;
	int err = 0, e;

	if (!fs->read_only && !fs_error(fs)) {
		err = inode_release_all(fs);
		e = fs_mark(fs, false);
		if (e && !err)
			err = e;
		e = commit_all_home(&fs->commit);
		if (e && !err)
			err = e;
	}
	/* A shutdown asked for its error: unmounting after it is no failure. */
	if (!err && !fs_is_shut_down(fs))
		err = fs_error(fs);
	fs_free(fs);
	if (own)
		bdev_close(bdev);
	return err;
}

struct bdev *fs_bdev(struct fs *fs)
{
	return fs->bdev;
}

uint32_t fs_block_size(const struct fs *fs)
{
	return fs->sb.block_size;
}

/* ---- whole-filesystem operations ------------------------------------------- */

int fs_statfs(struct fs *fs, struct statvfs *st)
{
	uint64_t free_blocks, free_inodes;

	if (fs_is_shut_down(fs))
		return -EIO;
	alloc_counts(fs->alloc, &free_blocks, &free_inodes);
	memset(st, 0, sizeof(*st));
	st->f_bsize = fs->sb.block_size;
	st->f_frsize = fs->sb.block_size;
	/* Only the groups' data areas can ever hold files. */
	st->f_blocks = fs->data_blocks;
	st->f_bfree = free_blocks;
	st->f_bavail = free_blocks;
	st->f_files = fs->sb.inodes_count - fs->sb.first_ino;
	st->f_ffree = free_inodes;
	st->f_favail = free_inodes;
	memcpy(&st->f_fsid, fs->sb.uuid, sizeof(st->f_fsid));
	st->f_flag = fs->read_only || fs_error(fs) ? ST_RDONLY : 0;
	st->f_namemax = DIOFS_NAME_MAX;
	return 0;
}

int fs_sync(struct fs *fs)
{
	int err = 0, e;

	/* Deferred times (inode.h rule 8) join the running transaction
	 * first; then it commits. */
	if (!fs->read_only)
		err = inode_sync_all(fs);
	e = fs_commit(fs);
	if (e && !err)
		err = e;
	return err;
}

/*
 * As ext4 and XFS: what the flag asks is written first, then shut_down
 * makes every call fail with -EIO (inode.h rule 10) and the committer
 * stops, waiting out a commit under way.  The superblock keeps RECOVER and
 * DIRTY, so the next mount (and fsck) replays what the journal holds.  A
 * failed flush does not keep the filesystem up: it is shut down all the
 * same, and the flush's error returned.
 */
int fs_shutdown(struct fs *fs, enum fs_shutdown_how how)
{
	bool writable = !fs->read_only && !fs_error(fs);
	int err = 0;

	if (how != FS_SHUTDOWN_FULLSYNC && how != FS_SHUTDOWN_METAFLUSH &&
	    how != FS_SHUTDOWN_NOSYNC)
		return -EINVAL;
	if (fs_is_shut_down(fs))
		return 0;
	if (writable && how == FS_SHUTDOWN_FULLSYNC)
		err = fs_sync(fs);
	else if (writable && how == FS_SHUTDOWN_METAFLUSH)
		err = fs_commit(fs);
	__atomic_store_n(&fs->shut_down, true, __ATOMIC_RELEASE);
	fs_set_error(fs, -EIO);
	if (fs->committing)
		commit_stop(&fs->commit, -EIO);
	return err;
}

/* ---- remounting and handing the device to the kernel ------------------------- */

/*
 * Read-write for the first time on a filesystem mounted read-only: what a
 * read-write mount does after reading the filesystem (journal_start(),
 * start_committing()).  Nothing has been written, and no handle can start
 * (fs->read_only) until the end.  A journal replayed in memory at mount
 * (-EBUSY) would have to be replayed for real under the cached blocks;
 * it is left to a read-write mount.
 */
static int start_writing(struct fs *fs)
{
	int err;

	if (fs->sb.read_only)
		return -EROFS;
	if (fs->replayed)
		return -EBUSY;
	err = bdev_allow_writes(fs->bdev, true);
	if (err)
		return err;
	err = journal_reset(fs->journal);
	if (!err) {
		fs->sb.incompat |= DIOFS_FEAT_INCOMPAT_RECOVER;
		fs->sb.state |= DIOFS_STATE_DIRTY;
		err = super_write(fs->bdev, &fs->sb);
	}
	if (err) {
		/* Unknown on disk now: the sticky error keeps it unchanged. */
		fs_set_error(fs, err);
		return err;
	}
	cache_set_deferred(fs->cache);
	__atomic_store_n(&fs->read_only, false, __ATOMIC_RELEASE);
	err = start_committing(fs, NULL);
	if (err)
		fs_set_error(fs, err);
	return err;
}

/*
 * Read-only: deferred times join the running transaction, the superblock
 * is marked clean (DIRTY and RECOVER cleared, as a clean unmount does),
 * then no new handle may start and everything is committed and written
 * home, so the device needs no replay however the daemon ends.
 * Read-write: RECOVER and DIRTY go to the superblock in place before
 * anything is journaled again (as journal_start() does at mount), then a
 * transaction counts the mount.  Only a filesystem mounted read-write has
 * a journal running: one mounted read-only starts it (start_writing()).
 */
int fs_set_read_only(struct fs *fs, bool ro)
{
	int err, e;

	if (ro == fs->read_only)
		return 0;
	if (fs_error(fs))
		return fs_error(fs);
	if (ro) {
		err = inode_sync_all(fs);
		e = fs_mark(fs, false);
		if (e && !err)
			err = e;
		__atomic_store_n(&fs->read_only, true, __ATOMIC_RELEASE);
		e = commit_all_home(&fs->commit);
		if (e && !err)
			err = e;
		return err;
	}
	if (!fs->committing)
		return start_writing(fs);
	if (fs->sb.read_only || bdev_read_only(fs->bdev))
		return -EROFS;
	pthread_rwlock_wrlock(&fs->meta_lock);
	fs->sb.incompat |= DIOFS_FEAT_INCOMPAT_RECOVER;
	fs->sb.state |= DIOFS_STATE_DIRTY;
	err = super_write(fs->bdev, &fs->sb);
	pthread_rwlock_unlock(&fs->meta_lock);
	if (err) {
		/* Unknown on disk now: the sticky error keeps it unchanged. */
		fs_set_error(fs, err);
		return err;
	}
	__atomic_store_n(&fs->read_only, false, __ATOMIC_RELEASE);
	return fs_mark(fs, true);
}

/*
 * The device is reopened through /proc/self/fd with the same access mode,
 * with or without O_EXCL, and the new descriptor takes the old one's
 * number, so every queue goes on using it: the claim ends or starts with
 * no moment at which the engine has no descriptor.
 */
int fs_bdev_set_exclusive(struct fs *fs, bool exclusive)
{
	struct bdev *bdev = fs->bdev;
	char path[64];
	struct stat st;
	int fd, flags, err = 0;

	if (fstat(bdev->fd, &st) < 0)
		return -errno;
	if (!S_ISBLK(st.st_mode))
		return 0;
	flags = fcntl(bdev->fd, F_GETFL);
	if (flags < 0)
		return -errno;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", bdev->fd);
	fd = open(path, (flags & (O_ACCMODE | O_DIRECT)) | O_CLOEXEC |
			(exclusive ? O_EXCL : 0));
	if (fd < 0)
		return -errno;
	if (dup3(fd, bdev->fd, O_CLOEXEC) < 0)
		err = -errno;
	close(fd);
	return err;
}
