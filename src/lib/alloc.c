/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * alloc: the block and inode allocators.
 *
 * Both work on allocation groups (format.h).  In memory the allocator keeps
 * one small record per group, a mirror of its descriptor (free counts,
 * flags, inode-table high-water mark; codec.h converts and checks the
 * descriptors themselves) plus a hint: an upper bound on the
 * longest free run in the group.  A search skips every group whose free
 * count or hint is below what it needs, and only reads the bitmaps of
 * groups that may satisfy it; a scan that comes up short makes the hint
 * exact, so the next search skips that group at once.  Groups that were
 * never used (DIOFS_BG_BLOCK_UNINIT) are not read at all: their one free
 * run is everything after their metadata.
 *
 * Each transaction that the allocator sees gets a record (struct txrec),
 * registered with txn_on_end().  Open transactions' records are on
 * a->open; an ended one that freed blocks waits on a->ended until it is
 * durable, which may be thousands of records later (an rm -rf between
 * two commits), so nothing looks a record up there:
 *
 *   first alloc_*() call in t --> txrec: groups touched, blocks freed ("busy")
 *        |
 *        +-- txn_commit(): once the transaction is durable (cache_on_durable),
 *                          busy blocks become allocatable, record dropped
 *        +-- txn_abort():  touched groups reloaded from their (restored)
 *                          descriptors, busy blocks forgotten, record dropped
 *
 * Rules:
 *  1. The descriptors are the truth; the in-memory records mirror them and
 *     change only together with them.  a->free_blocks and a->free_inodes
 *     are the sums of the mirrored counts.
 *  2. A freed run stays on its transaction's busy list until the
 *     transaction is durable (committed to the journal, or written in
 *     place without one).  Searches treat busy blocks as in use; alloc_counts() counts
 *     them as free (alloc.h rule 2).
 *  3. The hint of a group never falls below its longest allocatable run:
 *     it is lowered only by a scan of the whole group, and raised to the
 *     free count whenever blocks may have become allocatable (the end of a
 *     transaction that freed or aborted).
 *  4. Every block is txn_add()ed before the first byte of any block
 *     changes, so a failure leaves the transaction as it was.
 *  5. a->lock is held by every entry point for its whole length; cache I/O
 *     under it is fine because changes are serialized by the caller's
 *     metadata lock anyway (alloc.h rule 3).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diofs/alloc.h"
#include "diofs/codec.h"
#include "diofs/crc.h"
#include "diofs/util.h"

struct grp {
	uint32_t free_blocks;
	uint32_t free_inodes;
	uint32_t dirs;
	uint32_t itable_init;
	uint32_t flags;
	uint32_t max_run;	/* rule 3 */
	uint64_t touch_gen;	/* gen of the last txrec that touched it */
};

struct busy {
	uint64_t start, len;
};

struct txrec {
	struct txrec *next, **pprev;	/* on a->open or a->ended */
	struct alloc *a;
	struct txn *t;
	uint64_t gen;
	uint64_t *touched;
	size_t ntouched, cap_touched;
	struct busy *busy;	/* sorted by start, disjoint */
	size_t nbusy, cap_busy;
};

struct alloc {
	struct super *sb;
	struct cache *c;
	pthread_mutex_t lock;
	struct grp *g;
	uint64_t free_blocks;	/* sum of the descriptors' counts */
	uint64_t free_inodes;
	uint64_t busy_blocks;	/* on some transaction's busy list */
	struct txrec *open;	/* records of transactions still open */
	struct txrec *ended;	/* ended, their busy runs not yet durable */
	uint64_t next_gen;
	int error;		/* alloc.h rule 4 */
};

/* ---- bitmaps ------------------------------------------------------------- */

static uint8_t *bm_bits(struct mbuf *b)
{
	return (uint8_t *)b->data + sizeof(struct diofs_blkhdr);
}

static uint64_t bm_word(const uint8_t *bm, uint32_t w)
{
	uint64_t v;

	memcpy(&v, bm + (size_t)w * 8, sizeof(v));
	return le64toh(v);
}

static int bm_test(const uint8_t *bm, uint32_t bit)
{
	return (bm[bit / 8] >> (bit % 8)) & 1;
}

/* The first bit in [from, to) that is one (want_one) or zero; to if none. */
static uint32_t bm_find(const uint8_t *bm, uint32_t from, uint32_t to,
			int want_one)
{
	while (from < to) {
		uint32_t w = from / 64;
		uint64_t v = bm_word(bm, w);

		if (!want_one)
			v = ~v;
		v >>= from % 64;
		if (v) {
			uint32_t r = from + (uint32_t)__builtin_ctzll(v);

			return r < to ? r : to;
		}
		from = (w + 1) * 64;
	}
	return to;
}

static void bm_set(uint8_t *bm, uint32_t from, uint32_t to, int one)
{
	for (; from < to && from % 8; from++) {
		if (one)
			bm[from / 8] |= (uint8_t)(1u << (from % 8));
		else
			bm[from / 8] &= (uint8_t)~(1u << (from % 8));
	}
	if (from + 8 <= to) {
		memset(bm + from / 8, one ? 0xff : 0, (to - from) / 8);
		from += (to - from) / 8 * 8;
	}
	for (; from < to; from++) {
		if (one)
			bm[from / 8] |= (uint8_t)(1u << (from % 8));
		else
			bm[from / 8] &= (uint8_t)~(1u << (from % 8));
	}
}

