/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * check_inode: the inode tables, every inode's trees and extents, the
 * orphan list, and the blocks files claim.
 *
 * fsck_scan_inodes() reads every initialized inode-table block in large
 * raw reads and makes one record (struct finode) per inode in use.  For
 * each inode it checks the fields that stand alone (number, type, inline
 * data and attributes), checks its trees with btree_check() and marks
 * their nodes in use, and collects its data extents as claims.  The claims
 * are applied to the used map only after the directory pass has decided
 * which inodes live (fsck_claim_data), so that an orphan that is freed
 * never makes a block look shared.
 *
 * Below check.c, this module calls check_dir.c (fsck_scan_dir(), for an
 * orphan directory that stays, which the directory pass left out) and
 * model.c, and check_dir.c never calls it (model.h).
 *
 * Rules:
 *  1. Blocks are claimed in a fixed order: static metadata, then tree
 *     nodes, then data extents in inode order.  Checksummed blocks are the
 *     better evidence, so a data extent that runs into a tree node or into
 *     another file's extent is the one that moves: it is copied to free
 *     blocks (ACT_CLONE), or dropped when there is no room.
 *  2. A tree that fails btree_check(), or whose nodes lie outside the data
 *     area or are used twice, is dropped whole: its root is cleared and
 *     none of its blocks are claimed, so the bitmap rebuild frees them.
 *     A directory's entries then go to lost+found through the
 *     reachability pass; a file keeps its size and reads as zeros.
 *  3. An inode-table block with a bad checksum is salvaged: each inode in
 *     it that passes the checks above is kept, the others are zeroed, and
 *     (when repairing) the block is rewritten at once with a new header,
 *     so that later changes to its inodes can go through the cache.
 *  4. A regular file or symlink has no written extent past the block that
 *     holds its last byte; unwritten (preallocated) extents may lie there.
 *  5. Only orphans (on the superblock's list, no links, no names, not the
 *     root) are ever freed; every other inode that no directory names is
 *     kept and moved to lost+found (check_dir.c).  Orphans are what a crash
 *     leaves while files are open: without repair they are noted, not
 *     counted as errors, since the next mount deals with them (inode.c).
 *     An inode on the list with no links that is still in use (named, or
 *     the root) is an error either way: the mount would free it.
 *  6. A file whose extents change gets them written anew: inline in one
 *     write of its inode, or as a new tree after btree_destroy() of the
 *     old one, so that a leaf that passed its checks but is wrong inside
 *     is never rearranged in place.
 *  7. Slots are read and written through the engine's codec (codec.h):
 *     fields the model does not keep are checked in the record as read,
 *     with the engine's own check (codec_inode_check()), and repaired in
 *     it when the inode is written (encode_inode()).
 *  8. An attribute value kept in a run of blocks (format.h, struct
 *     diofs_xattr_ref) is checked when its inode is scanned, after the
 *     inode's trees: the run must lie in one group's data area, be used by
 *     nothing claimed before it, and match its length and crc32c.  Such a
 *     run is claimed with the tree nodes (its checksum is as good evidence
 *     as theirs); a damaged one makes its attribute go (fsck_fix_xattrs())
 *     and is not claimed, so the bitmap rebuild frees it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "diofs/codec.h"
#include "diofs/crc.h"
#include "diofs/util.h"
#include "check_dir.h"
#include "check_inode.h"
#include "model.h"

#define SCAN_CHUNK_BYTES	(1u << 20)
#define SYMLINK_MAX		4095u	/* PATH_MAX without the NUL */

enum { TREE_EXT, TREE_DIR, TREE_XATTR };

static const struct {
	uint32_t leaf, node;
	const char *what;
	const char *fix;
} tree_kinds[] = {
	[TREE_EXT] = { DIOFS_MAGIC_EXT_LEAF, DIOFS_MAGIC_EXT_NODE,
		       "extent tree",
		       "dropped; the file reads as zeros where it mapped data" },
	[TREE_DIR] = { DIOFS_MAGIC_DIR_LEAF, DIOFS_MAGIC_DIR_NODE,
		       "directory tree",
		       "dropped; what it named goes to lost+found" },
	[TREE_XATTR] = { DIOFS_MAGIC_XATTR_LEAF, DIOFS_MAGIC_XATTR_NODE,
			 "extended attribute tree", "dropped" },
};

/* ---- trees ------------------------------------------------------------------ */

struct nodes {
	uint64_t *v;
	size_t n, cap;
	int nomem;
};

static void collect_node(void *arg, uint64_t blkno)
{
	struct nodes *nl = arg;

	if (nl->n == nl->cap) {
		size_t cap = nl->cap ? nl->cap * 2 : 16;
		uint64_t *p = realloc(nl->v, cap * sizeof(*p));

		if (!p) {
			nl->nomem = 1;
			return;
		}
		nl->v = p;
		nl->cap = cap;
	}
	nl->v[nl->n++] = blkno;
}

/* Every attribute in an xattr tree must parse (format.h). */
static int xattr_tree_sane(struct fsck *f, struct btree *bt, int *sane)
{
	size_t max = btree_max_value(f->bs), vlen;
	struct codec_xattr x;
	uint64_t key = 0, found;
	uint8_t *val;
	int err;

	val = malloc(max);
	if (!val)
		return fsck_fail(f, -ENOMEM, "out of memory");
	*sane = 1;
	for (;;) {
		vlen = max;
		err = btree_lookup(bt, key, BTREE_GE, &found, val, &vlen);
		if (err == -ENOENT) {
			err = 0;
			break;
		}
		if (err)
			break;
		if (vlen > max || codec_xattr_value(val, vlen, &x) ||
		    x.name_index > DIOFS_XATTR_SYSTEM || found < 256) {
			*sane = 0;
			break;
		}
		if (found == UINT64_MAX)
			break;
		key = found + 1;
	}
	free(val);
	if (err == -EUCLEAN) {
		*sane = 0;
		err = 0;
	}
	return err ? fsck_fail(f, err, "cannot read a tree: %s", strerror(-err))
		   : 0;
}

/*
 * Check one tree of fi (rule 2).  On success its nodes are marked in use
 * and counted; otherwise *root is cleared.
 */
