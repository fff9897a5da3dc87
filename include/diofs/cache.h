/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cache: the metadata block cache and the transaction interface.
 *
 * O_DIRECT bypasses the kernel's page cache, so the daemon keeps metadata
 * blocks itself.  Every metadata block starts with struct diofs_blkhdr
 * (format.h); cache_read() verifies it, txn_commit() stamps it.
 *
 * Rules:
 *  1. Callers serialize: readers hold the filesystem's metadata lock shared,
 *     a transaction holds it exclusive from txn_begin() to commit or abort.
 *     The cache's own lock only protects its index.
 *  2. A block is changed only inside a transaction, after txn_add() (which
 *     takes its own reference, so the caller may release its reference).
 *  3. txn_commit() writes every added block (checksums stamped) and only
 *     then returns; if a write fails it returns the error, the blocks keep
 *     their new contents in memory and the filesystem must stop changing
 *     anything (it goes read-only).  txn_abort() restores the added
 *     blocks to their contents at txn_add() time.  Callbacks registered with txn_on_end()
 *     run after either, in registration order; the allocator uses one so
 *     that blocks a transaction frees are not reused before it commits.
 *  4. Blocks are in fs-block units: block n lives at byte n * block_size.
 *  5. Deferred mode, for a journaled filesystem (cache_set_deferred()):
 *     txn_commit() writes nothing and cannot fail but for memory.  Its
 *     blocks stay dirty in memory, pinned, until cache_freeze() (called
 *     with no transaction open) hands every dirty block's image and every
 *     block freed since to the journal as one compound transaction.  A
 *     frozen block stays pinned until cache_unpin(), after the journal's
 *     checkpoint has written it home.  Callbacks registered with
 *     cache_on_durable() ride with the next freeze and run from
 *     cache_batch_done(), once the journal says whether the batch
 *     committed.
 */
#ifndef DIOFS_CACHE_H
#define DIOFS_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include "diofs/bdev.h"
#include "diofs/journal.h"

struct cache;
struct txn;

struct mbuf {
	uint64_t blkno;
	void *data;		/* block_size bytes, aligned for O_DIRECT */
};

/* A cache over bdev for blocks of block_size bytes, stamped with uuid. */
int cache_create(struct bdev *bdev, uint32_t block_size,
		 const uint8_t uuid[16], size_t max_blocks, struct cache **out);
void cache_destroy(struct cache *c);
uint32_t cache_block_size(const struct cache *c);
/* The device, for bdev_report() from the layers above. */
struct bdev *cache_bdev(const struct cache *c);

/* Read blkno and verify its header: magic, checksum, block number, UUID.
 * -EUCLEAN on a mismatch (a corrupt or foreign block), -EIO on I/O error. */
int cache_read(struct cache *c, uint64_t blkno, uint32_t magic,
	       struct mbuf **out);
/* A zeroed block with a fresh header, no read (for a newly allocated block). */
int cache_new(struct cache *c, uint64_t blkno, uint32_t magic,
	      struct mbuf **out);
void cache_release(struct cache *c, struct mbuf *b);
/* Forget blkno (it was freed); a later cache_read reads the device. */
void cache_forget(struct cache *c, uint64_t blkno);

int txn_begin(struct cache *c, struct txn **out);
int txn_add(struct txn *t, struct mbuf *b);	/* rule 2; 0 or -ENOMEM */
/* Rule 3: fn(arg, committed) runs once the transaction ends.  0 or -ENOMEM. */
int txn_on_end(struct txn *t, void (*fn)(void *arg, int committed), void *arg);
int txn_commit(struct txn *t);	/* frees t; 0 or -errno (rules 3, 5) */
void txn_abort(struct txn *t);	/* frees t */

/* ---- deferred mode (rule 5) ------------------------------------------ */

struct cache_durable_cb {
	void (*fn)(void *arg, int committed);
	void *arg;
};

/* One compound transaction, from cache_freeze() to cache_batch_done(). */
struct cache_batch {
	struct journal_block *blocks;	/* images, header stamped */
	size_t n;
	uint64_t *revoked;		/* blocks freed since the last freeze */
	size_t nrevoked;
	struct cache_durable_cb *durable;
	size_t ndurable;
};

void cache_set_deferred(struct cache *c);
/* Blocks changed since the last freeze. */
size_t cache_dirty_count(const struct cache *c);
/* fn(arg, committed) runs when the batch holding what is dirty now ends;
 * outside deferred mode at once, with committed 1. */
int cache_on_durable(struct cache *c, void (*fn)(void *arg, int committed),
		     void *arg);
/* Take the dirty blocks and the freed ones as *b; 0 or -ENOMEM (then
 * nothing changed). */
int cache_freeze(struct cache *c, struct cache_batch *b);
/* Run b's callbacks and free what the journal did not take over. */
void cache_batch_done(struct cache *c, struct cache_batch *b, int committed);
/* Release every pinned block: the checkpoint wrote them all home. */
void cache_unpin(struct cache *c);

#endif
