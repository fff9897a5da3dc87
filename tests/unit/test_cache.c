/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for crc32c, the metadata block header, the block cache and its
 * transactions, on the in-memory test device.  Most cases run over every
 * pairing of fs block size (1, 4, 64 KiB) and device block size (512 B,
 * 4 KiB).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "diofs/bdev.h"
#include "diofs/cache.h"
#include "diofs/crc.h"
#include "diofs/format.h"

#define MAGIC_A	0x41414141u
#define MAGIC_B	0x42424242u
#define NBLOCKS	64

static const uint8_t uuid1[16] = { 1, 2, 3, 4, 5, 6, 7, 8,
				   9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t uuid2[16] = { 16, 15, 14, 13, 12, 11, 10, 9,
				   8, 7, 6, 5, 4, 3, 2, 1 };

static const struct { uint32_t fs_bs, dev_bs; } matrix[] = {
	{ 1024, 512 }, { 4096, 512 }, { 65536, 512 },
	{ 4096, 4096 }, { 65536, 4096 },
};
#define NMATRIX (int)(sizeof(matrix) / sizeof(matrix[0]))

struct env {
	struct bdev *bdev;
	struct cache *c;
	uint32_t bs;
};

static void env_open(struct env *e, int i, size_t max_blocks)
{
	struct bdev_test_opts o = {
		.size = (uint64_t)NBLOCKS * matrix[i].fs_bs,
		.block_size = matrix[i].dev_bs,
	};

	e->bs = matrix[i].fs_bs;
	ck_assert_int_eq(bdev_test_create(&o, &e->bdev), 0);
	ck_assert_int_eq(cache_create(e->bdev, e->bs, uuid1, max_blocks, &e->c),
			 0);
}

static void env_close(struct env *e)
{
	cache_destroy(e->c);
	bdev_close(e->bdev);
}

static unsigned char *dev_block(struct env *e, uint64_t blkno)
{
	return bdev_test_data(e->bdev) + blkno * e->bs;
}

static uint64_t dev_reads(struct env *e)
{
	struct bdev_stats st;

	bdev_get_stats(e->bdev, &st);
	return st.reads;
}

/* Fill the block past its header with a pattern that depends on seed. */
static void fill(void *data, uint32_t bs, unsigned seed)
{
	unsigned char *p = data;
	uint32_t i;

	for (i = sizeof(struct diofs_blkhdr); i < bs; i++)
		p[i] = (unsigned char)(i * 31 + seed * 7 + 1);
}

static int filled(const void *data, uint32_t bs, unsigned seed)
{
	const unsigned char *p = data;
	uint32_t i;

	for (i = sizeof(struct diofs_blkhdr); i < bs; i++)
		if (p[i] != (unsigned char)(i * 31 + seed * 7 + 1))
			return 0;
	return 1;
}

/* Create blocks [first, first+n) with pattern seed+blkno in one commit. */
static void commit_new(struct env *e, uint64_t first, unsigned n,
		       uint32_t magic, unsigned seed)
{
	struct txn *t;
	struct mbuf *b;
	unsigned i;

	ck_assert_int_eq(txn_begin(e->c, &t), 0);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(cache_new(e->c, first + i, magic, &b), 0);
		ck_assert_int_eq(txn_add(t, b), 0);
		fill(b->data, e->bs, seed + (unsigned)(first + i));
		cache_release(e->c, b);
	}
	ck_assert_int_eq(txn_commit(t), 0);
}

/* ---- crc ------------------------------------------------------------------ */

START_TEST(test_crc32c_standard)
{
	static const char check[] = "123456789";
	unsigned char buf[1000];
	uint32_t whole, part;
	size_t i;

	ck_assert_uint_eq(diofs_crc32c(0, check, 9), 0xE3069283u);
	ck_assert_uint_eq(diofs_crc32c(0, "", 0), 0);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 13);
	whole = diofs_crc32c(0, buf, sizeof(buf));
	for (i = 0; i <= sizeof(buf); i += 111) {
		part = diofs_crc32c(0, buf, i);
		ck_assert_uint_eq(diofs_crc32c(part, buf + i, sizeof(buf) - i),
				  whole);
	}
}
END_TEST