static int check_tree(struct fsck *f, struct finode *fi, int kind,
		      uint64_t *root)
{
	struct nodes nl = { 0 };
	struct ftree t;
	const char *why = NULL;
	char buf[96];
	uint64_t entries;
	size_t i, marked = 0;
	int err = 0, sane;

	if (!fsck_in_data(f, *root, 1)) {
		why = "its root lies outside the data area";
		goto bad;
	}
	fsck_tree_init(&t, f, fi->ino, tree_kinds[kind].leaf,
		       tree_kinds[kind].node, *root);
	err = btree_check(&t.bt, &entries, collect_node, &nl);
	if (!err && nl.nomem)
		err = -ENOMEM;
	if (err == -EUCLEAN) {
		why = "it is damaged (a node is corrupt or out of order)";
		err = 0;
		goto bad;
	}
	if (err) {
		fsck_fail(f, err, "cannot read the %s of inode %" PRIu64 ": %s",
			  tree_kinds[kind].what, fi->ino, strerror(-err));
		goto out;
	}
	if (kind == TREE_XATTR) {
		err = xattr_tree_sane(f, &t.bt, &sane);
		if (err)
			goto out;
		if (!sane) {
			why = "it holds a malformed attribute";
			goto bad;
		}
	}
	for (i = 0; i < nl.n; i++) {
		if (!fsck_in_data(f, nl.v[i], 1)) {
			why = "a node lies outside the data area";
			break;
		}
		if (fsck_test(f->used, nl.v[i])) {
			snprintf(buf, sizeof(buf),
				 "its node at block %" PRIu64 " is also used elsewhere",
				 nl.v[i]);
			why = buf;
			break;
		}
		fsck_set(f->used, nl.v[i], 1);
		marked++;
	}
	if (!why) {
		fi->nblocks += nl.n;
		goto out;
	}
	for (i = 0; i < marked; i++)
		fsck_set(f->used, nl.v[i], 0);
bad:
	fsck_problem(f, tree_kinds[kind].fix, "inode %" PRIu64 ": %s: %s",
		     fi->ino, tree_kinds[kind].what, why);
	/* The nodes it could read are freed by the drop, which is said. */
	for (i = 0; i < nl.n && !err; i++)
		if (fsck_in_data(f, nl.v[i], 1))
			err = fsck_own(f, nl.v[i], 1);
	*root = 0;
	fi->state |= FI_DIRTY | FI_RECOUNT;
out:
	free(nl.v);
	return err;
}

/* Clear the used bits of a tree that passed check_tree() (its inode is
 * being freed). */
static void unmark_node(void *arg, uint64_t blkno)
{
	struct fsck *f = arg;

	fsck_set(f->used, blkno, 0);
	fsck_own(f, blkno, 1);
}

static int unmark_tree(struct fsck *f, uint64_t ino, int kind, uint64_t root)
{
	struct ftree t;
	int err;

	if (!root)
		return 0;
	fsck_tree_init(&t, f, ino, tree_kinds[kind].leaf,
		       tree_kinds[kind].node, root);
	err = btree_check(&t.bt, NULL, unmark_node, f);
	if (err)
		return fsck_fail(f, err, "cannot read the %s of inode %" PRIu64 ": %s",
				 tree_kinds[kind].what, ino, strerror(-err));
	return 0;
}

/* ---- extents -------------------------------------------------------------------- */

struct ext_walk {
	uint64_t prev_end;	/* end of the last kept extent */
	uint64_t eof;		/* blocks below the end of file */
};

static struct fclaim *claim_new(struct fsck *f)
{
	if (grow_array((void **)&f->cl, &f->cap_cl, f->ncl + 1, sizeof(*f->cl)))
		return NULL;
	memset(&f->cl[f->ncl], 0, sizeof(f->cl[0]));
	return &f->cl[f->ncl++];
}

static int add_extent(struct fsck *f, struct finode *fi, struct ext_walk *w,
		      const struct codec_extent *e, int malformed)
{
	uint64_t max_blocks = (1ull << 63) / f->bs;
	uint64_t lblk = e->lblk, pblk = e->pblk;
	uint32_t len = e->len, eflags = e->flags;
	unsigned bad = codec_extent_check(e, &f->sb);
	const char *why = NULL;
	struct fclaim *c;

	c = claim_new(f);
	if (!c)
		return fsck_fail(f, -ENOMEM, "out of memory");
	c->ino = fi->ino;
	c->lblk = lblk;
	c->pblk = pblk;
	c->len = len;
	c->eflags = eflags;
	c->action = ACT_KEEP;

	if (malformed)
		why = "is malformed";
	else if (bad & CODEC_BAD(CODEC_EXTENT_LEN))
		why = "is empty";
	else if (bad & CODEC_BAD(CODEC_EXTENT_FLAGS))
		why = "has unknown flags";
	else if (lblk >= max_blocks || len > max_blocks - lblk)
		why = "lies past the largest possible file";
	else if (!fsck_in_data(f, pblk, len))
		why = "lies outside the data area";
	else if (lblk < w->prev_end)
		why = "overlaps the extent before it";
	if (why) {
		fsck_problem(f, "removed",
			     "inode %" PRIu64 ": extent at file block %" PRIu64 " (%u blocks at block %" PRIu64 ") %s",
			     fi->ino, lblk, len, pblk, why);
		c->action = ACT_DROP;
		fi->state |= FI_RECOUNT;
		return fsck_in_data(f, pblk, len) ? fsck_own(f, pblk, len) : 0;
	}
	w->prev_end = lblk + len;
	/* Rule 4. */
	if (!(eflags & DIOFS_EXT_UNWRITTEN) && lblk + len > w->eof) {
		fsck_problem(f, "released",
			     "inode %" PRIu64 ": file blocks %" PRIu64 "-%" PRIu64 " lie past the end of the file (%" PRIu64 " bytes) and are not preallocated",
			     fi->ino, lblk > w->eof ? lblk : w->eof,
			     lblk + len - 1, fi->size);
		fi->state |= FI_RECOUNT;
		if (lblk >= w->eof) {
			c->action = ACT_DROP;
			return fsck_own(f, pblk, len);
		}
		c->action = ACT_TRUNC;
		c->newlen = (uint32_t)(w->eof - lblk);
		fi->nblocks += c->newlen;
		return fsck_own(f, pblk + c->newlen, len - c->newlen);
	}
	fi->nblocks += len;
	return 0;
}

