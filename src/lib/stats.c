/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stats.c: per-thread shards of counters, summed on read (stats.h).
 *
 * Each set has a pthread key whose value is the calling thread's shard.
 * The first count of a thread takes a shard that an ended thread left on
 * the free list, or makes a new one, under s->lock; the shard is on
 * s->shards from then on until stats_destroy().  The key's destructor puts
 * a shard back on the free list when its thread ends (stats.h rule 2).
 *
 * Rules:
 *  1. A shard's words are written by its owning thread only, with relaxed
 *     atomic stores of plain sums: the compiler emits an ordinary load,
 *     add and store, and a concurrent stats_fold() reads every word whole.
 *  2. s->lock guards s->shards and s->free.  A shard changes owner only
 *     through the free list, under the lock, so the new owner sees the
 *     counts the old one stored.
 *  3. A thread remembers its last few shards in a small thread-local table
 *     keyed by the set's id, unique for the life of the process, so a
 *     count costs no pthread_getspecific() and a set freed and made again
 *     at the same address is never mistaken for the old one.  The key's
 *     destructor runs in the ending thread and clears the thread's entry
 *     for the shard it gives away: a later destructor that counts takes a
 *     shard again through the key.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "diofs/stats.h"

struct shard {
	struct stats *s;
	struct shard *next;	/* on s->shards */
	struct shard *next_free;
	uint64_t w[];
};

struct stats {
	uint64_t id;		/* rule 3 */
	size_t nwords;
	pthread_key_t key;
	pthread_mutex_t lock;
	struct shard *shards;
	struct shard *free;
};

#define RECENT	4	/* shards a thread remembers: a power of two */
#define SHARD_ALIGN	64	/* a cache line */

static __thread struct {
	uint64_t id;		/* 0: empty */
	struct shard *sh;
} recent[RECENT];

static _Atomic uint64_t last_id;

static void shard_retire(void *p)
{
	struct shard *sh = p;
	struct stats *s = sh->s;

	if (recent[s->id % RECENT].sh == sh)
		recent[s->id % RECENT].id = 0;
	pthread_mutex_lock(&s->lock);
	sh->next_free = s->free;
	s->free = sh;
	pthread_mutex_unlock(&s->lock);
}

int stats_create(size_t nwords, struct stats **out)
{
	struct stats *s;
	int err;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->id = atomic_fetch_add_explicit(&last_id, 1,
					  memory_order_relaxed) + 1;
	s->nwords = nwords;
	err = pthread_key_create(&s->key, shard_retire);
	if (err) {
		free(s);
		return -err;
	}
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

void stats_destroy(struct stats *s)
{
	struct shard *sh, *next;

	if (!s)
		return;
	/* Threads that end from now on leave their shard alone. */
	pthread_key_delete(s->key);
	for (sh = s->shards; sh; sh = next) {
		next = sh->next;
		free(sh);
	}
	pthread_mutex_destroy(&s->lock);
	free(s);
}

size_t stats_words(const struct stats *s)
{
	return s->nwords;
}

/* Whole cache lines of its own, so that no two threads write one line. */
static struct shard *shard_alloc(size_t nwords)
{
	size_t size = sizeof(struct shard) + nwords * sizeof(uint64_t);
	struct shard *sh;

	size = (size + SHARD_ALIGN - 1) & ~(size_t)(SHARD_ALIGN - 1);
	sh = aligned_alloc(SHARD_ALIGN, size);
	if (sh)
		memset(sh, 0, size);
	return sh;
}

/* The calling thread's shard, taken on its first count; NULL without
 * memory (stats.h rule 3). */
static struct shard *shard_attach(struct stats *s)
{
	struct shard *sh;

	pthread_mutex_lock(&s->lock);
	sh = s->free;
	if (sh) {
		s->free = sh->next_free;
	} else {
		sh = shard_alloc(s->nwords);
		if (sh) {
			sh->s = s;
			sh->next = s->shards;
			s->shards = sh;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (sh && pthread_setspecific(s->key, sh)) {
		shard_retire(sh);
		sh = NULL;
	}
	return sh;
}

/* Out of line, so that a count that finds its shard needs no stack frame. */
static __attribute__((noinline)) uint64_t *local_words_slow(struct stats *s)
{
	unsigned slot = s->id % RECENT;
	struct shard *sh;

	sh = pthread_getspecific(s->key);
	if (!sh)
		sh = shard_attach(s);
	if (!sh)
		return NULL;
	recent[slot].id = s->id;
	recent[slot].sh = sh;
	return sh->w;
}

static inline uint64_t *local_words(struct stats *s)
{
	unsigned slot = s->id % RECENT;

	if (__builtin_expect(recent[slot].id == s->id, 1))
		return recent[slot].sh->w;
	return local_words_slow(s);
}

/* Rule 1: only the owner writes, so load-add-store loses nothing. */
static inline void bump(uint64_t *w, uint64_t v)
{
	__atomic_store_n(w, __atomic_load_n(w, __ATOMIC_RELAXED) + v,
			 __ATOMIC_RELAXED);
}

void stats_add(struct stats *s, size_t w, uint64_t v)
{
	uint64_t *words;

	if (!s)
		return;
	words = local_words(s);
	if (words)
		bump(&words[w], v);
}

unsigned stats_bucket(uint64_t value)
{
	unsigned b = value ? 64 - (unsigned)__builtin_clzll(value) : 0;

	return b < STATS_BUCKETS ? b : STATS_BUCKETS - 1;
}

void stats_hist_add(struct stats *s, size_t w, uint64_t value)
{
	uint64_t *words;

	if (!s)
		return;
	words = local_words(s);
	if (!words)
		return;
	words += w;
	bump(&words[offsetof(struct stats_hist, count) / sizeof(uint64_t)], 1);
	bump(&words[offsetof(struct stats_hist, sum) / sizeof(uint64_t)],
	     value);
	bump(&words[offsetof(struct stats_hist, bucket) / sizeof(uint64_t) +
		    stats_bucket(value)], 1);
}

void stats_fold(struct stats *s, uint64_t *out)
{
	const struct shard *sh;
	size_t i;

	memset(out, 0, s->nwords * sizeof(uint64_t));
	pthread_mutex_lock(&s->lock);
	for (sh = s->shards; sh; sh = sh->next)
		for (i = 0; i < s->nwords; i++)
			out[i] += __atomic_load_n(&sh->w[i], __ATOMIC_RELAXED);
	pthread_mutex_unlock(&s->lock);
}