/* Zero bits in [from, to). */
static uint32_t bm_count_zero(const uint8_t *bm, uint32_t from, uint32_t to)
{
	uint32_t n = 0;

	while (from < to && from % 64)
		n += !bm_test(bm, from++);
	while (from + 64 <= to) {
		n += 64 - (uint32_t)__builtin_popcountll(bm_word(bm, from / 64));
		from += 64;
	}
	while (from < to)
		n += !bm_test(bm, from++);
	return n;
}

/* ---- groups and descriptors ---------------------------------------------- */

static uint32_t meta_blocks(const struct alloc *a)
{
	return super_group_meta(a->sb);
}

static uint32_t group_len(const struct alloc *a, uint64_t g)
{
	return (uint32_t)super_group_len(a->sb, g);
}

static void mirror_desc(struct grp *gr, const struct codec_group *r)
{
	gr->free_blocks = r->free_blocks;
	gr->free_inodes = r->free_inodes;
	gr->dirs = r->dirs;
	gr->itable_init = r->itable_init;
	gr->flags = r->flags;
	gr->max_run = gr->free_blocks;
}

/* Group g's descriptor d into *r.  One that does not fit the geometry
 * means a corrupt table: -EUCLEAN. */
static int desc_decode(const struct alloc *a, uint64_t g,
		       const struct diofs_group_desc *d, struct codec_group *r)
{
	codec_group_decode(d, r);
	return codec_group_check(r, g, a->sb) ? -EUCLEAN : 0;
}

/* Group g's descriptor: *d where it lies in *b (which the caller
 * releases), *r its decoded form.  A change sets *r and encodes it back
 * into *d. */
static int desc_read(struct alloc *a, uint64_t g, struct mbuf **b,
		     struct diofs_group_desc **d, struct codec_group *r)
{
	uint64_t blkno;
	uint32_t off;
	int err;

	super_desc_loc(a->sb, g, &blkno, &off);
	err = cache_read(a->c, blkno, DIOFS_MAGIC_GDT, b);
	if (err)
		return err;
	*d = (struct diofs_group_desc *)((uint8_t *)(*b)->data + off);
	err = desc_decode(a, g, *d, r);
	if (err)
		cache_release(a->c, *b);
	return err;
}

/*
 * The block bitmap of an initialized group, read only.  An uninitialized
 * group has none: callers use its implied contents (format.h rule 3).
 */
static int bbitmap_read(struct alloc *a, uint64_t g, struct mbuf **b)
{
	return cache_read(a->c, super_group_first(a->sb, g),
			  DIOFS_MAGIC_BBITMAP, b);
}

static int ibitmap_read(struct alloc *a, uint64_t g, struct mbuf **b)
{
	return cache_read(a->c, super_group_first(a->sb, g) + 1,
			  DIOFS_MAGIC_IBITMAP, b);
}

/* ---- transaction records --------------------------------------------------- */

static void txn_end_cb(void *arg, int committed);

static void txrec_link(struct txrec **head, struct txrec *r)
{
	r->next = *head;
	if (r->next)
		r->next->pprev = &r->next;
	r->pprev = head;
	*head = r;
}

static void txrec_unlink(struct txrec *r)
{
	*r->pprev = r->next;
	if (r->next)
		r->next->pprev = r->pprev;
}

static struct txrec *txrec_find(struct alloc *a, struct txn *t)
{
	struct txrec *r;

	for (r = a->open; r; r = r->next)
		if (r->t == t)
			return r;
	return NULL;
}

static int txrec_get(struct alloc *a, struct txn *t, struct txrec **out)
{
	struct txrec *r = txrec_find(a, t);
	int err;

	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return -ENOMEM;
		r->a = a;
		r->t = t;
		r->gen = ++a->next_gen;
		err = txn_on_end(t, txn_end_cb, r);
		if (err) {
			free(r);
			return err;
		}
		txrec_link(&a->open, r);
	}
	*out = r;
	return 0;
}

/* Remember that r touched group g, so an abort reloads it. */
static int txrec_touch(struct txrec *r, uint64_t g)
{
	struct grp *gr = &r->a->g[g];
	int err;

	if (gr->touch_gen == r->gen)
		return 0;
	err = grow_array((void **)&r->touched, &r->cap_touched, r->ntouched + 1,
		   sizeof(*r->touched));
	if (err)
		return err;
	r->touched[r->ntouched++] = g;
	gr->touch_gen = r->gen;
	return 0;
}

/* Index of the first busy run of r that ends after blk. */
static size_t busy_search(const struct txrec *r, uint64_t blk)
{
	size_t lo = 0, hi = r->nbusy;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->busy[mid].start + r->busy[mid].len <= blk)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void busy_insert(struct txrec *r, uint64_t start, uint64_t len)
{
	size_t i = busy_search(r, start);

	memmove(&r->busy[i + 1], &r->busy[i],
		(r->nbusy - i) * sizeof(r->busy[0]));
	r->busy[i].start = start;
	r->busy[i].len = len;
	r->nbusy++;
}

