/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * model: the checker's model of the filesystem, and the helpers every pass
 * uses on it (model.c).  Nothing outside src/fsck uses it.
 *
 * The checker builds a model of the filesystem in memory: one record per
 * inode in use (struct finode), the blocks in use (a bitmap over the whole
 * device), the data extents of every file (struct fclaim) and the
 * directory entries to change (struct fentfix).  Repairs change the model
 * first and, with repair on, the device too; the checks that follow look
 * at the model, so a report-only run says what a repairing run would do.
 *
 * The checker's modules call only downwards:
 *
 *   check.c        the driver; superblock, descriptor and bitmap passes
 *     check_inode.c  inode tables, trees, extents, orphans, claims
 *       check_dir.c    directory entries, reachability, lost+found
 *         model.c        reporting, block maps, records, trees, I/O
 *
 * check.c calls each module below it, check_inode.c calls check_dir.c
 * (an orphan directory that stays is scanned in the orphan pass) and
 * model.c, check_dir.c calls model.c only, and model.c calls none of
 * them.  Each .c includes the headers of the modules it calls and no
 * other.
 */
#ifndef DIOFS_FSCK_MODEL_H
#define DIOFS_FSCK_MODEL_H

#include <stdint.h>
#include <stdio.h>

#include "diofs/bdev.h"
#include "diofs/btree.h"
#include "diofs/cache.h"
#include "diofs/codec.h"
#include "diofs/format.h"
#include "diofs/super.h"
#include "checker.h"

/* finode.state bits */
#define FI_DIRTY	0x0001u	/* fields changed: write the inode back */
#define FI_FREE		0x0002u	/* to be freed: the slot is zeroed */
#define FI_NEW		0x0004u	/* made by the checker: written whole */
#define FI_ORPHAN	0x0008u	/* on the orphan list */
#define FI_REACHED	0x0010u	/* directory reachable from the root */
#define FI_VISITING	0x0020u	/* on the reachability walk's path */
#define FI_RELINKED	0x0040u	/* reconnected to lost+found */
#define FI_RECOUNT	0x0080u	/* a tree or extent went: counts follow silently */

/* One inode in use (or to be freed).  The first group of fields mirrors
 * the inode as it is to be on disk; the second is what the check counts. */
struct finode {
	uint64_t ino;
	uint32_t mode, flags, links;
	uint16_t nr_extents, xattr_len;
	uint64_t size, blocks, parent;
	uint64_t ext_root, xattr_root, orphan_next;

	uint64_t nblocks;	/* blocks it holds: data and tree nodes */
	uint64_t nentries;	/* directory: entries */
	uint64_t dotdot;	/* directory: the directory naming it, 0: none */
	uint64_t dotdot_key;	/* the key of that entry */
	uint32_t nrefs;		/* entries naming it */
	uint32_t nsubdirs;	/* directory: entries naming directories */
	uint32_t state;		/* FI_* */
};

/* What happens to a data extent. */
enum { ACT_KEEP, ACT_DROP, ACT_TRUNC, ACT_CLONE };

/* One data extent of a file.  Claims are kept in inode order. */
struct fclaim {
	uint64_t ino;
	uint64_t lblk, pblk;
	uint32_t len;		/* as on disk */
	uint32_t newlen;	/* ACT_TRUNC: the part that stays */
	uint32_t eflags;	/* DIOFS_EXT_* */
	uint8_t action;		/* ACT_* */
	uint8_t marked;		/* its blocks are set in the used map */
};

/* A directory entry to change. */
enum { ENT_REMOVE, ENT_FIXTYPE, ENT_REKEY };

struct fentfix {
	uint64_t dir, key;
	uint8_t kind;		/* ENT_* */
	uint8_t ftype;		/* ENT_FIXTYPE, ENT_REKEY: the right type */
};

/* An attribute value in a run of blocks (format.h, struct diofs_xattr_ref)
 * that passed its checks: its blocks are marked in use.  Kept in inode
 * order. */
struct fxrun {
	uint64_t ino, start, len;
};

/* An attribute to remove: its value's run is damaged. */
struct fxfix {
	uint64_t ino;
	uint64_t where;		/* inline: byte offset; in the tree: key */
	uint32_t len;		/* inline: the entry's padded bytes; 0: tree */
};

/* Per group: the descriptor as the checker believes it should be. */
struct fgroup {
	uint32_t flags;		/* DIOFS_BG_* */
	uint32_t itable_init;
	int desc_bad;		/* unreadable or wrong on disk: rewrite */
	int lost;		/* its descriptor block was corrupt */
	int bbm_new, ibm_new;	/* bitmap never written: write, not compare */
	int32_t own_dirs;	/* directories the checker added (or freed) */
	struct codec_group disk;	/* as read */
};