static int collect_extents(struct fsck *f, struct finode *fi,
			   const struct codec_inode *r)
{
	struct ext_walk w = { 0, fi->size / f->bs + (fi->size % f->bs != 0) };
	struct diofs_extent_val v;
	struct codec_extent e;
	uint64_t key = 0, found;
	struct ftree t;
	unsigned i, n;
	size_t vlen;
	int err;

	if (!fi->ext_root) {
		n = fi->nr_extents;
		if (n > DIOFS_INLINE_EXTENTS) {
			fsck_problem(f, "cut to 4",
				     "inode %" PRIu64 ": %u inline extents, at most %d fit",
				     fi->ino, n, DIOFS_INLINE_EXTENTS);
			n = DIOFS_INLINE_EXTENTS;
			fi->nr_extents = (uint16_t)n;
			fi->state |= FI_DIRTY;
		}
		for (i = 0; i < n; i++) {
			codec_extent_decode(&r->ext[i], &e);
			err = add_extent(f, fi, &w, &e, 0);
			if (err)
				return err;
		}
		return 0;
	}
	if (fi->nr_extents) {
		fsck_problem(f, "cleared",
			     "inode %" PRIu64 ": has %u inline extents besides its extent tree",
			     fi->ino, fi->nr_extents);
		fi->nr_extents = 0;
		fi->state |= FI_DIRTY;
	}
	err = check_tree(f, fi, TREE_EXT, &fi->ext_root);
	if (err || !fi->ext_root)
		return err;
	fsck_tree_init(&t, f, fi->ino, DIOFS_MAGIC_EXT_LEAF,
		       DIOFS_MAGIC_EXT_NODE, fi->ext_root);
	for (;;) {
		vlen = sizeof(v);
		err = btree_lookup(&t.bt, key, BTREE_GE, &found, &v, &vlen);
		if (err == -ENOENT)
			return 0;
		if (err)
			return fsck_fail(f, err, "cannot read the extent tree of inode %" PRIu64 ": %s",
					 fi->ino, strerror(-err));
		/* A value of the wrong size is reported as read, and
		 * dropped. */
		codec_extent_val_decode(found, &v, &e);
		err = add_extent(f, fi, &w, &e, vlen != sizeof(v));
		if (err || found == UINT64_MAX)
			return err;
		key = found + 1;
	}
}

/* ---- attribute values in runs (rule 8) ------------------------------------------ */

/* Check the run of entry x of fi: 0 with its blocks marked in use and
 * counted, 1 when it is damaged (reported; the entry is to go, at where
 * and len as struct fxfix says), or an operational error. */
static int check_run(struct fsck *f, struct finode *fi,
		     const struct codec_xattr *x, uint64_t where, uint32_t len)
{
	struct codec_xattr_ref r;
	const char *why = NULL;
	struct fxfix *xf;
	struct fxrun *xr;
	uint64_t n = 0;
	uint8_t *buf;
	int err;

	if (codec_xattr_ref_decode(x, &r))
		why = "its reference is malformed";
	else if (n = codec_xattr_run_blocks(r.size, f->bs),
		 !fsck_in_data(f, r.start, n))
		why = "its value lies outside the data area";
	else if (fsck_any_used(f, r.start, n))
		why = "its value's blocks are also used elsewhere";
	if (!why) {
		buf = fsck_buf(f, (size_t)n * f->bs);
		if (!buf)
			return fsck_fail(f, -ENOMEM, "out of memory");
		err = fsck_pread(f, buf, r.start, (size_t)n);
		if (!err && diofs_crc32c(0, buf, r.size) != r.crc)
			why = "its value does not match its checksum";
		free(buf);
		if (err)
			return err;
		if (!why) {
			if (grow_array((void **)&f->xr, &f->cap_xr, f->nxr + 1,
				       sizeof(*f->xr)))
				return fsck_fail(f, -ENOMEM, "out of memory");
			xr = &f->xr[f->nxr++];
			xr->ino = fi->ino;
			xr->start = r.start;
			xr->len = n;
			fsck_mark(f, r.start, n, 1);
			fi->nblocks += n;
			if (!(f->sb.incompat & DIOFS_FEAT_INCOMPAT_XATTR_RUNS)) {
				/* the engine sets it with the first run */
				fsck_problem(f, "set",
					     "inode %" PRIu64 ": an extended attribute value lies in a run of blocks, but the superblock lacks the XATTR_RUNS feature",
					     fi->ino);
				f->sb.incompat |= DIOFS_FEAT_INCOMPAT_XATTR_RUNS;
				f->sb_rewrite = 1;
			}
			return 0;
		}
		/* Read, but wrong: the removal frees the blocks. */
		err = fsck_own(f, r.start, n);
		if (err)
			return err;
	}
	fsck_problem(f, "removed",
		     "inode %" PRIu64 ": extended attribute \"%.*s\" (namespace %u): %s",
		     fi->ino, x->name_len, (const char *)x->name, x->name_index,
		     why);
	fi->state |= FI_RECOUNT;
	if (grow_array((void **)&f->xf, &f->cap_xf, f->nxf + 1, sizeof(*f->xf)))
		return fsck_fail(f, -ENOMEM, "out of memory");
	xf = &f->xf[f->nxf++];
	xf->ino = fi->ino;
	xf->where = where;
	xf->len = len;
	return 1;
}

/* The runs of fi's attributes: inline (the area as check_xattr_area()
 * left it) and in its tree (as check_tree() left it). */
static int check_runs(struct fsck *f, struct finode *fi,
		      const struct codec_inode *r)
{
	size_t max = btree_max_value(f->bs), off = 0, next, vlen;
	uint64_t key = 0, found;
	struct codec_xattr x;
	struct ftree t;
	uint8_t *val;
	int err = 0;

	while (off < fi->xattr_len && err >= 0 &&
	       !codec_xattr_inline(r->xattr, fi->xattr_len, off, &x, &next)) {
		if (x.run)
			err = check_run(f, fi, &x, off, (uint32_t)(next - off));
		off = next;
	}
	if (err < 0 || !fi->xattr_root)
		return err < 0 ? err : 0;
	val = malloc(max);
	if (!val)
		return fsck_fail(f, -ENOMEM, "out of memory");
	fsck_tree_init(&t, f, fi->ino, DIOFS_MAGIC_XATTR_LEAF,
		       DIOFS_MAGIC_XATTR_NODE, fi->xattr_root);
	for (;;) {
		vlen = max;
		err = btree_lookup(&t.bt, key, BTREE_GE, &found, val, &vlen);
		if (err == -ENOENT) {
			err = 0;
			break;
		}
		if (err) {
			err = fsck_fail(f, err, "cannot read the extended attribute tree of inode %" PRIu64 ": %s",
					fi->ino, strerror(-err));
			break;
		}
		/* check_tree() found every entry well formed */
		if (!codec_xattr_value(val, vlen, &x) && x.run) {
			err = check_run(f, fi, &x, found, 0);
			if (err < 0)
				break;
			err = 0;
		}
		key = found + 1;
	}
	free(val);
	return err;
}

/* fi's inode is being freed: so are its runs. */
static int release_runs(struct fsck *f, const struct finode *fi)
{
	size_t i;
	int err = 0;

	for (i = 0; i < f->nxr && !err; i++) {
		if (f->xr[i].ino != fi->ino)
			continue;
		fsck_mark(f, f->xr[i].start, f->xr[i].len, 0);
		err = fsck_own(f, f->xr[i].start, f->xr[i].len);
	}
	return err;
}

/* ---- one inode ------------------------------------------------------------------ */

static int valid_type(uint32_t type)
{
	switch (type) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR:
	case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		return 1;
	}
	return 0;
}