/* The busy run of any open transaction that starts lowest among those
 * meeting [s, e); 0 if none. */
static int busy_first(const struct alloc *a, uint64_t s, uint64_t e,
		      struct busy *out)
{
	const struct txrec *lists[] = { a->open, a->ended }, *r;
	int found = 0;

	for (size_t l = 0; l < 2; l++)
		for (r = lists[l]; r; r = r->next) {
			size_t i = busy_search(r, s);

			if (i < r->nbusy && r->busy[i].start < e &&
			    (!found || r->busy[i].start < out->start)) {
				*out = r->busy[i];
				found = 1;
			}
		}
	return found;
}

/* Rule 2: the busy runs of r are allocatable again; r is dropped. */
static void busy_release(void *arg, int committed)
{
	struct txrec *r = arg;
	struct alloc *a = r->a;
	size_t i;

	(void)committed;	/* after a failed commit nothing allocates */
	pthread_mutex_lock(&a->lock);
	/* Rule 3: what was busy is allocatable again (or was never freed). */
	for (i = 0; i < r->nbusy; i++) {
		uint64_t g = super_group_of(a->sb, r->busy[i].start);

		a->g[g].max_run = a->g[g].free_blocks;
		a->busy_blocks -= r->busy[i].len;
	}
	txrec_unlink(r);
	pthread_mutex_unlock(&a->lock);
	free(r->touched);
	free(r->busy);
	free(r);
}

static void txn_end_cb(void *arg, int committed)
{
	struct txrec *r = arg;
	struct alloc *a = r->a;
	size_t i;

	pthread_mutex_lock(&a->lock);
	if (!committed) {
		/* Rule 1: the cache has put the descriptors back. */
		for (i = 0; i < r->ntouched; i++) {
			uint64_t g = r->touched[i];
			struct grp *gr = &a->g[g];
			struct diofs_group_desc *d;
			struct codec_group rec;
			struct mbuf *b;
			int err;

			a->free_blocks -= gr->free_blocks;
			a->free_inodes -= gr->free_inodes;
			err = desc_read(a, g, &b, &d, &rec);
			if (err) {
				if (!a->error)
					a->error = err;
				gr->free_blocks = gr->free_inodes = 0;
				gr->max_run = 0;
				continue;
			}
			mirror_desc(gr, &rec);
			cache_release(a->c, b);
			a->free_blocks += gr->free_blocks;
			a->free_inodes += gr->free_inodes;
		}
	}
	for (i = 0; i < r->ntouched; i++)
		if (a->g[r->touched[i]].touch_gen == r->gen)
			a->g[r->touched[i]].touch_gen = 0;
	/* The record outlives t while its runs stay busy: no later
	 * transaction at the same address may find it. */
	r->t = NULL;
	txrec_unlink(r);
	txrec_link(&a->ended, r);
	pthread_mutex_unlock(&a->lock);

	/*
	 * Rule 2: freed blocks wait until the transaction that freed them is
	 * durable, so that a crash never leaves them both in their old file
	 * and holding new data.  Without memory for that they stay busy
	 * until the next mount.
	 */
	if (!committed || !r->nbusy)
		busy_release(r, committed);
	else
		(void)cache_on_durable(a->c, busy_release, r);
}

/* ---- open and close -------------------------------------------------------- */

/*
 * Mirror every descriptor.  The table is read straight from the device in
 * large requests rather than block by block through the cache: with 1 KiB
 * blocks a 1 TiB filesystem has 9020 table blocks, and as many synchronous
 * O_DIRECT round trips made mounting take seconds on a busy device.
 * Nothing of the table can be dirty in the cache at open time, since every
 * transaction writes its blocks before it ends.
 */
static int load_descs(struct alloc *a)
{
	const struct super *sb = a->sb;
	uint32_t bs = sb->block_size, align = bdev_mem_align(sb->bdev);
	uint64_t nblocks = (sb->group_count + sb->descs_per_block - 1) /
			   sb->descs_per_block;
	uint64_t chunk = (1u << 20) / bs, k, i, g = 0;
	struct codec_group rec;
	struct bdev_queue *q;
	uint8_t *buf;
	ssize_t n;
	int err;

	if (chunk > nblocks)
		chunk = nblocks;
	if (align < sizeof(void *))
		align = sizeof(void *);
	if (posix_memalign((void **)&buf, align, chunk * bs))
		return -ENOMEM;
	err = bdev_queue_open(sb->bdev, 1, &q);
	if (err)
		goto out_buf;
	for (k = 0; k < nblocks && !err; k += chunk) {
		uint64_t cnt = nblocks - k < chunk ? nblocks - k : chunk;

		n = bdev_pread(q, buf, cnt * bs, (sb->gdt_start + k) * bs);
		if (n < 0 || (uint64_t)n != cnt * bs) {
			err = n < 0 ? (int)n : -EIO;
			break;
		}
		for (i = 0; i < cnt && !err; i++) {
			uint8_t *blk = buf + i * bs;
			const struct diofs_group_desc *d =
				(const void *)(blk + sizeof(struct diofs_blkhdr));
			uint64_t end = g + sb->descs_per_block;

			err = blkhdr_verify(blk, bs, DIOFS_MAGIC_GDT,
					    sb->gdt_start + k + i, sb->uuid);
			if (end > sb->group_count)
				end = sb->group_count;
			for (; !err && g < end; g++, d++) {
				err = desc_decode(a, g, d, &rec);
				if (err)
					break;
				mirror_desc(&a->g[g], &rec);
				a->free_blocks += a->g[g].free_blocks;
				a->free_inodes += a->g[g].free_inodes;
			}
		}
	}
	bdev_queue_close(q);
out_buf:
	free(buf);
	return err;
}

