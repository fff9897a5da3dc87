/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cache: metadata blocks kept in memory, and the transactions that change
 * them.
 *
 * O_DIRECT bypasses the kernel's page cache, so diofs keeps its metadata
 * blocks here: a hash table from block number to a cbuf (the block's
 * aligned buffer, its reference count and its transaction state), with the
 * unreferenced blocks on an LRU list from which the oldest are dropped when
 * the table holds more than max_blocks.  I/O goes through one bdev_queue
 * that the cache owns.  A transaction is the list of blocks it has added,
 * each with a copy of its contents from before (for abort), and the list of
 * callbacks to run when it ends.
 *
 *   cache_read() / cache_new()         block referenced
 *        | txn_add()                   copy saved, the transaction's reference
 *        v
 *   in a transaction ---- txn_commit(): stamp, write all in one batch,
 *        |                              callbacks(1)  ---> clean, cached
 *        +--------------- txn_abort():  copies back, fresh blocks dropped,
 *                                       callbacks(0)  ---> clean, cached
 *
 * Rules:
 *  1. Locking: c->lock protects the index only: the hash table, the LRU
 *     list, and each cbuf's refs, indexed and fresh fields.  c->io_lock
 *     protects the queue (a queue serves one thread at a time).  The two are
 *     never held together, and no I/O is done under c->lock.  Block contents
 *     and a cbuf's transaction fields are the caller's to serialize
 *     (cache.h rule 1).
 *  2. A cbuf is on the LRU list exactly when it is indexed and unreferenced.
 *     A transaction holds a reference on each of its blocks, so they are
 *     never evicted, and every unreferenced block matches the device (commit
 *     writes before it returns).
 *  3. A block from cache_new() is fresh until a commit writes it.  Its
 *     contents were never on the device, so a fresh block leaves the index
 *     when its last reference goes without it having joined a transaction,
 *     and when its transaction aborts.  Nothing stale stays cached as valid.
 *  4. cache_forget() takes a block out of the index at once; a holder keeps
 *     the memory until its cache_release().  A forgotten block in a
 *     transaction is neither written at commit nor restored at abort: it
 *     was freed, and the device holds its contents from before the
 *     transaction, which is what an abort wants.
 *  5. Outside deferred mode txn_commit() is the only function that writes
 *     metadata blocks (in deferred mode the journal does, rule 7).  A
 *     write error leaves every block as
 *     the transaction made it (memory then runs ahead of the device, and the
 *     filesystem goes read-only), ends the transaction with callbacks(0),
 *     and returns the error.
 *  6. A miss reads the device without c->lock; when two threads miss on the
 *     same block, both read it and the later one takes the copy the earlier
 *     one indexed.  Readers hold the metadata lock shared, so the two reads
 *     see the same contents.
 *  7. Deferred mode (a journaled filesystem, cache_set_deferred()) changes
 *     rules 2 and 5: txn_commit() writes nothing; it puts the blocks on the
 *     dirty list, each holding a reference, and the blocks the transaction
 *     forgot on the revoked list.  cache_freeze() hands both to the journal
 *     as one compound transaction and moves each frozen block to the pinned
 *     list, whose reference keeps it cached until cache_unpin() after the
 *     checkpoint: until then only memory and the journal hold its contents,
 *     so it must never be read from its home block.  A block forgotten
 *     inside a transaction joins it first, so an abort brings it back.
 *
 *   deferred:  txn_commit() ──▶ dirty ──cache_freeze()──▶ pinned
 *              ──journal commit, checkpoint, cache_unpin()──▶ clean
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "diofs/cache.h"
#include "diofs/crc.h"
#include "diofs/format.h"
#include "diofs/util.h"
#include "diofs/stats.h"

/* Requests in flight during a commit: enough to keep a device busy. */
#define CACHE_QUEUE_DEPTH	64
#define CACHE_HASH_MIN_BITS	4
#define CACHE_HASH_MAX_BITS	20