START_TEST(test_blkhdr)
{
	uint32_t bs = matrix[_i].fs_bs, off;
	unsigned char *blk = calloc(1, bs);
	const struct diofs_blkhdr *h = (const void *)blk;

	ck_assert_ptr_nonnull(blk);
	fill(blk, bs, 3);
	blkhdr_stamp(blk, bs, MAGIC_A, 77, uuid1);
	ck_assert_uint_eq(le32toh(h->magic), MAGIC_A);
	ck_assert_uint_eq(le64toh(h->blkno), 77);
	ck_assert_int_eq(blkhdr_verify(blk, bs, MAGIC_A, 77, uuid1), 0);
	ck_assert_int_eq(blkhdr_verify(blk, bs, MAGIC_B, 77, uuid1), -EUCLEAN);
	ck_assert_int_eq(blkhdr_verify(blk, bs, MAGIC_A, 78, uuid1), -EUCLEAN);
	ck_assert_int_eq(blkhdr_verify(blk, bs, MAGIC_A, 77, uuid2), -EUCLEAN);

	/* one flipped bit anywhere, header included, is caught */
	for (off = 0; off < bs; off += off < 64 ? 1 : 997) {
		blk[off] ^= 0x10;
		ck_assert_int_eq(blkhdr_verify(blk, bs, MAGIC_A, 77, uuid1),
				 -EUCLEAN);
		blk[off] ^= 0x10;
	}
	blk[bs - 1] ^= 1;
	ck_assert_int_eq(blkhdr_verify(blk, bs, MAGIC_A, 77, uuid1), -EUCLEAN);
	blk[bs - 1] ^= 1;
	ck_assert_int_eq(blkhdr_verify(blk, bs, MAGIC_A, 77, uuid1), 0);
	free(blk);
}
END_TEST

/* ---- cache and transactions ----------------------------------------------- */

START_TEST(test_write_read)
{
	struct env e;
	struct mbuf *b;
	struct bdev_stats before, after;
	const struct bdev_log_entry *le;
	uint64_t r0;
	unsigned i;

	env_open(&e, _i, 16);

	bdev_test_log_clear(e.bdev);
	bdev_get_stats(e.bdev, &before);
	commit_new(&e, 4, 10, MAGIC_A, 100);
	bdev_get_stats(e.bdev, &after);
	/* one batch, ten writes, each a whole stamped block */
	ck_assert_uint_eq(after.writes - before.writes, 10);
	ck_assert_uint_eq(after.submit_calls - before.submit_calls, 1);
	ck_assert_uint_eq(bdev_test_log_count(e.bdev), 10);
	for (i = 0; i < 10; i++) {
		le = bdev_test_log_entry(e.bdev, i);
		ck_assert_int_eq(le->kind, BDEV_LOG_WRITE);
		ck_assert_uint_eq(le->len, e.bs);
		ck_assert_uint_eq(le->offset % e.bs, 0);
	}
	for (i = 4; i < 14; i++) {
		ck_assert_int_eq(blkhdr_verify(dev_block(&e, i), e.bs, MAGIC_A,
					       i, uuid1), 0);
		ck_assert(filled(dev_block(&e, i), e.bs, 100 + i));
	}

	/* cached: no device reads */
	r0 = dev_reads(&e);
	ck_assert_int_eq(cache_read(e.c, 9, MAGIC_A, &b), 0);
	ck_assert_uint_eq(b->blkno, 9);
	ck_assert(filled(b->data, e.bs, 109));
	cache_release(e.c, b);
	ck_assert_uint_eq(dev_reads(&e), r0);

	/* a second cache over the same device reads what was written */
	cache_destroy(e.c);
	ck_assert_int_eq(cache_create(e.bdev, e.bs, uuid1, 16, &e.c), 0);
	for (i = 4; i < 14; i++) {
		ck_assert_int_eq(cache_read(e.c, i, MAGIC_A, &b), 0);
		ck_assert(filled(b->data, e.bs, 100 + i));
		ck_assert_uint_eq((uintptr_t)b->data % bdev_mem_align(e.bdev), 0);
		cache_release(e.c, b);
	}
	ck_assert_uint_eq(dev_reads(&e), r0 + 10);

	/* changing a block that came from the device */
	ck_assert_int_eq(cache_read(e.c, 5, MAGIC_A, &b), 0);
	{
		struct txn *t;

		ck_assert_int_eq(txn_begin(e.c, &t), 0);
		ck_assert_int_eq(txn_add(t, b), 0);
		cache_release(e.c, b);	/* the transaction holds its own */
		fill(b->data, e.bs, 555);
		ck_assert_int_eq(txn_commit(t), 0);
	}
	ck_assert(filled(dev_block(&e, 5), e.bs, 555));
	ck_assert_int_eq(blkhdr_verify(dev_block(&e, 5), e.bs, MAGIC_A, 5,
				       uuid1), 0);

	/* out of range */
	ck_assert_int_eq(cache_read(e.c, NBLOCKS, MAGIC_A, &b), -EUCLEAN);
	ck_assert_int_eq(cache_new(e.c, NBLOCKS, MAGIC_A, &b), -EINVAL);
	ck_assert_uint_eq(cache_block_size(e.c), e.bs);
	env_close(&e);
}
END_TEST