/* The inline attribute area: entries packed from byte 0 for xattr_len. */
static void check_xattr_area(struct fsck *f, struct finode *fi,
			     const struct codec_inode *r)
{
	size_t len = fi->xattr_len, off = 0, next;
	struct codec_xattr x;

	if (len > DIOFS_INLINE_XATTR)
		len = DIOFS_INLINE_XATTR;
	while (off < len &&
	       !codec_xattr_inline(r->xattr, len, off, &x, &next) &&
	       x.name_index <= DIOFS_XATTR_SYSTEM)
		off = next;
	if (off != fi->xattr_len) {
		fsck_problem(f, "cut there",
			     "inode %" PRIu64 ": inline extended attributes are malformed from byte %zu on",
			     fi->ino, off);
		fi->xattr_len = (uint16_t)off;
		fi->state |= FI_DIRTY;
	}
}

/* The fields the model keeps, from the record. */
static void finode_from_rec(struct finode *fi, const struct codec_inode *r)
{
	fi->mode = r->mode;
	fi->flags = r->flags;
	fi->links = r->links;
	fi->nr_extents = r->nr_extents;
	fi->xattr_len = r->xattr_len;
	fi->size = r->size;
	fi->blocks = r->blocks;
	fi->parent = r->parent;
	fi->ext_root = r->ext_root;
	fi->xattr_root = r->xattr_root;
	fi->orphan_next = r->orphan_next;
}

/* The engine refuses an inode with a timestamp it cannot represent; the
 * seconds are kept, the nanoseconds become 0 (encode_inode()).  bad is
 * codec_inode_check()'s verdict on r. */
static void check_times(struct fsck *f, struct finode *fi,
			const struct codec_inode *r, unsigned bad)
{
	int i;

	for (i = 0; i < CODEC_TIMES; i++) {
		if (!(bad & CODEC_BAD(CODEC_INODE_ATIME + i)))
			continue;
		fsck_problem(f, "set to 0",
			     "inode %" PRIu64 ": %s nanoseconds %" PRIu32 " out of range",
			     fi->ino, codec_inode_field_name(CODEC_INODE_ATIME + i),
			     (uint32_t)r->time[i].tv_nsec);
		fi->state |= FI_DIRTY;
	}
}

/* Why the inode in slot ino cannot be kept at all, or NULL; bad as for
 * check_times(). */
static const char *inode_garbage(const struct fsck *f, uint64_t ino,
				 const struct codec_inode *r, unsigned bad)
{
	uint32_t type = r->mode & S_IFMT;
	uint64_t size = r->size;

	if (bad & CODEC_BAD(CODEC_INODE_INO))
		return "its number field names another inode";
	if (!valid_type(type))
		return "its file type is invalid";
	if (ino == f->sb.root_ino && type != S_IFDIR)
		return "the root is not a directory";
	if (ino != f->sb.root_ino && ino < f->sb.first_ino)
		return "it is a reserved inode";
	if (type == S_IFLNK && (size == 0 || size > SYMLINK_MAX))
		return "a symbolic link with a target of impossible length";
	return NULL;
}

static int scan_inode(struct fsck *f, uint64_t ino, struct diofs_inode *di,
		      int salvage)
{
	struct codec_inode r;
	struct finode *fi;
	const char *why;
	uint32_t type;
	unsigned bad;
	int err = 0;

	codec_inode_decode(di, &r);
	if (!r.mode)
		return 0;
	bad = codec_inode_check(&r, ino, &f->sb);
	why = inode_garbage(f, ino, &r, bad);
	if (why) {
		fsck_problem(f, "cleared", "inode %" PRIu64 ": %s", ino, why);
		err = fsck_own_ino(f, ino, S_ISDIR(r.mode) ? -1 : 0);
		if (err)
			return err;
		if (salvage) {
			memset(di, 0, sizeof(*di));
			return 0;
		}
		fi = fsck_inode_add(f, ino);
		if (!fi)
			return fsck_fail(f, -ENOMEM, "out of memory");
		fi->state = FI_FREE | FI_DIRTY;
		return 0;
	}
	fi = fsck_inode_add(f, ino);
	if (!fi)
		return fsck_fail(f, -ENOMEM, "out of memory");
	finode_from_rec(fi, &r);
	type = fi->mode & S_IFMT;
	if (fi->flags & ~DIOFS_IFL_KNOWN) {
		fsck_problem(f, "cleared",
			     "inode %" PRIu64 ": unknown flags 0x%x", ino,
			     fi->flags & ~DIOFS_IFL_KNOWN);
		fi->flags &= DIOFS_IFL_KNOWN;
		fi->state |= FI_DIRTY;
	}

	check_times(f, fi, &r, bad);
	check_xattr_area(f, fi, &r);
	/* A salvaged block is rewritten as it stands: what a torn write
	 * left in the free part of the attribute area goes. */
	if (salvage)
		memset(di->xattr + fi->xattr_len, 0,
		       DIOFS_INLINE_XATTR - fi->xattr_len);
	if (fi->xattr_root) {
		err = check_tree(f, fi, TREE_XATTR, &fi->xattr_root);
		if (err)
			return err;
	}
	err = check_runs(f, fi, &r);
	if (err)
		return err;
	if (type == S_IFDIR) {
		if (fi->flags & DIOFS_IFL_INLINE) {
			fsck_problem(f, "flag cleared",
				     "directory %" PRIu64 ": has the inline-data flag", ino);
			fi->flags &= ~DIOFS_IFL_INLINE;
			fi->state |= FI_DIRTY;
		}
		if (fi->nr_extents) {
			fsck_problem(f, "cleared",
				     "directory %" PRIu64 ": has %u inline extents",
				     ino, fi->nr_extents);
			fi->nr_extents = 0;
			fi->state |= FI_DIRTY;
		}
		if (fi->ext_root)
			err = check_tree(f, fi, TREE_DIR, &fi->ext_root);
		return err;
	}
	if (type == S_IFREG || type == S_IFLNK) {
		if (!(fi->flags & DIOFS_IFL_INLINE))
			return collect_extents(f, fi, &r);
		if (fi->ext_root || fi->nr_extents) {
			fsck_problem(f, "extents dropped",
				     "inode %" PRIu64 ": has inline data and extents", ino);
			fi->ext_root = 0;
			fi->nr_extents = 0;
			fi->state |= FI_DIRTY;
		}
		if (fi->size > DIOFS_INLINE_DATA) {
			fsck_problem(f, "cut to the inline area",
				     "inode %" PRIu64 ": %" PRIu64 " bytes of inline data, at most %d fit",
				     ino, fi->size, DIOFS_INLINE_DATA);
			fi->size = DIOFS_INLINE_DATA;
			fi->state |= FI_DIRTY;
		}
		return 0;
	}
	/* Device nodes, fifos and sockets hold no data. */
	if (fi->ext_root || fi->nr_extents || (fi->flags & DIOFS_IFL_INLINE) ||
	    fi->size) {
		fsck_problem(f, "dropped",
			     "inode %" PRIu64 ": a special file with data or a size", ino);
		fi->ext_root = 0;
		fi->nr_extents = 0;
		fi->flags &= ~DIOFS_IFL_INLINE;
		fi->size = 0;
		fi->state |= FI_DIRTY;
	}
	return 0;
}

