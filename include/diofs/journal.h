/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal: the write-ahead log of metadata blocks.
 *
 * The journal knows blocks, never what is in them: a transaction is a set
 * of metadata block images (each a whole fs block, header stamped) and a
 * set of block numbers revoked (freed since they were last logged).  The
 * on-disk records are in format.h and doc/FORMAT.md ("Journal"); the
 * ordering rules in doc/DESIGN.md ("The journal").
 *
 * Rules:
 *  1. One caller at a time: journal_commit(), journal_checkpoint() and
 *     journal_reset() are serialized by the caller (the filesystem's
 *     commit mutex).  journal_recover() runs before anything else.
 *  2. journal_commit() returns only once the transaction is durable: its
 *     blocks and every write that completed before the call (ordered data)
 *     are flushed, then the commit record is written and flushed.  A torn
 *     transaction never replays: the commit record carries a crc32c of
 *     every log block before it.
 *  3. Home locations are written only by journal_checkpoint() (and
 *     replay), from the journal's own copies of committed images, never
 *     from blocks a running transaction may be changing.  The block images
 *     committed since the last checkpoint stay in memory until it.
 *  4. The journal superblock's tail moves only after the checkpointed
 *     blocks are flushed, and is flushed before any log space it frees is
 *     written again.  Block 0 (the primary superblock) is written home on
 *     its own, after every other block, the backup superblock included, is
 *     durable, and before the tail moves: a torn primary leaves the backup,
 *     and a stale primary is never left without the journal that
 *     corrects it.
 *  5. A failed write or flush returns its error and the journal writes
 *     nothing more (the filesystem goes read-only); what committed before
 *     stays on the device for the next mount's replay.
 *  6. Errors are negative errno values; functions that take msg store a
 *     one-line reason there.
 */
#ifndef DIOFS_JOURNAL_H
#define DIOFS_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diofs/bdev.h"

struct journal;
struct super;

/* One metadata block image: block_size bytes, aligned for O_DIRECT. */
struct journal_block {
	uint64_t blkno;
	void *data;
};

struct journal_replay {
	uint64_t transactions;	/* committed transactions found */
	uint64_t blocks;	/* distinct blocks they leave to write home */
	uint64_t revoked;	/* images skipped because a later one revoked */
	bool torn;		/* a transaction after the last was incomplete */
};

/*
 * Open the journal described by sb on bdev.  When the filesystem does not
 * need recovery (no DIOFS_FEAT_INCOMPAT_RECOVER) a missing or unreadable
 * journal superblock is not an error: the journal is empty, and
 * journal_reset() writes a fresh one.
 */
int journal_open(struct bdev *bdev, const struct super *sb,
		 struct journal **out, char *msg, size_t msglen);
/* Free the journal's memory; writes nothing. */
void journal_close(struct journal *j);

/*
 * Find the committed transactions from the tail on and apply them.  With
 * write, the images go to their home blocks, the device is flushed and the
 * journal emptied; without, nothing is written and the images overlay the
 * device for bdev_pread() until journal_close() (a read-only mount, fsck
 * -n).  *info says what was found.
 */
int journal_recover(struct journal *j, bool write,
		    struct journal_replay *info, char *msg, size_t msglen);

/* Write an empty journal superblock (tail at the head) and flush. */
int journal_reset(struct journal *j);

/* Rule 2.  Takes over the images (blocks[i].data) whatever it returns.
 * -ENOSPC when the transaction is larger than journal_max_transaction()
 * or the log has no room for it (checkpoint first when
 * journal_wants_checkpoint() says so). */
int journal_commit(struct journal *j, struct journal_block *blocks,
		   size_t n, const uint64_t *revoked, size_t nrevoked);
/* Rules 3 and 4: write every committed image home and free the log. */
int journal_checkpoint(struct journal *j);

/* Blocks one transaction may log at most; a larger one cannot commit. */
uint64_t journal_max_transaction(const struct journal *j);
/* Whether the log is full enough that the next commit should checkpoint
 * first (half of it in use). */
bool journal_wants_checkpoint(const struct journal *j);
/* Test only: leave out the flush before the commit record (rule 2). */
void journal_skip_commit_flush(struct journal *j, bool skip);

/* mkfs: write the first journal superblock of a new filesystem. */
int journal_format(struct bdev *bdev, const struct super *sb);

#endif