START_TEST(test_add_twice)
{
	struct env e;
	struct txn *t;
	struct mbuf *b;

	env_open(&e, _i, 16);
	commit_new(&e, 3, 1, MAGIC_A, 1);
	ck_assert_int_eq(cache_read(e.c, 3, MAGIC_A, &b), 0);
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(txn_add(t, b), 0);
	fill(b->data, e.bs, 2);
	ck_assert_int_eq(txn_add(t, b), 0);
	fill(b->data, e.bs, 3);
	bdev_test_log_clear(e.bdev);
	ck_assert_int_eq(txn_commit(t), 0);
	ck_assert_uint_eq(bdev_test_log_count(e.bdev), 1);
	ck_assert(filled(dev_block(&e, 3), e.bs, 3));

	/* and an abort goes back to the state at the first add */
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(txn_add(t, b), 0);
	fill(b->data, e.bs, 4);
	ck_assert_int_eq(txn_add(t, b), 0);
	fill(b->data, e.bs, 5);
	txn_abort(t);
	ck_assert(filled(b->data, e.bs, 3));
	cache_release(e.c, b);
	env_close(&e);
}
END_TEST

START_TEST(test_checksum_mismatch)
{
	struct env e;
	struct mbuf *b;
	unsigned i;

	env_open(&e, _i, 4);
	commit_new(&e, 1, 3, MAGIC_A, 10);

	/* behind the cache's back: a bit in the body of block 1 */
	dev_block(&e, 1)[e.bs / 2] ^= 0x01;
	ck_assert_int_eq(cache_read(e.c, 1, MAGIC_A, &b), 0);	/* still cached */
	cache_release(e.c, b);
	cache_forget(e.c, 1);
	ck_assert_int_eq(cache_read(e.c, 1, MAGIC_A, &b), -EUCLEAN);
	ck_assert_int_eq(cache_read(e.c, 1, MAGIC_A, &b), -EUCLEAN);

	/* the last byte of block 2, lost through eviction rather than forget */
	dev_block(&e, 2)[e.bs - 1] ^= 0x80;
	commit_new(&e, 10, 8, MAGIC_B, 20);
	for (i = 10; i < 18; i++) {
		ck_assert_int_eq(cache_read(e.c, i, MAGIC_B, &b), 0);
		cache_release(e.c, b);
	}
	ck_assert_int_eq(cache_read(e.c, 2, MAGIC_A, &b), -EUCLEAN);

	/* the crc field itself */
	dev_block(&e, 3)[5] ^= 0x02;
	cache_forget(e.c, 3);
	ck_assert_int_eq(cache_read(e.c, 3, MAGIC_A, &b), -EUCLEAN);
	dev_block(&e, 3)[5] ^= 0x02;
	ck_assert_int_eq(cache_read(e.c, 3, MAGIC_A, &b), 0);
	ck_assert(filled(b->data, e.bs, 13));
	cache_release(e.c, b);

	/* a block never written (all zeros) */
	ck_assert_int_eq(cache_read(e.c, 40, MAGIC_A, &b), -EUCLEAN);
	env_close(&e);
}
END_TEST