struct fsck {
	const struct fsck_opts *o;
	struct fsck_result *res;
	const char *prefix;	/* before every reported line */
	struct bdev *bdev;
	struct bdev_queue *q;	/* raw reads and writes */
	struct cache *c;
	struct super sb;
	uint32_t bs;
	int repair;

	struct fgroup *g;
	uint8_t *used;		/* one bit per block */
	/* What the checker itself frees or allocates, so that the bitmap
	 * pass reports only what these changes do not explain. */
	uint8_t *own;		/* one bit per block, made on first use */
	uint64_t *own_ino;
	size_t nown_ino, cap_own_ino;

	struct finode *ino;	/* sorted by ino */
	size_t nino, cap_ino;
	struct fclaim *cl;
	size_t ncl, cap_cl;
	struct fentfix *ef;
	size_t nef, cap_ef;
	struct fxrun *xr;
	size_t nxr, cap_xr;
	struct fxfix *xf;
	size_t nxf, cap_xf;

	uint64_t lost_found;	/* its inode, 0: none yet */
	int sb_rewrite;		/* both superblock copies must be written */
	int clear_error;	/* the error state bit goes */
	int err;		/* the first operational error */
	int prog_pass;		/* the pass last reported (checker.h rule 5) */
	uint64_t prog_step;	/* and its thousandths done */
};

/* ---- reporting (model.c rule 1) ---------------------------------------------- */

void fsck_problem(struct fsck *f, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void fsck_note(struct fsck *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The first operational error is kept; returns err. */
int fsck_fail(struct fsck *f, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* checker.h rule 5: tell opts->progress, when done has moved on by a
 * thousandth of total since the last call of the pass, or reached it. */
void fsck_progress(struct fsck *f, int pass, uint64_t done, uint64_t total);

/* ---- block maps and the checker's own allocation ----------------------------- */

int fsck_test(const uint8_t *map, uint64_t bit);
void fsck_set(uint8_t *map, uint64_t bit, int one);
/* Bits [from, to) of map. */
void fsck_set_range(uint8_t *map, uint64_t from, uint64_t to, int one);
/* 1 if [pblk, pblk+len) lies in the data area of one group. */
int fsck_in_data(const struct fsck *f, uint64_t pblk, uint64_t len);
/* 1 if any block of [pblk, pblk+len) is set in the used map. */
int fsck_any_used(const struct fsck *f, uint64_t pblk, uint64_t len);
void fsck_mark(struct fsck *f, uint64_t pblk, uint64_t len, int used);
/* The checker frees or allocates [pblk, pblk+len) (the part inside the
 * device) / inode ino, which adds dirs directories to its group. */
int fsck_own(struct fsck *f, uint64_t pblk, uint64_t len);
int fsck_own_ino(struct fsck *f, uint64_t ino, int dirs);
/* A run of len free blocks in one group's data area, first fit from goal's
 * group on; marked used.  -ENOSPC if there is none. */
int fsck_alloc_run(struct fsck *f, uint64_t goal, uint64_t len,
		   uint64_t *start);

/* ---- I/O: raw, and through the cache ----------------------------------------- */

void *fsck_buf(struct fsck *f, size_t len);
int fsck_pread(struct fsck *f, void *buf, uint64_t blkno, size_t nblocks);
int fsck_pwrite(struct fsck *f, const void *buf, uint64_t blkno,
		size_t nblocks);
/* Commit t; a failure is an operational error. */
/* A transaction of its own holding b, whose reference it takes over (b
 * stays valid through the transaction's); on failure nothing is left open
 * and the error is reported (fsck_fail()). */
int fsck_txn_holding(struct fsck *f, struct mbuf *b, struct txn **t);
int fsck_commit(struct fsck *f, struct txn *t);

/* ---- inode records --------------------------------------------------------------- */

struct finode *fsck_inode(struct fsck *f, uint64_t ino);
/* A record for ino, inserted in order (records after it move); NULL
 * without memory. */
struct finode *fsck_inode_add(struct fsck *f, uint64_t ino);
/* Is fi an orphan that may be freed: on the list, no links, no names, not
 * the root (check_inode.c rule 5)? */
int fsck_unlinked_orphan(const struct fsck *f, const struct finode *fi);
/* Is fi such an orphan that only the next mount may free (no repair)? */
int fsck_awaiting(const struct fsck *f, const struct finode *fi);

/* ---- trees charged to an inode --------------------------------------------------- */

/* A B+tree of an inode, with node allocation charged to the inode and
 * served from the used map. */
struct ftree {
	struct btree bt;
	struct btree_ops ops;
	struct fsck *f;
	uint64_t ino;
};
void fsck_tree_init(struct ftree *t, struct fsck *f, uint64_t ino,
		    uint32_t magic_leaf, uint32_t magic_node, uint64_t root);

/* ---- inode tables ------------------------------------------------------------------ */

/* Initialize the next inode-table block of group g; -ENOSPC when the
 * table is all initialized. */
int fsck_itable_grow(struct fsck *f, uint64_t g);

#endif
