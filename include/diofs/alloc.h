/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * alloc: free blocks and free inode numbers.
 *
 * The allocator works group by group (format.h): a group's bitmaps say what
 * is in use and its descriptor counts what is free.  alloc_open() reads every
 * descriptor once and keeps the counts in memory, so a search skips full
 * groups without reading them and no call scans the whole device.
 *
 * Rules:
 *  1. Every change happens inside the caller's transaction: bitmap and
 *     descriptor blocks are read through the cache and txn_add()ed before
 *     they change.  If the transaction aborts, the allocator reloads the
 *     in-memory counts of the groups it touched.
 *  2. Blocks freed by a transaction are not handed out again until that
 *     transaction is durable (cache_on_durable); until then they are
 *     "busy": free for statfs, as a user who just removed a file expects,
 *     but not allocatable, so an allocation may fail with -ENOSPC that a
 *     commit would let succeed (alloc_busy() tells).  Inode numbers are
 *     reusable at once (the inode's generation tells the incarnations
 *     apart).
 *  3. Callers hold the filesystem's metadata lock as cache.h rule 1 says:
 *     exclusive around calls that take a txn, shared (or exclusive) around
 *     the rest.  The allocator's own mutex guards only its counters.
 *  4. A corrupt bitmap or descriptor met while changing them puts the
 *     allocator in a sticky error state: every later call that would change
 *     something returns that error (alloc_error() tells).
 *  5. A newly allocated inode's inode-table block is valid in the cache when
 *     alloc_inode() returns (initialized if it never was), and the inode slot
 *     is zeroed only if the block is new: the caller writes the whole inode.
 */
#ifndef DIOFS_ALLOC_H
#define DIOFS_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "diofs/cache.h"
#include "diofs/super.h"

struct alloc;

/* Read every group descriptor (from sb->bdev, in large requests, so that
 * mounting costs a few device round trips even with 100000 groups) and
 * recompute sb->free_blocks/free_inodes.  sb comes from super_read() or
 * super_format(); it and c must outlive the allocator.  -EUCLEAN if a
 * table block is corrupt or a descriptor does not fit the geometry. */
int alloc_open(struct super *sb, struct cache *c, struct alloc **out);
/* Every transaction that used the allocator must have ended first. */
void alloc_close(struct alloc *a);

/*
 * Allocate one run of contiguous blocks, at least min and at most max long,
 * as near goal as possible: a run that starts at goal itself is taken first
 * (a file that grows sequentially extends its last extent); then the first
 * run of max blocks at or after goal in goal's group and the following
 * groups; only when there is none, the first run of min or more.  goal
 * outside every group means "anywhere" (group 0 onward).  Runs never cross
 * a group boundary, so at most blocks_per_group - super_group_meta() are
 * returned at once (a larger min can never be met: -ENOSPC).  Returns 0
 * with *start and *len set, -ENOSPC when no allocatable run of min blocks
 * exists, -EINVAL for min == 0 or min > max.
 */
int alloc_blocks(struct alloc *a, struct txn *t, uint64_t goal, uint64_t min,
		 uint64_t max, uint64_t *start, uint64_t *len);
/* Free [start, start+len) (rule 2).  -EINVAL if the range is not inside
 * one group's data area (no extent crosses a group), -EUCLEAN if part of
 * it is already free; nothing is changed on either. */
int alloc_free(struct alloc *a, struct txn *t, uint64_t start, uint64_t len);

/* struct btree_ops callbacks: arg is the struct alloc.  A failure of the
 * free callback is kept as the sticky error (rule 4). */
int alloc_btree_alloc(void *arg, struct txn *t, uint64_t goal,
		      uint64_t *blkno);
void alloc_btree_free(void *arg, struct txn *t, uint64_t blkno);

/*
 * Allocate an inode number.  A directory's parent is the new inode's parent
 * directory.  Files go to their parent's group (or the next group with a
 * free inode); directories made in the root directory go to a group with
 * more free space than most, so that top-level trees spread out; other
 * directories stay with their parent.  Returns 0 with *ino set (rule 5),
 * or -ENOSPC.
 */
int alloc_inode(struct alloc *a, struct txn *t, uint64_t parent, int is_dir,
		uint64_t *ino);
/* Free inode number ino; is_dir as given when it was allocated.  -EINVAL
 * for reserved or out-of-range numbers, -EUCLEAN if it is already free. */
int alloc_inode_free(struct alloc *a, struct txn *t, uint64_t ino, int is_dir);

/* Free blocks (busy ones included: rule 2) and inodes, for statfs. */
void alloc_counts(struct alloc *a, uint64_t *free_blocks,
		  uint64_t *free_inodes);
/* Blocks freed by transactions that are not durable yet (rule 2). */
uint64_t alloc_busy(struct alloc *a);
/* 1 if block blkno is in use according to the bitmaps (blocks outside the
 * groups count as in use), 0 if free, -errno. */
int alloc_block_in_use(struct alloc *a, uint64_t blkno);
/* 1 if inode ino is in use, 0 if free, -errno. */
int alloc_inode_in_use(struct alloc *a, uint64_t ino);
/* Recount every initialized group's bitmaps and compare them with the
 * descriptors; -EUCLEAN with msg naming the first mismatch.  For fsck and
 * tests: reads every bitmap. */
int alloc_check(struct alloc *a, char *msg, size_t msglen);
/* The sticky error (rule 4), or 0. */
int alloc_error(struct alloc *a);

#endif