int alloc_open(struct super *sb, struct cache *c, struct alloc **out)
{
	struct alloc *a;
	int err;

	if (!sb->bdev)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->sb = sb;
	a->c = c;
	a->g = calloc(sb->group_count, sizeof(*a->g));
	if (!a->g) {
		err = -ENOMEM;
		goto out_free;
	}
	err = load_descs(a);
	if (err)
		goto out_groups;
	pthread_mutex_init(&a->lock, NULL);
	sb->free_blocks = a->free_blocks;
	sb->free_inodes = a->free_inodes;
	*out = a;
	return 0;

out_groups:
	free(a->g);
out_free:
	free(a);
	return err;
}

void alloc_close(struct alloc *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->lock);
	free(a->g);
	free(a);
}

int alloc_error(struct alloc *a)
{
	int err;

	pthread_mutex_lock(&a->lock);
	err = a->error;
	pthread_mutex_unlock(&a->lock);
	return err;
}

void alloc_counts(struct alloc *a, uint64_t *free_blocks,
		  uint64_t *free_inodes)
{
	pthread_mutex_lock(&a->lock);
	if (free_blocks)
		*free_blocks = a->free_blocks;
	if (free_inodes)
		*free_inodes = a->free_inodes;
	pthread_mutex_unlock(&a->lock);
}

uint64_t alloc_busy(struct alloc *a)
{
	uint64_t n;

	pthread_mutex_lock(&a->lock);
	n = a->busy_blocks;
	pthread_mutex_unlock(&a->lock);
	return n;
}

/* ---- block allocation -------------------------------------------------------- */

/*
 * The next run of allocatable blocks of group g at or after bit from and
 * before bit to: free in the bitmap bm (NULL: the group is uninitialized)
 * and on no busy list.  Returns its length (0: none) and start in *rs.
 */
static uint32_t next_run(const struct alloc *a, uint64_t g, const uint8_t *bm,
			 uint32_t from, uint32_t to, uint32_t *rs)
{
	uint64_t first = super_group_first(a->sb, g);
	uint32_t s, e;
	struct busy b = { 0, 0 };

	while (from < to) {
		if (bm) {
			s = bm_find(bm, from, to, 0);
			if (s >= to)
				return 0;
			e = bm_find(bm, s, to, 1);
		} else {
			s = from > meta_blocks(a) ? from : meta_blocks(a);
			e = to;
			if (s >= e)
				return 0;
		}
		if (!busy_first(a, first + s, first + e, &b)) {
			*rs = s;
			return e - s;
		}
		if (b.start <= first + s) {
			from = (uint32_t)(b.start + b.len - first);
			continue;
		}
		*rs = s;
		return (uint32_t)(b.start - first) - s;
	}
	return 0;
}

/*
 * The first run of at least need blocks in [from, to) of group g; its start
 * and length in *rs, *rl.  *longest gets the longest run seen.  Returns 1
 * if found.
 */
static int find_run(const struct alloc *a, uint64_t g, const uint8_t *bm,
		    uint32_t from, uint32_t to, uint32_t need, uint32_t *rs,
		    uint32_t *rl, uint32_t *longest)
{
	uint32_t s, n;

	while ((n = next_run(a, g, bm, from, to, &s)) != 0) {
		if (n > *longest)
			*longest = n;
		if (n >= need) {
			*rs = s;
			*rl = n;
			return 1;
		}
		from = s + n;
	}
	return 0;
}

/* Mark [bit, bit+len) of group g in use, in t (rule 4: all blocks are
 * added before anything changes). */
