/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * commit: compound transactions, and when they commit.
 *
 * Every engine transaction (cache.h, deferred mode) changes cached blocks
 * in memory and joins the one running compound transaction.  This module
 * decides when that transaction goes to the journal (journal.h): when
 * commit_now() or commit_start() asks (fsync, fdatasync, fsyncdir, syncfs,
 * unmount), every commit interval, when the dirty blocks pass the budget,
 * and after every transaction in sync mode.  It knows blocks and locks,
 * never inodes.  A thread of its own (the committer) makes the timed
 * commits and those commit_start() asks for.
 *
 * Rules:
 *  1. A commit freezes the dirty blocks with the metadata lock and the
 *     update lock held exclusive, so no engine transaction, and no update
 *     (a group of transactions that must commit together, such as the
 *     conversion and size change of one write), is half in it.  The I/O
 *     runs without either lock: operations go on joining the next
 *     transaction meanwhile.
 *  2. Group commit: commit_now() waits for a commit that starts after it
 *     was called; callers that arrive while one runs share the next one,
 *     and so its flushes.  It returns once everything done before the call
 *     is durable, file data included (an empty commit is a device flush).
 *  3. Lock order: a file's dio lock, then the update lock, then the
 *     metadata lock.  The update lock prefers the committer.  A thread
 *     inside an update never commits (commit_maybe() waits for the end of
 *     its update).
 *  4. A failed commit or checkpoint calls on_error once; the journal then
 *     writes nothing more, and every later commit_now() returns the error.
 *  5. commit_start() is commit_now() for a caller that will not wait: the
 *     committer calls the waiter's done, without locks, once everything
 *     done before the call is durable (0) or cannot be (rule 4's error,
 *     or commit_stop()'s), so a thread that serves requests goes on
 *     serving them while a commit runs.  Waiters that arrive while one
 *     runs share the next one, as in rule 2.  commit_fini() answers the
 *     waiters still left: 0 when their commit was made, else -EIO.
 */
#ifndef DIOFS_COMMIT_H
#define DIOFS_COMMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diofs/bdev.h"
#include "diofs/cache.h"
#include "diofs/journal.h"

struct commit_opts {
	unsigned interval_secs;	/* 0: no timed commits */
	bool sync;		/* commit after every transaction */
	size_t budget;		/* dirty blocks that start a commit */
	void (*on_error)(void *arg, int err);
	void *arg;
};

/* Rule 5: a commit waited for asynchronously, owned by the caller. */
struct commit_wait {
	void (*done)(struct commit_wait *w, int err);
	struct commit_wait *next;	/* the committer's */
	uint64_t target;		/* the committer's */
};

struct commit {
	struct cache *cache;
	struct journal *journal;
	struct bdev *bdev;
	pthread_rwlock_t *meta_lock;
	struct commit_opts opts;
	pthread_rwlock_t update_lock;	/* rule 3 */

	pthread_mutex_t lock;		/* the fields below */
	pthread_cond_t cond;		/* a commit ended */
	pthread_cond_t tick;		/* wakes the committer */
	struct commit_wait *waiting, **waiting_tail; /* rule 5, by target */
	uint64_t running;		/* the transaction being joined */
	uint64_t committed;		/* the last one durable */
	bool committing;
	int error;			/* rule 4 */
	bool stopping;
	pthread_t thread;		/* the committer */
};

/* Start committing c's dirty blocks to j; starts the committer. */
int commit_init(struct commit *cm, struct cache *c, struct journal *j,
		struct bdev *bdev, pthread_rwlock_t *meta_lock,
		const struct commit_opts *opts);
/* Stop the committer; commits nothing (rule 5 for the waiters left). */
void commit_fini(struct commit *cm);

/* Rule 1: transactions between these two commit together. */
void commit_update_begin(struct commit *cm);
void commit_update_end(struct commit *cm);
/* After a transaction: commit if the budget or sync mode says so. */
void commit_maybe(struct commit *cm);
/* Rule 2. */
int commit_now(struct commit *cm);
/* Rule 5: w->done is set; it is called once, from the committer. */
void commit_start(struct commit *cm, struct commit_wait *w);
/* commit_now(), then write everything home and empty the journal. */
int commit_all_home(struct commit *cm);
/* Write nothing more (a shutdown): once a commit under way has ended,
 * every later one fails with err, and on_error is not called. */
void commit_stop(struct commit *cm, int err);

#endif
