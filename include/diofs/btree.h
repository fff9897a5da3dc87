/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * btree: a copy-on-nothing B+tree of metadata blocks, keyed by 64-bit
 * integers, with variable-length values.  One implementation serves every
 * index in diofs: file extents (key: file block), directory entries (key:
 * name hash and collision counter), extended attributes.
 *
 * Rules:
 *  1. A tree is named by its root block number; 0 is the empty tree.
 *     Operations that change the tree may change the root and store the
 *     new one in *root; the caller persists it in the same transaction.
 *  2. Blocks are read and changed through the cache (cache.h): lookups
 *     under the metadata lock held shared, changes inside a transaction.
 *  3. Node blocks are allocated and freed through the callbacks in
 *     struct btree_ops, inside the same transaction.
 *  4. Every operation is O(log n) in blocks touched; nodes split when full
 *     and merge or borrow when less than a quarter full.
 *  5. A value is at most btree_max_value(block_size) bytes; at least three
 *     entries of that size fit in a leaf.
 */
#ifndef DIOFS_BTREE_H
#define DIOFS_BTREE_H

#include <stddef.h>
#include <stdint.h>
#include "diofs/cache.h"

struct btree_ops {
	/* Allocate one metadata block near goal; 0 or -ENOSPC. */
	int (*alloc_block)(void *arg, struct txn *t, uint64_t goal,
			   uint64_t *blkno);
	/* Free one metadata block. */
	void (*free_block)(void *arg, struct txn *t, uint64_t blkno);
	void *arg;
};

struct btree {
	struct cache *cache;
	const struct btree_ops *ops;
	uint32_t magic_leaf;	/* block magics, so trees of different kinds */
	uint32_t magic_node;	/* are never mistaken for each other */
	uint64_t root;		/* rule 1 */
};

size_t btree_max_value(uint32_t block_size);

/*
 * Find the entry with the greatest key <= key (BTREE_LE), the exact key
 * (BTREE_EQ) or the least key >= key (BTREE_GE).  On success stores its key
 * and copies its value (up to *vlen bytes; *vlen is set to the value's
 * length).  Returns 0, -ENOENT, or another -errno.
 */
enum btree_match { BTREE_EQ, BTREE_LE, BTREE_GE };
int btree_lookup(struct btree *bt, uint64_t key, enum btree_match how,
		 uint64_t *found, void *val, size_t *vlen);

/* Insert key; -EEXIST if present. */
int btree_insert(struct btree *bt, struct txn *t, uint64_t key,
		 const void *val, size_t vlen);
/* Replace the value of an existing key (length may change); -ENOENT if absent. */
int btree_update(struct btree *bt, struct txn *t, uint64_t key,
		 const void *val, size_t vlen);
/* Delete key; -ENOENT if absent. */
int btree_delete(struct btree *bt, struct txn *t, uint64_t key);
/* Free every block of the tree; bt->root becomes 0. */
int btree_destroy(struct btree *bt, struct txn *t);

/* Count entries and check structure (key order, fill, block magics,
 * depth); for fsck and tests.  Calls visit(arg, blkno) for every block. */
int btree_check(struct btree *bt, uint64_t *entries,
		void (*visit)(void *arg, uint64_t blkno), void *arg);

#endif