struct cbuf {
	struct mbuf mb;			/* what callers hold */
	struct cbuf *hnext;		/* hash chain */
	struct cbuf *lru_prev, *lru_next;
	unsigned refs;
	bool indexed;
	bool fresh;			/* rule 3 */
	struct txn *txn;		/* the transaction it joined, or NULL */
	void *saved;			/* contents at txn_add(); NULL if fresh */
	/* deferred mode (rule 7) */
	bool dirty;			/* changed since the last freeze */
	bool pinned;			/* frozen, not yet checkpointed */
	bool forgotten;			/* freed by the open transaction */
	struct cbuf *dnext;		/* the dirty list */
	struct cbuf *pnext;		/* the pinned list */
};



struct cache {
	struct bdev *bdev;
	struct bdev_queue *q;
	uint32_t block_size;
	size_t mem_align;
	uint64_t nblocks;		/* device size in blocks */
	uint8_t uuid[16];
	size_t max_blocks;

	pthread_mutex_t lock;		/* rule 1 */
	struct cbuf **hash;
	unsigned hash_bits;
	size_t count;			/* indexed cbufs */
	struct cbuf *lru_head;		/* least recently released first */
	struct cbuf *lru_tail;

	pthread_mutex_t io_lock;	/* rule 1 */

	/* deferred mode (rule 7); changed only under the metadata lock or
	 * by the single committer */
	bool deferred;
	struct txn *cur;		/* the open transaction, if any */
	struct cbuf *dirty;		/* dirty list, each holding a reference */
	size_t ndirty;
	struct cbuf *pinned;		/* pinned list, each holding a reference */
	uint64_t *revoked;		/* blocks freed since the last freeze */
	size_t nrevoked, cap_revoked;
	struct cache_durable_cb *durable;	/* callbacks for the next freeze */
	size_t ndurable, cap_durable;
};

struct txn_block {
	struct cbuf *cb;
};

struct txn_end_cb {
	void (*fn)(void *arg, int committed);
	void *arg;
};

struct txn {
	struct cache *c;
	struct txn_block *blocks;
	size_t nblocks, blocks_cap;
	struct txn_end_cb *cbs;
	size_t ncbs, cbs_cap;
};

static struct cbuf *cb_of(struct mbuf *b)
{
	return (struct cbuf *)((char *)b - offsetof(struct cbuf, mb));
}

static size_t hash_slot(const struct cache *c, uint64_t blkno)
{
	return (size_t)((blkno * 0x9E3779B97F4A7C15ull) >> (64 - c->hash_bits));
}

/* ---- the index; c->lock held ------------------------------------------ */

static struct cbuf *index_find(struct cache *c, uint64_t blkno)
{
	struct cbuf *cb;

	for (cb = c->hash[hash_slot(c, blkno)]; cb; cb = cb->hnext)
		if (cb->mb.blkno == blkno)
			return cb;
	return NULL;
}

static void lru_unlink(struct cache *c, struct cbuf *cb)
{
	if (cb->lru_prev)
		cb->lru_prev->lru_next = cb->lru_next;
	else
		c->lru_head = cb->lru_next;
	if (cb->lru_next)
		cb->lru_next->lru_prev = cb->lru_prev;
	else
		c->lru_tail = cb->lru_prev;
	cb->lru_prev = cb->lru_next = NULL;
}

static void lru_append(struct cache *c, struct cbuf *cb)
{
	cb->lru_next = NULL;
	cb->lru_prev = c->lru_tail;
	if (c->lru_tail)
		c->lru_tail->lru_next = cb;
	else
		c->lru_head = cb;
	c->lru_tail = cb;
}

static void index_insert(struct cache *c, struct cbuf *cb)
{
	size_t s = hash_slot(c, cb->mb.blkno);

	cb->hnext = c->hash[s];
	c->hash[s] = cb;
	cb->indexed = true;
	c->count++;
}

