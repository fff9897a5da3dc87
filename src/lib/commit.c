/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * commit: compound transactions and group commit (commit.h).
 *
 *   operations ──txn_commit()──▶ dirty blocks of transaction `running`
 *        │
 *   commit_now() / interval / budget / sync
 *        ▼
 *   commit_one():  [update lock + metadata lock, exclusive]
 *                     cache_freeze(), running++          (memory only)
 *                  [unlocked]
 *                     journal_commit()  or a flush when nothing changed
 *                     cache_batch_done(): the allocator's freed blocks
 *                     become allocatable
 *                     committed = the frozen transaction
 *                     checkpoint + cache_unpin() when half the log is used
 *
 * Only one thread commits at a time (cm->committing); the others wait on
 * cm->cond for the transaction they need (commit.h rule 2).  A checkpoint
 * happens before a freeze, never between a freeze and its commit: the
 * blocks pinned at checkpoint time are then exactly those whose images it
 * writes home.
 */
#include <errno.h>
#include <time.h>

#include "diofs/commit.h"
#include "diofs/stats.h"

static __thread unsigned update_depth;	/* commit.h rule 3 */

/* Freeze the running transaction and make it durable.  Called by the one
 * committing thread, without cm->lock. */
static int commit_one(struct commit *cm)
{
	struct cache_batch b;
	uint64_t seq;
	int err = 0;

	if (journal_wants_checkpoint(cm->journal)) {
		err = journal_checkpoint(cm->journal);
		if (err)
			return err;
		cache_unpin(cm->cache);
	}

	pthread_rwlock_wrlock(&cm->update_lock);
	pthread_rwlock_wrlock(cm->meta_lock);
	err = cache_freeze(cm->cache, &b);
	pthread_mutex_lock(&cm->lock);
	seq = cm->running;
	if (!err)
		cm->running++;
	pthread_mutex_unlock(&cm->lock);
	pthread_rwlock_unlock(cm->meta_lock);
	pthread_rwlock_unlock(&cm->update_lock);
	if (err)
		return err;

	if (b.n || b.nrevoked)
		err = journal_commit(cm->journal, b.blocks, b.n, b.revoked,
				     b.nrevoked);
	else
		err = bdev_flush(cm->bdev);	/* file data written in place */
	cache_batch_done(cm->cache, &b, !err);
	if (err)
		return err;
	pthread_mutex_lock(&cm->lock);
	cm->committed = seq;
	pthread_mutex_unlock(&cm->lock);
	stats_count(bdev_stats(cm->bdev), STATS_COMMITS, 1);
	return 0;
}

/* The committing thread is done, with err; cm->lock held.  Rule 4 of
 * commit.h: the first error is kept and reported once. */
static void commit_done(struct commit *cm, int err)
{
	cm->committing = false;
	if (err && !cm->error) {
		cm->error = err;
		pthread_mutex_unlock(&cm->lock);
		cm->opts.on_error(cm->opts.arg, err);
		pthread_mutex_lock(&cm->lock);
	}
	pthread_cond_broadcast(&cm->cond);
}

/* Commit until transaction target is durable; cm->lock held. */
static int commit_until(struct commit *cm, uint64_t target)
{
	int err;

	while (!cm->error && cm->committed < target) {
		if (cm->committing) {
			pthread_cond_wait(&cm->cond, &cm->lock);
			continue;
		}
		cm->committing = true;
		pthread_mutex_unlock(&cm->lock);
		err = commit_one(cm);
		pthread_mutex_lock(&cm->lock);
		commit_done(cm, err);
	}
	return cm->error;
}

int commit_now(struct commit *cm)
{
	int err;

	pthread_mutex_lock(&cm->lock);
	err = commit_until(cm, cm->running);
	pthread_mutex_unlock(&cm->lock);
	return err;
}

int commit_all_home(struct commit *cm)
{
	int err = commit_now(cm);

	pthread_mutex_lock(&cm->lock);
	while (!err && cm->committing)
		pthread_cond_wait(&cm->cond, &cm->lock);
	cm->committing = true;
	pthread_mutex_unlock(&cm->lock);
	if (!err) {
		err = journal_checkpoint(cm->journal);
		if (!err)
			cache_unpin(cm->cache);
	}
	pthread_mutex_lock(&cm->lock);
	commit_done(cm, err);
	pthread_mutex_unlock(&cm->lock);
	return err;
}

void commit_stop(struct commit *cm, int err)
{
	pthread_mutex_lock(&cm->lock);
	/* Set before waiting: the commit under way is the last one. */
	if (!cm->error)
		cm->error = err;
	while (cm->committing)
		pthread_cond_wait(&cm->cond, &cm->lock);
	pthread_mutex_unlock(&cm->lock);
}

void commit_update_begin(struct commit *cm)
{
	if (update_depth++ == 0)
		pthread_rwlock_rdlock(&cm->update_lock);
}

void commit_update_end(struct commit *cm)
{
	if (--update_depth == 0) {
		pthread_rwlock_unlock(&cm->update_lock);
		commit_maybe(cm);
	}
}

void commit_maybe(struct commit *cm)
{
	if (update_depth)
		return;
	if (cm->opts.sync ||
	    cache_dirty_count(cm->cache) > cm->opts.budget)
		(void)commit_now(cm);
}

static void *commit_thread(void *arg)
{
	struct commit *cm = arg;
	struct timespec when;

	pthread_mutex_lock(&cm->lock);
	while (!cm->stopping) {
		clock_gettime(CLOCK_REALTIME, &when);
		when.tv_sec += cm->opts.interval_secs;
		pthread_cond_timedwait(&cm->tick, &cm->lock, &when);
		if (cm->stopping || cm->error)
			continue;
		/* The dirty count is only a hint here: a commit of nothing
		 * would flush the device every interval for no reason. */
		if (cache_dirty_count(cm->cache))
			commit_until(cm, cm->running);
	}
	pthread_mutex_unlock(&cm->lock);
	return NULL;
}

int commit_init(struct commit *cm, struct cache *c, struct journal *j,
		struct bdev *bdev, pthread_rwlock_t *meta_lock,
		const struct commit_opts *opts)
{
	pthread_rwlockattr_t attr;
	int err;

	cm->cache = c;
	cm->journal = j;
	cm->bdev = bdev;
	cm->meta_lock = meta_lock;
	cm->opts = *opts;
	cm->running = 1;
	cm->committed = 0;
	cm->committing = cm->stopping = cm->thread_started = false;
	cm->error = 0;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
			PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&cm->update_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&cm->lock, NULL);
	pthread_cond_init(&cm->cond, NULL);
	pthread_cond_init(&cm->tick, NULL);
	if (!opts->interval_secs)
		return 0;
	err = -pthread_create(&cm->thread, NULL, commit_thread, cm);
	if (err) {
		pthread_cond_destroy(&cm->tick);
		pthread_cond_destroy(&cm->cond);
		pthread_mutex_destroy(&cm->lock);
		pthread_rwlock_destroy(&cm->update_lock);
		return err;
	}
	cm->thread_started = true;
	return 0;
}

void commit_fini(struct commit *cm)
{
	if (cm->thread_started) {
		pthread_mutex_lock(&cm->lock);
		cm->stopping = true;
		pthread_cond_signal(&cm->tick);
		pthread_mutex_unlock(&cm->lock);
		pthread_join(cm->thread, NULL);
		cm->thread_started = false;
	}
	pthread_cond_destroy(&cm->tick);
	pthread_cond_destroy(&cm->cond);
	pthread_mutex_destroy(&cm->lock);
	pthread_rwlock_destroy(&cm->update_lock);
}