START_TEST(test_wrong_identity)
{
	struct env e;
	struct cache *other;
	struct mbuf *b;
	uint64_t r0;

	env_open(&e, _i, 16);
	commit_new(&e, 7, 1, MAGIC_A, 30);

	/* wrong magic: refused, but the intact block stays cached */
	cache_forget(e.c, 7);
	r0 = dev_reads(&e);
	ck_assert_int_eq(cache_read(e.c, 7, MAGIC_B, &b), -EUCLEAN);
	ck_assert_int_eq(cache_read(e.c, 7, MAGIC_A, &b), 0);
	ck_assert_uint_eq(dev_reads(&e), r0 + 1);
	ck_assert_int_eq(cache_read(e.c, 7, MAGIC_B, &b), -EUCLEAN);
	cache_release(e.c, b);

	/* a block written where another belongs: wrong blkno */
	memcpy(dev_block(&e, 9), dev_block(&e, 7), e.bs);
	ck_assert_int_eq(cache_read(e.c, 9, MAGIC_A, &b), -EUCLEAN);

	/* a block of another filesystem: wrong UUID */
	ck_assert_int_eq(cache_create(e.bdev, e.bs, uuid2, 16, &other), 0);
	ck_assert_int_eq(cache_read(other, 7, MAGIC_A, &b), -EUCLEAN);
	cache_destroy(other);
	env_close(&e);
}
END_TEST

START_TEST(test_abort_restores)
{
	struct env e;
	struct txn *t;
	struct mbuf *b, *n;

	env_open(&e, _i, 16);
	commit_new(&e, 2, 2, MAGIC_A, 40);
	bdev_test_log_clear(e.bdev);

	ck_assert_int_eq(cache_read(e.c, 2, MAGIC_A, &b), 0);
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(txn_add(t, b), 0);
	fill(b->data, e.bs, 99);
	/* a block created in the aborted transaction */
	ck_assert_int_eq(cache_new(e.c, 20, MAGIC_A, &n), 0);
	ck_assert_int_eq(txn_add(t, n), 0);
	fill(n->data, e.bs, 98);
	cache_release(e.c, n);
	txn_abort(t);
	ck_assert(filled(b->data, e.bs, 42));
	cache_release(e.c, b);
	ck_assert_uint_eq(bdev_test_log_count(e.bdev), 0);
	/* the aborted creation is not cached as valid: block 20 is zeros */
	ck_assert_int_eq(cache_read(e.c, 20, MAGIC_A, &b), -EUCLEAN);

	/* a creation that never joined a transaction */
	ck_assert_int_eq(cache_new(e.c, 21, MAGIC_A, &n), 0);
	cache_release(e.c, n);
	ck_assert_int_eq(cache_read(e.c, 21, MAGIC_A, &b), -EUCLEAN);

	/* cache_new over a cached block, not kept: the device copy returns */
	ck_assert_int_eq(cache_new(e.c, 3, MAGIC_B, &n), 0);
	ck_assert_int_eq(cache_read(e.c, 3, MAGIC_B, &b), 0);	/* the new one */
	ck_assert_ptr_eq(b, n);
	cache_release(e.c, b);
	cache_release(e.c, n);
	ck_assert_int_eq(cache_read(e.c, 3, MAGIC_A, &b), 0);
	ck_assert(filled(b->data, e.bs, 43));

	/* cache_new over a block already in the transaction; abort */
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(txn_add(t, b), 0);
	cache_release(e.c, b);
	ck_assert_int_eq(cache_new(e.c, 3, MAGIC_B, &n), 0);
	ck_assert_int_eq(txn_add(t, n), 0);
	cache_release(e.c, n);
	txn_abort(t);
	ck_assert_int_eq(cache_read(e.c, 3, MAGIC_A, &b), 0);
	ck_assert(filled(b->data, e.bs, 43));
	cache_release(e.c, b);
	ck_assert_uint_eq(bdev_test_log_count(e.bdev), 0);
	env_close(&e);
}
END_TEST