static void index_remove(struct cache *c, struct cbuf *cb)
{
	struct cbuf **pp = &c->hash[hash_slot(c, cb->mb.blkno)];

	while (*pp != cb)
		pp = &(*pp)->hnext;
	*pp = cb->hnext;
	cb->hnext = NULL;
	cb->indexed = false;
	c->count--;
}

static void cb_free(struct cbuf *cb)
{
	free(cb->saved);
	free(cb->mb.data);
	free(cb);
}

static void cb_get(struct cache *c, struct cbuf *cb)
{
	if (cb->refs++ == 0 && cb->indexed)
		lru_unlink(c, cb);
}

static void evict(struct cache *c)
{
	while (c->count > c->max_blocks && c->lru_head) {
		struct cbuf *victim = c->lru_head;

		lru_unlink(c, victim);
		index_remove(c, victim);
		cb_free(victim);
	}
}

static void cb_put(struct cache *c, struct cbuf *cb)
{
	assert(cb->refs > 0);
	if (--cb->refs > 0)
		return;
	if (cb->indexed && cb->fresh)
		index_remove(c, cb);	/* rule 3: an aborted creation */
	if (!cb->indexed) {
		cb_free(cb);
		return;
	}
	lru_append(c, cb);
	evict(c);
}

/* ---- blocks ----------------------------------------------------------- */

static struct cbuf *cb_alloc(struct cache *c, uint64_t blkno)
{
	struct cbuf *cb = calloc(1, sizeof(*cb));

	if (!cb)
		return NULL;
	if (posix_memalign(&cb->mb.data, c->mem_align, c->block_size)) {
		free(cb);
		return NULL;
	}
	cb->mb.blkno = blkno;
	return cb;
}

int cache_create(struct bdev *bdev, uint32_t block_size,
		 const uint8_t uuid[16], size_t max_blocks, struct cache **out)
{
	uint32_t dev_bs = bdev_block_size(bdev);
	struct cache *c;
	size_t buckets;
	int err;

	if (block_size < 512 || (block_size & (block_size - 1)) ||
	    block_size % dev_bs || max_blocks == 0)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->bdev = bdev;
	c->block_size = block_size;
	c->mem_align = bdev_mem_align(bdev);
	if (c->mem_align < sizeof(void *))
		c->mem_align = sizeof(void *);
	c->nblocks = bdev_size(bdev) / block_size;
	memcpy(c->uuid, uuid, sizeof(c->uuid));
	c->max_blocks = max_blocks;

	c->hash_bits = CACHE_HASH_MIN_BITS;
	while (c->hash_bits < CACHE_HASH_MAX_BITS &&
	       ((size_t)1 << c->hash_bits) < max_blocks)
		c->hash_bits++;
	buckets = (size_t)1 << c->hash_bits;
	c->hash = calloc(buckets, sizeof(*c->hash));
	if (!c->hash) {
		err = -ENOMEM;
		goto out_free;
	}
	err = bdev_queue_open(bdev, CACHE_QUEUE_DEPTH, &c->q);
	if (err)
		goto out_hash;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->io_lock, NULL);
	*out = c;
	return 0;

out_hash:
	free(c->hash);
out_free:
	free(c);
	return err;
}