static int take_blocks(struct alloc *a, struct txn *t, uint64_t g,
		       uint32_t bit, uint32_t len)
{
	struct grp *gr = &a->g[g];
	struct diofs_group_desc *d;
	struct codec_group rec;
	struct mbuf *db, *bb;
	struct txrec *r;
	int err;

	err = txrec_get(a, t, &r);
	if (!err)
		err = txrec_touch(r, g);
	if (err)
		return err;
	err = desc_read(a, g, &db, &d, &rec);
	if (err)
		return err;
	if (gr->flags & DIOFS_BG_BLOCK_UNINIT)
		err = cache_new(a->c, super_group_first(a->sb, g),
				DIOFS_MAGIC_BBITMAP, &bb);
	else
		err = bbitmap_read(a, g, &bb);
	if (err)
		goto out_desc;
	err = txn_add(t, db);
	if (!err)
		err = txn_add(t, bb);
	if (err)
		goto out_bitmap;

	if (gr->flags & DIOFS_BG_BLOCK_UNINIT) {
		bm_set(bm_bits(bb), 0, meta_blocks(a), 1);
		bm_set(bm_bits(bb), group_len(a, g),
		       DIOFS_BITMAP_BITS(a->sb->block_size), 1);
	}
	if (bm_find(bm_bits(bb), bit, bit + len, 1) != bit + len ||
	    rec.free_blocks < len) {
		/* The search saw these blocks free a moment ago. */
		err = -EUCLEAN;
		goto out_bitmap;
	}
	bm_set(bm_bits(bb), bit, bit + len, 1);
	rec.free_blocks -= len;
	rec.flags &= ~DIOFS_BG_BLOCK_UNINIT;
	codec_group_encode(&rec, d);
	gr->free_blocks -= len;
	gr->flags &= ~DIOFS_BG_BLOCK_UNINIT;
	a->free_blocks -= len;
out_bitmap:
	cache_release(a->c, bb);
out_desc:
	cache_release(a->c, db);
	return err;
}

/*
 * Look for a run of need blocks in group g from bit from on (wrapping to
 * the start of its data area when from is past it).  Returns 1 with the
 * run in *rs, *rl, 0 if none, -errno.
 */
static int search_group(struct alloc *a, uint64_t g, uint32_t from,
			uint32_t need, uint32_t *rs, uint32_t *rl)
{
	struct grp *gr = &a->g[g];
	uint32_t meta = meta_blocks(a), len = group_len(a, g), longest = 0;
	const uint8_t *bm = NULL;
	struct mbuf *b = NULL;
	int found, err;

	if (!(gr->flags & DIOFS_BG_BLOCK_UNINIT)) {
		err = bbitmap_read(a, g, &b);
		if (err)
			return err;
		bm = bm_bits(b);
	}
	found = find_run(a, g, bm, from, len, need, rs, rl, &longest);
	if (!found && from > meta)
		found = find_run(a, g, bm, meta, from, need, rs, rl, &longest);
	/* Rule 3: a whole-group scan from the start makes the hint exact;
	 * one split at from could miss a run across it. */
	if (!found && from <= meta)
		gr->max_run = longest;
	if (b)
		cache_release(a->c, b);
	return found;
}

/* The allocatable run of group g that starts exactly at bit from: 1 with
 * its length in *rl, 0 if block from is not allocatable, -errno. */
static int run_at(struct alloc *a, uint64_t g, uint32_t from, uint32_t *rl)
{
	const uint8_t *bm = NULL;
	struct mbuf *b = NULL;
	uint32_t s = 0, n;
	int err;

	if (!(a->g[g].flags & DIOFS_BG_BLOCK_UNINIT)) {
		err = bbitmap_read(a, g, &b);
		if (err)
			return err;
		bm = bm_bits(b);
		if (bm_test(bm, from)) {
			cache_release(a->c, b);
			return 0;
		}
	}
	n = next_run(a, g, bm, from, group_len(a, g), &s);
	if (b)
		cache_release(a->c, b);
	*rl = n;
	return n && s == from;
}

int alloc_blocks(struct alloc *a, struct txn *t, uint64_t goal, uint64_t min,
		 uint64_t max, uint64_t *start, uint64_t *len)
{
	const struct super *sb = a->sb;
	uint32_t meta = meta_blocks(a), from, need, rs = 0, rl = 0, pass;
	uint64_t g0, g, i, cap = sb->blocks_per_group - meta;
	int err = 0, found = 0;

	if (min == 0 || min > max)
		return -EINVAL;
	if (max > cap)
		max = cap;
	if (min > max)
		return -ENOSPC;

	pthread_mutex_lock(&a->lock);
	if (a->error) {
		err = a->error;
		goto out;
	}
	g0 = super_group_of(sb, goal);
	if (g0 == sb->group_count) {
		g0 = 0;
		from = meta;
	} else {
		from = (uint32_t)(goal - super_group_first(sb, g0));
		if (from < meta)
			from = meta;
	}

	/* A run that starts at goal continues the caller's last extent. */
	if (a->g[g0].free_blocks >= min) {
		found = run_at(a, g0, from, &rl);
		if (found < 0) {
			err = found;
			goto out;
		}
		found = found && rl >= min;
		rs = from;
	}
	for (pass = 0; !found && pass < 2; pass++) {
		need = (uint32_t)(pass == 0 ? max : min);
		if (pass == 1 && min == max)
			break;
		for (i = 0; i < sb->group_count; i++) {
			g = (g0 + i) % sb->group_count;
			if (a->g[g].free_blocks < need || a->g[g].max_run < need)
				continue;
			found = search_group(a, g, i == 0 ? from : meta, need,
					     &rs, &rl);
			if (found < 0) {
				err = found;
				goto out;
			}
			if (found) {
				g0 = g;
				break;
			}
		}
	}
	if (!found) {
		err = -ENOSPC;
		goto out;
	}
	if (rl > max)
		rl = (uint32_t)max;
	err = take_blocks(a, t, g0, rs, rl);
	if (err == -EUCLEAN)
		a->error = err;
	if (!err) {
		*start = super_group_first(sb, g0) + rs;
		*len = rl;
	}
out:
	pthread_mutex_unlock(&a->lock);
	return err;
}