/* Rule 3: the block's intact inodes, under a new header. */
static int rewrite_itable(struct fsck *f, uint64_t blkno, const uint8_t *data)
{
	size_t hdr = sizeof(struct diofs_blkhdr);
	struct mbuf *b;
	struct txn *t;
	int err;

	err = cache_new(f->c, blkno, DIOFS_MAGIC_ITABLE, &b);
	if (err)
		return fsck_fail(f, err, "cannot set up block %" PRIu64 ": %s",
				 blkno, strerror(-err));
	err = fsck_txn_holding(f, b, &t);
	if (err)
		return err;
	memcpy((uint8_t *)b->data + hdr, data + hdr, f->bs - hdr);
	return fsck_commit(f, t);
}

static int scan_block(struct fsck *f, uint64_t g, uint32_t idx, uint8_t *data)
{
	const struct super *sb = &f->sb;
	uint64_t blkno = super_group_first(sb, g) + 2 + idx;
	uint64_t ino = g * sb->inodes_per_group + (uint64_t)idx * sb->inodes_per_block;
	int salvage, err = 0;
	uint32_t s;

	salvage = blkhdr_verify(data, f->bs, DIOFS_MAGIC_ITABLE, blkno,
				sb->uuid) != 0;
	if (salvage)
		fsck_problem(f, "rewritten with the inodes that pass the checks",
			     "inode-table block %" PRIu64 " (group %" PRIu64 ") is corrupt",
			     blkno, g);
	for (s = 0; s < sb->inodes_per_block && !err; s++)
		err = scan_inode(f, ino + s, (struct diofs_inode *)
				 (data + sizeof(struct diofs_blkhdr) +
				  (size_t)s * DIOFS_INODE_SIZE), salvage);
	if (!err && salvage && f->repair)
		err = rewrite_itable(f, blkno, data);
	return err;
}

/* The root must be a directory: a missing one is made anew, empty. */
static int check_root(struct fsck *f)
{
	const struct super *sb = &f->sb;
	uint64_t root = sb->root_ino;
	struct finode *fi = fsck_inode(f, root);
	int err;

	if (fi && !(fi->state & FI_FREE))
		return 0;
	fsck_problem(f, "made a new, empty root directory",
		     "the root directory (inode %" PRIu64 ") is missing", root);
	while (f->g[0].itable_init * (uint64_t)sb->inodes_per_block <= root) {
		err = fsck_itable_grow(f, 0);
		if (err)
			return err == -ENOSPC ? fsck_fail(f, -EUCLEAN, "no room for the root inode") : err;
	}
	fi = fsck_inode_add(f, root);
	if (!fi)
		return fsck_fail(f, -ENOMEM, "out of memory");
	memset(fi, 0, sizeof(*fi));
	fi->ino = root;
	fi->mode = S_IFDIR | 0755;
	fi->links = 2;
	fi->parent = root;
	fi->state = FI_NEW | FI_DIRTY;
	return 0;
}

int fsck_scan_inodes(struct fsck *f)
{
	const struct super *sb = &f->sb;
	uint32_t chunk = SCAN_CHUNK_BYTES / f->bs, k, i, cnt, n;
	uint8_t *buf;
	uint64_t g;
	int err = 0;

	if (!chunk)
		chunk = 1;
	buf = fsck_buf(f, (size_t)chunk * f->bs);
	if (!buf)
		return fsck_fail(f, -ENOMEM, "out of memory");
	fsck_progress(f, FSCK_PASS_INODES, 0, sb->group_count);
	for (g = 0; g < sb->group_count && !err;
	     fsck_progress(f, FSCK_PASS_INODES, ++g, sb->group_count)) {
		/* format.h rule 3: nothing lives past itable_init. */
		if (f->g[g].flags & DIOFS_BG_INODE_UNINIT)
			continue;
		n = f->g[g].itable_init;
		for (k = 0; k < n && !err; k += chunk) {
			cnt = n - k < chunk ? n - k : chunk;
			err = fsck_pread(f, buf, super_group_first(sb, g) + 2 + k,
					 cnt);
			for (i = 0; i < cnt && !err; i++)
				err = scan_block(f, g, k + i,
						 buf + (size_t)i * f->bs);
		}
	}
	free(buf);
	return err ? err : check_root(f);
}

/* ---- orphans ------------------------------------------------------------------- */

static void set_orphan_link(struct fsck *f, uint64_t prev, uint64_t next)
{
	struct finode *fi;

	if (!prev) {
		f->sb.orphan_head = next;
		f->sb_rewrite = 1;
		return;
	}
	fi = fsck_inode(f, prev);
	fi->orphan_next = next;
	fi->state |= FI_DIRTY;
}

int fsck_orphans(struct fsck *f)
{
	uint64_t prev = 0, ino = f->sb.orphan_head;
	struct finode *fi;
	size_t i;

	while (ino) {
		fi = fsck_inode(f, ino);
		if (!fi || (fi->state & FI_FREE)) {
			if (prev)
				fsck_problem(f, "list cut there",
					     "orphan list: inode %" PRIu64 " links to inode %" PRIu64 ", which is not in use",
					     prev, ino);
			else
				fsck_problem(f, "list cut there",
					     "orphan list: the superblock names inode %" PRIu64 ", which is not in use",
					     ino);
			set_orphan_link(f, prev, 0);
			break;
		}
		if (fi->state & FI_ORPHAN) {
			fsck_problem(f, "list cut there",
				     "orphan list: loops back to inode %" PRIu64, ino);
			set_orphan_link(f, prev, 0);
			break;
		}
		fi->state |= FI_ORPHAN;
		prev = ino;
		ino = fi->orphan_next;
	}
	for (i = 0; i < f->nino; i++) {
		fi = &f->ino[i];
		if ((fi->state & (FI_ORPHAN | FI_FREE)) || !fi->orphan_next)
			continue;
		fsck_problem(f, "link cleared",
			     "inode %" PRIu64 ": not on the orphan list, but links to inode %" PRIu64 " as if it were",
			     fi->ino, fi->orphan_next);
		fi->orphan_next = 0;
		fi->state |= FI_DIRTY;
	}
	return 0;
}

