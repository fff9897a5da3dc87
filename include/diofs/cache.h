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
 */
#ifndef DIOFS_CACHE_H
#define DIOFS_CACHE_H

#include <stdint.h>
#include "diofs/bdev.h"

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
int txn_commit(struct txn *t);	/* frees t; 0 or -errno (rule 3) */
void txn_abort(struct txn *t);	/* frees t */

#endif
