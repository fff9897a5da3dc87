/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * btree: the generic B+tree behind every diofs index.
 *
 * Keys are 64-bit integers, values are byte strings of up to
 * btree_max_value() bytes.  Entries live in leaves; internal nodes hold
 * (separator key, child block) pairs.  Nodes are metadata blocks read and
 * changed through the cache; every operation walks one root-to-leaf path,
 * kept on a stack (struct bt_path) so that splits and merges can climb back
 * up without parent pointers on disk.
 *
 * Node layout (doc/FORMAT.md, "B+tree nodes"; all little-endian):
 *
 *   0   struct diofs_blkhdr   32 bytes: magic (the tree's leaf or node
 *                                       magic), crc32c, blkno, fs UUID
 *   32  struct bt_node_hdr    16 bytes: le16 level (0 = leaf), le16 nr
 *                                       (entries), le16 val_start (leaf:
 *                                       where the value area begins;
 *                                       internal: 0), le16 + le64 zero
 *   48  entries:
 *       leaf      nr x struct bt_slot  12 bytes: le64 key, le16 value
 *                 offset, le16 value length; sorted by key, strictly
 *                 increasing.  Values are packed without gaps from the end
 *                 of the block down to val_start.
 *       internal  nr x struct bt_child 16 bytes: le64 key, le64 child
 *                 block; keys strictly increasing.  Child i holds the keys
 *                 k with key[i] <= k < key[i+1]; entry 0's key is written
 *                 as 0 and lookups ignore it (its bound comes from the
 *                 parent).
 *
 * Offsets in a node (val_start, value offsets) count from the node header,
 * block byte 32, so that they fit 16 bits for 64 KiB blocks.  The space
 * between the entries and val_start is free and zero.
 *
 * Rules:
 *  1. Sizes: the capacity of a node is block_size - 48 bytes; a leaf entry
 *     uses 12 bytes plus its value, an internal entry 16.  A value is at
 *     most cap/3 - 12 bytes, so that one entry is at most a third of a node.
 *  2. A node splits in two when an entry does not fit.  The split point is
 *     the one that best balances the two halves; with entries of at most
 *     cap/3, each half then holds more than cap/3 and at most 5cap/6.
 *  3. A node other than the root that falls below cap/4 is merged with a
 *     neighbour under the same parent when both fit in one node, and
 *     otherwise the two share their entries evenly (each then holds more
 *     than cap/3, by rule 2's argument).  A merge removes an entry from the
 *     parent, which may then fall below cap/4 in turn.
 *  4. The root may be as empty as it likes: a root leaf with no entries is
 *     freed (root 0), a root node with one child is freed and the child
 *     becomes the root.  So every leaf but the root is nonempty and every
 *     internal node has at least two children.
 *  5. Every block is added to the transaction before it changes.  Blocks
 *     freed through ops->free_block are also forgotten by the cache, so
 *     that a freed block is neither written at commit nor found again.
 *  6. Errors: -EEXIST, -ENOENT and -EINVAL are found before anything
 *     changes; any other error (-ENOSPC, -ENOMEM, -EIO, -EUCLEAN) may leave
 *     the transaction's blocks half changed, and the caller aborts it.
 *  7. Each node is checked as it is read (bt_read): its level is the one
 *     its parent implies, its sizes and offsets lie inside the block and
 *     its keys increase, so a block that passes its checksum but is wrong
 *     can fail an operation but never make it touch memory outside a block.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "diofs/btree.h"
#include "diofs/format.h"

struct bt_node_hdr {
	le16 level;		/* 0 for a leaf, a child's level + 1 above */
	le16 nr;		/* entries */
	le16 val_start;		/* leaf: start of the value area; node: 0 */
	le16 reserved0;		/* 0 */
	le64 reserved1;		/* 0 */
};
static_assert(sizeof(struct bt_node_hdr) == 16, "bt_node_hdr size");

struct bt_slot {
	le64 key;
	le16 off;		/* from the node header */
	le16 len;
} __attribute__((packed));
static_assert(sizeof(struct bt_slot) == 12, "bt_slot size");

struct bt_child {
	le64 key;
	le64 blkno;
};
static_assert(sizeof(struct bt_child) == 16, "bt_child size");

#define BT_HDR		sizeof(struct diofs_blkhdr)
#define BT_ENTRIES	sizeof(struct bt_node_hdr)	/* from the node header */
/* Far more levels than 2^64 keys need with nodes at least a quarter full. */
#define BT_MAX_DEPTH	32

/* An entry being moved between nodes. */
struct bt_item {
	uint64_t key;
	uint64_t child;		/* internal */
	const uint8_t *val;	/* leaf */
	size_t len;
};

struct bt_level {
	struct mbuf *b;
	unsigned idx;		/* child taken (node) or slot found (leaf) */
};

struct bt_path {
	int depth;
	struct bt_level lv[BT_MAX_DEPTH];	/* lv[0] is the root */
};

/* One changing operation: the path plus scratch space for rebuilds. */
struct bt_op {
	struct btree *bt;
	struct txn *t;
	uint32_t bs;
	struct bt_path path;
	uint8_t *scratch;	/* copies of two blocks being rebuilt */
	struct bt_item *items;	/* the entries of two blocks, and one more */
};

/* ---- node access --------------------------------------------------------- */

static uint8_t *nd_body(const void *data)
{
	return (uint8_t *)data + BT_HDR;
}

static struct bt_node_hdr *nd_hdr(const void *data)
{
	return (struct bt_node_hdr *)nd_body(data);
}

static unsigned nd_level(const void *data)
{
	return le16toh(nd_hdr(data)->level);
}

static unsigned nd_nr(const void *data)
{
	return le16toh(nd_hdr(data)->nr);
}

static void nd_set_nr(void *data, unsigned nr)
{
	nd_hdr(data)->nr = htole16(nr);
}

static unsigned nd_val_start(const void *data)
{
	return le16toh(nd_hdr(data)->val_start);
}

static struct bt_slot *nd_slot(const void *data, unsigned i)
{
	return (struct bt_slot *)(nd_body(data) + BT_ENTRIES) + i;
}

static struct bt_child *nd_child(const void *data, unsigned i)
{
	return (struct bt_child *)(nd_body(data) + BT_ENTRIES) + i;
}

static uint64_t slot_key(const void *data, unsigned i)
{
	return le64toh(nd_slot(data, i)->key);
}

static uint64_t child_key(const void *data, unsigned i)
{
	return le64toh(nd_child(data, i)->key);
}

static uint64_t child_blk(const void *data, unsigned i)
{
	return le64toh(nd_child(data, i)->blkno);
}

static uint32_t body_size(uint32_t bs)
{
	return bs - BT_HDR;
}

static uint32_t node_cap(uint32_t bs)
{
	return bs - BT_HDR - BT_ENTRIES;
}

static size_t item_size(unsigned level, const struct bt_item *it)
{
	return level ? sizeof(struct bt_child) : sizeof(struct bt_slot) + it->len;
}

static size_t node_used(const void *data, uint32_t bs)
{
	unsigned nr = nd_nr(data);

	if (nd_level(data))
		return nr * sizeof(struct bt_child);
	return nr * sizeof(struct bt_slot) + body_size(bs) - nd_val_start(data);
}

static size_t node_free(const void *data, uint32_t bs)
{
	return node_cap(bs) - node_used(data, bs);
}

static bool node_underfull(const void *data, uint32_t bs)
{
	return 4 * node_used(data, bs) < node_cap(bs);
}

static void node_init(void *data, uint32_t bs, unsigned level)
{
	struct bt_node_hdr *h = nd_hdr(data);

	memset(h, 0, body_size(bs));
	h->level = htole16(level);
	h->val_start = htole16(level ? 0 : body_size(bs));
}

/* Index of the first slot with a key >= key (nr if none). */
static unsigned leaf_lower_bound(const void *data, uint64_t key)
{
	unsigned lo = 0, hi = nd_nr(data);

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (slot_key(data, mid) < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Index of the child whose range holds key: entry 0's key counts as -inf. */
static unsigned node_child_index(const void *data, uint64_t key)
{
	unsigned lo = 1, hi = nd_nr(data);

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (child_key(data, mid) <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

static void leaf_insert_at(void *data, uint32_t bs, unsigned pos,
			   uint64_t key, const void *val, size_t len)
{
	unsigned nr = nd_nr(data);
	unsigned vs = nd_val_start(data) - len;
	struct bt_slot *s = nd_slot(data, pos);

	memmove(s + 1, s, (nr - pos) * sizeof(*s));
	if (len)
		memcpy(nd_body(data) + vs, val, len);
	s->key = htole64(key);
	s->off = htole16(vs);
	s->len = htole16(len);
	nd_hdr(data)->val_start = htole16(vs);
	nd_set_nr(data, nr + 1);
}

/* Remove slot pos and close the gap its value leaves in the value area. */
static void leaf_remove_at(void *data, unsigned pos)
{
	unsigned nr = nd_nr(data), vs = nd_val_start(data), i;
	struct bt_slot *s = nd_slot(data, pos);
	unsigned off = le16toh(s->off), len = le16toh(s->len);
	uint8_t *body = nd_body(data);

	if (len) {
		memmove(body + vs + len, body + vs, off - vs);
		memset(body + vs, 0, len);
		for (i = 0; i < nr; i++) {
			struct bt_slot *o = nd_slot(data, i);

			/* <=: an empty value may sit where this one began */
			if (le16toh(o->off) <= off)
				o->off = htole16(le16toh(o->off) + len);
		}
	}
	memmove(s, s + 1, (nr - pos - 1) * sizeof(*s));
	memset(nd_slot(data, nr - 1), 0, sizeof(*s));
	nd_hdr(data)->val_start = htole16(vs + len);
	nd_set_nr(data, nr - 1);
}

static void child_insert_at(void *data, unsigned pos, uint64_t key,
			    uint64_t blkno)
{
	unsigned nr = nd_nr(data);
	struct bt_child *e = nd_child(data, pos);

	memmove(e + 1, e, (nr - pos) * sizeof(*e));
	e->key = htole64(key);
	e->blkno = htole64(blkno);
	nd_set_nr(data, nr + 1);
}

static void child_remove_at(void *data, unsigned pos)
{
	unsigned nr = nd_nr(data);
	struct bt_child *e = nd_child(data, pos);

	memmove(e, e + 1, (nr - pos - 1) * sizeof(*e));
	memset(nd_child(data, nr - 1), 0, sizeof(*e));
	nd_set_nr(data, nr - 1);
}

static void node_insert_at(void *data, uint32_t bs, unsigned pos,
			   const struct bt_item *it)
{
	if (nd_level(data))
		child_insert_at(data, pos, it->key, it->child);
	else
		leaf_insert_at(data, bs, pos, it->key, it->val, it->len);
}

/* Rewrite data to hold exactly items[0..n); no item may point into data. */
static void node_build(void *data, uint32_t bs, unsigned level,
		       const struct bt_item *items, size_t n)
{
	size_t i;

	node_init(data, bs, level);
	for (i = 0; i < n; i++) {
		if (level)
			child_insert_at(data, i, i ? items[i].key : 0,
					items[i].child);
		else
			leaf_insert_at(data, bs, i, items[i].key, items[i].val,
				       items[i].len);
	}
}

/*
 * Rule 7: is this a sane node of the given level (-1: any)?  Checks what
 * the code relies on to stay inside the block.
 */
static bool node_sane(const struct btree *bt, const void *data, uint32_t bs,
		      int level)
{
	const struct diofs_blkhdr *bh = data;
	const struct bt_node_hdr *h = nd_hdr(data);
	unsigned lvl = nd_level(data), nr = nd_nr(data), i;
	uint32_t body = body_size(bs);

	if (lvl >= BT_MAX_DEPTH || (level >= 0 && lvl != (unsigned)level))
		return false;
	if (le32toh(bh->magic) != (lvl ? bt->magic_node : bt->magic_leaf))
		return false;
	if (h->reserved0 || h->reserved1)
		return false;
	if (lvl) {
		if (nr == 0 || h->val_start ||
		    BT_ENTRIES + (size_t)nr * sizeof(struct bt_child) > body)
			return false;
		if (child_key(data, 0) != 0)
			return false;
		for (i = 0; i < nr; i++) {
			if (child_blk(data, i) == 0)
				return false;
			if (i && child_key(data, i) <= child_key(data, i - 1))
				return false;
		}
	} else {
		unsigned vs = nd_val_start(data);
		size_t total = 0;

		if (BT_ENTRIES + (size_t)nr * sizeof(struct bt_slot) > vs ||
		    vs > body)
			return false;
		for (i = 0; i < nr; i++) {
			const struct bt_slot *s = nd_slot(data, i);
			unsigned off = le16toh(s->off), len = le16toh(s->len);

			if (off < vs || off + len > body)
				return false;
			if (i && slot_key(data, i) <= slot_key(data, i - 1))
				return false;
			total += len;
		}
		if (total != body - vs)
			return false;
	}
	return true;
}

/* ---- reading and the path ------------------------------------------------ */

/* Read a node of the given level; -1 for the root, whose level is unknown. */
static int bt_read(struct btree *bt, uint64_t blkno, int level,
		   struct mbuf **out)
{
	uint32_t bs = cache_block_size(bt->cache);
	struct mbuf *b;
	int err;

	if (level < 0) {
		/* A failed magic leaves the block cached: the retry is free. */
		err = cache_read(bt->cache, blkno, bt->magic_leaf, &b);
		if (err == -EUCLEAN)
			err = cache_read(bt->cache, blkno, bt->magic_node, &b);
	} else {
		err = cache_read(bt->cache, blkno,
				 level ? bt->magic_node : bt->magic_leaf, &b);
	}
	if (err)
		return err;
	if (!node_sane(bt, b->data, bs, level)) {
		bdev_report(cache_bdev(bt->cache), LOG_ERR,
			    "tree block %" PRIu64 " is corrupt: its level, keys or entries are out of order or out of range",
			    blkno);
		cache_release(bt->cache, b);
		return -EUCLEAN;
	}
	*out = b;
	return 0;
}

static void path_release(struct btree *bt, struct bt_path *p, int from)
{
	while (p->depth > from)
		cache_release(bt->cache, p->lv[--p->depth].b);
}

static int path_push(struct btree *bt, struct bt_path *p, uint64_t blkno,
		     int level)
{
	struct mbuf *b;
	int err;

	if (p->depth == BT_MAX_DEPTH)
		return -EUCLEAN;
	err = bt_read(bt, blkno, level, &b);
	if (err)
		return err;
	p->lv[p->depth].b = b;
	p->lv[p->depth].idx = 0;
	p->depth++;
	return 0;
}

/* Walk from the root to the leaf whose range holds key. */
static int bt_descend(struct btree *bt, uint64_t key, struct bt_path *p)
{
	int level = -1, err;
	uint64_t blkno = bt->root;

	p->depth = 0;
	for (;;) {
		struct bt_level *lv;

		err = path_push(bt, p, blkno, level);
		if (err)
			return err;
		lv = &p->lv[p->depth - 1];
		level = nd_level(lv->b->data);
		if (level == 0) {
			lv->idx = leaf_lower_bound(lv->b->data, key);
			return 0;
		}
		lv->idx = node_child_index(lv->b->data, key);
		blkno = child_blk(lv->b->data, lv->idx);
		level--;
	}
}

/*
 * Move the path to the next (dir 1) or previous (dir -1) leaf, its idx on
 * that leaf's first or last slot.  -ENOENT at either end of the tree.
 */
static int bt_step(struct btree *bt, struct bt_path *p, int dir)
{
	int d, err;

	for (d = p->depth - 2; d >= 0; d--) {
		struct bt_level *lv = &p->lv[d];

		if (dir > 0 ? lv->idx + 1 < nd_nr(lv->b->data) : lv->idx > 0)
			break;
	}
	if (d < 0)
		return -ENOENT;
	path_release(bt, p, d + 1);
	p->lv[d].idx += dir;
	for (;;) {
		struct bt_level *up = &p->lv[p->depth - 1], *lv;
		int level = nd_level(up->b->data) - 1;
		unsigned nr;

		err = path_push(bt, p, child_blk(up->b->data, up->idx), level);
		if (err)
			return err;
		lv = &p->lv[p->depth - 1];
		nr = nd_nr(lv->b->data);
		if (nr == 0)
			return -EUCLEAN;	/* rule 4 */
		lv->idx = dir > 0 ? 0 : nr - 1;
		if (level == 0)
			return 0;
	}
}

/* ---- changing operations ------------------------------------------------- */

static void op_init(struct bt_op *op, struct btree *bt, struct txn *t)
{
	op->bt = bt;
	op->t = t;
	op->bs = cache_block_size(bt->cache);
	op->path.depth = 0;
	op->scratch = NULL;
	op->items = NULL;
}

static void op_done(struct bt_op *op)
{
	path_release(op->bt, &op->path, 0);
	free(op->scratch);
	free(op->items);
}

static int op_scratch(struct bt_op *op)
{
	/* two nodes' entries, the smallest being 12 bytes, and one more */
	size_t nitems = 2 * (node_cap(op->bs) / sizeof(struct bt_slot)) + 1;

	if (!op->scratch)
		op->scratch = malloc(2 * (size_t)op->bs);
	if (!op->items)
		op->items = malloc(nitems * sizeof(*op->items));
	return op->scratch && op->items ? 0 : -ENOMEM;
}

/* Append the entries of the node in data to op->items at *n; leaf values
 * are copied to scratch half `half` first, since data is about to change. */
static void gather(struct bt_op *op, const void *data, int half, size_t *n)
{
	unsigned nr = nd_nr(data), i;

	if (nd_level(data) == 0) {
		uint8_t *copy = op->scratch + (size_t)half * op->bs;

		memcpy(copy, data, op->bs);
		data = copy;
	}
	for (i = 0; i < nr; i++) {
		struct bt_item *it = &op->items[(*n)++];

		if (nd_level(data)) {
			it->key = child_key(data, i);
			it->child = child_blk(data, i);
		} else {
			const struct bt_slot *s = nd_slot(data, i);

			it->key = le64toh(s->key);
			it->val = nd_body(data) + le16toh(s->off);
			it->len = le16toh(s->len);
		}
	}
}

/* Rule 2: the split point in 1..n-1 that best balances the two sides. */
static size_t split_point(const struct bt_item *items, size_t n,
			  unsigned level)
{
	size_t total = 0, left = 0, best = 1, best_max = SIZE_MAX, i;

	for (i = 0; i < n; i++)
		total += item_size(level, &items[i]);
	for (i = 1; i < n; i++) {
		size_t worst;

		left += item_size(level, &items[i - 1]);
		worst = left > total - left ? left : total - left;
		if (worst < best_max) {
			best_max = worst;
			best = i;
		}
	}
	return best;
}

static void bt_free(struct bt_op *op, uint64_t blkno)
{
	op->bt->ops->free_block(op->bt->ops->arg, op->t, blkno);
	cache_forget(op->bt->cache, blkno);
}

/* A new, empty node of level, in the transaction. */
static int bt_alloc(struct bt_op *op, unsigned level, uint64_t goal,
		    struct mbuf **out)
{
	struct btree *bt = op->bt;
	struct mbuf *b;
	uint64_t blkno;
	int err;

	err = bt->ops->alloc_block(bt->ops->arg, op->t, goal, &blkno);
	if (err)
		return err;
	err = cache_new(bt->cache, blkno, level ? bt->magic_node : bt->magic_leaf,
			&b);
	if (err)
		goto out_free;
	err = txn_add(op->t, b);
	if (err)
		goto out_release;
	node_init(b->data, op->bs, level);
	*out = b;
	return 0;

out_release:
	cache_release(bt->cache, b);
out_free:
	bt->ops->free_block(bt->ops->arg, op->t, blkno);
	return err;
}

/* The old root split into left and sep.child: a new root above both. */
static int bt_grow(struct bt_op *op, unsigned level, uint64_t left,
		   const struct bt_item *sep)
{
	struct mbuf *b;
	int err;

	err = bt_alloc(op, level, left, &b);
	if (err)
		return err;
	child_insert_at(b->data, 0, 0, left);
	child_insert_at(b->data, 1, sep->key, sep->child);
	op->bt->root = b->blkno;
	cache_release(op->bt->cache, b);
	return 0;
}

/*
 * Insert it at position pos of the node at path depth d, splitting it
 * (and then its ancestors) when it does not fit.
 */
static int bt_insert_item(struct bt_op *op, int d, unsigned pos,
			  struct bt_item it)
{
	for (;;) {
		struct mbuf *b = op->path.lv[d].b, *nb;
		unsigned level = nd_level(b->data);
		size_t n = 0, s;
		int err;

		err = txn_add(op->t, b);
		if (err)
			return err;
		if (node_free(b->data, op->bs) >= item_size(level, &it)) {
			node_insert_at(b->data, op->bs, pos, &it);
			return 0;
		}

		err = op_scratch(op);
		if (err)
			return err;
		err = bt_alloc(op, level, b->blkno, &nb);
		if (err)
			return err;
		gather(op, b->data, 0, &n);
		memmove(&op->items[pos + 1], &op->items[pos],
			(n - pos) * sizeof(*op->items));
		op->items[pos] = it;
		n++;
		s = split_point(op->items, n, level);
		node_build(b->data, op->bs, level, op->items, s);
		node_build(nb->data, op->bs, level, op->items + s, n - s);
		it.key = op->items[s].key;
		it.child = nb->blkno;
		it.val = NULL;
		it.len = 0;
		cache_release(op->bt->cache, nb);

		if (d == 0)
			return bt_grow(op, level + 1, b->blkno, &it);
		d--;
		pos = op->path.lv[d].idx + 1;
	}
}

/* Rule 4, after the root lost entries. */
static void bt_shrink(struct bt_op *op)
{
	void *data = op->path.lv[0].b->data;
	uint64_t old = op->path.lv[0].b->blkno;

	if (nd_level(data) == 0 && nd_nr(data) == 0)
		op->bt->root = 0;
	else if (nd_level(data) > 0 && nd_nr(data) == 1)
		op->bt->root = child_blk(data, 0);
	else
		return;
	bt_free(op, old);
}

/* Rule 3, for the node at path depth d after it lost bytes. */
static int bt_rebalance(struct bt_op *op, int d)
{
	struct btree *bt = op->bt;
	uint32_t bs = op->bs;

	for (; d > 0; d--) {
		struct bt_level *up = &op->path.lv[d - 1];
		struct mbuf *b = op->path.lv[d].b, *sib, *l, *r;
		unsigned level = nd_level(b->data), ridx;
		size_t n = 0, s, i, total = 0;
		int err;

		if (!node_underfull(b->data, bs))
			return 0;
		/* the left neighbour if there is one, the right otherwise */
		ridx = up->idx > 0 ? up->idx : up->idx + 1;
		err = bt_read(bt, child_blk(up->b->data, up->idx > 0 ?
					    up->idx - 1 : up->idx + 1),
			      level, &sib);
		if (err)
			return err;
		l = up->idx > 0 ? sib : b;
		r = up->idx > 0 ? b : sib;
		err = op_scratch(op);
		if (!err)
			err = txn_add(op->t, up->b);
		if (!err)
			err = txn_add(op->t, l);
		if (!err)
			err = txn_add(op->t, r);
		if (err) {
			cache_release(bt->cache, sib);
			return err;
		}

		gather(op, l->data, 0, &n);
		i = n;
		gather(op, r->data, 1, &n);
		if (level)	/* r's first child is bounded by the separator */
			op->items[i].key = child_key(up->b->data, ridx);
		for (i = 0; i < n; i++)
			total += item_size(level, &op->items[i]);

		if (total <= node_cap(bs)) {
			node_build(l->data, bs, level, op->items, n);
			child_remove_at(up->b->data, ridx);
			bt_free(op, r->blkno);
			cache_release(bt->cache, sib);
			continue;
		}
		s = split_point(op->items, n, level);
		node_build(l->data, bs, level, op->items, s);
		node_build(r->data, bs, level, op->items + s, n - s);
		nd_child(up->b->data, ridx)->key = htole64(op->items[s].key);
		cache_release(bt->cache, sib);
		return 0;
	}
	bt_shrink(op);
	return 0;
}

/* ---- the interface -------------------------------------------------------- */

size_t btree_max_value(uint32_t block_size)
{
	if (block_size < 512 || block_size > 65536 ||
	    (block_size & (block_size - 1)))
		return 0;
	return node_cap(block_size) / 3 - sizeof(struct bt_slot);
}

static void copy_out(const void *data, unsigned i, uint64_t *found,
		     void *val, size_t *vlen)
{
	const struct bt_slot *s = nd_slot(data, i);
	size_t len = le16toh(s->len);

	if (found)
		*found = le64toh(s->key);
	if (vlen) {
		if (val)
			memcpy(val, nd_body(data) + le16toh(s->off),
			       len < *vlen ? len : *vlen);
		*vlen = len;
	}
}

int btree_lookup(struct btree *bt, uint64_t key, enum btree_match how,
		 uint64_t *found, void *val, size_t *vlen)
{
	struct bt_path p = { 0 };
	struct bt_level *lv;
	unsigned nr;
	int err;

	if (!bt->root)
		return -ENOENT;
	err = bt_descend(bt, key, &p);
	if (err)
		goto out;
	lv = &p.lv[p.depth - 1];
	nr = nd_nr(lv->b->data);
	if (lv->idx < nr && slot_key(lv->b->data, lv->idx) == key)
		goto hit;
	switch (how) {
	case BTREE_EQ:
		err = -ENOENT;
		goto out;
	case BTREE_GE:
		if (lv->idx < nr)
			goto hit;
		err = bt_step(bt, &p, 1);
		break;
	case BTREE_LE:
		if (lv->idx > 0) {
			lv->idx--;
			goto hit;
		}
		err = bt_step(bt, &p, -1);
		break;
	default:
		err = -EINVAL;
	}
	if (err)
		goto out;
	lv = &p.lv[p.depth - 1];
hit:
	copy_out(lv->b->data, lv->idx, found, val, vlen);
out:
	path_release(bt, &p, 0);
	return err;
}

/* The first entry of an empty tree. */
static int bt_plant(struct bt_op *op, uint64_t key, const void *val,
		    size_t vlen)
{
	struct mbuf *b;
	int err;

	err = bt_alloc(op, 0, 0, &b);
	if (err)
		return err;
	leaf_insert_at(b->data, op->bs, 0, key, val, vlen);
	op->bt->root = b->blkno;
	cache_release(op->bt->cache, b);
	return 0;
}

int btree_insert(struct btree *bt, struct txn *t, uint64_t key,
		 const void *val, size_t vlen)
{
	struct bt_item it = { .key = key, .val = val, .len = vlen };
	struct bt_op op;
	struct bt_level *lv;
	int err;

	op_init(&op, bt, t);
	if (vlen > btree_max_value(op.bs))
		return -EINVAL;
	if (!bt->root)
		return bt_plant(&op, key, val, vlen);
	err = bt_descend(bt, key, &op.path);
	if (err)
		goto out;
	lv = &op.path.lv[op.path.depth - 1];
	if (lv->idx < nd_nr(lv->b->data) &&
	    slot_key(lv->b->data, lv->idx) == key) {
		err = -EEXIST;
		goto out;
	}
	err = bt_insert_item(&op, op.path.depth - 1, lv->idx, it);
out:
	op_done(&op);
	return err;
}

/* Descend to key's slot for a change; -ENOENT if it is not there. */
static int bt_find_for_change(struct bt_op *op, uint64_t key)
{
	struct bt_level *lv;
	int err;

	if (!op->bt->root)
		return -ENOENT;
	err = bt_descend(op->bt, key, &op->path);
	if (err)
		return err;
	lv = &op->path.lv[op->path.depth - 1];
	if (lv->idx >= nd_nr(lv->b->data) ||
	    slot_key(lv->b->data, lv->idx) != key)
		return -ENOENT;
	return txn_add(op->t, lv->b);
}

int btree_update(struct btree *bt, struct txn *t, uint64_t key,
		 const void *val, size_t vlen)
{
	struct bt_item it = { .key = key, .val = val, .len = vlen };
	struct bt_op op;
	struct bt_level *lv;
	size_t old;
	int err;

	op_init(&op, bt, t);
	if (vlen > btree_max_value(op.bs))
		return -EINVAL;
	err = bt_find_for_change(&op, key);
	if (err)
		goto out;
	lv = &op.path.lv[op.path.depth - 1];
	old = le16toh(nd_slot(lv->b->data, lv->idx)->len);
	leaf_remove_at(lv->b->data, lv->idx);
	if (vlen > old) {
		/* grown: may split, cannot underfill */
		err = bt_insert_item(&op, op.path.depth - 1, lv->idx, it);
	} else {
		leaf_insert_at(lv->b->data, op.bs, lv->idx, key, val, vlen);
		err = bt_rebalance(&op, op.path.depth - 1);
	}
out:
	op_done(&op);
	return err;
}

int btree_delete(struct btree *bt, struct txn *t, uint64_t key)
{
	struct bt_op op;
	struct bt_level *lv;
	int err;

	op_init(&op, bt, t);
	err = bt_find_for_change(&op, key);
	if (err)
		goto out;
	lv = &op.path.lv[op.path.depth - 1];
	leaf_remove_at(lv->b->data, lv->idx);
	err = bt_rebalance(&op, op.path.depth - 1);
out:
	op_done(&op);
	return err;
}

int btree_destroy(struct btree *bt, struct txn *t)
{
	struct bt_op op;
	struct bt_path *p = &op.path;
	int err = 0;

	op_init(&op, bt, t);
	if (!bt->root)
		return 0;
	err = path_push(bt, p, bt->root, -1);
	while (!err && p->depth > 0) {
		struct bt_level *lv = &p->lv[p->depth - 1];
		unsigned level = nd_level(lv->b->data);
		uint64_t child;

		if (level == 0 || lv->idx == nd_nr(lv->b->data)) {
			bt_free(&op, lv->b->blkno);
			path_release(bt, p, p->depth - 1);
			continue;
		}
		child = child_blk(lv->b->data, lv->idx++);
		if (level == 1)
			bt_free(&op, child);	/* a leaf: no need to read it */
		else
			err = path_push(bt, p, child, level - 1);
	}
	if (!err)
		bt->root = 0;
	op_done(&op);
	return err;
}

/* ---- checking ------------------------------------------------------------ */

struct bt_check_frame {
	uint64_t lo, hi;	/* keys below allowed: [lo, hi) */
	bool hi_inf;		/* no upper bound */
};

int btree_check(struct btree *bt, uint64_t *entries,
		void (*visit)(void *arg, uint64_t blkno), void *arg)
{
	uint32_t bs = cache_block_size(bt->cache);
	struct bt_check_frame f[BT_MAX_DEPTH];
	struct bt_path p = { 0 };
	uint64_t count = 0, last = 0;
	bool have_last = false;
	int err;

	if (entries)
		*entries = 0;
	if (!bt->root)
		return 0;
	err = path_push(bt, &p, bt->root, -1);
	if (err)
		return err;
	f[0].lo = 0;
	f[0].hi_inf = true;
	f[0].hi = 0;
	if (visit)
		visit(arg, bt->root);
	while (p.depth > 0) {
		int d = p.depth - 1;
		struct bt_level *lv = &p.lv[d];
		const void *data = lv->b->data;
		unsigned level = nd_level(data), nr = nd_nr(data), i;
		uint64_t child;

		if (lv->idx == 0) {
			/* first time here: the node on its own */
			if (d == 0 ? nr < (level ? 2u : 1u) :
			    node_underfull(data, bs))
				goto corrupt;
			for (i = 0; i < nr; i++) {
				uint64_t k = level ? child_key(data, i) :
						     slot_key(data, i);

				if (level && i == 0)
					continue;
				if (k < f[d].lo || (!f[d].hi_inf && k >= f[d].hi))
					goto corrupt;
				if (level)
					continue;
				if (have_last && k <= last)
					goto corrupt;
				last = k;
				have_last = true;
			}
			if (level == 0) {
				count += nr;
				path_release(bt, &p, d);
				continue;
			}
		}
		if (lv->idx == nr) {
			path_release(bt, &p, d);
			continue;
		}
		i = lv->idx++;
		child = child_blk(data, i);
		f[d + 1].lo = i ? child_key(data, i) : f[d].lo;
		f[d + 1].hi_inf = i + 1 < nr ? false : f[d].hi_inf;
		f[d + 1].hi = i + 1 < nr ? child_key(data, i + 1) : f[d].hi;
		err = path_push(bt, &p, child, level - 1);
		if (err)
			goto out;
		if (visit)
			visit(arg, child);
	}
	if (entries)
		*entries = count;
	return 0;

corrupt:
	err = -EUCLEAN;
out:
	path_release(bt, &p, 0);
	return err;
}
