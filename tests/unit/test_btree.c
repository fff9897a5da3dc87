/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the generic B+tree: random operations checked against an
 * in-memory model at fs block sizes 1, 4 and 64 KiB, with transactions that
 * commit and abort, a block allocator that counts every block, structure
 * checks along the way, and the cost of operations on a large tree.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "diofs/bdev.h"
#include "diofs/btree.h"
#include "diofs/cache.h"
#include "diofs/format.h"

/*
 * ck_assert_*() logs every check that passes (a write to Check's file);
 * the loops that run a million checks only go to Check on a failure.
 */
#define need(e) do { if (!(e)) ck_assert(e); } while (0)
#define need_eq(x, y) do {						\
		intmax_t x_ = (intmax_t)(x), y_ = (intmax_t)(y);		\
		if (x_ != y_)							\
			ck_assert_int_eq(x_, y_);				\
	} while (0)

#define MAGIC_LEAF	0x4c545354u
#define MAGIC_NODE	0x4e545354u

static const uint8_t uuid[16] = { 0xd1, 0x0f, 0x5e, 0x01, 2, 3, 4, 5,
				  6, 7, 8, 9, 10, 11, 12, 13 };

/* ---- a deterministic generator -------------------------------------------- */

static uint64_t rnd_state;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545F4914F6CDD1Dull;
}

static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

/* The bytes of value version ver of key: reproducible, so not stored. */
static void value_bytes(uint64_t key, uint32_t ver, size_t len, uint8_t *out)
{
	uint64_t x = key * 0x9E3779B97F4A7C15ull + ver + 1;
	size_t i;

	for (i = 0; i < len; i += sizeof(x)) {
		x ^= x >> 13;
		x ^= x << 7;
		x ^= x >> 17;
		memcpy(out + i, &x, len - i < sizeof(x) ? len - i : sizeof(x));
	}
}

/* ---- the block allocator -------------------------------------------------- */

/*
 * Bump pointer plus free list.  Blocks a transaction frees return to the
 * free list only when it commits; blocks it allocates go back when it
 * aborts; so, as in diofs, no block is reused while a transaction that
 * freed it could still abort.
 */
struct talloc {
	uint64_t next, limit;
	uint8_t *state;			/* ST_* per block */
	uint64_t *free;
	size_t nfree;
	uint64_t *pend_alloc, *pend_free;
	size_t npa, npf;
	struct txn *cur;
	uint64_t live;
	uint64_t allocs, frees;		/* committed */
	int errors;			/* double frees and the like */
};

enum { ST_FREE, ST_LIVE, ST_FREEING };

static void ta_end(void *arg, int committed)
{
	struct talloc *a = arg;
	size_t i;

	if (committed) {
		for (i = 0; i < a->npf; i++) {
			a->state[a->pend_free[i]] = ST_FREE;
			a->free[a->nfree++] = a->pend_free[i];
		}
		a->allocs += a->npa;
		a->frees += a->npf;
	} else {
		for (i = 0; i < a->npf; i++) {
			a->state[a->pend_free[i]] = ST_LIVE;
			a->live++;
		}
		for (i = 0; i < a->npa; i++) {
			a->state[a->pend_alloc[i]] = ST_FREE;
			a->free[a->nfree++] = a->pend_alloc[i];
			a->live--;
		}
	}
	a->npa = a->npf = 0;
	a->cur = NULL;
}

static int ta_join(struct talloc *a, struct txn *t)
{
	if (a->cur == t)
		return 0;
	if (a->cur)
		a->errors++;
	a->cur = t;
	return txn_on_end(t, ta_end, a);
}

static int ta_alloc(void *arg, struct txn *t, uint64_t goal, uint64_t *blkno)
{
	struct talloc *a = arg;
	uint64_t b;
	int err = ta_join(a, t);

	if (err)
		return err;
	if (a->nfree)
		b = a->free[--a->nfree];
	else if (a->next < a->limit)
		b = a->next++;
	else
		return -ENOSPC;
	if (a->state[b] != ST_FREE)
		a->errors++;
	a->state[b] = ST_LIVE;
	a->pend_alloc[a->npa++] = b;
	a->live++;
	*blkno = b;
	return 0;
}