/* Free fi's trees in the map; its data claims are skipped (FI_FREE). */
static int release_inode(struct fsck *f, struct finode *fi)
{
	int err;

	err = unmark_tree(f, fi->ino, S_ISDIR(fi->mode) ? TREE_DIR : TREE_EXT,
			  fi->ext_root);
	if (!err)
		err = unmark_tree(f, fi->ino, TREE_XATTR, fi->xattr_root);
	if (!err)
		err = release_runs(f, fi);
	if (!err)
		err = fsck_own_ino(f, fi->ino, S_ISDIR(fi->mode) ? -1 : 0);
	fi->state |= FI_FREE | FI_DIRTY;
	return err;
}

int fsck_orphans_decide(struct fsck *f)
{
	struct finode *fi;
	size_t i;
	int err = 0;

	for (i = 0; i < f->nino && !err; i++) {
		fi = &f->ino[i];
		if (!(fi->state & FI_ORPHAN) || (fi->state & FI_FREE))
			continue;
		if (fsck_unlinked_orphan(f, fi)) {
			if (!f->repair) {
				fsck_note(f, "inode %" PRIu64 ": unlinked, on the orphan list: will be freed at next mount",
					  fi->ino);
				continue;
			}
			fsck_problem(f, "freed",
				     "inode %" PRIu64 ": unlinked, on the orphan list",
				     fi->ino);
			err = release_inode(f, fi);
			continue;
		}
		/* Linked again before a crash: the mount takes it off the
		 * list, so only a repair counts it (its link count, if
		 * wrong, is a problem of its own); with no links, rule 5. */
		if (f->repair || fi->links == 0)
			fsck_problem(f, "taken off the list",
				     "inode %" PRIu64 ": on the orphan list, but has %u links and %u names",
				     fi->ino, fi->links, fi->nrefs);
		else
			fsck_note(f, "inode %" PRIu64 ": on the orphan list with %u links: will be taken off it at next mount",
				  fi->ino, fi->links);
		/* The directory pass left out unlinked orphan directories. */
		if (S_ISDIR(fi->mode) && fi->links == 0)
			err = fsck_scan_dir(f, fi);
	}
	if (err || !f->repair || !f->sb.orphan_head)
		return err;
	/* Every orphan is either freed or off the list now. */
	f->sb.orphan_head = 0;
	f->sb_rewrite = 1;
	for (i = 0; i < f->nino; i++) {
		fi = &f->ino[i];
		if ((fi->state & FI_ORPHAN) && !(fi->state & FI_FREE) &&
		    fi->orphan_next) {
			fi->orphan_next = 0;
			fi->state |= FI_DIRTY;
		}
	}
	return 0;
}

/* ---- data claims ------------------------------------------------------------------ */

static uint32_t claim_len(const struct fclaim *c)
{
	return c->action == ACT_TRUNC || c->action == ACT_CLONE ? c->newlen
								 : c->len;
}

int fsck_claim_data(struct fsck *f)
{
	struct finode *fi = NULL;
	struct fclaim *c;
	uint32_t len;
	size_t i;

	for (i = 0; i < f->ncl; i++) {
		c = &f->cl[i];
		if (c->action == ACT_DROP)
			continue;
		if (!fi || fi->ino != c->ino)
			fi = fsck_inode(f, c->ino);
		if (!fi)
			continue;
		len = claim_len(c);
		if (fi->state & FI_FREE) {
			/* A freed orphan's blocks: said with the inode. */
			if (fsck_own(f, c->pblk, len))
				return f->err;
			continue;
		}
		if (!fsck_any_used(f, c->pblk, len)) {
			fsck_mark(f, c->pblk, len, 1);
			c->marked = 1;
			continue;
		}
		/* Rule 1: the later claimant moves, and its old blocks
		 * that nobody else holds become free. */
		c->newlen = len;
		c->action = ACT_CLONE;
		if (!f->repair)
			fsck_mark(f, c->pblk, len, 1);
		else if (fsck_own(f, c->pblk, len))
			return f->err;
	}
	return 0;
}

/* Where inode ino lives; unlike super_inode_loc() this takes inode 0 as
 * well, whose slot may need clearing. */
static void itable_loc(const struct fsck *f, uint64_t ino, uint64_t *blkno,
		       uint32_t *off)
{
	const struct super *sb = &f->sb;
	uint64_t g = ino / sb->inodes_per_group;
	uint64_t idx = ino % sb->inodes_per_group;

	*blkno = super_group_first(sb, g) + 2 + idx / sb->inodes_per_block;
	*off = (uint32_t)(sizeof(struct diofs_blkhdr) +
			  idx % sb->inodes_per_block * DIOFS_INODE_SIZE);
}

/* Read-modify-write of inode ino's inode-table block through the cache:
 * *block is the block's contents, *off where the inode sits in it. */
static int itable_open(struct fsck *f, uint64_t ino, struct txn **t,
		       uint8_t **block, uint32_t *off)
{
	uint64_t blkno;
	struct mbuf *b;
	int err;

	itable_loc(f, ino, &blkno, off);
	err = cache_read(f->c, blkno, DIOFS_MAGIC_ITABLE, &b);
	if (err)
		return fsck_fail(f, err, "cannot read inode %" PRIu64 ": %s", ino,
				 strerror(-err));
	err = fsck_txn_holding(f, b, t);
	if (err)
		return err;
	*block = b->data;
	return 0;
}

static int copy_blocks(struct fsck *f, uint64_t from, uint64_t to,
		       uint64_t len)
{
	uint64_t chunk = SCAN_CHUNK_BYTES / f->bs, n;
	uint8_t *buf;
	int err = 0;

	if (!chunk)
		chunk = 1;
	buf = fsck_buf(f, (size_t)chunk * f->bs);
	if (!buf)
		return fsck_fail(f, -ENOMEM, "out of memory");
	for (; len && !err; from += n, to += n, len -= n) {
		n = len < chunk ? len : chunk;
		err = fsck_pread(f, buf, from, (size_t)n);
		if (!err)
			err = fsck_pwrite(f, buf, to, (size_t)n);
	}
	free(buf);
	return err;
}

/* Who holds a block of c's range first: a file's inode, or 0 (metadata or
 * a tree node). */
static uint64_t first_owner(const struct fsck *f, const struct fclaim *c)
{
	uint64_t end = c->pblk + c->newlen;
	size_t i;

	for (i = 0; i < f->ncl; i++) {
		const struct fclaim *o = &f->cl[i];

		if (o->marked && o->pblk < end && c->pblk < o->pblk + claim_len(o))
			return o->ino;
	}
	return 0;
}

/*
 * Rule 1 for claim c: report it and, when repairing, copy its blocks to a
 * free run.  0 with *to set, or -ENOSPC when there is no room (the extent
 * is then dropped), or another error.
 */