int alloc_free(struct alloc *a, struct txn *t, uint64_t start, uint64_t len)
{
	const struct super *sb = a->sb;
	struct diofs_group_desc *d;
	struct codec_group rec;
	struct mbuf *db, *bb;
	struct txrec *r;
	uint32_t bit;
	uint64_t g;
	int err;

	g = super_group_of(sb, start);
	if (len == 0 || g == sb->group_count)
		return -EINVAL;
	bit = (uint32_t)(start - super_group_first(sb, g));
	if (bit < meta_blocks(a) || len > group_len(a, g) - bit)
		return -EINVAL;

	pthread_mutex_lock(&a->lock);
	err = a->error;
	if (err)
		goto out;
	if (a->g[g].flags & DIOFS_BG_BLOCK_UNINIT) {
		/* Nothing in a group that was never used can be in use. */
		err = -EUCLEAN;
		goto out;
	}
	err = txrec_get(a, t, &r);
	if (!err)
		err = txrec_touch(r, g);
	if (!err)
		err = grow_array((void **)&r->busy, &r->cap_busy, r->nbusy + 1,
			   sizeof(*r->busy));
	if (err)
		goto out;
	err = desc_read(a, g, &db, &d, &rec);
	if (err)
		goto out;
	err = bbitmap_read(a, g, &bb);
	if (err)
		goto out_desc;
	if (bm_find(bm_bits(bb), bit, (uint32_t)(bit + len), 0) !=
	    bit + len) {
		err = -EUCLEAN;
		goto out_bitmap;
	}
	err = txn_add(t, db);
	if (!err)
		err = txn_add(t, bb);
	if (err)
		goto out_bitmap;
	bm_set(bm_bits(bb), bit, (uint32_t)(bit + len), 0);
	rec.free_blocks += (uint32_t)len;
	codec_group_encode(&rec, d);
	a->g[g].free_blocks += (uint32_t)len;
	a->free_blocks += len;
	a->busy_blocks += len;
	busy_insert(r, start, len);
out_bitmap:
	cache_release(a->c, bb);
out_desc:
	cache_release(a->c, db);
out:
	pthread_mutex_unlock(&a->lock);
	return err;
}

int alloc_btree_alloc(void *arg, struct txn *t, uint64_t goal,
		      uint64_t *blkno)
{
	uint64_t len;

	return alloc_blocks(arg, t, goal, 1, 1, blkno, &len);
}

void alloc_btree_free(void *arg, struct txn *t, uint64_t blkno)
{
	struct alloc *a = arg;
	int err = alloc_free(a, t, blkno, 1);

	if (err) {
		pthread_mutex_lock(&a->lock);
		if (!a->error)
			a->error = err;
		pthread_mutex_unlock(&a->lock);
	}
}

int alloc_block_in_use(struct alloc *a, uint64_t blkno)
{
	uint64_t g = super_group_of(a->sb, blkno);
	uint32_t bit;
	struct mbuf *b;
	int ret;

	if (blkno >= a->sb->blocks_count)
		return -EINVAL;
	if (g == a->sb->group_count)
		return 1;
	bit = (uint32_t)(blkno - super_group_first(a->sb, g));
	pthread_mutex_lock(&a->lock);
	if (a->g[g].flags & DIOFS_BG_BLOCK_UNINIT) {
		ret = bit < meta_blocks(a);
	} else {
		ret = bbitmap_read(a, g, &b);
		if (!ret) {
			ret = bm_test(bm_bits(b), bit);
			cache_release(a->c, b);
		}
	}
	pthread_mutex_unlock(&a->lock);
	return ret;
}

/* ---- inode allocation --------------------------------------------------------- */

/* Inodes an uninitialized inode bitmap implies in use: the reserved ones. */
static uint32_t reserved_inodes(const struct alloc *a, uint64_t g)
{
	return g == 0 ? (uint32_t)a->sb->first_ino : 0;
}

/* A group for a new top-level directory: of the groups with at least the
 * average free inodes and blocks, the one with the fewest directories. */
static uint64_t spread_group(const struct alloc *a, uint64_t start)
{
	const struct super *sb = a->sb;
	uint64_t avg_i = a->free_inodes / sb->group_count;
	uint64_t avg_b = a->free_blocks / sb->group_count;
	uint64_t i, g, best = sb->group_count;

	for (i = 0; i < sb->group_count; i++) {
		g = (start + i) % sb->group_count;
		if (!a->g[g].free_inodes || a->g[g].free_inodes < avg_i ||
		    a->g[g].free_blocks < avg_b)
			continue;
		if (best == sb->group_count || a->g[g].dirs < a->g[best].dirs)
			best = g;
	}
	return best == sb->group_count ? start : best;
}

/* Take inode slot idx of group g in t; initialize its inode-table block
 * (and any uninitialized one before it) when it was never written. */
