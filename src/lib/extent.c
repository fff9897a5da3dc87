/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * extent: the map from a file's blocks to device blocks, and the direct-I/O
 * worker's view of it (struct dio_file_ops).
 *
 * An extent says: file blocks [lblk, lblk+len) live at device blocks
 * [pblk, pblk+len), written or unwritten (preallocated, reading as zeros).
 * Up to DIOFS_INLINE_EXTENTS of them sit in the inode itself; a file that
 * needs more keeps them all in a B+tree (btree.h, magics DIOFS_MAGIC_EXT_*)
 * keyed by lblk, whose root is the inode's ext_root.  Both forms sit behind
 * one small interface, struct xstore (find the extent at or before / at or
 * after a block, insert, delete, update), and every change is built from
 * one primitive on top of it, xs_set(): "file blocks [a, b) now map to this
 * (or to nothing)", which cuts the extents that straddle a and b, drops the
 * ones inside, and merges the new one with neighbours that continue it.
 *
 *   get_block(create)  hole ──alloc_blocks(goal)──▶ xs_set(unwritten) ──▶ NEW
 *   convert            unwritten pieces ──────────▶ xs_set(written), merged
 *   extent_punch       pieces ──alloc_free──────▶ xs_set(nothing)
 *   extent_prealloc    holes ──alloc_blocks──────▶ xs_set(unwritten)
 *   extent_collapse    range ──alloc_free──▶ xs_set(nothing), later ones move down
 *   extent_insert_range  straddler cut, later ones move up: a hole
 *
 * Rules:
 *  1. Extents never overlap, have len >= 1, and lie inside the device.  Two
 *     neighbours that continue each other on the device and share flags are
 *     always merged, so a file written front to back is a few long extents
 *     (one per allocation group it spans, at best).
 *  2. The inline form holds at most DIOFS_INLINE_EXTENTS extents, sorted,
 *     with nr_extents counting them and ext_root 0.  During one change a
 *     scratch copy may hold more; when the change ends with more, all of
 *     them move to a new tree (nr_extents 0).  A tree that becomes empty
 *     frees its last block and the inode is inline again; a tree that
 *     shrinks to a few extents stays a tree (moving back is not needed for
 *     correctness).
 *  3. A new allocation asks for the device block right after the extent
 *     before it in the file (the start of the inode's group's data area for
 *     a file's first extent), so sequential writes extend the last extent
 *     and merge into it at convert() time.
 *  4. Locking (inode.h rules 1, 9): lookups hold meta_lock shared; every
 *     change runs in a transaction.  get_block() maps under the shared lock
 *     and only when it meets a hole does it open a transaction, map again
 *     (another writer may have filled the hole meanwhile) and allocate: one
 *     transaction per call that allocates.  The worker calls the
 *     dio_file_ops with the file's dfile.lock held and none of meta_lock.
 *  5. ip->blocks counts data blocks and tree nodes: allocation adds, punch
 *     and node frees subtract.
 *  6. A change that fails may leave the transaction half done; the caller
 *     aborts it and the inode is reloaded (inode.h rule 7).
 *  7. Collapse and insert change the keys of every extent from the range
 *     to the end of the map: each moves as a delete and an insert under
 *     the new key, front to back for a collapse and back to front for an
 *     insert, so it always lands where nothing is mapped.  Flags (written,
 *     unwritten) and device blocks stay; the collapsed range's blocks are
 *     freed as a punch frees them (busy until the transaction is
 *     durable).  All of it is one transaction, atomic across a crash, and
 *     so limited by the transaction size (DESIGN.md, Known limits).  The
 *     caller holds dfile.lock exclusive.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "diofs/codec.h"
#include "diofs/inode.h"

/* Room in the inline scratch copy before it moves to a tree mid-change. */
#define XS_INLINE_CAP	(DIOFS_INLINE_EXTENTS + 4)
#define XLEN_MAX	UINT32_MAX

/* One session over an inode's extents: read-only (t NULL) or a change. */
struct xstore {
	struct inode *ip;
	struct txn *t;
	bool tree;
	struct btree bt;
	struct btree_ops ops;
	unsigned n;			/* inline: extents in v */
	struct codec_extent v[XS_INLINE_CAP];
};

static inline uint64_t xend(const struct codec_extent *e)
{
	return e->lblk + e->len;
}

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Rule 1, checked on everything read, so that a corrupt map never sends
 * I/O outside the device. */
static int xent_sane(const struct inode *ip, const struct codec_extent *e)
{
	if (!codec_extent_check(e, &ip->fs->sb))
		return 0;
	bdev_report(ip->fs->bdev, LOG_ERR,
		    "inode %" PRIu64 " is corrupt: its extent at file block %" PRIu64 " maps %" PRIu64 " blocks from block %" PRIu64 ", out of range",
		    ip->ino, e->lblk, (uint64_t)e->len, e->pblk);
	return -EUCLEAN;
}

/* ---- tree nodes, charged to the inode (rule 5) ---------------------------- */

static int xs_node_alloc(void *arg, struct txn *t, uint64_t goal,
			 uint64_t *blkno)
{
	struct xstore *xs = arg;
	struct fs *fs = xs->ip->fs;
	int err;

	if (!goal)
		goal = super_inode_goal(&fs->sb, xs->ip->ino);
	err = alloc_btree_alloc(fs->alloc, t, goal, blkno);
	if (!err)
		xs->ip->blocks++;
	return err;
}

static void xs_node_free(void *arg, struct txn *t, uint64_t blkno)
{
	struct xstore *xs = arg;

	alloc_btree_free(xs->ip->fs->alloc, t, blkno);
	xs->ip->blocks--;
}

/* ---- the store: inline array or tree -------------------------------------- */

static int xs_open(struct xstore *xs, struct inode *ip, struct txn *t)
{
	unsigned i;

	xs->ip = ip;
	xs->t = t;
	xs->tree = ip->ext_root != 0;
	xs->ops.alloc_block = xs_node_alloc;
	xs->ops.free_block = xs_node_free;
	xs->ops.arg = xs;
	xs->bt.cache = ip->fs->cache;
	xs->bt.ops = &xs->ops;
	xs->bt.magic_leaf = DIOFS_MAGIC_EXT_LEAF;
	xs->bt.magic_node = DIOFS_MAGIC_EXT_NODE;
	xs->bt.root = ip->ext_root;
	xs->n = 0;
	if (xs->tree)
		return 0;
	if (ip->nr_extents > DIOFS_INLINE_EXTENTS)
		return -EUCLEAN;
	for (i = 0; i < ip->nr_extents; i++) {
		struct codec_extent *e = &xs->v[i];

		codec_extent_decode(&ip->ext[i], e);
		if (xent_sane(ip, e) || (i && e->lblk < xend(&xs->v[i - 1])))
			return -EUCLEAN;
	}
	xs->n = ip->nr_extents;
	return 0;
}

static int xs_tree_lookup(struct xstore *xs, uint64_t key,
			  enum btree_match how, struct codec_extent *e)
{
	struct diofs_extent_val v;
	size_t vlen = sizeof(v);
	uint64_t lblk;
	int err;

	err = btree_lookup(&xs->bt, key, how, &lblk, &v, &vlen);
	if (err)
		return err;
	if (vlen != sizeof(v))
		return -EUCLEAN;
	codec_extent_val_decode(lblk, &v, e);
	return xent_sane(xs->ip, e);
}

/* The extent with the greatest lblk <= key; -ENOENT if none. */
static int xs_le(struct xstore *xs, uint64_t key, struct codec_extent *e)
{
	unsigned i;

	if (xs->tree)
		return xs_tree_lookup(xs, key, BTREE_LE, e);
	for (i = xs->n; i > 0; i--) {
		if (xs->v[i - 1].lblk <= key) {
			*e = xs->v[i - 1];
			return 0;
		}
	}
	return -ENOENT;
}

/* The extent with the least lblk >= key; -ENOENT if none. */
static int xs_ge(struct xstore *xs, uint64_t key, struct codec_extent *e)
{
	unsigned i;

	if (xs->tree)
		return xs_tree_lookup(xs, key, BTREE_GE, e);
	for (i = 0; i < xs->n; i++) {
		if (xs->v[i].lblk >= key) {
			*e = xs->v[i];
			return 0;
		}
	}
	return -ENOENT;
}

/* Rule 2: move the inline scratch copy into a new tree. */
static int xs_to_tree(struct xstore *xs)
{
	struct diofs_extent_val v;
	unsigned i;
	int err;

	xs->bt.root = 0;
	xs->tree = true;
	for (i = 0; i < xs->n; i++) {
		codec_extent_val_encode(&xs->v[i], &v);
		err = btree_insert(&xs->bt, xs->t, xs->v[i].lblk, &v,
				   sizeof(v));
		if (err)
			return err;
	}
	xs->n = 0;
	return 0;
}

static int xs_insert(struct xstore *xs, const struct codec_extent *e)
{
	struct diofs_extent_val v;
	unsigned i;
	int err;

	if (!xs->tree && xs->n == XS_INLINE_CAP) {
		err = xs_to_tree(xs);
		if (err)
			return err;
	}
	if (xs->tree) {
		codec_extent_val_encode(e, &v);
		return btree_insert(&xs->bt, xs->t, e->lblk, &v, sizeof(v));
	}
	for (i = xs->n; i > 0 && xs->v[i - 1].lblk > e->lblk; i--)
		xs->v[i] = xs->v[i - 1];
	xs->v[i] = *e;
	xs->n++;
	return 0;
}

static int xs_find_slot(const struct xstore *xs, uint64_t lblk, unsigned *slot)
{
	unsigned i;

	for (i = 0; i < xs->n; i++) {
		if (xs->v[i].lblk == lblk) {
			*slot = i;
			return 0;
		}
	}
	return -EUCLEAN;	/* it was just found: the map changed under us */
}

static int xs_delete(struct xstore *xs, uint64_t lblk)
{
	unsigned i;
	int err;

	if (xs->tree)
		return btree_delete(&xs->bt, xs->t, lblk);
	err = xs_find_slot(xs, lblk, &i);
	if (err)
		return err;
	memmove(&xs->v[i], &xs->v[i + 1], (xs->n - i - 1) * sizeof(xs->v[0]));
	xs->n--;
	return 0;
}

/* Replace the extent that starts at e->lblk. */
static int xs_update(struct xstore *xs, const struct codec_extent *e)
{
	struct diofs_extent_val v;
	unsigned i;
	int err;

	if (xs->tree) {
		codec_extent_val_encode(e, &v);
		return btree_update(&xs->bt, xs->t, e->lblk, &v, sizeof(v));
	}
	err = xs_find_slot(xs, e->lblk, &i);
	if (!err)
		xs->v[i] = *e;
	return err;
}

/* End a change: store the result in the inode (rule 2). */
static int xs_close(struct xstore *xs)
{
	struct inode *ip = xs->ip;
	unsigned i;
	int err;

	if (!xs->tree && xs->n > DIOFS_INLINE_EXTENTS) {
		err = xs_to_tree(xs);
		if (err)
			return err;
	}
	memset(ip->ext, 0, sizeof(ip->ext));
	if (xs->tree) {
		ip->ext_root = xs->bt.root;
		ip->nr_extents = 0;
		return 0;
	}
	for (i = 0; i < xs->n; i++)
		codec_extent_encode(&xs->v[i], &ip->ext[i]);
	ip->nr_extents = (uint16_t)xs->n;
	ip->ext_root = 0;
	return 0;
}

/* ---- the primitives ---------------------------------------------------------- */

/* The extent holding block pos, or else the first one after it. */
static int xs_at_or_after(struct xstore *xs, uint64_t pos,
			  struct codec_extent *e)
{
	int err = xs_le(xs, pos, e);

	if (!err && xend(e) > pos)
		return 0;
	if (err && err != -ENOENT)
		return err;
	return xs_ge(xs, pos, e);
}

/* The part of e from file block at on. */
static struct codec_extent xent_tail(const struct codec_extent *e, uint64_t at)
{
	struct codec_extent r = *e;

	r.lblk = at;
	r.pblk = e->pblk + (at - e->lblk);
	r.len = (uint32_t)(xend(e) - at);
	return r;
}

static bool xent_continues(const struct codec_extent *l,
			   const struct codec_extent *r)
{
	return xend(l) == r->lblk && l->pblk + l->len == r->pblk &&
	       l->flags == r->flags && (uint64_t)l->len + r->len <= XLEN_MAX;
}

/*
 * File blocks [a, b) map to nw from now on (nw->lblk == a, nw->len ==
 * b - a), or to nothing when nw is NULL.  What mapped them before is
 * forgotten here; freeing its blocks is the caller's.
 */
static int xs_set(struct xstore *xs, uint64_t a, uint64_t b,
		  const struct codec_extent *nw)
{
	struct codec_extent e, r, m;
	bool left = false;
	int err;

	/* An extent that starts before a and reaches into [a, b) is cut. */
	err = xs_le(xs, a, &e);
	if (err && err != -ENOENT)
		return err;
	if (!err && e.lblk < a && xend(&e) > a) {
		bool tail = xend(&e) > b;

		if (tail)
			r = xent_tail(&e, b);
		e.len = (uint32_t)(a - e.lblk);
		err = xs_update(xs, &e);
		if (!err && tail)
			err = xs_insert(xs, &r);
		if (err)
			return err;
	}
	/* Extents that start inside [a, b) go, but for what lies past b. */
	for (;;) {
		err = xs_ge(xs, a, &e);
		if (err == -ENOENT || (!err && e.lblk >= b))
			break;
		if (err)
			return err;
		err = xs_delete(xs, e.lblk);
		if (!err && xend(&e) > b) {
			r = xent_tail(&e, b);
			err = xs_insert(xs, &r);
		}
		if (err)
			return err;
	}
	if (!nw)
		return 0;

	/* Rule 1: merge with the neighbours the new extent continues. */
	m = *nw;
	if (a > 0) {
		err = xs_le(xs, a - 1, &e);
		if (err && err != -ENOENT)
			return err;
		if (!err && xent_continues(&e, &m)) {
			e.len += m.len;
			m = e;
			left = true;
		}
	}
	err = xs_ge(xs, b, &e);
	if (err && err != -ENOENT)
		return err;
	if (!err && e.lblk == b && xent_continues(&m, &e)) {
		err = xs_delete(xs, e.lblk);
		if (err)
			return err;
		m.len += e.len;
	}
	return left ? xs_update(xs, &m) : xs_insert(xs, &m);
}

/* Describe file blocks from lblk on (at most max of them). */
static int xs_map(struct xstore *xs, uint64_t lblk, uint64_t max,
		  struct dio_map *map)
{
	struct codec_extent e;
	int err;

	memset(map, 0, sizeof(*map));
	map->lblk = lblk;
	err = xs_le(xs, lblk, &e);
	if (err && err != -ENOENT)
		return err;
	if (!err && xend(&e) > lblk) {
		map->type = (e.flags & DIOFS_EXT_UNWRITTEN) ?
			    DIO_MAP_UNWRITTEN : DIO_MAP_MAPPED;
		map->pblk = e.pblk + (lblk - e.lblk);
		map->len = min_u64(max, xend(&e) - lblk);
		return 0;
	}
	map->type = DIO_MAP_HOLE;
	err = xs_ge(xs, lblk, &e);
	if (err == -ENOENT) {
		map->len = max;
		return 0;
	}
	if (err)
		return err;
	map->len = min_u64(max, e.lblk - lblk);
	return 0;
}

/* Rule 3: where the blocks for a hole at lblk should come from. */
static int xs_goal(struct xstore *xs, uint64_t lblk, uint64_t *goal)
{
	struct codec_extent e;
	int err = xs_le(xs, lblk, &e);

	if (err == -ENOENT) {
		*goal = super_inode_goal(&xs->ip->fs->sb, xs->ip->ino);
		return 0;
	}
	if (!err)
		*goal = e.pblk + e.len;
	return err;
}

/* Allocate up to n blocks for the hole at lblk as unwritten; *got says how
 * many the allocator found in one run. */
static int xs_fill_hole(struct xstore *xs, uint64_t lblk, uint64_t n,
			uint64_t *pblk, uint64_t *got)
{
	struct inode *ip = xs->ip;
	struct codec_extent e;
	uint64_t goal;
	int err;

	err = xs_goal(xs, lblk, &goal);
	if (err)
		return err;
	err = alloc_blocks(ip->fs->alloc, xs->t, goal, 1, min_u64(n, XLEN_MAX),
			   pblk, got);
	if (err)
		return err;
	e.lblk = lblk;
	e.pblk = *pblk;
	e.len = (uint32_t)*got;
	e.flags = DIOFS_EXT_UNWRITTEN;
	err = xs_set(xs, lblk, lblk + *got, &e);
	if (!err)
		ip->blocks += *got;
	return err;
}

/* ---- the engine's interface (inode.h) --------------------------------------- */

int extent_map(struct inode *ip, uint64_t lblk, uint64_t max,
	       struct dio_map *map)
{
	struct xstore xs;
	bool taken;
	int err;

	if (!max)
		return -EINVAL;
	taken = fs_meta_rdlock(ip->fs);
	err = xs_open(&xs, ip, NULL);
	if (!err)
		err = xs_map(&xs, lblk, max, map);
	fs_meta_unlock(ip->fs, taken);
	return err;
}

/* Give back the device blocks of every piece of [lblk, end); the map still
 * holds them until the caller's xs_set(). */
static int xs_free_range(struct xstore *xs, uint64_t lblk, uint64_t end)
{
	struct inode *ip = xs->ip;
	struct codec_extent e;
	uint64_t pos = lblk, s, n;
	int err;

	while (pos < end) {
		err = xs_at_or_after(xs, pos, &e);
		if (err == -ENOENT || (!err && e.lblk >= end))
			return 0;
		if (err)
			return err;
		s = max_u64(pos, e.lblk);
		n = min_u64(end, xend(&e)) - s;
		err = alloc_free(ip->fs->alloc, xs->t, e.pblk + (s - e.lblk), n);
		if (err)
			return err;
		ip->blocks -= n;
		pos = s + n;
	}
	return 0;
}

int extent_punch(struct txn *t, struct inode *ip, uint64_t lblk, uint64_t len)
{
	uint64_t end = len > UINT64_MAX - lblk ? UINT64_MAX : lblk + len;
	struct xstore xs;
	int err;

	if (!len)
		return 0;
	err = inode_join(t, ip);
	if (!err)
		err = xs_open(&xs, ip, t);
	if (!err)
		err = xs_free_range(&xs, lblk, end);
	if (err)
		return err;
	/* A whole tree goes at once rather than one delete per extent. */
	if (xs.tree && lblk == 0 && end == UINT64_MAX)
		err = btree_destroy(&xs.bt, t);
	else
		err = xs_set(&xs, lblk, end, NULL);
	if (!err)
		err = xs_close(&xs);
	if (!err)
		err = inode_write(t, ip);
	return err;
}

int extent_destroy(struct txn *t, struct inode *ip)
{
	return extent_punch(t, ip, 0, UINT64_MAX);
}

int extent_prealloc(struct txn *t, struct inode *ip, uint64_t lblk,
		    uint64_t len)
{
	uint64_t end = len > UINT64_MAX - lblk ? UINT64_MAX : lblk + len;
	uint64_t pos = lblk, pblk, got = 0;
	struct xstore xs;
	struct dio_map m;
	int err;

	if (!len)
		return 0;
	err = inode_join(t, ip);
	if (!err)
		err = xs_open(&xs, ip, t);
	while (!err && pos < end) {
		err = xs_map(&xs, pos, end - pos, &m);
		if (err)
			break;
		if (m.type != DIO_MAP_HOLE) {
			pos += m.len;
			continue;
		}
		err = xs_fill_hole(&xs, pos, m.len, &pblk, &got);
		pos += got;
	}
	if (!err)
		err = xs_close(&xs);
	if (!err)
		err = inode_write(t, ip);
	return err;
}

/* ---- shifting (collapse and insert range, rule 7) ---------------------------- */

/* Move extent e, which nothing else overlaps at its new place, to start at
 * file block to: a delete and an insert under the new key. */
static int xs_move(struct xstore *xs, struct codec_extent e, uint64_t to)
{
	int err = xs_delete(xs, e.lblk);

	e.lblk = to;
	return err ? err : xs_insert(xs, &e);
}

/* Rule 1 where the two sides of a collapse meet at file block at. */
static int xs_merge_at(struct xstore *xs, uint64_t at)
{
	struct codec_extent l, r;
	int err;

	if (!at)
		return 0;
	err = xs_le(xs, at - 1, &l);
	if (!err)
		err = xs_ge(xs, at, &r);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	if (r.lblk != at || !xent_continues(&l, &r))
		return 0;
	err = xs_delete(xs, r.lblk);
	l.len += r.len;
	return err ? err : xs_update(xs, &l);
}

int extent_collapse(struct txn *t, struct inode *ip, uint64_t lblk,
		    uint64_t len)
{
	struct codec_extent e;
	struct xstore xs;
	uint64_t pos;
	int err;

	if (!len || lblk > UINT64_MAX - len)
		return -EINVAL;
	err = inode_join(t, ip);
	if (!err)
		err = xs_open(&xs, ip, t);
	if (!err)
		err = xs_free_range(&xs, lblk, lblk + len);
	if (!err)
		err = xs_set(&xs, lblk, lblk + len, NULL);
	/* Front to back: each extent lands in the room the range (or the
	 * extent before it) has just left, below every one still to move. */
	pos = lblk + len;
	while (!err) {
		err = xs_ge(&xs, pos, &e);
		if (err == -ENOENT) {
			err = 0;
			break;
		}
		if (!err) {
			pos = xend(&e);
			err = xs_move(&xs, e, e.lblk - len);
		}
	}
	if (!err)
		err = xs_merge_at(&xs, lblk);
	if (!err)
		err = xs_close(&xs);
	if (!err)
		err = inode_write(t, ip);
	return err;
}

int extent_insert_range(struct txn *t, struct inode *ip, uint64_t lblk,
			uint64_t len, uint64_t limit)
{
	struct codec_extent e, r;
	struct xstore xs;
	uint64_t below = UINT64_MAX;
	int err;

	if (!len)
		return -EINVAL;
	err = inode_join(t, ip);
	if (!err)
		err = xs_open(&xs, ip, t);
	if (err)
		return err;
	/* Nothing may end past limit afterwards: refuse before any change. */
	err = xs_le(&xs, UINT64_MAX, &e);
	if (!err && xend(&e) > lblk &&
	    (len > limit || xend(&e) > limit - len))
		return -EFBIG;
	if (err && err != -ENOENT)
		return err;
	/* Cut the extent that straddles lblk, keeping its flags. */
	err = xs_le(&xs, lblk, &e);
	if (!err && e.lblk < lblk && xend(&e) > lblk) {
		r = xent_tail(&e, lblk);
		e.len = (uint32_t)(lblk - e.lblk);
		err = xs_update(&xs, &e);
		if (!err)
			err = xs_insert(&xs, &r);
	} else if (err == -ENOENT) {
		err = 0;
	}
	/* Back to front: each extent moves up into room already left. */
	while (!err) {
		err = xs_le(&xs, below, &e);
		if (err == -ENOENT || (!err && e.lblk < lblk)) {
			err = 0;
			break;
		}
		if (!err) {
			err = xs_move(&xs, e, e.lblk + len);
			if (!err && e.lblk == 0)
				break;		/* below would wrap */
			below = e.lblk - 1;
		}
	}
	if (!err)
		err = xs_close(&xs);
	if (!err)
		err = inode_write(t, ip);
	return err;
}

struct check_arg {
	void (*visit)(void *arg, uint64_t pblk, uint64_t len);
	void *arg;
};

static void check_node(void *arg, uint64_t blkno)
{
	struct check_arg *ca = arg;

	ca->visit(ca->arg, blkno, 1);
}

int extent_check(struct inode *ip, void (*visit)(void *arg, uint64_t pblk,
						 uint64_t len), void *arg)
{
	struct check_arg ca = { visit, arg };
	struct xstore xs;
	struct codec_extent e = { 0 };
	uint64_t pos = 0, entries;
	bool taken, first = true;
	int err;

	taken = fs_meta_rdlock(ip->fs);
	err = xs_open(&xs, ip, NULL);
	if (!err && xs.tree)
		err = btree_check(&xs.bt, &entries, check_node, &ca);
	/* Walk the extents in order; overlaps and merge misses are corrupt. */
	while (!err) {
		struct codec_extent prev = e;

		err = xs_ge(&xs, pos, &e);
		if (err == -ENOENT) {
			err = 0;
			break;
		}
		if (err)
			break;
		if (!first && (e.lblk < xend(&prev) || xent_continues(&prev, &e))) {
			err = -EUCLEAN;
			break;
		}
		visit(arg, e.pblk, e.len);
		first = false;
		pos = e.lblk + 1;
	}
	fs_meta_unlock(ip->fs, taken);
	return err;
}

/* ---- struct dio_file_ops ------------------------------------------------------ */

static int ext_get_block(struct dio_file *f, uint64_t lblk, uint64_t max,
			 int create, struct dio_map *map)
{
	struct inode *ip = f->priv;
	struct xstore xs;
	struct txn *t;
	uint64_t pblk, got;
	int err;

	err = extent_map(ip, lblk, max, map);
	if (err || !create || map->type != DIO_MAP_HOLE)
		return err;

	err = fs_txn_begin(ip->fs, &t);
	if (err)
		return err;
	err = inode_join(t, ip);
	if (!err)
		err = xs_open(&xs, ip, t);
	if (!err)
		err = xs_map(&xs, lblk, max, map);
	if (!err && map->type == DIO_MAP_HOLE) {
		err = xs_fill_hole(&xs, lblk, map->len, &pblk, &got);
		if (!err)
			err = xs_close(&xs);
		if (!err)
			err = inode_write(t, ip);
		if (!err) {
			map->type = DIO_MAP_UNWRITTEN;
			map->flags = DIO_MAP_NEW;
			map->pblk = pblk;
			map->len = got;
		}
	}
	return fs_txn_end(ip->fs, t, err);
}

static int ext_convert(struct dio_file *f, uint64_t lblk, uint64_t len)
{
	struct inode *ip = f->priv;
	uint64_t pos = lblk, end = lblk + len;
	struct xstore xs;
	struct txn *t;
	struct codec_extent e;
	int err;

	err = fs_txn_begin(ip->fs, &t);
	if (err)
		return err;
	err = inode_join(t, ip);
	if (!err)
		err = xs_open(&xs, ip, t);
	while (!err && pos < end) {
		uint64_t s, n;

		err = xs_at_or_after(&xs, pos, &e);
		if (err == -ENOENT || (!err && e.lblk >= end)) {
			err = 0;
			break;
		}
		if (err)
			break;
		s = max_u64(pos, e.lblk);
		n = min_u64(end, xend(&e)) - s;
		if (e.flags & DIOFS_EXT_UNWRITTEN) {
			struct codec_extent w = xent_tail(&e, s);

			w.len = (uint32_t)n;
			w.flags &= ~DIOFS_EXT_UNWRITTEN;
			err = xs_set(&xs, s, s + n, &w);
		}
		pos = s + n;
	}
	if (!err)
		err = xs_close(&xs);
	if (!err)
		err = inode_write(t, ip);
	return fs_txn_end(ip->fs, t, err);
}

static int ext_set_size(struct dio_file *f, uint64_t size)
{
	struct inode *ip = f->priv;
	uint64_t old = f->size;
	struct txn *t;
	int err;

	err = fs_txn_begin(ip->fs, &t);
	if (err)
		return err;
	/* The worker holds f->lock exclusive here (dio.h rule 5); inode_write()
	 * takes the size from f->size. */
	__atomic_store_n(&f->size, size, __ATOMIC_RELAXED);
	ip->mtime = ip->ctime = inode_now();
	err = inode_write(t, ip);
	err = fs_txn_end(ip->fs, t, err);
	if (err)
		__atomic_store_n(&f->size, old, __ATOMIC_RELAXED);
	return err;
}

static void ext_release(struct dio_file *f, uint64_t lblk, uint64_t len)
{
	struct inode *ip = f->priv;
	struct txn *t;

	/* A failure leaves the blocks to the file (or, when the commit
	 * failed, to the sticky error): nothing leaks that fsck cannot see. */
	if (fs_txn_begin(ip->fs, &t))
		return;
	fs_txn_end(ip->fs, t, extent_punch(t, ip, lblk, len));
}

static void ext_update_begin(struct dio_file *f)
{
	struct inode *ip = f->priv;

	fs_update_begin(ip->fs);
}

static void ext_update_end(struct dio_file *f)
{
	struct inode *ip = f->priv;

	fs_update_end(ip->fs);
}

const struct dio_file_ops extent_dio_ops = {
	.get_block = ext_get_block,
	.convert = ext_convert,
	.set_size = ext_set_size,
	.release = ext_release,
	.update_begin = ext_update_begin,
	.update_end = ext_update_end,
};