static int clone_extent(struct fsck *f, struct finode *fi,
			const struct fclaim *c, uint64_t *to)
{
	uint64_t owner = first_owner(f, c), last = c->pblk + c->newlen - 1;
	char who[48], fix[80];
	int err;

	if (owner)
		snprintf(who, sizeof(who), "inode %" PRIu64, owner);
	else
		snprintf(who, sizeof(who), "filesystem metadata");
	if (!f->repair) {
		fsck_problem(f, "copied to free blocks",
			     "inode %" PRIu64 ": blocks %" PRIu64 "-%" PRIu64 " (from file block %" PRIu64 ") are also used by %s",
			     fi->ino, c->pblk, last, c->lblk, who);
		return 0;
	}
	err = fsck_alloc_run(f, super_inode_goal(&f->sb, fi->ino), c->newlen,
			     to);
	if (err == -ENOSPC) {
		fsck_problem(f, "removed (no free run to copy it to)",
			     "inode %" PRIu64 ": blocks %" PRIu64 "-%" PRIu64 " (from file block %" PRIu64 ") are also used by %s",
			     fi->ino, c->pblk, last, c->lblk, who);
		fi->nblocks -= c->newlen;
		fi->state |= FI_RECOUNT;
		return err;
	}
	if (err)
		return err;
	snprintf(fix, sizeof(fix), "copied to blocks %" PRIu64 "-%" PRIu64,
		 *to, *to + c->newlen - 1);
	fsck_problem(f, fix,
		     "inode %" PRIu64 ": blocks %" PRIu64 "-%" PRIu64 " (from file block %" PRIu64 ") are also used by %s",
		     fi->ino, c->pblk, last, c->lblk, who);
	/* Unwritten blocks read as zeros whatever they hold. */
	if (c->eflags & DIOFS_EXT_UNWRITTEN)
		return 0;
	return copy_blocks(f, c->pblk, *to, c->newlen);
}

/* Write fi's extents as v[0..n): inline, or into a new tree (rule 6). */
static int write_extents(struct fsck *f, struct finode *fi,
			 const struct codec_extent *v, size_t n)
{
	struct diofs_extent_val val;
	struct codec_inode r;
	struct diofs_inode *di;
	struct ftree tr;
	struct txn *t;
	uint8_t *block;
	uint32_t off;
	size_t i;
	int err;

	if (!fi->ext_root) {
		/* Inline: at most DIOFS_INLINE_EXTENTS were read, fewer
		 * or as many stay. */
		err = itable_open(f, fi->ino, &t, &block, &off);
		if (err)
			return err;
		di = (struct diofs_inode *)(block + off);
		codec_inode_decode(di, &r);
		memset(r.ext, 0, sizeof(r.ext));
		for (i = 0; i < n; i++)
			codec_extent_encode(&v[i], &r.ext[i]);
		r.nr_extents = (uint16_t)n;
		codec_inode_encode(&r, di);
		fi->nr_extents = (uint16_t)n;
		return fsck_commit(f, t);
	}
	fsck_tree_init(&tr, f, fi->ino, DIOFS_MAGIC_EXT_LEAF,
		       DIOFS_MAGIC_EXT_NODE, fi->ext_root);
	err = txn_begin(f->c, &t);
	if (err)
		return fsck_fail(f, err, "out of memory");
	err = btree_destroy(&tr.bt, t);
	for (i = 0; i < n && !err; i++) {
		codec_extent_val_encode(&v[i], &val);
		err = btree_insert(&tr.bt, t, v[i].lblk, &val, sizeof(val));
	}
	if (err) {
		txn_abort(t);
		return fsck_fail(f, err, "cannot rebuild the extent tree of inode %" PRIu64 ": %s",
				 fi->ino, strerror(-err));
	}
	err = fsck_commit(f, t);
	if (!err && tr.bt.root != fi->ext_root) {
		fi->ext_root = tr.bt.root;
		fi->state |= FI_DIRTY;
	}
	return err;
}

/* The claims c[0..n) of one inode, at least one of them to change. */
static int fix_inode_extents(struct fsck *f, struct finode *fi,
			     const struct fclaim *c, size_t n)
{
	struct codec_extent *v;
	size_t i, m = 0;
	uint64_t to;
	int err = 0;

	v = malloc(n * sizeof(*v));
	if (!v)
		return fsck_fail(f, -ENOMEM, "out of memory");
	for (i = 0; i < n && !err; i++) {
		v[m].lblk = c[i].lblk;
		v[m].pblk = c[i].pblk;
		v[m].len = c[i].len;
		v[m].flags = c[i].eflags;
		switch (c[i].action) {
		case ACT_KEEP:
			m++;
			break;
		case ACT_TRUNC:
			v[m++].len = c[i].newlen;
			break;
		case ACT_CLONE:
			err = clone_extent(f, fi, &c[i], &to);
			if (err == -ENOSPC) {
				err = 0;
				break;
			}
			v[m].pblk = to;
			v[m++].len = c[i].newlen;
			break;
		}
	}
	if (!err && f->repair)
		err = write_extents(f, fi, v, m);
	free(v);
	return err;
}

int fsck_fix_extents(struct fsck *f)
{
	struct finode *fi;
	size_t i, j, k;
	int err = 0;

	for (i = 0; i < f->ncl && !err; i = j) {
		for (j = i; j < f->ncl && f->cl[j].ino == f->cl[i].ino; j++)
			;
		for (k = i; k < j && f->cl[k].action == ACT_KEEP; k++)
			;
		fi = fsck_inode(f, f->cl[i].ino);
		if (k == j || !fi || (fi->state & FI_FREE))
			continue;
		err = fix_inode_extents(f, fi, &f->cl[i], j - i);
	}
	return err;
}

/* ---- counts and write-back ---------------------------------------------------------- */

/* Take the inline entry of xf out of fi's slot. */
static int remove_inline(struct fsck *f, struct finode *fi,
			 const struct fxfix *xf)
{
	struct diofs_inode *di;
	struct codec_inode r;
	uint8_t *block;
	struct txn *t;
	uint32_t off;
	size_t at = (size_t)xf->where;
	int err;

	err = itable_open(f, fi->ino, &t, &block, &off);
	if (err)
		return err;
	di = (struct diofs_inode *)(block + off);
	codec_inode_decode(di, &r);
	memmove(r.xattr + at, r.xattr + at + xf->len,
		fi->xattr_len - at - xf->len);
	fi->xattr_len = (uint16_t)(fi->xattr_len - xf->len);
	memset(r.xattr + fi->xattr_len, 0, DIOFS_INLINE_XATTR - fi->xattr_len);
	r.xattr_len = fi->xattr_len;
	codec_inode_encode(&r, di);
	fi->state |= FI_DIRTY;
	return fsck_commit(f, t);
}