static void ta_free(void *arg, struct txn *t, uint64_t blkno)
{
	struct talloc *a = arg;

	if (ta_join(a, t) || blkno >= a->limit || a->state[blkno] != ST_LIVE) {
		a->errors++;
		return;
	}
	a->state[blkno] = ST_FREEING;
	a->pend_free[a->npf++] = blkno;
	a->live--;
}

static void ta_init(struct talloc *a, uint64_t limit)
{
	memset(a, 0, sizeof(*a));
	a->next = 1;		/* block 0 names the empty tree */
	a->limit = limit;
	a->state = calloc(limit, 1);
	a->free = malloc(limit * sizeof(*a->free));
	a->pend_alloc = malloc(limit * sizeof(*a->pend_alloc));
	a->pend_free = malloc(limit * sizeof(*a->pend_free));
	ck_assert(a->state && a->free && a->pend_alloc && a->pend_free);
}

static void ta_fini(struct talloc *a)
{
	free(a->state);
	free(a->free);
	free(a->pend_alloc);
	free(a->pend_free);
}

/* ---- the environment ------------------------------------------------------ */

struct env {
	struct bdev *bdev;
	struct cache *c;
	struct talloc ta;
	struct btree_ops ops;
	struct btree bt;
	uint32_t bs;
	size_t max_blocks;
};

static void env_open(struct env *e, uint32_t bs, uint64_t nblocks,
		     size_t max_blocks)
{
	struct bdev_test_opts o = {
		.size = nblocks * bs,
		.block_size = 512,
	};

	memset(e, 0, sizeof(*e));
	e->bs = bs;
	e->max_blocks = max_blocks;
	ck_assert_int_eq(bdev_test_create(&o, &e->bdev), 0);
	ck_assert_int_eq(cache_create(e->bdev, bs, uuid, max_blocks, &e->c), 0);
	ta_init(&e->ta, nblocks);
	e->ops.alloc_block = ta_alloc;
	e->ops.free_block = ta_free;
	e->ops.arg = &e->ta;
	e->bt.cache = e->c;
	e->bt.ops = &e->ops;
	e->bt.magic_leaf = MAGIC_LEAF;
	e->bt.magic_node = MAGIC_NODE;
	e->bt.root = 0;
}

/* A cold cache over the same device. */
static void env_recache(struct env *e)
{
	cache_destroy(e->c);
	ck_assert_int_eq(cache_create(e->bdev, e->bs, uuid, e->max_blocks,
				      &e->c), 0);
	e->bt.cache = e->c;
}

static void env_close(struct env *e)
{
	cache_destroy(e->c);
	bdev_close(e->bdev);
	ta_fini(&e->ta);
}

static uint64_t dev_reads(struct env *e)
{
	struct bdev_stats st;

	bdev_get_stats(e->bdev, &st);
	return st.reads;
}

struct visit_ctx {
	struct env *e;
	uint8_t *seen;
	uint64_t blocks;
	int bad;
};

static void visit_block(void *arg, uint64_t blkno)
{
	struct visit_ctx *v = arg;

	if (blkno >= v->e->ta.limit || v->seen[blkno] ||
	    v->e->ta.state[blkno] != ST_LIVE)
		v->bad++;
	else
		v->seen[blkno] = 1;
	v->blocks++;
}

/* btree_check, and every live block is in the tree exactly once. */
static uint64_t check_tree(struct env *e, uint64_t *blocks)
{
	struct visit_ctx v = { .e = e };
	uint64_t entries;

	v.seen = calloc(e->ta.limit, 1);
	ck_assert_ptr_nonnull(v.seen);
	ck_assert_int_eq(btree_check(&e->bt, &entries, visit_block, &v), 0);
	ck_assert_int_eq(v.bad, 0);
	ck_assert_uint_eq(v.blocks, e->ta.live);
	ck_assert_int_eq(e->ta.errors, 0);
	free(v.seen);
	if (blocks)
		*blocks = v.blocks;
	return entries;
}

/* ---- the model ------------------------------------------------------------ */