void cache_destroy(struct cache *c)
{
	size_t i;

	if (!c)
		return;
	bdev_queue_close(c->q);
	/* After a failed commit blocks may still be dirty or pinned. */
	pthread_mutex_lock(&c->lock);
	while (c->dirty) {
		struct cbuf *cb = c->dirty;

		c->dirty = cb->dnext;
		cb->dirty = false;
		cb_put(c, cb);
	}
	pthread_mutex_unlock(&c->lock);
	cache_unpin(c);
	for (i = 0; i < c->ndurable; i++)
		c->durable[i].fn(c->durable[i].arg, 0);
	free(c->durable);
	free(c->revoked);
	for (i = 0; i < ((size_t)1 << c->hash_bits); i++) {
		struct cbuf *cb = c->hash[i];

		while (cb) {
			struct cbuf *next = cb->hnext;

			cb_free(cb);
			cb = next;
		}
	}
	free(c->hash);
	pthread_mutex_destroy(&c->io_lock);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

uint32_t cache_block_size(const struct cache *c)
{
	return c->block_size;
}

struct bdev *cache_bdev(const struct cache *c)
{
	return c->bdev;
}

static uint32_t cb_magic(const struct cbuf *cb)
{
	const struct diofs_blkhdr *h = cb->mb.data;

	return le32toh(h->magic);
}

/* Read blkno from the device into cb and check everything but the magic. */
static int cb_load(struct cache *c, struct cbuf *cb)
{
	ssize_t n;
	int err;

	pthread_mutex_lock(&c->io_lock);
	n = bdev_pread(c->q, cb->mb.data, c->block_size,
		       cb->mb.blkno * c->block_size);
	pthread_mutex_unlock(&c->io_lock);
	if (n < 0)
		return (int)n;
	if ((size_t)n != c->block_size)
		return -EIO;
	err = blkhdr_verify(cb->mb.data, c->block_size, cb_magic(cb),
			    cb->mb.blkno, c->uuid);
	if (err)
		bdev_report(c->bdev, LOG_ERR,
			    "metadata block %" PRIu64 " is corrupt: its checksum or header does not verify",
			    cb->mb.blkno);
	return err;
}

int cache_read(struct cache *c, uint64_t blkno, uint32_t magic,
	       struct mbuf **out)
{
	struct cbuf *cb, *other;
	int err;

	/* Only a corrupt pointer leads past the end of the device. */
	if (blkno >= c->nblocks) {
		bdev_report(c->bdev, LOG_ERR,
			    "a corrupt pointer to block %" PRIu64 ", past the end of the filesystem (%" PRIu64 " blocks)",
			    blkno, c->nblocks);
		return -EUCLEAN;
	}

	pthread_mutex_lock(&c->lock);
	cb = index_find(c, blkno);
	if (cb)
		cb_get(c, cb);
	pthread_mutex_unlock(&c->lock);
	stats_count(bdev_stats(c->bdev),
		    cb ? STATS_CACHE_HITS : STATS_CACHE_MISSES, 1);

	if (!cb) {
		cb = cb_alloc(c, blkno);
		if (!cb)
			return -ENOMEM;
		err = cb_load(c, cb);
		if (err) {
			cb_free(cb);
			return err;
		}
		/*
		 * The block is intact even when its magic is not the one
		 * asked for, so it is indexed either way: a caller that tries
		 * the magics a block may have reads it once.
		 */
		pthread_mutex_lock(&c->lock);
		other = index_find(c, blkno);
		if (other) {
			cb_get(c, other);
		} else {
			cb->refs = 1;
			index_insert(c, cb);
			evict(c);
		}
		pthread_mutex_unlock(&c->lock);
		if (other) {
			cb_free(cb);
			cb = other;
		}
	}

	if (cb_magic(cb) != magic) {
		cache_release(c, &cb->mb);
		return -EUCLEAN;
	}
	*out = &cb->mb;
	return 0;
}

int cache_new(struct cache *c, uint64_t blkno, uint32_t magic,
	      struct mbuf **out)
{
	struct cbuf *cb, *spare;

	if (blkno >= c->nblocks)
		return -EINVAL;
	spare = cb_alloc(c, blkno);
	if (!spare)
		return -ENOMEM;

	pthread_mutex_lock(&c->lock);
	cb = index_find(c, blkno);
	if (cb) {
		/*
		 * A freed block that was never forgotten.  Inside a
		 * transaction it stays as it is (its saved copy restores it
		 * on abort); otherwise its old contents are dead.
		 */
		cb_get(c, cb);
		if (!cb->txn)
			cb->fresh = true;
	} else {
		cb = spare;
		spare = NULL;
		cb->refs = 1;
		cb->fresh = true;
		index_insert(c, cb);
		evict(c);
	}
	pthread_mutex_unlock(&c->lock);
	if (spare)
		cb_free(spare);

	memset(cb->mb.data, 0, c->block_size);
	blkhdr_stamp(cb->mb.data, c->block_size, magic, blkno, c->uuid);
	*out = &cb->mb;
	return 0;
}

void cache_release(struct cache *c, struct mbuf *b)
{
	pthread_mutex_lock(&c->lock);
	cb_put(c, cb_of(b));
	pthread_mutex_unlock(&c->lock);
}

void cache_forget(struct cache *c, uint64_t blkno)
{
	struct cbuf *cb;

	pthread_mutex_lock(&c->lock);
	cb = index_find(c, blkno);
	if (cb && c->deferred && c->cur) {
		/* Rule 7: memory may hold the only copy of the block, so it
		 * joins the transaction and an abort can bring it back. */
		cb_get(c, cb);
		pthread_mutex_unlock(&c->lock);
		if (cb->txn != c->cur && txn_add(c->cur, &cb->mb))
			fprintf(stderr, "diofs: out of memory freeing block %" PRIu64 "\n",
				blkno);
		pthread_mutex_lock(&c->lock);
		cb->forgotten = cb->txn == c->cur;
		index_remove(c, cb);
		cb_put(c, cb);
		pthread_mutex_unlock(&c->lock);
		return;
	}
	if (cb) {
		index_remove(c, cb);
		if (cb->refs == 0) {
			lru_unlink(c, cb);
			cb_free(cb);
		}
	}
	pthread_mutex_unlock(&c->lock);
}

/* ---- transactions ----------------------------------------------------- */

int txn_begin(struct cache *c, struct txn **out)
{
	struct txn *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->c = c;
	c->cur = t;
	*out = t;
	return 0;
}

int txn_add(struct txn *t, struct mbuf *b)
{
	struct cache *c = t->c;
	struct cbuf *cb = cb_of(b);

	if (cb->txn == t)
		return 0;
	/* cache.h rule 1: one transaction at a time */
	assert(cb->txn == NULL);

	if (t->nblocks == t->blocks_cap) {
		size_t cap = t->blocks_cap ? 2 * t->blocks_cap : 16;
		struct txn_block *nb = realloc(t->blocks, cap * sizeof(*nb));

		if (!nb)
			return -ENOMEM;
		t->blocks = nb;
		t->blocks_cap = cap;
	}
	if (!cb->fresh) {
		cb->saved = malloc(c->block_size);
		if (!cb->saved)
			return -ENOMEM;
		memcpy(cb->saved, cb->mb.data, c->block_size);
	}
	pthread_mutex_lock(&c->lock);
	cb_get(c, cb);
	pthread_mutex_unlock(&c->lock);
	cb->txn = t;
	t->blocks[t->nblocks++].cb = cb;
	return 0;
}

int txn_on_end(struct txn *t, void (*fn)(void *arg, int committed), void *arg)
{
	if (t->ncbs == t->cbs_cap) {
		size_t cap = t->cbs_cap ? 2 * t->cbs_cap : 4;
		struct txn_end_cb *n = realloc(t->cbs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		t->cbs = n;
		t->cbs_cap = cap;
	}
	t->cbs[t->ncbs].fn = fn;
	t->cbs[t->ncbs].arg = arg;
	t->ncbs++;
	return 0;
}

/* Drop t's hold on its blocks, run its callbacks, free it. */
static void txn_end(struct txn *t, int committed)
{
	struct cache *c = t->c;
	size_t i;

	for (i = 0; i < t->nblocks; i++) {
		struct cbuf *cb = t->blocks[i].cb;

		free(cb->saved);
		cb->saved = NULL;
		cb->txn = NULL;
	}
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < t->nblocks; i++)
		cb_put(c, t->blocks[i].cb);
	pthread_mutex_unlock(&c->lock);

	if (c->cur == t)
		c->cur = NULL;
	for (i = 0; i < t->ncbs; i++)
		t->cbs[i].fn(t->cbs[i].arg, committed);
	free(t->cbs);
	free(t->blocks);
	free(t);
}

/* Rule 7: the transaction's blocks join the dirty list; no I/O. */
static int txn_commit_deferred(struct txn *t)
{
	struct cache *c = t->c;
	size_t i, nfreed = 0;
	int err;

	for (i = 0; i < t->nblocks; i++)
		nfreed += t->blocks[i].cb->forgotten;
	err = grow_array((void **)&c->revoked, &c->cap_revoked,
			 c->nrevoked + nfreed, sizeof(*c->revoked));
	if (err) {
		txn_abort(t);
		return err;
	}
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < t->nblocks; i++) {
		struct cbuf *cb = t->blocks[i].cb;

		cb->fresh = false;
		if (cb->forgotten) {
			cb->forgotten = false;
			c->revoked[c->nrevoked++] = cb->mb.blkno;
		} else if (cb->indexed && !cb->dirty) {
			cb->dirty = true;
			cb_get(c, cb);
			cb->dnext = c->dirty;
			c->dirty = cb;
			c->ndirty++;
		}
	}
	pthread_mutex_unlock(&c->lock);
	txn_end(t, 1);
	return 0;
}