static int take_inode(struct alloc *a, struct txn *t, uint64_t g,
		      uint32_t idx, int is_dir)
{
	const struct super *sb = a->sb;
	struct grp *gr = &a->g[g];
	uint32_t blk = idx / sb->inodes_per_block, k, init = gr->itable_init;
	uint64_t itable = super_group_first(sb, g) + 2;
	struct diofs_group_desc *d;
	struct codec_group rec;
	struct mbuf *db, *ib, *tb;
	struct txrec *r;
	int err;

	err = txrec_get(a, t, &r);
	if (!err)
		err = txrec_touch(r, g);
	if (err)
		return err;
	err = desc_read(a, g, &db, &d, &rec);
	if (err)
		return err;
	if (gr->flags & DIOFS_BG_INODE_UNINIT)
		err = cache_new(a->c, super_group_first(sb, g) + 1,
				DIOFS_MAGIC_IBITMAP, &ib);
	else
		err = ibitmap_read(a, g, &ib);
	if (err)
		goto out_desc;
	err = txn_add(t, db);
	if (!err)
		err = txn_add(t, ib);
	for (k = init; !err && k <= blk; k++) {
		err = cache_new(a->c, itable + k, DIOFS_MAGIC_ITABLE, &tb);
		if (!err) {
			err = txn_add(t, tb);
			cache_release(a->c, tb);
		}
	}
	if (err)
		goto out_bitmap;

	if (gr->flags & DIOFS_BG_INODE_UNINIT) {
		bm_set(bm_bits(ib), 0, reserved_inodes(a, g), 1);
		bm_set(bm_bits(ib), sb->inodes_per_group,
		       DIOFS_BITMAP_BITS(sb->block_size), 1);
	}
	if (bm_test(bm_bits(ib), idx) || !rec.free_inodes) {
		err = -EUCLEAN;
		goto out_bitmap;
	}
	bm_set(bm_bits(ib), idx, idx + 1, 1);
	rec.free_inodes--;
	if (is_dir)
		rec.dirs++;
	if (blk + 1 > init)
		rec.itable_init = blk + 1;
	rec.flags &= ~DIOFS_BG_INODE_UNINIT;
	codec_group_encode(&rec, d);
	gr->free_inodes--;
	gr->dirs = rec.dirs;
	gr->itable_init = rec.itable_init;
	gr->flags &= ~DIOFS_BG_INODE_UNINIT;
	a->free_inodes--;
out_bitmap:
	cache_release(a->c, ib);
out_desc:
	cache_release(a->c, db);
	return err;
}

int alloc_inode(struct alloc *a, struct txn *t, uint64_t parent, int is_dir,
		uint64_t *ino)
{
	const struct super *sb = a->sb;
	uint64_t start = 0, i, g;
	uint32_t idx;
	struct mbuf *b;
	int err = -ENOSPC;

	pthread_mutex_lock(&a->lock);
	if (a->error) {
		err = a->error;
		goto out;
	}
	if (parent && parent < sb->inodes_count)
		start = parent / sb->inodes_per_group;
	if (is_dir && (parent == sb->root_ino || parent == 0))
		start = spread_group(a, start);

	for (i = 0; i < sb->group_count; i++) {
		g = (start + i) % sb->group_count;
		if (!a->g[g].free_inodes)
			continue;
		if (a->g[g].flags & DIOFS_BG_INODE_UNINIT) {
			idx = reserved_inodes(a, g);
		} else {
			err = ibitmap_read(a, g, &b);
			if (err)
				goto out;
			idx = bm_find(bm_bits(b), 0, sb->inodes_per_group, 0);
			cache_release(a->c, b);
		}
		if (idx >= sb->inodes_per_group) {
			/* The descriptor counts a free inode the bitmap lacks. */
			err = a->error = -EUCLEAN;
			goto out;
		}
		err = take_inode(a, t, g, idx, is_dir);
		if (err == -EUCLEAN)
			a->error = err;
		if (!err)
			*ino = g * sb->inodes_per_group + idx;
		goto out;
	}
	err = -ENOSPC;
out:
	pthread_mutex_unlock(&a->lock);
	return err;
}

int alloc_inode_free(struct alloc *a, struct txn *t, uint64_t ino, int is_dir)
{
	const struct super *sb = a->sb;
	struct diofs_group_desc *d;
	struct codec_group rec;
	struct mbuf *db, *ib;
	struct txrec *r;
	uint64_t g;
	uint32_t idx;
	int err;

	if (ino < sb->first_ino || ino >= sb->inodes_count)
		return -EINVAL;
	g = ino / sb->inodes_per_group;
	idx = (uint32_t)(ino % sb->inodes_per_group);

	pthread_mutex_lock(&a->lock);
	err = a->error;
	if (err)
		goto out;
	if (a->g[g].flags & DIOFS_BG_INODE_UNINIT) {
		err = -EUCLEAN;
		goto out;
	}
	err = txrec_get(a, t, &r);
	if (!err)
		err = txrec_touch(r, g);
	if (!err)
		err = desc_read(a, g, &db, &d, &rec);
	if (err)
		goto out;
	err = ibitmap_read(a, g, &ib);
	if (err)
		goto out_desc;
	if (!bm_test(bm_bits(ib), idx)) {
		err = -EUCLEAN;
		goto out_bitmap;
	}
	err = txn_add(t, db);
	if (!err)
		err = txn_add(t, ib);
	if (err)
		goto out_bitmap;
	bm_set(bm_bits(ib), idx, idx + 1, 0);
	rec.free_inodes++;
	if (is_dir && rec.dirs)
		rec.dirs--;
	codec_group_encode(&rec, d);
	a->g[g].free_inodes++;
	a->g[g].dirs = rec.dirs;
	a->free_inodes++;
out_bitmap:
	cache_release(a->c, ib);
out_desc:
	cache_release(a->c, db);
out:
	pthread_mutex_unlock(&a->lock);
	return err;
}

