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
 * cm->cond for the transaction they need (commit.h rule 2).  The waiters
 * of commit_start() are the committer's: it commits for them, or sees
 * another thread's commit end (cm->tick), and answers them (rule 5).  A
 * checkpoint happens before a freeze, never between a freeze and its
 * commit: the blocks pinned at checkpoint time are then exactly those
 * whose images it writes home.
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
	if (cm->waiting)
		pthread_cond_signal(&cm->tick);
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
	pthread_cond_signal(&cm->tick);	/* rule 5: the waiters hear it */
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

void commit_start(struct commit *cm, struct commit_wait *w)
{
	pthread_mutex_lock(&cm->lock);
	w->target = cm->running;
	w->next = NULL;
	*cm->waiting_tail = w;
	cm->waiting_tail = &w->next;
	pthread_cond_signal(&cm->tick);
	pthread_mutex_unlock(&cm->lock);
}

/* Rule 5: answer the waiters whose commit is made, or every one once no
 * commit can be made for them; cm->lock held, dropped around the calls. */
static void answer_waiters(struct commit *cm)
{
	struct commit_wait *w;
	int err;

	while ((w = cm->waiting) &&
	       (w->target <= cm->committed || cm->error || cm->stopping)) {
		cm->waiting = w->next;
		if (!cm->waiting)
			cm->waiting_tail = &cm->waiting;
		err = w->target <= cm->committed ? 0 :
		      cm->error ? cm->error : -EIO;
		pthread_mutex_unlock(&cm->lock);
		w->done(w, err);
		pthread_mutex_lock(&cm->lock);
	}
}

static struct timespec seconds_from_now(unsigned secs)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += secs;
	return ts;
}

static bool reached(const struct timespec *when)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > when->tv_sec ||
	       (now.tv_sec == when->tv_sec && now.tv_nsec >= when->tv_nsec);
}

/* The committer: rule 5's waiters first, then a commit each interval. */
static void *commit_thread(void *arg)
{
	struct commit *cm = arg;
	unsigned interval = cm->opts.interval_secs;
	struct timespec next = seconds_from_now(interval);

	pthread_mutex_lock(&cm->lock);
	for (;;) {
		answer_waiters(cm);
		if (cm->waiting) {
			/* The running transaction holds every target. */
			commit_until(cm, cm->running);
			continue;
		}
		if (cm->stopping)
			break;
		if (!interval) {
			pthread_cond_wait(&cm->tick, &cm->lock);
			continue;
		}
		pthread_cond_timedwait(&cm->tick, &cm->lock, &next);
		if (!reached(&next))
			continue;
		next = seconds_from_now(interval);
		/* The dirty count is only a hint here: a commit of nothing
		 * would flush the device every interval for no reason. */
		if (!cm->error && cache_dirty_count(cm->cache))
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
	pthread_condattr_t cattr;
	int err;

	cm->cache = c;
	cm->journal = j;
	cm->bdev = bdev;
	cm->meta_lock = meta_lock;
	cm->opts = *opts;
	cm->running = 1;
	cm->committed = 0;
	cm->committing = cm->stopping = false;
	cm->error = 0;
	cm->waiting = NULL;
	cm->waiting_tail = &cm->waiting;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
			PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&cm->update_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&cm->lock, NULL);
	pthread_cond_init(&cm->cond, NULL);
	pthread_condattr_init(&cattr);	/* the interval is not wall time */
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&cm->tick, &cattr);
	pthread_condattr_destroy(&cattr);
	err = -pthread_create(&cm->thread, NULL, commit_thread, cm);
	if (err) {
		pthread_cond_destroy(&cm->tick);
		pthread_cond_destroy(&cm->cond);
		pthread_mutex_destroy(&cm->lock);
		pthread_rwlock_destroy(&cm->update_lock);
	}
	return err;
}

void commit_fini(struct commit *cm)
{
	pthread_mutex_lock(&cm->lock);
	cm->stopping = true;
	pthread_cond_signal(&cm->tick);
	pthread_mutex_unlock(&cm->lock);
	pthread_join(cm->thread, NULL);
	pthread_cond_destroy(&cm->tick);
	pthread_cond_destroy(&cm->cond);
	pthread_mutex_destroy(&cm->lock);
	pthread_rwlock_destroy(&cm->update_lock);
}