int txn_commit(struct txn *t)
{
	struct cache *c = t->c;
	struct bdev_req *reqs;
	struct iovec *iov;
	size_t i, n = 0;
	int err;

	if (c->deferred)
		return txn_commit_deferred(t);
	reqs = calloc(t->nblocks ? t->nblocks : 1, sizeof(*reqs));
	iov = calloc(t->nblocks ? t->nblocks : 1, sizeof(*iov));
	if (!reqs || !iov) {
		free(reqs);
		free(iov);
		txn_abort(t);
		return -ENOMEM;
	}
	/* Indexed blocks are written; forgotten ones are free (rule 4). */
	for (i = 0; i < t->nblocks; i++) {
		struct cbuf *cb = t->blocks[i].cb;

		if (!cb->indexed)
			continue;
		blkhdr_stamp(cb->mb.data, c->block_size, cb_magic(cb),
			     cb->mb.blkno, c->uuid);
		iov[n].iov_base = cb->mb.data;
		iov[n].iov_len = c->block_size;
		reqs[n].op = BDEV_WRITE;
		reqs[n].offset = cb->mb.blkno * c->block_size;
		reqs[n].iov = &iov[n];
		reqs[n].iovcnt = 1;
		n++;
	}
	pthread_mutex_lock(&c->io_lock);
	err = bdev_run(c->q, reqs, n);
	pthread_mutex_unlock(&c->io_lock);
	free(reqs);
	free(iov);

	/* rule 5: on error memory keeps the transaction's contents */
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < t->nblocks; i++)
		t->blocks[i].cb->fresh = false;
	pthread_mutex_unlock(&c->lock);
	txn_end(t, err == 0);
	return err;
}

