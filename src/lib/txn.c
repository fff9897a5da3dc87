/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * txn: the engine's transactions, the metadata lock, and the sticky error
 * state.
 *
 * A transaction of the engine is a cache transaction (cache.h) under
 * meta_lock held exclusive, plus what memory must undo should it abort.
 * This module knows blocks, the superblock and callbacks, never inodes:
 * the modules above that keep state of their own in memory register
 * callbacks with fs_txn_on_end() (inode.c: reload or kill an inode on
 * abort, then unpin it), as the allocator does with txn_on_end().
 *
 *   fs_txn_begin():  wrlock, refuse if read-only or in error, save fs->sb
 *        │  ...changes; fs_txn_on_end() registers callbacks
 *        ▼
 *   fs_txn_end(err): err ─▶ fs->sb restored, txn_abort: blocks restored,
 *                            then the end callbacks (committed 0)
 *                    0   ─▶ txn_commit: the blocks join the running
 *                            compound transaction (commit.h), no I/O;
 *                            then the end callbacks (committed 1)
 *                    then unlock, and the after-unlock callbacks run (an
 *                    inode's last unpin may free it, which needs a
 *                    transaction of its own, hence after);
 *                    last, a commit if the budget or -o sync asks.
 *
 * Rules:
 *  1. fs->error holds a negative errno once a commit or checkpoint (or the
 *     reload after an abort) fails; it never clears.  fs_txn_begin() then
 *     answers -EROFS, as it does on a read-only mount; so does every
 *     operation that writes file data without a transaction.  After
 *     fs_shutdown() the answer is -EIO instead (inode.h rule 10).
 *  2. A thread has at most one transaction open; a thread-local pointer
 *     remembers which filesystem's, so that code below it (inode_get(),
 *     extent_map(), inode_put()) knows meta_lock is already held.
 *  3. End callbacks run in the order registered, with meta_lock still
 *     held; after-unlock callbacks run in the order registered, with no
 *     lock held, on the thread that ended the transaction.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diofs/inode.h"
#include "diofs/util.h"
#include "diofs/stats.h"

/* A callback that fs_txn_end() runs once meta_lock is released. */
struct fs_txn_cb {
	void (*fn)(void *arg);
	void *arg;
};

static __thread struct fs *txn_fs;	/* rule 2 */

bool fs_txn_mine(const struct fs *fs)
{
	return txn_fs == fs;
}

bool fs_meta_rdlock(struct fs *fs)
{
	if (fs_txn_mine(fs))
		return false;
	pthread_rwlock_rdlock(&fs->meta_lock);
	return true;
}

void fs_meta_unlock(struct fs *fs, bool taken)
{
	if (taken)
		pthread_rwlock_unlock(&fs->meta_lock);
}

bool fs_is_shut_down(const struct fs *fs)
{
	return __atomic_load_n(&fs->shut_down, __ATOMIC_ACQUIRE);
}

int fs_error(const struct fs *fs)
{
	return __atomic_load_n(&fs->error, __ATOMIC_RELAXED);
}

void fs_set_error(struct fs *fs, int err)
{
	int zero = 0;

	if (__atomic_compare_exchange_n(&fs->error, &zero, err, false,
					__ATOMIC_RELAXED, __ATOMIC_RELAXED))
		bdev_report(fs->bdev, LOG_CRIT,
			    "an error (%s) stopped all changes: the filesystem is read-only until it is unmounted",
			    strerror(-err));
}

int fs_txn_begin(struct fs *fs, struct txn **t)
{
	int err;

	if (fs->read_only)
		return -EROFS;
	pthread_rwlock_wrlock(&fs->meta_lock);
	if (fs_error(fs)) {
		pthread_rwlock_unlock(&fs->meta_lock);
		return fs_is_shut_down(fs) ? -EIO : -EROFS;
	}
	err = txn_begin(fs->cache, t);
	if (err) {
		pthread_rwlock_unlock(&fs->meta_lock);
		return err;
	}
	fs->txn = *t;
	fs->sb_saved = fs->sb;
	txn_fs = fs;
	stats_count(bdev_stats(fs->bdev), STATS_TXN_STARTED, 1);
	return 0;
}

int fs_txn_on_end(struct fs *fs, void (*end)(void *arg, int committed),
		  void (*after_unlock)(void *arg), void *arg)
{
	int err;

	/* The list belongs to the open transaction: its owner's alone. */
	assert(fs_txn_mine(fs));
	/* Room first, so that a failure leaves neither callback behind. */
	if (after_unlock) {
		err = grow_array((void **)&fs->txn_after, &fs->txn_cap_after,
				 fs->txn_nafter + 1, sizeof(*fs->txn_after));
		if (err)
			return err;
	}
	if (end) {
		err = txn_on_end(fs->txn, end, arg);
		if (err)
			return err;
	}
	if (after_unlock) {
		fs->txn_after[fs->txn_nafter].fn = after_unlock;
		fs->txn_after[fs->txn_nafter].arg = arg;
		fs->txn_nafter++;
	}
	return 0;
}

int fs_txn_end(struct fs *fs, struct txn *t, int err)
{
	struct fs_txn_cb *after;
	size_t n, i;

	if (err) {
		/* Before the end callbacks, which see the state the
		 * transaction started from. */
		fs->sb = fs->sb_saved;
		txn_abort(t);
		stats_count(bdev_stats(fs->bdev), STATS_TXN_ABORTED, 1);
	} else {
		err = txn_commit(t);
		/* The cache keeps the transaction's contents in memory: the
		 * device is behind, so nothing may change from here on. */
		if (err)
			fs_set_error(fs, err);
		else
			stats_count(bdev_stats(fs->bdev), STATS_TXN_COMMITTED,
				    1);
	}
	/* The next transaction may start as soon as the lock goes. */
	after = fs->txn_after;
	n = fs->txn_nafter;
	fs->txn_after = NULL;
	fs->txn_nafter = fs->txn_cap_after = 0;
	fs->txn = NULL;
	txn_fs = NULL;
	pthread_rwlock_unlock(&fs->meta_lock);

	for (i = 0; i < n; i++)
		after[i].fn(after[i].arg);
	free(after);
	if (!err && fs->committing)
		commit_maybe(&fs->commit);
	return err;
}

int fs_commit(struct fs *fs)
{
	int err = fs->committing ? commit_now(&fs->commit) :
				   bdev_flush(fs->bdev);

	return fs_error(fs) ? fs_error(fs) : err;
}

bool fs_retry_nospc(struct fs *fs, int err)
{
	return err == -ENOSPC && fs->committing && alloc_busy(fs->alloc) &&
	       commit_now(&fs->commit) == 0;
}

void fs_update_begin(struct fs *fs)
{
	if (fs->committing)
		commit_update_begin(&fs->commit);
}

void fs_update_end(struct fs *fs)
{
	if (fs->committing)
		commit_update_end(&fs->commit);
}
