/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stats: counters and histograms that cost the counting thread next to
 * nothing, summed when somebody reads them.
 *
 * A struct stats is a set of 64-bit words whose layout its owner chooses:
 * plain counters, and histograms (struct stats_hist: a count, a sum and
 * log2 buckets) made of consecutive words.  The engine's set is struct
 * stats_engine, one per bdev (bdev_stats()), so one per mount; the daemon
 * keeps a second set of its own for FUSE requests.  This module sits below
 * every other one and calls none of them.
 *
 * Rules:
 *  1. Every thread that counts gets its own copy of the words (a shard) on
 *     its first count, and only that thread writes it: an increment is a
 *     plain load, add and store, no lock and no atomic read-modify-write.
 *     stats_fold() sums every shard with relaxed atomic loads, so a reader
 *     sees each word as some value its writer stored; a fold taken while
 *     threads count is not a snapshot of one instant, but every word only
 *     grows and a later fold never shows less than an earlier one.
 *  2. A thread's shard outlives the thread: when it ends, the shard keeps
 *     its counts and goes to the next thread that counts, so the number of
 *     shards is the most threads that ever counted at once.
 *  3. A count that finds no memory for a new shard is lost rather than
 *     failing the operation it counts.
 *  4. stats_destroy() may only run once no thread can count on s any more
 *     and every thread that did has either ended or will outlive s.
 *  5. Histogram bucket 0 holds the value 0; bucket k (k >= 1) the values
 *     from 2^(k-1) to 2^k - 1; the last bucket everything from
 *     2^(STATS_BUCKETS - 2) on.
 */
#ifndef DIOFS_STATS_H
#define DIOFS_STATS_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#define STATS_BUCKETS	24

struct stats_hist {
	uint64_t count;			/* values added */
	uint64_t sum;			/* their sum */
	uint64_t bucket[STATS_BUCKETS];	/* rule 5 */
};

/* The engine's counters (struct stats_engine.counter). */
enum stats_counter {
	/* bdev.c: the device */
	STATS_DEV_READS,	/* read requests completed */
	STATS_DEV_WRITES,	/* write requests completed */
	STATS_DEV_READ_BYTES,
	STATS_DEV_WRITE_BYTES,
	STATS_DEV_SUBMIT_CALLS,	/* io_submit calls */
	STATS_DEV_EAGAIN,	/* EAGAINs from io_submit */
	STATS_DEV_SHORT,	/* short completions, sent again */
	STATS_DEV_FLUSHES,	/* cache flushes that succeeded */
	/* dio.c: the direct-I/O worker */
	STATS_DIO_READS,	/* read transfers */
	STATS_DIO_WRITES,	/* write transfers */
	STATS_DIO_READ_BYTES,	/* bytes asked for by read transfers */
	STATS_DIO_WRITE_BYTES,	/* bytes asked for by write transfers */
	STATS_DIO_ZERO_READ_BYTES, /* holes and unwritten blocks read: no I/O */
	STATS_DIO_ZEROED_BYTES,	/* zeros written around data in new blocks */
	STATS_DIO_RMW,		/* device blocks read for read-modify-write */
	STATS_WRITES_BEHIND,	/* writes answered before they reached the
				 * device (file.c, fs.h write-behind) */
	/* cache.c, txn.c, commit.c, journal.c: metadata */
	STATS_CACHE_HITS,
	STATS_CACHE_MISSES,
	STATS_TXN_STARTED,
	STATS_TXN_COMMITTED,
	STATS_TXN_ABORTED,
	STATS_COMMITS,		/* compound transactions made durable */
	STATS_JOURNAL_COMMITS,	/* commit records written to the journal */
	STATS_JOURNAL_BLOCKS,	/* metadata blocks logged */
	STATS_CHECKPOINTS,	/* journal checkpoints */
	STATS_NR_COUNTERS
};

/* The engine's histograms (struct stats_engine.hist). */
enum stats_hist_id {
	STATS_H_BATCH,		/* iocbs the device took per io_submit */
	STATS_H_QUEUE_DEPTH,	/* iocbs at the device right after a submit */
	STATS_H_MERGES,		/* pieces merged into one device request */
	STATS_NR_HISTS
};

struct stats_engine {
	uint64_t counter[STATS_NR_COUNTERS];
	struct stats_hist hist[STATS_NR_HISTS];
};

#define STATS_WORDS(type)	(sizeof(type) / sizeof(uint64_t))
static_assert(sizeof(struct stats_hist) % sizeof(uint64_t) == 0,
	      "stats_hist is made of words");
static_assert(sizeof(struct stats_engine) % sizeof(uint64_t) == 0,
	      "stats_engine is made of words");

struct stats;

/* A set of nwords words, all zero.  0 or -errno. */
int stats_create(size_t nwords, struct stats **out);
void stats_destroy(struct stats *s);	/* rule 4; s may be NULL */
size_t stats_words(const struct stats *s);

/* Add v to word w, or a value to the histogram starting at word w.  s may
 * be NULL: nothing is counted. */
void stats_add(struct stats *s, size_t w, uint64_t v);
void stats_hist_add(struct stats *s, size_t w, uint64_t value);

/* Every word summed over all shards into out[0 .. stats_words(s)). */
void stats_fold(struct stats *s, uint64_t *out);

/* The bucket a value goes to (rule 5). */
unsigned stats_bucket(uint64_t value);

/* The engine's layout, by name. */
static_assert(offsetof(struct stats_engine, hist) ==
	      STATS_NR_COUNTERS * sizeof(uint64_t), "no padding in stats_engine");

static inline void stats_count(struct stats *s, enum stats_counter c,
			       uint64_t v)
{
	stats_add(s, (size_t)c, v);
}

static inline void stats_sample(struct stats *s, enum stats_hist_id h,
				uint64_t value)
{
	stats_hist_add(s, STATS_NR_COUNTERS +
			  (size_t)h * STATS_WORDS(struct stats_hist), value);
}

#endif