START_TEST(test_forget_in_txn)
{
	struct env e;
	struct txn *t;
	struct mbuf *b;

	env_open(&e, _i, 16);
	commit_new(&e, 5, 2, MAGIC_A, 50);
	bdev_test_log_clear(e.bdev);

	/* changed, then freed in the same transaction: not written */
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(cache_read(e.c, 5, MAGIC_A, &b), 0);
	ck_assert_int_eq(txn_add(t, b), 0);
	fill(b->data, e.bs, 77);
	cache_forget(e.c, 5);
	cache_release(e.c, b);
	ck_assert_int_eq(cache_read(e.c, 6, MAGIC_A, &b), 0);
	ck_assert_int_eq(txn_add(t, b), 0);
	fill(b->data, e.bs, 78);
	cache_release(e.c, b);
	ck_assert_int_eq(txn_commit(t), 0);
	ck_assert_uint_eq(bdev_test_log_count(e.bdev), 1);
	ck_assert_uint_eq(bdev_test_log_entry(e.bdev, 0)->offset, 6ull * e.bs);
	ck_assert(filled(dev_block(&e, 5), e.bs, 55));

	/* the same, aborted: the device copy is what a reader gets */
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(cache_read(e.c, 6, MAGIC_A, &b), 0);
	ck_assert_int_eq(txn_add(t, b), 0);
	fill(b->data, e.bs, 79);
	cache_forget(e.c, 6);
	cache_release(e.c, b);
	txn_abort(t);
	ck_assert_int_eq(cache_read(e.c, 6, MAGIC_A, &b), 0);
	ck_assert(filled(b->data, e.bs, 78));
	cache_release(e.c, b);
	env_close(&e);
}
END_TEST

struct cb_log {
	int n;
	int order[8];
	int committed[8];
};

static struct cb_log cblog;

static void on_end_cb(void *arg, int committed)
{
	cblog.order[cblog.n] = (int)(intptr_t)arg;
	cblog.committed[cblog.n] = committed;
	cblog.n++;
}

START_TEST(test_on_end)
{
	struct env e;
	struct txn *t;
	struct mbuf *b;
	int i, round;

	env_open(&e, _i, 16);
	for (round = 0; round < 2; round++) {
		memset(&cblog, 0, sizeof(cblog));
		ck_assert_int_eq(txn_begin(e.c, &t), 0);
		ck_assert_int_eq(cache_new(e.c, 8, MAGIC_A, &b), 0);
		ck_assert_int_eq(txn_add(t, b), 0);
		cache_release(e.c, b);
		for (i = 1; i <= 5; i++)
			ck_assert_int_eq(txn_on_end(t, on_end_cb,
						    (void *)(intptr_t)i), 0);
		ck_assert_int_eq(cblog.n, 0);
		if (round == 0)
			ck_assert_int_eq(txn_commit(t), 0);
		else
			txn_abort(t);
		ck_assert_int_eq(cblog.n, 5);
		for (i = 0; i < 5; i++) {
			ck_assert_int_eq(cblog.order[i], i + 1);
			ck_assert_int_eq(cblog.committed[i], round == 0);
		}
	}
	/* an empty transaction ends too */
	memset(&cblog, 0, sizeof(cblog));
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	ck_assert_int_eq(txn_on_end(t, on_end_cb, (void *)(intptr_t)7), 0);
	ck_assert_int_eq(txn_commit(t), 0);
	ck_assert_int_eq(cblog.n, 1);
	ck_assert_int_eq(cblog.committed[0], 1);
	env_close(&e);
}
END_TEST