int alloc_inode_in_use(struct alloc *a, uint64_t ino)
{
	const struct super *sb = a->sb;
	uint64_t g;
	uint32_t idx;
	struct mbuf *b;
	int ret;

	if (ino >= sb->inodes_count)
		return -EINVAL;
	g = ino / sb->inodes_per_group;
	idx = (uint32_t)(ino % sb->inodes_per_group);
	pthread_mutex_lock(&a->lock);
	if (a->g[g].flags & DIOFS_BG_INODE_UNINIT) {
		ret = idx < reserved_inodes(a, g);
	} else {
		ret = ibitmap_read(a, g, &b);
		if (!ret) {
			ret = bm_test(bm_bits(b), idx);
			cache_release(a->c, b);
		}
	}
	pthread_mutex_unlock(&a->lock);
	return ret;
}

/* ---- checking ---------------------------------------------------------------- */

static int check_group(struct alloc *a, uint64_t g, char *msg, size_t msglen)
{
	const struct super *sb = a->sb;
	uint32_t bits = DIOFS_BITMAP_BITS(sb->block_size);
	uint32_t meta = meta_blocks(a), len = group_len(a, g), nfree;
	uint32_t ipg = sb->inodes_per_group, used_end;
	struct diofs_group_desc *d;
	struct codec_group rec;
	struct mbuf *db, *b;
	const uint8_t *bm;
	int err;

	err = desc_read(a, g, &db, &d, &rec);
	if (err) {
		set_msg(msg, msglen, "group %" PRIu64 ": bad descriptor", g);
		return err;
	}
	err = -EUCLEAN;
	if (rec.free_blocks != a->g[g].free_blocks ||
	    rec.free_inodes != a->g[g].free_inodes) {
		set_msg(msg, msglen, "group %" PRIu64 ": descriptor and memory disagree", g);
		goto out_desc;
	}
	if (rec.flags & DIOFS_BG_BLOCK_UNINIT) {
		nfree = len - meta;
	} else {
		err = bbitmap_read(a, g, &b);
		if (err) {
			set_msg(msg, msglen, "group %" PRIu64 ": unreadable block bitmap", g);
			goto out_desc;
		}
		bm = bm_bits(b);
		nfree = bm_count_zero(bm, 0, len);
		if (bm_find(bm, 0, meta, 0) != meta ||
		    bm_find(bm, len, bits, 0) != bits)
			nfree = UINT32_MAX;
		cache_release(a->c, b);
	}
	if (nfree != rec.free_blocks) {
		set_msg(msg, msglen, "group %" PRIu64 ": block bitmap does not match %u free blocks",
		       g, rec.free_blocks);
		err = -EUCLEAN;
		goto out_desc;
	}

	if (rec.flags & DIOFS_BG_INODE_UNINIT) {
		nfree = ipg - reserved_inodes(a, g);
		used_end = 0;
	} else {
		err = ibitmap_read(a, g, &b);
		if (err) {
			set_msg(msg, msglen, "group %" PRIu64 ": unreadable inode bitmap", g);
			goto out_desc;
		}
		bm = bm_bits(b);
		nfree = bm_count_zero(bm, 0, ipg);
		/* No inode may live in a table block never initialized. */
		used_end = rec.itable_init * sb->inodes_per_block;
		if (bm_find(bm, 0, reserved_inodes(a, g), 0) !=
		    reserved_inodes(a, g) ||
		    bm_find(bm, ipg, bits, 0) != bits ||
		    (used_end < ipg && bm_find(bm, used_end, ipg, 1) != ipg))
			nfree = UINT32_MAX;
		cache_release(a->c, b);
	}
	err = 0;
	if (nfree != rec.free_inodes) {
		set_msg(msg, msglen, "group %" PRIu64 ": inode bitmap does not match %u free inodes",
		       g, rec.free_inodes);
		err = -EUCLEAN;
	}
out_desc:
	cache_release(a->c, db);
	return err;
}

int alloc_check(struct alloc *a, char *msg, size_t msglen)
{
	uint64_t g, fb = 0, fi = 0;
	int err = 0;

	pthread_mutex_lock(&a->lock);
	for (g = 0; g < a->sb->group_count && !err; g++) {
		err = check_group(a, g, msg, msglen);
		fb += a->g[g].free_blocks;
		fi += a->g[g].free_inodes;
	}
	if (!err && (fb != a->free_blocks || fi != a->free_inodes)) {
		set_msg(msg, msglen, "free totals disagree with the groups");
		err = -EUCLEAN;
	}
	pthread_mutex_unlock(&a->lock);
	return err;
}