struct model {
	size_t n;		/* universe size */
	uint64_t *keys;		/* sorted, distinct */
	bool *present;
	uint32_t *ver;
	uint16_t *len;
	size_t count;
	/* undo log of the open transaction */
	struct undo { size_t i; bool present; uint32_t ver; uint16_t len; } *undo;
	size_t nundo, undo_cap;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void model_init(struct model *m, size_t n)
{
	size_t i, j;

	memset(m, 0, sizeof(*m));
	m->keys = malloc(n * sizeof(*m->keys));
	ck_assert_ptr_nonnull(m->keys);
	m->keys[0] = 0;
	m->keys[1] = UINT64_MAX;
	for (i = 2; i < n; i++)
		m->keys[i] = i < n / 4 ? rnd_below(4 * n) : rnd();
	qsort(m->keys, n, sizeof(*m->keys), cmp_u64);
	for (i = j = 1; i < n; i++)
		if (m->keys[i] != m->keys[j - 1])
			m->keys[j++] = m->keys[i];
	m->n = j;
	m->present = calloc(m->n, sizeof(*m->present));
	m->ver = calloc(m->n, sizeof(*m->ver));
	m->len = calloc(m->n, sizeof(*m->len));
	m->undo_cap = 1024;
	m->undo = malloc(m->undo_cap * sizeof(*m->undo));
	ck_assert(m->present && m->ver && m->len && m->undo);
}

static void model_fini(struct model *m)
{
	free(m->keys);
	free(m->present);
	free(m->ver);
	free(m->len);
	free(m->undo);
}

static void model_set(struct model *m, size_t i, bool present, uint32_t ver,
		      uint16_t len)
{
	if (m->nundo == m->undo_cap) {
		m->undo_cap *= 2;
		m->undo = realloc(m->undo, m->undo_cap * sizeof(*m->undo));
		ck_assert_ptr_nonnull(m->undo);
	}
	m->undo[m->nundo].i = i;
	m->undo[m->nundo].present = m->present[i];
	m->undo[m->nundo].ver = m->ver[i];
	m->undo[m->nundo].len = m->len[i];
	m->nundo++;
	m->count += (size_t)present - (size_t)m->present[i];
	m->present[i] = present;
	m->ver[i] = ver;
	m->len[i] = len;
}

static void model_rollback(struct model *m)
{
	while (m->nundo > 0) {
		struct undo *u = &m->undo[--m->nundo];

		m->count += (size_t)u->present - (size_t)m->present[u->i];
		m->present[u->i] = u->present;
		m->ver[u->i] = u->ver;
		m->len[u->i] = u->len;
	}
}

/* Index of the first universe key >= key (n if none). */
static size_t model_lower(const struct model *m, uint64_t key)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->keys[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The entry a lookup must find, or -1. */
static long model_find(const struct model *m, uint64_t key,
		       enum btree_match how)
{
	size_t i = model_lower(m, key);

	if (i < m->n && m->keys[i] == key && m->present[i])
		return (long)i;
	if (how == BTREE_EQ)
		return -1;
	if (how == BTREE_GE) {
		for (; i < m->n; i++)
			if (m->present[i])
				return (long)i;
		return -1;
	}
	while (i-- > 0)
		if (m->present[i])
			return (long)i;
	return -1;
}

/* ---- the random test ------------------------------------------------------ */

struct random_params {
	uint32_t bs;
	size_t universe;
	unsigned ops;
	uint64_t dev_blocks;
	size_t cache_blocks;
};

static size_t random_len(size_t max)
{
	switch (rnd_below(4)) {
	case 0:
		return rnd_below(33);		/* small */
	case 1:
		return max - rnd_below(3);	/* at or near the limit */
	default:
		return rnd_below(max + 1);
	}
}

static void check_lookup(struct env *e, struct model *m, uint8_t *buf,
			 uint8_t *expect, size_t max)
{
	static const enum btree_match hows[] = { BTREE_EQ, BTREE_LE, BTREE_GE };
	enum btree_match how = hows[rnd_below(3)];
	uint64_t key, found = 0;
	size_t vlen = max;
	long want;
	int err;

	switch (rnd_below(3)) {
	case 0:
		key = rnd();
		break;
	case 1:
		key = m->keys[rnd_below(m->n)];
		break;
	default:
		key = m->keys[rnd_below(m->n)] + (rnd() & 1 ? 1 : -1);
		break;
	}
	want = model_find(m, key, how);
	err = btree_lookup(&e->bt, key, how, &found, buf, &vlen);
	if (want < 0) {
		need_eq(err, -ENOENT);
		return;
	}
	need_eq(err, 0);
	need_eq(found, m->keys[want]);
	need_eq(vlen, m->len[want]);
	value_bytes(found, m->ver[want], vlen, expect);
	need(memcmp(buf, expect, vlen) == 0);
}

static void run_random(const struct random_params *p)
{
	size_t max = btree_max_value(p->bs);
	uint8_t *val = malloc(max + 1), *buf = malloc(max), *expect = malloc(max);
	unsigned done = 0, next_check = 0, commits = 0, aborts = 0;
	struct env e;
	struct model m;
	size_t i;

	ck_assert(val && buf && expect);
	rnd_state = 0x1234567ull + p->bs;
	env_open(&e, p->bs, p->dev_blocks, p->cache_blocks);
	model_init(&m, p->universe);

	while (done < p->ops) {
		unsigned batch = 1 + (unsigned)rnd_below(40), k;
		bool abort_it = rnd_below(100) < 8;
		uint64_t root0 = e.bt.root;
		struct txn *t;

		need_eq(txn_begin(e.c, &t), 0);
		m.nundo = 0;
		for (k = 0; k < batch && done < p->ops; k++, done++) {
			unsigned op = (unsigned)rnd_below(100);
			size_t idx = rnd_below(m.n), len;
			uint64_t key = m.keys[idx];
			uint32_t ver;
			int err;

			if (op < 40) {
				len = random_len(max);
				ver = m.ver[idx] + 1;
				value_bytes(key, ver, len, val);
				err = btree_insert(&e.bt, t, key, val, len);
				if (m.present[idx]) {
					need_eq(err, -EEXIST);
				} else {
					need_eq(err, 0);
					model_set(&m, idx, true, ver, len);
				}
			} else if (op < 65) {
				err = btree_delete(&e.bt, t, key);
				if (!m.present[idx]) {
					need_eq(err, -ENOENT);
				} else {
					need_eq(err, 0);
					model_set(&m, idx, false, m.ver[idx], 0);
				}
			} else if (op < 85) {
				len = random_len(max);
				ver = m.ver[idx] + 1;
				value_bytes(key, ver, len, val);
				err = btree_update(&e.bt, t, key, val, len);
				if (!m.present[idx]) {
					need_eq(err, -ENOENT);
				} else {
					need_eq(err, 0);
					model_set(&m, idx, true, ver, len);
				}
			} else {
				check_lookup(&e, &m, buf, expect, max);
			}
		}
		if (abort_it) {
			txn_abort(t);
			model_rollback(&m);
			e.bt.root = root0;
			aborts++;
		} else {
			need_eq(txn_commit(t), 0);
			commits++;
		}
		need_eq(e.ta.errors, 0);
		bdev_test_log_clear(e.bdev);
		if (done >= next_check) {
			need_eq(check_tree(&e, NULL), m.count);
			for (k = 0; k < 50; k++)
				check_lookup(&e, &m, buf, expect, max);
			next_check += 2500;
		}
	}
	ck_assert_uint_gt(commits, 0);
	ck_assert_uint_gt(aborts, 0);

	/* everything read back from the device, through a cold cache */
	env_recache(&e);
	ck_assert_uint_eq(check_tree(&e, NULL), m.count);
	for (i = 0; i < m.n; i++) {
		uint64_t found;
		size_t vlen = max;

		if (!m.present[i])
			continue;
		need_eq(btree_lookup(&e.bt, m.keys[i], BTREE_EQ, &found,
					      buf, &vlen), 0);
		need_eq(vlen, m.len[i]);
		value_bytes(m.keys[i], m.ver[i], vlen, expect);
		need(memcmp(buf, expect, vlen) == 0);
	}

	/* delete everything, in random order, some transactions at a time */
	while (m.count > 0) {
		struct txn *t;
		unsigned k;

		need_eq(txn_begin(e.c, &t), 0);
		for (k = 0; k < 200 && m.count > 0;) {
			size_t idx = rnd_below(m.n);

			if (!m.present[idx])
				continue;
			need_eq(btree_delete(&e.bt, t, m.keys[idx]), 0);
			model_set(&m, idx, false, 0, 0);
			k++;
		}
		need_eq(txn_commit(t), 0);
		bdev_test_log_clear(e.bdev);
		if (m.count % 7 == 0)
			need_eq(check_tree(&e, NULL), m.count);
	}
	ck_assert_uint_eq(e.bt.root, 0);
	ck_assert_uint_eq(check_tree(&e, NULL), 0);
	ck_assert_uint_eq(e.ta.live, 0);
	ck_assert_uint_gt(e.ta.allocs, 0);
	ck_assert_uint_eq(e.ta.allocs, e.ta.frees);
	ck_assert_int_eq(e.ta.errors, 0);

	model_fini(&m);
	env_close(&e);
	free(val);
	free(buf);
	free(expect);
}

START_TEST(test_random_1k)
{
	struct random_params p = { 1024, 12000, 100000, 16384, 256 };

	run_random(&p);
}
END_TEST

START_TEST(test_random_4k)
{
	struct random_params p = { 4096, 12000, 100000, 8192, 256 };

	run_random(&p);
}
END_TEST

START_TEST(test_random_64k)
{
	struct random_params p = { 65536, 3000, 20000, 1024, 160 };

	run_random(&p);
}
END_TEST

/* ---- edge cases ----------------------------------------------------------- */

static const uint32_t sizes[] = { 1024, 4096, 65536 };

START_TEST(test_max_value)
{
	uint32_t bs;

	for (bs = 512; bs <= 65536; bs *= 2) {
		size_t max = btree_max_value(bs);

		ck_assert_uint_gt(max, 0);
		/* three maximal entries (12-byte slot each) fit a leaf */
		ck_assert_uint_le(3 * (max + 12), bs - 48);
		ck_assert_uint_gt(3 * (max + 1 + 12), bs - 48);
	}
	ck_assert_uint_ge(btree_max_value(1024), 265);
	ck_assert_uint_eq(btree_max_value(131072), 0);
	ck_assert_uint_eq(btree_max_value(3000), 0);
}
END_TEST

START_TEST(test_edges)
{
	uint32_t bs = sizes[_i];
	size_t max = btree_max_value(bs);
	uint8_t *val = calloc(1, max + 1), buf[8];
	uint64_t found, blocks;
	size_t vlen;
	struct env e;
	struct txn *t;
	int k;

	ck_assert_ptr_nonnull(val);
	env_open(&e, bs, 64, 16);

	/* the empty tree */
	vlen = sizeof(buf);
	ck_assert_int_eq(btree_lookup(&e.bt, 5, BTREE_EQ, &found, buf, &vlen),
			 -ENOENT);
	ck_assert_int_eq(btree_lookup(&e.bt, 5, BTREE_LE, &found, buf, &vlen),
			 -ENOENT);
	ck_assert_int_eq(btree_lookup(&e.bt, 5, BTREE_GE, &found, buf, &vlen),
			 -ENOENT);
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(btree_delete(&e.bt, t, 5), -ENOENT);
	ck_assert_int_eq(btree_update(&e.bt, t, 5, "x", 1), -ENOENT);
	ck_assert_int_eq(btree_destroy(&e.bt, t), 0);
	ck_assert_int_eq(btree_insert(&e.bt, t, 5, val, max + 1), -EINVAL);
	ck_assert_uint_eq(e.bt.root, 0);

	/* three maximal values share one leaf */
	for (k = 0; k < 3; k++) {
		memset(val, 'a' + k, max);
		ck_assert_int_eq(btree_insert(&e.bt, t, 10 * k, val, max), 0);
	}
	ck_assert_uint_eq(check_tree(&e, &blocks), 3);
	ck_assert_uint_eq(blocks, 1);
	ck_assert_int_eq(btree_insert(&e.bt, t, 10, "dup", 3), -EEXIST);
	ck_assert_int_eq(btree_update(&e.bt, t, 11, "x", 1), -ENOENT);
	ck_assert_int_eq(btree_delete(&e.bt, t, 11), -ENOENT);
	ck_assert_int_eq(btree_update(&e.bt, t, 10, val, max + 1), -EINVAL);

	/* a short buffer gets a prefix and the whole length */
	vlen = sizeof(buf);
	ck_assert_int_eq(btree_lookup(&e.bt, 12, BTREE_LE, &found, buf, &vlen),
			 0);
	ck_assert_uint_eq(found, 10);
	ck_assert_uint_eq(vlen, max);
	ck_assert_int_eq(buf[0], 'b');
	ck_assert_int_eq(btree_lookup(&e.bt, 21, BTREE_GE, &found, NULL, NULL),
			 -ENOENT);
	ck_assert_int_eq(btree_lookup(&e.bt, 0, BTREE_LE, &found, NULL, NULL),
			 0);
	ck_assert_uint_eq(found, 0);

	/* a fourth splits the leaf */
	ck_assert_int_eq(btree_insert(&e.bt, t, 15, val, max), 0);
	ck_assert_uint_eq(check_tree(&e, &blocks), 4);
	ck_assert_uint_eq(blocks, 3);
	ck_assert_int_eq(txn_commit(t), 0);

	/* zero-length values, and the extreme keys */
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(btree_insert(&e.bt, t, UINT64_MAX, NULL, 0), 0);
	ck_assert_int_eq(btree_insert(&e.bt, t, 1, "", 0), 0);
	vlen = sizeof(buf);
	ck_assert_int_eq(btree_lookup(&e.bt, UINT64_MAX - 1, BTREE_GE, &found,
				      buf, &vlen), 0);
	ck_assert_uint_eq(found, UINT64_MAX);
	ck_assert_uint_eq(vlen, 0);
	ck_assert_int_eq(btree_destroy(&e.bt, t), 0);
	ck_assert_uint_eq(e.bt.root, 0);
	ck_assert_int_eq(txn_commit(t), 0);
	ck_assert_uint_eq(e.ta.live, 0);
	ck_assert_uint_eq(e.ta.allocs, e.ta.frees);
	env_close(&e);
	free(val);
}
END_TEST

static uint64_t root_level(struct env *e)
{
	const uint8_t *p = bdev_test_data(e->bdev) + e->bt.root * e->bs;

	return le16toh(*(const le16 *)(p + sizeof(struct diofs_blkhdr)));
}

START_TEST(test_large_tree)
{
	enum { N = 100000 };
	uint32_t bs = 4096;
	uint64_t blocks, depth, r0, key, found;
	struct env e;
	struct txn *t;
	uint8_t val[16];
	size_t vlen, writes;
	int i, j;

	rnd_state = 42;
	env_open(&e, bs, 4096, 1024);
	for (i = 0; i < N; i += 5000) {
		ck_assert_int_eq(txn_begin(e.c, &t), 0);
		for (j = i; j < i + 5000; j++) {
			key = (uint64_t)j * 0x9E3779B97F4A7C15ull;
			value_bytes(key, 0, 8, val);
			need_eq(btree_insert(&e.bt, t, key, val, 8), 0);
		}
		ck_assert_int_eq(txn_commit(t), 0);
		bdev_test_log_clear(e.bdev);
	}
	ck_assert_uint_eq(check_tree(&e, &blocks), N);
	depth = root_level(&e) + 1;
	ck_assert_uint_ge(depth, 2);
	ck_assert_uint_le(depth, 3);
	ck_assert_uint_gt(blocks, 100);

	/* a lookup reads one block per level, through a cold cache */
	for (i = 0; i < 20; i++) {
		env_recache(&e);
		key = rnd_below(N) * 0x9E3779B97F4A7C15ull;
		r0 = dev_reads(&e);
		vlen = sizeof(val);
		ck_assert_int_eq(btree_lookup(&e.bt, key, BTREE_EQ, &found, val,
					      &vlen), 0);
		ck_assert_uint_eq(dev_reads(&e) - r0, depth);
	}

	/* a change writes O(depth) blocks */
	for (i = 0; i < 50; i++) {
		ck_assert_int_eq(txn_begin(e.c, &t), 0);
		key = rnd();
		ck_assert_int_eq(btree_insert(&e.bt, t, key, val, 8), 0);
		ck_assert_int_eq(txn_commit(t), 0);
		writes = bdev_test_log_count(e.bdev);
		ck_assert_uint_le(writes, 2 * depth + 1);
		bdev_test_log_clear(e.bdev);

		ck_assert_int_eq(txn_begin(e.c, &t), 0);
		ck_assert_int_eq(btree_delete(&e.bt, t, key), 0);
		key = rnd_below(N) * 0x9E3779B97F4A7C15ull;
		vlen = 0;
		if (btree_lookup(&e.bt, key, BTREE_EQ, &found, NULL, &vlen) == 0)
			ck_assert_int_eq(btree_delete(&e.bt, t, key), 0);
		ck_assert_int_eq(txn_commit(t), 0);
		writes = bdev_test_log_count(e.bdev);
		ck_assert_uint_le(writes, 2 * (2 * depth));
		bdev_test_log_clear(e.bdev);
	}

	/* destroy frees every block */
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(btree_destroy(&e.bt, t), 0);
	ck_assert_int_eq(txn_commit(t), 0);
	ck_assert_uint_eq(e.bt.root, 0);
	ck_assert_uint_eq(e.ta.live, 0);
	ck_assert_uint_eq(e.ta.allocs, e.ta.frees);
	ck_assert_int_eq(e.ta.errors, 0);
	env_close(&e);
}
END_TEST

static void collect(void *arg, uint64_t blkno)
{
	uint64_t *last = arg;

	*last = blkno;
}

START_TEST(test_corruption)
{
	uint32_t bs = sizes[_i];
	struct env e;
	struct txn *t;
	uint64_t key, leaf = 0, entries;
	uint8_t val[100] = { 0 }, *dev;
	int i;

	env_open(&e, bs, 1024, 64);
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	for (i = 0; i < 3000; i++)
		ck_assert_int_eq(btree_insert(&e.bt, t, (uint64_t)i * 3, val,
					      sizeof(val)), 0);
	ck_assert_int_eq(txn_commit(t), 0);
	ck_assert_int_eq(btree_check(&e.bt, &entries, collect, &leaf), 0);
	ck_assert_uint_ne(leaf, e.bt.root);	/* the last block visited: a leaf */
	dev = bdev_test_data(e.bdev);

	/* a flipped bit in a leaf */
	dev[leaf * bs + bs / 3] ^= 4;
	env_recache(&e);
	ck_assert_int_eq(btree_check(&e.bt, &entries, NULL, NULL), -EUCLEAN);
	ck_assert_int_eq(btree_lookup(&e.bt, 3 * 2999, BTREE_EQ, &key, NULL,
				      NULL), -EUCLEAN);
	dev[leaf * bs + bs / 3] ^= 4;
	env_recache(&e);
	ck_assert_int_eq(btree_check(&e.bt, &entries, NULL, NULL), 0);
	ck_assert_uint_eq(entries, 3000);

	/* a tree of another kind: the magics differ */
	e.bt.magic_leaf ^= 1;
	ck_assert_int_eq(btree_check(&e.bt, &entries, NULL, NULL), -EUCLEAN);
	ck_assert_int_eq(btree_lookup(&e.bt, 3, BTREE_EQ, &key, NULL, NULL),
			 -EUCLEAN);
	e.bt.magic_leaf ^= 1;
	env_close(&e);
}
END_TEST

static Suite *btree_suite(void)
{
	Suite *s = suite_create("btree");
	TCase *tc;

	tc = tcase_create("edges");
	tcase_add_test(tc, test_max_value);
	tcase_add_loop_test(tc, test_edges, 0, 3);
	tcase_add_loop_test(tc, test_corruption, 0, 3);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_random_1k);
	tcase_add_test(tc, test_random_4k);
	tcase_add_test(tc, test_random_64k);
	tcase_add_test(tc, test_large_tree);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(btree_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