static int remove_from_tree(struct fsck *f, struct finode *fi,
			    const struct fxfix *xf)
{
	struct ftree tr;
	struct txn *t;
	int err;

	fsck_tree_init(&tr, f, fi->ino, DIOFS_MAGIC_XATTR_LEAF,
		       DIOFS_MAGIC_XATTR_NODE, fi->xattr_root);
	err = txn_begin(f->c, &t);
	if (err)
		return fsck_fail(f, err, "out of memory");
	err = btree_delete(&tr.bt, t, xf->where);
	if (err) {
		txn_abort(t);
		return fsck_fail(f, err, "cannot change the extended attribute tree of inode %" PRIu64 ": %s",
				 fi->ino, strerror(-err));
	}
	err = fsck_commit(f, t);
	if (!err && tr.bt.root != fi->xattr_root) {
		fi->xattr_root = tr.bt.root;
		fi->state |= FI_DIRTY;
	}
	return err;
}

int fsck_fix_xattrs(struct fsck *f)
{
	struct finode *fi;
	size_t i;
	int err = 0;

	if (!f->repair)
		return 0;
	/* Backwards: an inode's later inline entries go before the earlier
	 * ones move them. */
	for (i = f->nxf; i-- > 0 && !err;) {
		fi = fsck_inode(f, f->xf[i].ino);
		if (!fi || (fi->state & FI_FREE))
			continue;
		err = f->xf[i].len ? remove_inline(f, fi, &f->xf[i])
				   : remove_from_tree(f, fi, &f->xf[i]);
	}
	return err;
}

int fsck_inode_counts(struct fsck *f)
{
	uint64_t root = f->sb.root_ino, want_parent;
	struct finode *fi;
	uint32_t want;
	size_t i;

	for (i = 0; i < f->nino; i++) {
		fi = &f->ino[i];
		if ((fi->state & FI_FREE) || fsck_awaiting(f, fi))
			continue;
		/* Reported as unreachable already; without repair the
		 * counts that the move would set are not known. */
		if (!f->repair && (fi->state & FI_RELINKED))
			continue;
		/* A dropped tree or extent was reported; what it held
		 * goes with it. */
		if (fi->state & FI_RECOUNT) {
			fi->blocks = fi->nblocks;
			if (S_ISDIR(fi->mode)) {
				fi->size = fi->nentries;
				fi->links = 2 + fi->nsubdirs;
			}
			fi->state |= FI_DIRTY;
		}
		if (S_ISDIR(fi->mode)) {
			want = 2 + fi->nsubdirs;
			if (fi->size != fi->nentries) {
				fsck_problem(f, "fixed",
					     "directory %" PRIu64 ": size %" PRIu64 ", but it holds %" PRIu64 " entries",
					     fi->ino, fi->size, fi->nentries);
				fi->size = fi->nentries;
				fi->state |= FI_DIRTY;
			}
			want_parent = fi->ino == root ? root : fi->dotdot;
			if (want_parent && fi->parent != want_parent) {
				fsck_problem(f, "fixed",
					     "directory %" PRIu64 ": parent field names inode %" PRIu64 ", but its entry is in directory %" PRIu64,
					     fi->ino, fi->parent, want_parent);
				fi->parent = want_parent;
				fi->state |= FI_DIRTY;
			}
		} else {
			want = fi->nrefs;
		}
		if (fi->links != want) {
			fsck_problem(f, "fixed",
				     "inode %" PRIu64 ": link count %u, but %u found",
				     fi->ino, fi->links, want);
			fi->links = want;
			fi->state |= FI_DIRTY;
		}
		if (fi->blocks != fi->nblocks) {
			fsck_problem(f, "fixed",
				     "inode %" PRIu64 ": says it holds %" PRIu64 " blocks, it holds %" PRIu64,
				     fi->ino, fi->blocks, fi->nblocks);
			fi->blocks = fi->nblocks;
			fi->state |= FI_DIRTY;
		}
	}
	return 0;
}

/* Slot di as the model says: the fields the model keeps are set in the
 * record read from it, the others stay as they are (codec.h rule 2). */
static void encode_inode(const struct fsck *f, const struct finode *fi,
			 struct diofs_inode *di)
{
	struct codec_inode r;
	struct timespec now;
	unsigned bad;
	int i;

	codec_inode_decode(di, &r);
	if (fi->state & FI_FREE) {
		/* As the engine frees: the generation stays for the slot's
		 * next inode, so old handles never match the new one. */
		uint32_t gen = r.generation;

		memset(&r, 0, sizeof(r));
		r.ino = fi->ino;
		r.generation = gen;
		codec_inode_encode(&r, di);
		return;
	}
	if (fi->state & FI_NEW) {
		clock_gettime(CLOCK_REALTIME, &now);
		memset(&r, 0, sizeof(r));
		r.ino = fi->ino;
		r.generation = (uint32_t)now.tv_nsec;
		for (i = 0; i < CODEC_TIMES; i++)
			r.time[i] = now;
	}
	r.mode = fi->mode;
	r.flags = fi->flags;
	r.links = fi->links;
	r.size = fi->size;
	r.blocks = fi->blocks;
	r.parent = fi->parent;
	r.ext_root = fi->ext_root;
	r.xattr_root = fi->xattr_root;
	r.orphan_next = fi->orphan_next;
	r.nr_extents = fi->nr_extents;
	r.xattr_len = fi->xattr_len;
	/* check_times() reported these. */
	bad = codec_inode_check(&r, fi->ino, &f->sb);
	for (i = 0; i < CODEC_TIMES; i++)
		if (bad & CODEC_BAD(CODEC_INODE_ATIME + i))
			r.time[i].tv_nsec = 0;
	/* The engine keeps the free part of the attribute area zero. */
	memset(r.xattr + fi->xattr_len, 0, DIOFS_INLINE_XATTR - fi->xattr_len);
	codec_inode_encode(&r, di);
}

int fsck_write_inodes(struct fsck *f)
{
	uint64_t blkno, other;
	uint32_t off;
	uint8_t *block;
	struct txn *t;
	size_t i = 0, j;
	int err = 0;

	if (!f->repair)
		return 0;
	while (i < f->nino && !err) {
		if (!(f->ino[i].state & FI_DIRTY)) {
			i++;
			continue;
		}
		/* One transaction per inode-table block. */
		err = itable_open(f, f->ino[i].ino, &t, &block, &off);
		if (err)
			break;
		itable_loc(f, f->ino[i].ino, &blkno, &off);
		for (j = i; j < f->nino; j++) {
			itable_loc(f, f->ino[j].ino, &other, &off);
			if (other != blkno)
				break;
			if (f->ino[j].state & FI_DIRTY)
				encode_inode(f, &f->ino[j],
					     (struct diofs_inode *)(block + off));
		}
		err = fsck_commit(f, t);
		i = j;
	}
	return err;
}