START_TEST(test_eviction)
{
	enum { MAX = 8 };
	struct env e;
	struct mbuf *b, *held[12];
	uint64_t r0;
	unsigned i;

	env_open(&e, _i, MAX);
	/* 32 blocks pinned by one transaction, then let go */
	commit_new(&e, 0, 32, MAGIC_A, 60);

	/* exactly the MAX most recently released stay */
	r0 = dev_reads(&e);
	for (i = 32 - MAX; i < 32; i++) {
		ck_assert_int_eq(cache_read(e.c, i, MAGIC_A, &b), 0);
		cache_release(e.c, b);
	}
	ck_assert_uint_eq(dev_reads(&e), r0);
	ck_assert_int_eq(cache_read(e.c, 32 - MAX - 1, MAGIC_A, &b), 0);
	cache_release(e.c, b);
	ck_assert_uint_eq(dev_reads(&e), r0 + 1);
	/* that read pushed out the least recently used one, 32 - MAX */
	r0 = dev_reads(&e);
	ck_assert_int_eq(cache_read(e.c, 32 - MAX + 1, MAGIC_A, &b), 0);
	cache_release(e.c, b);
	ck_assert_uint_eq(dev_reads(&e), r0);
	ck_assert_int_eq(cache_read(e.c, 32 - MAX, MAGIC_A, &b), 0);
	cache_release(e.c, b);
	ck_assert_uint_eq(dev_reads(&e), r0 + 1);

	/* referenced blocks are never evicted, even past the limit */
	for (i = 0; i < 12; i++)
		ck_assert_int_eq(cache_read(e.c, i, MAGIC_A, &held[i]), 0);
	for (i = 12; i < 32; i++) {
		ck_assert_int_eq(cache_read(e.c, i, MAGIC_A, &b), 0);
		cache_release(e.c, b);
	}
	r0 = dev_reads(&e);
	for (i = 0; i < 12; i++) {
		ck_assert_int_eq(cache_read(e.c, i, MAGIC_A, &b), 0);
		ck_assert_ptr_eq(b, held[i]);
		ck_assert(filled(b->data, e.bs, 60 + i));
		cache_release(e.c, b);
	}
	ck_assert_uint_eq(dev_reads(&e), r0);
	for (i = 0; i < 12; i++)
		cache_release(e.c, held[i]);
	/* and once released the count is back to MAX: blocks 4..11 stay */
	r0 = dev_reads(&e);
	for (i = 4; i < 12; i++) {
		ck_assert_int_eq(cache_read(e.c, i, MAGIC_A, &b), 0);
		cache_release(e.c, b);
	}
	ck_assert_uint_eq(dev_reads(&e), r0);
	ck_assert_int_eq(cache_read(e.c, 12, MAGIC_A, &b), 0);
	cache_release(e.c, b);
	ck_assert_uint_eq(dev_reads(&e), r0 + 1);
	env_close(&e);
}
END_TEST

START_TEST(test_write_error)
{
	struct env e;
	struct txn *t;
	struct mbuf *b;
	uint64_t i;

	env_open(&e, _i, 16);
	commit_new(&e, 2, 3, MAGIC_A, 70);
	memset(&cblog, 0, sizeof(cblog));

	bdev_test_fail_range(e.bdev, BDEV_WRITE, 3ull * e.bs, e.bs, -EIO);
	ck_assert_int_eq(txn_begin(e.c, &t), 0);
	for (i = 2; i < 5; i++) {
		ck_assert_int_eq(cache_read(e.c, i, MAGIC_A, &b), 0);
		ck_assert_int_eq(txn_add(t, b), 0);
		fill(b->data, e.bs, 80 + (unsigned)i);
		cache_release(e.c, b);
	}
	ck_assert_int_eq(txn_on_end(t, on_end_cb, (void *)(intptr_t)1), 0);
	ck_assert_int_eq(txn_commit(t), -EIO);
	ck_assert_int_eq(cblog.n, 1);
	ck_assert_int_eq(cblog.committed[0], 0);
	/* the failed block kept its old contents on the device */
	ck_assert(filled(dev_block(&e, 3), e.bs, 73));
	/* memory is not rolled back */
	for (i = 2; i < 5; i++) {
		ck_assert_int_eq(cache_read(e.c, i, MAGIC_A, &b), 0);
		ck_assert(filled(b->data, e.bs, 80 + (unsigned)i));
		cache_release(e.c, b);
	}
	bdev_test_clear_faults(e.bdev);

	/* a read error is passed on */
	bdev_test_fail_range(e.bdev, BDEV_READ, 30ull * e.bs, e.bs, -EIO);
	ck_assert_int_eq(cache_read(e.c, 30, MAGIC_A, &b), -EIO);
	bdev_test_clear_faults(e.bdev);
	env_close(&e);
}
END_TEST