void txn_abort(struct txn *t)
{
	struct cache *c = t->c;
	size_t i;

	for (i = 0; i < t->nblocks; i++) {
		struct cbuf *cb = t->blocks[i].cb;

		if (cb->saved)
			memcpy(cb->mb.data, cb->saved, c->block_size);
	}
	/*
	 * Rule 3, at once rather than at the last release: a holder of a
	 * fresh block must not keep it findable by cache_read().
	 */
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < t->nblocks; i++) {
		struct cbuf *cb = t->blocks[i].cb;

		if (cb->fresh && cb->indexed)
			index_remove(c, cb);
		/* rule 7: a block the transaction freed is back */
		if (cb->forgotten) {
			cb->forgotten = false;
			if (!cb->fresh && !index_find(c, cb->mb.blkno))
				index_insert(c, cb);
		}
	}
	pthread_mutex_unlock(&c->lock);
	txn_end(t, 0);
}

/* ---- deferred mode: compound transactions for the journal -------------- */

void cache_set_deferred(struct cache *c)
{
	c->deferred = true;
}

size_t cache_dirty_count(const struct cache *c)
{
	return c->ndirty;
}

int cache_on_durable(struct cache *c, void (*fn)(void *arg, int committed),
		     void *arg)
{
	int err;

	/* Written in place, a committed transaction is as durable as it
	 * gets without a flush. */
	if (!c->deferred) {
		fn(arg, 1);
		return 0;
	}
	err = grow_array((void **)&c->durable, &c->cap_durable,
			 c->ndurable + 1, sizeof(*c->durable));
	if (err)
		return err;
	c->durable[c->ndurable].fn = fn;
	c->durable[c->ndurable++].arg = arg;
	return 0;
}