START_TEST(test_many_blocks_one_commit)
{
	/* more blocks than the queue depth go out in several batches */
	struct env e;
	struct mbuf *b;
	unsigned i;

	env_open(&e, _i, 4);
	bdev_test_short_completions(e.bdev, 5, matrix[_i].dev_bs);
	commit_new(&e, 0, NBLOCKS, MAGIC_A, 90);
	bdev_test_clear_faults(e.bdev);
	for (i = 0; i < NBLOCKS; i++) {
		ck_assert_int_eq(blkhdr_verify(dev_block(&e, i), e.bs, MAGIC_A,
					       i, uuid1), 0);
		ck_assert(filled(dev_block(&e, i), e.bs, 90 + i));
	}
	for (i = 0; i < NBLOCKS; i++) {
		ck_assert_int_eq(cache_read(e.c, i, MAGIC_A, &b), 0);
		cache_release(e.c, b);
	}
	env_close(&e);
}
END_TEST

struct reader_arg {
	struct env *e;
	unsigned seed;
	int failures;
};

static void *reader(void *p)
{
	struct reader_arg *a = p;
	struct mbuf *b;
	int i;

	for (i = 0; i < 3000; i++) {
		uint64_t blkno = rand_r(&a->seed) % NBLOCKS;

		if (cache_read(a->e->c, blkno, MAGIC_A, &b) ||
		    !filled(b->data, a->e->bs, 5 + (unsigned)blkno)) {
			a->failures++;
			continue;
		}
		cache_release(a->e->c, b);
	}
	return NULL;
}

START_TEST(test_threads)
{
	struct env e;
	pthread_t th[4];
	struct reader_arg a[4];
	int i;

	env_open(&e, 1, 8);
	commit_new(&e, 0, NBLOCKS, MAGIC_A, 5);
	for (i = 0; i < 4; i++) {
		a[i].e = &e;
		a[i].seed = (unsigned)i + 1;
		a[i].failures = 0;
		ck_assert_int_eq(pthread_create(&th[i], NULL, reader, &a[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(a[i].failures, 0);
	}
	env_close(&e);
}
END_TEST

static Suite *cache_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc;

	tc = tcase_create("crc");
	tcase_add_test(tc, test_crc32c_standard);
	tcase_add_loop_test(tc, test_blkhdr, 0, NMATRIX);
	suite_add_tcase(s, tc);

	tc = tcase_create("cache");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_write_read, 0, NMATRIX);
	tcase_add_loop_test(tc, test_add_twice, 0, NMATRIX);
	tcase_add_loop_test(tc, test_checksum_mismatch, 0, NMATRIX);
	tcase_add_loop_test(tc, test_wrong_identity, 0, NMATRIX);
	tcase_add_loop_test(tc, test_abort_restores, 0, NMATRIX);
	tcase_add_loop_test(tc, test_forget_in_txn, 0, NMATRIX);
	tcase_add_loop_test(tc, test_on_end, 0, NMATRIX);
	tcase_add_loop_test(tc, test_eviction, 0, NMATRIX);
	tcase_add_loop_test(tc, test_write_error, 0, NMATRIX);
	tcase_add_loop_test(tc, test_many_blocks_one_commit, 0, NMATRIX);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cache_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