int cache_freeze(struct cache *c, struct cache_batch *b)
{
	size_t n = 0;
	struct cbuf *cb;

	assert(c->cur == NULL);
	memset(b, 0, sizeof(*b));
	if (c->ndirty) {
		b->blocks = calloc(c->ndirty, sizeof(*b->blocks));
		if (!b->blocks)
			return -ENOMEM;
	}
	for (cb = c->dirty; cb; cb = cb->dnext) {
		void *img;

		if (!cb->indexed)
			continue;	/* freed since: its blkno is revoked */
		if (posix_memalign(&img, c->mem_align, c->block_size)) {
			while (n)
				free(b->blocks[--n].data);
			free(b->blocks);
			b->blocks = NULL;
			return -ENOMEM;
		}
		blkhdr_stamp(cb->mb.data, c->block_size, cb_magic(cb),
			     cb->mb.blkno, c->uuid);
		memcpy(img, cb->mb.data, c->block_size);
		b->blocks[n].blkno = cb->mb.blkno;
		b->blocks[n++].data = img;
	}
	b->n = n;

	/* Nothing can fail from here on. */
	pthread_mutex_lock(&c->lock);
	while (c->dirty) {
		cb = c->dirty;
		c->dirty = cb->dnext;
		cb->dnext = NULL;
		cb->dirty = false;
		if (cb->indexed && !cb->pinned) {
			cb->pinned = true;	/* the dirty reference stays */
			cb->pnext = c->pinned;
			c->pinned = cb;
		} else {
			cb_put(c, cb);
		}
	}
	c->ndirty = 0;
	pthread_mutex_unlock(&c->lock);
	b->revoked = c->revoked;
	b->nrevoked = c->nrevoked;
	c->revoked = NULL;
	c->nrevoked = c->cap_revoked = 0;
	b->durable = c->durable;
	b->ndurable = c->ndurable;
	c->durable = NULL;
	c->ndurable = c->cap_durable = 0;
	return 0;
}

void cache_batch_done(struct cache *c, struct cache_batch *b, int committed)
{
	size_t i;

	(void)c;
	for (i = 0; i < b->ndurable; i++)
		b->durable[i].fn(b->durable[i].arg, committed);
	for (i = 0; i < b->n; i++)
		free(b->blocks[i].data);
	free(b->blocks);
	free(b->revoked);
	free(b->durable);
	memset(b, 0, sizeof(*b));
}

void cache_unpin(struct cache *c)
{
	pthread_mutex_lock(&c->lock);
	while (c->pinned) {
		struct cbuf *cb = c->pinned;

		c->pinned = cb->pnext;
		cb->pnext = NULL;
		cb->pinned = false;
		cb_put(c, cb);
	}
	pthread_mutex_unlock(&c->lock);
}
