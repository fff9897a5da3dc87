/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_dio: Check suite for the direct-I/O worker (dio.c).
 *
 * The worker is driven through a small in-memory filesystem: a table of
 * file block -> (state, device block) and an allocator over the device that
 * hands out contiguous runs or deliberately fragmented ones and can run out
 * of space.  Its get_block returns the longest run of same-state,
 * device-contiguous blocks, so the worker's coalescing is observable in the
 * device's request counters.  Every hook counts its calls and checks the
 * worker's side of the contract where it can see it.  On demand the model
 * also misbehaves the way the regression cases need: DIO_MAP_BOUNDARY on
 * every mapping, holes described to the end of the file space, a
 * get_block(create) that answers with a hole, and device faults armed at
 * the moment a given block is mapped (when earlier blocks are in flight).
 *
 * Rules:
 *  1. Every case runs over a table of geometries (fs block 1 KiB to 64 KiB,
 *     device block 512 and 4096): direct-I/O bugs tend to live at one
 *     alignment only.
 *  2. Test devices are filled with 0xA5 before use, so stale contents that
 *     leak into a file are recognisable.  Pattern bytes never take the value
 *     0 or 0xA5.
 *  3. When a case sets model.expect (the file image after the write in
 *     progress), convert() and set_size() compare the device with it: the
 *     data must be on the device before either hook runs.
 *  4. Image files for the file-backed device are unlinked right after they
 *     are opened, so a failing case (Check forks one process per case)
 *     leaves nothing behind.
 *  5. Asynchronous cases (dio_submit) keep each transfer's buffer and the
 *     result dio_rw() would give in a struct aop until its done has run.
 *     done only records what it is given; the case checks it afterwards,
 *     so no assertion unwinds through the worker.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <unistd.h>

#include "diofs/bdev.h"
#include "diofs/dio.h"

#include "pattern.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)
#define GARBAGE 0xA5
#define ALLOC_BASE 3		/* first device block the allocator hands out */
#define CASE_TIMEOUT 60

struct geom {
	unsigned fs_bs;
	unsigned dev_bs;
};

static const struct geom geoms[] = {
	{ 1024, 512 },
	{ 4096, 512 },
	{ 4096, 4096 },
	{ 16384, 512 },
	{ 16384, 4096 },
	{ 65536, 512 },
	{ 65536, 4096 },
};
#define NGEOMS ((int)(sizeof(geoms) / sizeof(geoms[0])))

/* fs block sizes for the file-backed device (raised to its block size) */
static const unsigned file_fs_bs[] = { 1024, 4096, 16384, 65536 };
#define NFILEGEOMS ((int)(sizeof(file_fs_bs) / sizeof(file_fs_bs[0])))

static char where[96];		/* geometry of the running case, for messages */

/* ---- data patterns and comparisons ------------------------------------- */

/* First differing offset, or -1; want == NULL means zeros. */
static ssize_t memdiff(const unsigned char *got, const unsigned char *want,
		       size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (got[i] != (want ? want[i] : 0))
			return (ssize_t)i;
	return -1;
}

static void expect_mem(const unsigned char *got, const unsigned char *want,
		       size_t n, const char *fmt, ...)
{
	ssize_t d = memdiff(got, want, n);
	char what[256];
	va_list ap;

	if (d < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	ck_abort_msg("%s: %s: byte %zd of %zu: got 0x%02x, want 0x%02x",
		     where, what, d, n, got[d], want ? want[d] : 0);
}

static void *xalloc(size_t n)
{
	void *p = NULL;

	ck_assert_int_eq(posix_memalign(&p, 4096, n ? n : 1), 0);
	return p;
}

static void *xzalloc(size_t n)
{
	void *p = xalloc(n);

	memset(p, 0, n);
	return p;
}

/* ---- the device under test: in-memory or a file-backed image ----------- */

struct env {
	struct bdev *bdev;
	struct bdev_queue *q;	/* the test's own queue (file-backed only) */
	int fd;			/* buffered descriptor on the image, or -1 */
	uint32_t dev_bs;
	uint64_t size;
};

static void env_open_test(struct env *e, unsigned dev_bs, uint64_t size)
{
	struct bdev_test_opts o = { .size = size, .block_size = dev_bs };

	memset(e, 0, sizeof(*e));
	e->fd = -1;
	ck_assert_int_eq(bdev_test_create(&o, &e->bdev), 0);
	e->dev_bs = bdev_block_size(e->bdev);
	e->size = bdev_size(e->bdev);
	ck_assert_uint_eq(e->dev_bs, dev_bs);
	ck_assert_uint_eq(e->size, size);
	memset(bdev_test_data(e->bdev), GARBAGE, size);
}

static void env_open_file(struct env *e, uint64_t size)
{
	char path[] = "/tmp/diofs-test-dio-XXXXXX";
	const char *msg = NULL;
	unsigned char *chunk;
	int rc;

	memset(e, 0, sizeof(*e));
	e->fd = mkstemp(path);
	ck_assert_msg(e->fd >= 0, "mkstemp: %s", strerror(errno));
	chunk = xalloc(MiB);
	memset(chunk, GARBAGE, MiB);
	for (uint64_t off = 0; off < size; off += MiB) {
		size_t n = size - off < MiB ? size - off : MiB;

		if (pwrite(e->fd, chunk, n, (off_t)off) != (ssize_t)n) {
			unlink(path);
			ck_abort_msg("filling %s: %s", path, strerror(errno));
		}
	}
	free(chunk);
	rc = fsync(e->fd);
	if (rc == 0)
		rc = bdev_open(path, BDEV_RDWR, &e->bdev, &msg);
	unlink(path);
	ck_assert_msg(rc == 0, "bdev_open(%s): %d %s", path, rc,
		      msg ? msg : "");
	e->dev_bs = bdev_block_size(e->bdev);
	e->size = bdev_size(e->bdev);
	ck_assert_uint_eq(e->size, size);
	ck_assert_int_eq(bdev_queue_open(e->bdev, 4, &e->q), 0);
}

static void env_close(struct env *e)
{
	if (e->q)
		bdev_queue_close(e->q);
	bdev_close(e->bdev);
	if (e->fd >= 0)
		close(e->fd);
}

static void dev_read(struct env *e, uint64_t off, void *dst, size_t len)
{
	ck_assert_uint_le(off + len, e->size);
	if (e->fd < 0) {
		memcpy(dst, bdev_test_data(e->bdev) + off, len);
		return;
	}
	ck_assert_int_eq(pread(e->fd, dst, len, (off_t)off), (ssize_t)len);
}

/* Fixture data goes in through the bdev itself, aligned, on the test's queue. */
static void dev_write(struct env *e, uint64_t off, const void *src, size_t len)
{
	uint64_t a, end;
	unsigned char *b;

	ck_assert_uint_le(off + len, e->size);
	if (e->fd < 0) {
		memcpy(bdev_test_data(e->bdev) + off, src, len);
		return;
	}
	a = off / e->dev_bs * e->dev_bs;
	end = (off + len + e->dev_bs - 1) / e->dev_bs * e->dev_bs;
	b = xalloc(end - a);
	ck_assert_int_eq(bdev_pread(e->q, b, end - a, a), (ssize_t)(end - a));
	memcpy(b + (off - a), src, len);
	ck_assert_int_eq(bdev_pwrite(e->q, b, end - a, a), (ssize_t)(end - a));
	free(b);
}

/* ---- the filesystem model ---------------------------------------------- */

enum { B_HOLE, B_UNWRITTEN, B_MAPPED };

struct mblk {
	unsigned char state;
	uint64_t pblk;
};

struct model {
	struct dio_file f;
	struct env *env;
	pthread_mutex_t mu;
	unsigned bs;
	uint64_t nblocks;	/* file blocks the table covers */
	struct mblk *map;

	/* allocator, in fs blocks of the device */
	uint64_t dev_blocks;
	unsigned char *used;
	uint64_t cursor;
	unsigned stride;	/* 1: contiguous runs; 2: every other block */
	long budget;		/* blocks left before -ENOSPC; < 0: unlimited */
	uint64_t max_run;	/* longest mapping get_block returns; 0: no limit */

	/* hook accounting */
	unsigned gb_calls, gb_create_calls, convert_calls, size_calls,
		 release_calls;
	uint64_t converted, released, min_released, last_size;
	unsigned bad;		/* contract violations the hooks saw */
	char bad_what[160];

	/* ordering check (rule 3) */
	const unsigned char *expect;
	uint64_t expect_len, wr_off, wr_end;
	unsigned early;
	char early_what[160];

	/* misbehaviour on demand (all off after model_reset) */
	int boundary;		/* every mapping carries DIO_MAP_BOUNDARY */
	int hole_to_end;	/* holes reach the end of the file space */
	uint64_t create_hole_from; /* get_block(create) answers HOLE from here */
	uint64_t min_create_lblk;  /* lowest block asked for with create */
	int fault_armed;	/* when fault_lblk is asked for, the device */
	uint64_t fault_lblk;	/* gets one short completion of fault_short */
	size_t fault_short;	/* bytes and fault_eagain EAGAINs */
	unsigned fault_eagain;
	int conv_uniform;	/* convert(): the block is all conv_vals[0] or */
	unsigned char conv_vals[2]; /* all conv_vals[1] on the device */
};

static void note(char *dst, const char *fmt, ...)
{
	va_list ap;

	if (dst[0])
		return;		/* keep the first */
	va_start(ap, fmt);
	vsnprintf(dst, 160, fmt, ap);
	va_end(ap);
}

static int model_alloc(struct model *m, uint64_t *pblk)
{
	if (m->budget == 0)
		return -ENOSPC;
	for (uint64_t i = 0; i < m->dev_blocks; i++) {
		uint64_t b = (m->cursor + i) % m->dev_blocks;

		if (b < ALLOC_BASE || m->used[b])
			continue;
		m->used[b] = 1;
		m->cursor = b + m->stride;
		if (m->budget > 0)
			m->budget--;
		*pblk = b;
		return 0;
	}
	return -ENOSPC;
}

/* Take device block want if it is the allocator's next choice. */
static int model_alloc_next(struct model *m, uint64_t want)
{
	if (m->budget == 0 || want >= m->dev_blocks || m->used[want] ||
	    m->cursor != want)
		return 0;
	m->used[want] = 1;
	m->cursor = want + m->stride;
	if (m->budget > 0)
		m->budget--;
	return 1;
}

/* Device comparison for rule 3: block lblk must hold expect's bytes. */
static void model_check_order(struct model *m, uint64_t lblk, const char *hook)
{
	uint64_t lo = lblk * m->bs;
	unsigned char *got, *want;
	ssize_t d;

	if (!m->expect || m->map[lblk].state == B_HOLE)
		return;
	got = malloc(m->bs);
	want = calloc(1, m->bs);
	if (lo < m->expect_len)
		memcpy(want, m->expect + lo,
		       m->expect_len - lo < m->bs ? m->expect_len - lo : m->bs);
	dev_read(m->env, m->map[lblk].pblk * m->bs, got, m->bs);
	d = memdiff(got, want, m->bs);
	if (d >= 0) {
		m->early++;
		note(m->early_what,
		     "%s: file block %" PRIu64 " byte %zd is 0x%02x on the device, want 0x%02x",
		     hook, lblk, d, got[d], want[d]);
	}
	free(got);
	free(want);
}

static int m_get_block(struct dio_file *f, uint64_t lblk, uint64_t max,
		       int create, struct dio_map *map)
{
	struct model *m = f->priv;
	uint64_t end, n, pblk;
	int rc = 0;

	pthread_mutex_lock(&m->mu);
	m->gb_calls++;
	if (create) {
		m->gb_create_calls++;
		if (lblk < m->min_create_lblk)
			m->min_create_lblk = lblk;
	}
	if (m->fault_armed && lblk == m->fault_lblk) {
		/* what the worker sent before asking is at the device now */
		m->fault_armed = 0;
		bdev_test_short_completions(m->env->bdev, 1, m->fault_short);
		bdev_test_eagain(m->env->bdev, m->fault_eagain);
	}
	memset(map, 0, sizeof(*map));
	map->lblk = lblk;
	if (create && lblk >= m->create_hole_from) {
		/* a broken callback: create must allocate */
		map->type = DIO_MAP_HOLE;
		map->len = 1;
		goto out;
	}
	if (max == 0) {
		m->bad++;
		note(m->bad_what, "get_block(%" PRIu64 ", max 0)", lblk);
		rc = -EINVAL;
		goto out;
	}
	if (lblk >= m->nblocks) {
		if (create) {
			m->bad++;
			note(m->bad_what, "get_block(create) beyond the model at %" PRIu64, lblk);
			rc = -EFBIG;
			goto out;
		}
		map->type = DIO_MAP_HOLE;
		map->len = max;
		goto out;
	}
	if (m->max_run && max > m->max_run)
		max = m->max_run;
	end = max > m->nblocks - lblk ? m->nblocks : lblk + max;
	n = 1;
	switch (m->map[lblk].state) {
	case B_HOLE:
		if (!create) {
			while (lblk + n < end && m->map[lblk + n].state == B_HOLE)
				n++;
			map->type = DIO_MAP_HOLE;
			break;
		}
		rc = model_alloc(m, &pblk);
		if (rc)
			goto out;
		m->map[lblk].state = B_UNWRITTEN;
		m->map[lblk].pblk = pblk;
		while (lblk + n < end && m->map[lblk + n].state == B_HOLE &&
		       model_alloc_next(m, pblk + n)) {
			m->map[lblk + n].state = B_UNWRITTEN;
			m->map[lblk + n].pblk = pblk + n;
			n++;
		}
		map->type = DIO_MAP_UNWRITTEN;
		map->flags = DIO_MAP_NEW;
		map->pblk = pblk;
		break;
	default:
		while (lblk + n < end &&
		       m->map[lblk + n].state == m->map[lblk].state &&
		       m->map[lblk + n].pblk == m->map[lblk].pblk + n)
			n++;
		map->type = m->map[lblk].state == B_MAPPED ?
			DIO_MAP_MAPPED : DIO_MAP_UNWRITTEN;
		map->pblk = m->map[lblk].pblk;
		break;
	}
	map->len = n;
out:
	if (!rc && m->hole_to_end && map->type == DIO_MAP_HOLE && !create)
		/* far more than max: up to 2^64 bytes, past any file offset */
		map->len = (UINT64_MAX >> __builtin_ctz(m->bs)) - lblk + 1;
	if (!rc && m->boundary)
		map->flags |= DIO_MAP_BOUNDARY;
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/*
 * convert() with two writers of uniform blocks in flight: the block must be
 * all one writer's byte.  Read on a queue of its own, so that the test
 * device copies it out whole, never half-way through another write.
 */
static void model_check_uniform(struct model *m, uint64_t lblk)
{
	struct bdev_queue *q = NULL;
	unsigned char *got = NULL;
	ssize_t r = -ENOMEM;

	if (!posix_memalign((void **)&got, 4096, m->bs) &&
	    !bdev_queue_open(m->env->bdev, 1, &q))
		r = bdev_pread(q, got, m->bs, m->map[lblk].pblk * m->bs);
	if (r != (ssize_t)m->bs) {
		m->bad++;
		note(m->bad_what, "convert: reading block %" PRIu64 ": %zd", lblk, r);
	} else if (got[0] != m->conv_vals[0] && got[0] != m->conv_vals[1]) {
		m->early++;
		note(m->early_what, "convert: block %" PRIu64 " starts with 0x%02x",
		     lblk, got[0]);
	} else {
		for (unsigned i = 1; i < m->bs; i++) {
			if (got[i] != got[0]) {
				m->early++;
				note(m->early_what,
				     "convert: block %" PRIu64 " byte %u is 0x%02x, byte 0 0x%02x",
				     lblk, i, got[i], got[0]);
				break;
			}
		}
	}
	if (q)
		bdev_queue_close(q);
	free(got);
}

static int m_convert(struct dio_file *f, uint64_t lblk, uint64_t len)
{
	struct model *m = f->priv;

	pthread_mutex_lock(&m->mu);
	m->convert_calls++;
	for (uint64_t b = lblk; b < lblk + len; b++) {
		if (b >= m->nblocks || m->map[b].state == B_HOLE) {
			m->bad++;
			note(m->bad_what, "convert of hole block %" PRIu64, b);
			continue;
		}
		if (m->expect && (b * m->bs >= m->wr_end ||
				  (b + 1) * m->bs <= m->wr_off)) {
			m->bad++;
			note(m->bad_what, "convert of block %" PRIu64 " outside the write", b);
		}
		model_check_order(m, b, "convert");
		if (m->conv_uniform)
			model_check_uniform(m, b);
		m->map[b].state = B_MAPPED;
		m->converted++;
	}
	pthread_mutex_unlock(&m->mu);
	return 0;
}

static int m_set_size(struct dio_file *f, uint64_t size)
{
	struct model *m = f->priv;

	pthread_mutex_lock(&m->mu);
	m->size_calls++;
	if (size <= m->last_size) {
		m->bad++;
		note(m->bad_what, "set_size(%" PRIu64 ") does not grow %" PRIu64,
		     size, m->last_size);
	}
	m->last_size = size;
	if (m->expect) {
		for (uint64_t b = m->wr_off / m->bs;
		     b * m->bs < m->wr_end && b < m->nblocks; b++)
			model_check_order(m, b, "set_size");
	}
	pthread_mutex_unlock(&m->mu);
	return 0;
}

static void m_release(struct dio_file *f, uint64_t lblk, uint64_t len)
{
	struct model *m = f->priv;

	pthread_mutex_lock(&m->mu);
	m->release_calls++;
	if (lblk < m->min_released)
		m->min_released = lblk;
	for (uint64_t b = lblk; b < lblk + len && b < m->nblocks; b++) {
		if (m->map[b].state == B_HOLE)
			continue;
		m->used[m->map[b].pblk] = 0;
		m->map[b].state = B_HOLE;
		m->released++;
	}
	pthread_mutex_unlock(&m->mu);
}

static const struct dio_file_ops model_ops = {
	.get_block = m_get_block,
	.convert = m_convert,
	.set_size = m_set_size,
	.release = m_release,
};

static void model_counts_clear(struct model *m)
{
	m->gb_calls = m->gb_create_calls = m->convert_calls = 0;
	m->size_calls = m->release_calls = 0;
	m->converted = m->released = 0;
	m->min_released = UINT64_MAX;
}

/* Empty the file (all holes, fresh allocator) and give it size bytes. */
static void model_reset(struct model *m, uint64_t size)
{
	memset(m->map, 0, m->nblocks * sizeof(*m->map));
	memset(m->used, 0, m->dev_blocks);
	m->cursor = ALLOC_BASE;
	m->stride = 1;
	m->budget = -1;
	m->max_run = 0;
	model_counts_clear(m);
	m->bad = m->early = 0;
	m->bad_what[0] = m->early_what[0] = 0;
	m->expect = NULL;
	m->last_size = size;
	m->boundary = m->hole_to_end = m->fault_armed = m->conv_uniform = 0;
	m->create_hole_from = UINT64_MAX;
	m->min_create_lblk = UINT64_MAX;
	dio_file_destroy(&m->f);
	ck_assert_int_eq(dio_file_init(&m->f, &model_ops,
				       (unsigned)__builtin_ctz(m->bs), size, m), 0);
}

static void model_init(struct model *m, struct env *e, unsigned bs,
		       uint64_t nblocks)
{
	memset(m, 0, sizeof(*m));
	m->env = e;
	m->bs = bs;
	m->nblocks = nblocks;
	m->map = calloc(nblocks, sizeof(*m->map));
	m->dev_blocks = e->size / bs;
	m->used = calloc(m->dev_blocks, 1);
	ck_assert(m->map && m->used);
	pthread_mutex_init(&m->mu, NULL);
	ck_assert_int_eq(dio_file_init(&m->f, &model_ops,
				       (unsigned)__builtin_ctz(bs), 0, m), 0);
	model_reset(m, 0);
}

static void model_fini(struct model *m)
{
	dio_file_destroy(&m->f);
	pthread_mutex_destroy(&m->mu);
	free(m->map);
	free(m->used);
}

/* Allocate file blocks [lblk, lblk+n) directly, in the given state. */
static void model_map(struct model *m, uint64_t lblk, uint64_t n, int state)
{
	for (uint64_t b = lblk; b < lblk + n; b++) {
		uint64_t pblk;

		ck_assert_int_eq(m->map[b].state, B_HOLE);
		ck_assert_int_eq(model_alloc(m, &pblk), 0);
		m->map[b].state = (unsigned char)state;
		m->map[b].pblk = pblk;
	}
}

static void model_unmap(struct model *m, uint64_t lblk)
{
	if (m->map[lblk].state != B_HOLE)
		m->used[m->map[lblk].pblk] = 0;
	m->map[lblk].state = B_HOLE;
}

/* Put pattern seed on the device behind file blocks [lblk, lblk+n) and in img. */
static void model_fill(struct model *m, uint64_t lblk, uint64_t n,
		       unsigned seed, unsigned char *img)
{
	unsigned char *b = xalloc(m->bs);

	for (uint64_t l = lblk; l < lblk + n; l++) {
		ck_assert_int_ne(m->map[l].state, B_HOLE);
		fill_pat(b, m->bs, l * m->bs, seed);
		dev_write(m->env, m->map[l].pblk * m->bs, b, m->bs);
		if (img)
			memcpy(img + l * m->bs, b, m->bs);
	}
	free(b);
}

static uint64_t model_allocated(struct model *m)
{
	uint64_t n = 0;

	for (uint64_t b = 0; b < m->nblocks; b++)
		n += m->map[b].state != B_HOLE;
	return n;
}

static void model_expect(struct model *m, const unsigned char *img,
			 uint64_t img_len, uint64_t off, uint64_t len)
{
	m->expect = img;
	m->expect_len = img_len;
	m->wr_off = off;
	m->wr_end = off + len;
}

static void model_assert_clean(struct model *m)
{
	ck_assert_msg(m->bad == 0, "%s: %u contract violations, first: %s",
		      where, m->bad, m->bad_what);
	ck_assert_msg(m->early == 0,
		      "%s: %u hooks ran before the data was on the device, first: %s",
		      where, m->early, m->early_what);
}

/*
 * Every mapped block on the device must equal img (zeros past size): this
 * sees stale bytes beyond end of file that a read would hide.
 */
static void check_dev(struct model *m, const unsigned char *img, uint64_t size,
		      const char *what)
{
	unsigned char *got = xalloc(m->bs), *want = xalloc(m->bs);

	for (uint64_t b = 0; b < m->nblocks; b++) {
		uint64_t lo = b * m->bs;

		if (m->map[b].state != B_MAPPED)
			continue;
		memset(want, 0, m->bs);
		if (lo < size)
			memcpy(want, img + lo, size - lo < m->bs ? size - lo : m->bs);
		dev_read(m->env, m->map[b].pblk * m->bs, got, m->bs);
		expect_mem(got, want, m->bs, "%s: device copy of file block %" PRIu64,
			   what, b);
	}
	free(got);
	free(want);
}

/* ---- the fixture: device, model, worker context ------------------------ */

struct fx {
	struct env e;
	struct model m;
	struct dio_ctx *ctx;
	struct dio_params p;
};

static const struct dio_params default_params = {
	.queue_depth = 8,
	.max_io = 128 * KiB,
	.staging_bufs = 4,
};

static void fx_init(struct fx *x, int file, unsigned fs_bs, unsigned dev_bs,
		    uint64_t dev_size, uint64_t file_bytes,
		    const struct dio_params *p)
{
	if (file)
		env_open_file(&x->e, dev_size);
	else
		env_open_test(&x->e, dev_bs, dev_size);
	if (fs_bs < x->e.dev_bs)
		fs_bs = x->e.dev_bs;
	snprintf(where, sizeof(where), "[fs %u, dev %u, %s]", fs_bs,
		 x->e.dev_bs, file ? "image file" : "test device");
	model_init(&x->m, &x->e, fs_bs, file_bytes / fs_bs);
	x->p = p ? *p : default_params;
	ck_assert_int_eq(dio_ctx_create(x->e.bdev, &x->p, &x->ctx), 0);
}

static void fx_fini(struct fx *x)
{
	dio_ctx_destroy(x->ctx);
	model_fini(&x->m);
	env_close(&x->e);
}

static struct bdev_stats bst(struct fx *x)
{
	struct bdev_stats s;

	bdev_get_stats(x->e.bdev, &s);
	return s;
}

/*
 * A caller's buffer: len bytes spread over nseg segments with odd lengths,
 * the first starting mis bytes past a page boundary, the others at odd
 * addresses.  rng, when given, picks the split points.
 */
struct iob {
	struct iovec iov[8];
	int n;
	void *base;
};

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static void iob_make(struct iob *b, size_t len, unsigned mis, int nseg,
		     uint64_t *rng)
{
	size_t left = len;
	unsigned char *p;

	if (nseg > 8)
		nseg = 8;
	if ((size_t)nseg > len)
		nseg = len ? (int)len : 1;
	b->base = xalloc(len + mis + 16 * 8 + 4096);
	memset(b->base, 0xEE, len + mis + 16 * 8 + 4096);
	p = (unsigned char *)b->base + mis;
	b->n = nseg;
	for (int i = 0; i < nseg; i++) {
		size_t l, most = left - (size_t)(nseg - 1 - i);

		if (i == nseg - 1)
			l = left;
		else if (rng)
			l = 1 + rnd(rng) % most;
		else
			l = (left / (size_t)(nseg - i)) | 1;
		if (l > most)
			l = most;
		b->iov[i].iov_base = p;
		b->iov[i].iov_len = l;
		p += l + 2 * (size_t)i + 3;
		left -= l;
	}
}

static void iob_put(struct iob *b, const unsigned char *src)
{
	for (int i = 0; i < b->n; i++) {
		memcpy(b->iov[i].iov_base, src, b->iov[i].iov_len);
		src += b->iov[i].iov_len;
	}
}

static void iob_get(struct iob *b, unsigned char *dst, size_t n)
{
	for (int i = 0; i < b->n && n; i++) {
		size_t l = b->iov[i].iov_len < n ? b->iov[i].iov_len : n;

		memcpy(dst, b->iov[i].iov_base, l);
		dst += l;
		n -= l;
	}
}

static ssize_t wr_ctx(struct fx *x, struct dio_ctx *ctx, uint64_t off,
		      const unsigned char *src, size_t len, unsigned mis,
		      int nseg, uint64_t *rng)
{
	struct iob b;
	ssize_t r;

	iob_make(&b, len, mis, nseg, rng);
	iob_put(&b, src);
	r = dio_rw(ctx, &x->m.f, DIO_WRITE, off, b.iov, b.n);
	free(b.base);
	return r;
}

static ssize_t rd_ctx(struct fx *x, struct dio_ctx *ctx, uint64_t off,
		      unsigned char *dst, size_t len, unsigned mis, int nseg,
		      uint64_t *rng)
{
	struct iob b;
	ssize_t r;

	iob_make(&b, len, mis, nseg, rng);
	r = dio_rw(ctx, &x->m.f, DIO_READ, off, b.iov, b.n);
	if (r > 0)
		iob_get(&b, dst, (size_t)r);
	free(b.base);
	return r;
}

static ssize_t wr(struct fx *x, uint64_t off, const unsigned char *src,
		  size_t len, unsigned mis, int nseg)
{
	return wr_ctx(x, x->ctx, off, src, len, mis, nseg, NULL);
}

static ssize_t rd(struct fx *x, uint64_t off, unsigned char *dst, size_t len,
		  unsigned mis, int nseg)
{
	return rd_ctx(x, x->ctx, off, dst, len, mis, nseg, NULL);
}

/* Read [off, off+len) and compare with img, which holds size bytes. */
static void check_read(struct fx *x, const unsigned char *img, uint64_t size,
		       uint64_t off, size_t len, unsigned mis, int nseg,
		       const char *what)
{
	unsigned char *got = xalloc(len + 1);
	ssize_t want = off >= size ? 0 :
		(ssize_t)(size - off < len ? size - off : len);
	ssize_t r = rd(x, off, got, len, mis, nseg);

	ck_assert_msg(r == want,
		      "%s: %s: read(off %" PRIu64 ", len %zu, mis %u, %d segs) = %zd, want %zd",
		      where, what, off, len, mis, nseg, r, want);
	expect_mem(got, img ? img + off : NULL, (size_t)want,
		   "%s: read(off %" PRIu64 ", len %zu, mis %u, %d segs)",
		   what, off, len, mis, nseg);
	free(got);
}

/* The context must not leave requests in flight: destroying it completes none. */
static void check_drained(struct fx *x, const char *what)
{
	struct bdev_stats a = bst(x), b;

	dio_ctx_destroy(x->ctx);
	x->ctx = NULL;
	b = bst(x);
	ck_assert_msg(a.reads == b.reads && a.writes == b.writes,
		      "%s: %s: requests still in flight after dio_rw returned "
		      "(reads %" PRIu64 "->%" PRIu64 ", writes %" PRIu64 "->%" PRIu64 ")",
		      where, what, a.reads, b.reads, a.writes, b.writes);
	ck_assert_int_eq(dio_ctx_create(x->e.bdev, &x->p, &x->ctx), 0);
}

/* ---- holes and unwritten extents --------------------------------------- */

static void core_holes(int file, unsigned fs_bs, unsigned dev_bs)
{
	struct fx x;
	unsigned bs, db;
	uint64_t size, nb;
	unsigned char *img;
	struct bdev_stats s0, s1;

	fx_init(&x, file, fs_bs, dev_bs, 8 * MiB, 32 * 65536, NULL);
	bs = x.m.bs;
	db = x.e.dev_bs;
	size = 20ull * bs + 123;
	nb = (size + bs - 1) / bs;
	model_reset(&x.m, size);

	s0 = bst(&x);
	check_read(&x, NULL, size, 0, size, 0, 1, "all holes");
	check_read(&x, NULL, size, bs + 7, 3 * bs + 11, 1, 1, "holes, unaligned");
	check_read(&x, NULL, size, db - 1, 2 * db + 3, 0, 3, "holes, 3 segments");
	s1 = bst(&x);
	ck_assert_msg(s1.reads == s0.reads, "%s: reading holes did %" PRIu64 " device reads",
		      where, s1.reads - s0.reads);
	ck_assert_uint_gt(x.m.gb_calls, 0);
	ck_assert_uint_eq(x.m.gb_create_calls, 0);
	ck_assert_uint_eq(model_allocated(&x.m), 0);

	model_map(&x.m, 0, nb, B_UNWRITTEN);
	s0 = bst(&x);
	check_read(&x, NULL, size, 0, size, 0, 1, "all unwritten");
	check_read(&x, NULL, size, bs + 7, 3 * bs + 11, 1, 1, "unwritten, unaligned");
	check_read(&x, NULL, size, db - 1, 2 * db + 3, 0, 3, "unwritten, 3 segments");
	s1 = bst(&x);
	ck_assert_msg(s1.reads == s0.reads, "%s: reading unwritten blocks did %" PRIu64 " device reads",
		      where, s1.reads - s0.reads);
	ck_assert_uint_eq(x.m.converted, 0);

	/* mapped, hole, unwritten, mapped, ... */
	img = xzalloc(nb * bs);
	for (uint64_t b = 0; b < nb; b++) {
		if (b % 3 == 0) {
			x.m.map[b].state = B_MAPPED;
			model_fill(&x.m, b, 1, 1, img);
		} else if (b % 3 == 1) {
			model_unmap(&x.m, b);
		}
	}
	s0 = bst(&x);
	check_read(&x, img, size, 0, size, 0, 1, "mixed");
	check_read(&x, img, size, bs - 5, 7 * bs + 9, 3, 1, "mixed, unaligned");
	check_read(&x, img, size, db + 1, 5 * bs, 1, 4, "mixed, 4 segments");
	check_read(&x, img, size, 3 * bs + db / 2, 1, 0, 1, "mixed, 1 byte");
	s1 = bst(&x);
	ck_assert_uint_gt(s1.reads, s0.reads);
	ck_assert_uint_eq(x.m.gb_create_calls, 0);
	model_assert_clean(&x.m);
	free(img);
	fx_fini(&x);
}

START_TEST(t_holes)
{
	core_holes(0, geoms[_i].fs_bs, geoms[_i].dev_bs);
}
END_TEST

/* ---- end of file -------------------------------------------------------- */

static void core_eof(int file, unsigned fs_bs, unsigned dev_bs)
{
	struct fx x;
	unsigned bs, db;
	unsigned char *img, *data;

	fx_init(&x, file, fs_bs, dev_bs, 8 * MiB, 16 * 65536, NULL);
	bs = x.m.bs;
	db = x.e.dev_bs;
	img = xalloc(8ull * bs);
	data = xalloc(8ull * bs);

	const uint64_t deltas[] = { 0, 1, db - 1, db, db + 1, bs / 2 + 3, bs - 1 };
	for (int k = 0; k <= 2; k += 2) {
		for (size_t di = 0; di < sizeof(deltas) / sizeof(deltas[0]); di++) {
			uint64_t S = (uint64_t)k * bs + deltas[di];
			uint64_t nb = (S + bs - 1) / bs;
			char what[64];

			snprintf(what, sizeof(what), "i_size %" PRIu64, S);
			/* mapped blocks holding pattern past EOF too */
			model_reset(&x.m, S);
			model_map(&x.m, 0, nb, B_MAPPED);
			model_fill(&x.m, 0, nb, 2, img);
			check_read(&x, img, S, 0, S + 3 * bs, 0, 1, what);
			check_read(&x, img, S, S ? S - 1 : 0, 10, 1, 1, what);
			check_read(&x, img, S, S, 100, 0, 1, what);
			check_read(&x, img, S, S, bs, 0, 1, what);
			check_read(&x, img, S, S + 5000, 10, 0, 1, what);
			check_read(&x, img, S, S > db + 3 ? S - db - 3 : 0,
				   2 * bs, 3, 2, what);
			check_read(&x, img, S, S >= 10 ? S - 10 : 0,
				   S >= 10 ? 10 : S + 1, 0, 1, what);
			check_read(&x, img, S, S / bs * bs, bs, 0, 1, what);
			check_read(&x, img, S, S / db * db, db, 0, 1, what);
			check_read(&x, img, S, S / db * db, 2 * db + 1, 1, 3, what);
			ck_assert_uint_eq(x.m.f.size, S);
			ck_assert_uint_eq(x.m.gb_create_calls, 0);

			/* the same size produced by a write into an empty file */
			model_reset(&x.m, 0);
			if (S == 0)
				continue;
			fill_pat(data, S, 0, 3 + (unsigned)di);
			model_expect(&x.m, data, S, 0, S);
			ck_assert_int_eq(wr(&x, 0, data, S, 0, 1), (ssize_t)S);
			x.m.expect = NULL;
			ck_assert_uint_eq(x.m.f.size, S);
			ck_assert_uint_eq(x.m.size_calls, 1);
			ck_assert_uint_eq(x.m.last_size, S);
			ck_assert_uint_eq(x.m.converted, nb);
			ck_assert_uint_eq(model_allocated(&x.m), nb);
			check_dev(&x.m, data, S, what);
			check_read(&x, data, S, 0, S + bs, 1, 1, what);
			check_read(&x, data, S, S, 1, 0, 1, what);
			check_read(&x, data, S, S - 1, 2, 0, 1, what);
			model_assert_clean(&x.m);
		}
	}
	free(img);
	free(data);
	fx_fini(&x);
}

START_TEST(t_eof)
{
	core_eof(0, geoms[_i].fs_bs, geoms[_i].dev_bs);
}
END_TEST

/* ---- unaligned overwrites of mapped blocks ------------------------------ */

static void core_unaligned(int file, unsigned fs_bs, unsigned dev_bs)
{
	struct fx x;
	unsigned bs, db;
	uint64_t size;
	unsigned char *shadow, *data;
	uint64_t pblks[8];
	static const struct { unsigned mis; int nseg; } variants[] = {
		{ 0, 1 }, { 1, 1 }, { 0, 3 }, { 5, 3 },
	};

	fx_init(&x, file, fs_bs, dev_bs, 8 * MiB, 16 * 65536, NULL);
	bs = x.m.bs;
	db = x.e.dev_bs;
	size = 8ull * bs;
	model_reset(&x.m, size);
	model_map(&x.m, 0, 8, B_MAPPED);
	shadow = xalloc(size);
	model_fill(&x.m, 0, 8, 1, shadow);
	for (int b = 0; b < 8; b++)
		pblks[b] = x.m.map[b].pblk;
	data = xalloc(size);

	const struct { uint64_t off, len; } cases[] = {
		{ 2ull * bs + bs / 2 + 1, 1 },	/* one byte mid-block */
		{ 0, 1 },
		{ bs - 1, 1 },
		{ bs - 1, 2 },
		{ db - 1, 2 },
		{ db + 1, db - 2 },
		{ 3, bs },
		{ bs + db, 3ull * db + 5 },
		{ 5, 5ull * bs - 9 },
		{ 3ull * bs, bs },
		{ 7, 3ull * db },
		{ 4ull * bs + 1, 2ull * bs },
		{ bs / 2, 1 },
		{ 8ull * bs - 3, 3 },
		{ 0, 8ull * bs },
	};
	for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
		for (size_t vi = 0; vi < 4; vi++) {
			uint64_t off = cases[ci].off, len = cases[ci].len;
			uint64_t lo = off >= 3 ? off - 3 : 0;
			uint64_t hi = off + len + 3 > size ? size : off + len + 3;
			char what[96];
			ssize_t r;

			snprintf(what, sizeof(what),
				 "write(off %" PRIu64 ", len %" PRIu64 ", mis %u, %d segs)",
				 off, len, variants[vi].mis, variants[vi].nseg);
			fill_pat(data, len, off, 100 + (unsigned)(ci * 4 + vi));
			memcpy(shadow + off, data, len);
			model_expect(&x.m, shadow, size, off, len);
			r = wr(&x, off, data, len, variants[vi].mis,
			       variants[vi].nseg);
			x.m.expect = NULL;
			ck_assert_msg(r == (ssize_t)len, "%s: %s = %zd", where, what, r);
			check_dev(&x.m, shadow, size, what);
			check_read(&x, shadow, size, lo, hi - lo,
				   variants[3 - vi].mis, variants[3 - vi].nseg, what);
		}
	}
	check_read(&x, shadow, size, 0, size, 0, 1, "whole file");
	ck_assert_uint_eq(x.m.f.size, size);
	ck_assert_uint_eq(x.m.size_calls, 0);
	for (int b = 0; b < 8; b++) {
		ck_assert_int_eq(x.m.map[b].state, B_MAPPED);
		ck_assert_uint_eq(x.m.map[b].pblk, pblks[b]);
	}
	model_assert_clean(&x.m);
	free(shadow);
	free(data);
	fx_fini(&x);
}

START_TEST(t_unaligned)
{
	core_unaligned(0, geoms[_i].fs_bs, geoms[_i].dev_bs);
}
END_TEST

/* ---- partial writes into new blocks ------------------------------------- */

/*
 * Write [off, off+len) of pattern seed into the file whose expected image
 * (size bytes before the write) is img, and check the result, the hooks and
 * the device.
 */
static void new_write(struct fx *x, unsigned char *img, uint64_t *size,
		      uint64_t off, uint64_t len, unsigned mis, int nseg,
		      unsigned seed, const char *what)
{
	unsigned bs = x->m.bs;
	uint64_t old = *size, nsize = off + len > old ? off + len : old;
	uint64_t first = off / bs, last = (off + len - 1) / bs;
	uint64_t fresh = 0, conv_before;
	unsigned calls_before = x->m.size_calls;
	ssize_t r;

	for (uint64_t b = first; b <= last; b++)
		fresh += x->m.map[b].state != B_MAPPED;
	conv_before = x->m.converted;
	fill_pat(img + off, len, off, seed);
	model_expect(&x->m, img, nsize, off, len);
	r = wr(x, off, img + off, len, mis, nseg);
	x->m.expect = NULL;
	ck_assert_msg(r == (ssize_t)len, "%s: %s: write(off %" PRIu64 ", len %" PRIu64 ") = %zd",
		      where, what, off, len, r);
	*size = nsize;
	ck_assert_uint_eq(x->m.f.size, nsize);
	if (nsize > old) {
		ck_assert_msg(x->m.size_calls == calls_before + 1 && x->m.last_size == nsize,
			      "%s: %s: set_size called %u times, last with %" PRIu64 ", want once with %" PRIu64,
			      where, what, x->m.size_calls - calls_before, x->m.last_size, nsize);
	} else {
		ck_assert_msg(x->m.size_calls == calls_before,
			      "%s: %s: set_size called by a write inside the file", where, what);
	}
	for (uint64_t b = first; b <= last; b++)
		ck_assert_msg(x->m.map[b].state == B_MAPPED,
			      "%s: %s: file block %" PRIu64 " not converted", where, what, b);
	ck_assert_msg(x->m.converted - conv_before == fresh,
		      "%s: %s: %" PRIu64 " blocks converted, want %" PRIu64,
		      where, what, x->m.converted - conv_before, fresh);
	check_dev(&x->m, img, nsize, what);
	check_read(x, img, nsize, 0, nsize + bs, 0, 1, what);
	model_assert_clean(&x->m);
}

static void core_new_partial(int file, unsigned fs_bs, unsigned dev_bs)
{
	struct fx x;
	unsigned bs, db;
	uint64_t size, off;
	unsigned char *img;

	fx_init(&x, file, fs_bs, dev_bs, 8 * MiB, 32 * 65536, NULL);
	bs = x.m.bs;
	db = x.e.dev_bs;
	img = xzalloc(32ull * bs);

	/* A: a few bytes at an odd offset past EOF of an empty file */
	size = 0;
	model_reset(&x.m, 0);
	off = 2ull * bs + bs / 2 + 3;
	new_write(&x, img, &size, off, 5, 0, 1, 10, "5 bytes into an empty file");
	ck_assert_uint_eq(model_allocated(&x.m), 1);
	ck_assert_int_eq(x.m.map[0].state, B_HOLE);
	ck_assert_int_eq(x.m.map[1].state, B_HOLE);
	/* E: extend past it; the tail of block 2 must read as zeros */
	new_write(&x, img, &size, 5ull * bs + 1, 3, 1, 1, 11, "extend after a partial block");
	ck_assert_uint_eq(model_allocated(&x.m), 2);
	new_write(&x, img, &size, 2ull * bs + 1, db, 1, 2, 12, "into the partial block's head");

	/* B: into a hole inside the file, across a device block boundary */
	memset(img, 0, 32ull * bs);
	size = 8ull * bs;
	model_reset(&x.m, size);
	new_write(&x, img, &size, 3ull * bs + db - 2, 7, 0, 1, 13, "hole inside EOF");
	ck_assert_uint_eq(model_allocated(&x.m), db == bs ? 2 : 1);

	/* C: into preallocated unwritten blocks */
	memset(img, 0, 32ull * bs);
	size = 8ull * bs;
	model_reset(&x.m, size);
	model_map(&x.m, 2, 4, B_UNWRITTEN);
	new_write(&x, img, &size, 3ull * bs + 1, 9, 1, 1, 14, "unwritten block");
	ck_assert_int_eq(x.m.map[2].state, B_UNWRITTEN);
	ck_assert_int_eq(x.m.map[4].state, B_UNWRITTEN);
	ck_assert_int_eq(x.m.map[5].state, B_UNWRITTEN);
	check_read(&x, img, size, 0, size, 0, 1, "unwritten neighbours");
	new_write(&x, img, &size, 4ull * bs + db, 2ull * bs - db - 1, 0, 3, 15,
		  "unwritten run, unaligned both ends");

	/* D: several new blocks, unaligned head and tail, past EOF */
	memset(img, 0, 32ull * bs);
	size = 0;
	model_reset(&x.m, 0);
	new_write(&x, img, &size, bs - 3, 2ull * bs + 10, 1, 3, 16,
		  "new blocks, unaligned head and tail");
	ck_assert_uint_eq(model_allocated(&x.m), 4);

	/* D': the same inside the file, fragmented allocation */
	memset(img, 0, 32ull * bs);
	size = 16ull * bs;
	model_reset(&x.m, size);
	x.m.stride = 2;
	new_write(&x, img, &size, 2ull * bs + db + 1, 3ull * bs, 3, 1, 17,
		  "new fragmented blocks inside the file");
	ck_assert_uint_eq(model_allocated(&x.m), 4);

	/* F: sub-device-block writes at both ends of one fs block */
	memset(img, 0, 32ull * bs);
	size = 0;
	model_reset(&x.m, 0);
	new_write(&x, img, &size, bs + bs - 1, 1, 0, 1, 18, "last byte of a new block");
	new_write(&x, img, &size, 4ull * bs, 1, 0, 1, 19, "first byte of a new block");
	new_write(&x, img, &size, 6ull * bs + db, db, 0, 1, 20,
		  "one aligned device block inside a new fs block");
	free(img);
	fx_fini(&x);
}

START_TEST(t_new_partial)
{
	core_new_partial(0, geoms[_i].fs_bs, geoms[_i].dev_bs);
}
END_TEST

/* ---- coalescing ----------------------------------------------------------- */

static void core_coalesce(int file, unsigned fs_bs, unsigned dev_bs)
{
	const struct dio_params p = {
		.queue_depth = 8, .max_io = 256 * KiB, .staging_bufs = 4,
	};
	const uint64_t bytes = 640 * KiB;	/* 2.5 requests */
	const uint64_t want = (bytes + p.max_io - 1) / p.max_io;
	struct fx x;
	unsigned bs;
	unsigned char *data, *img;
	struct bdev_stats s0, s1;
	uint64_t nfrag;

	fx_init(&x, file, fs_bs, dev_bs, 8 * MiB, 2 * MiB, &p);
	bs = x.m.bs;
	data = xalloc(bytes);
	img = xalloc(bytes);

	/* contiguous new blocks */
	model_reset(&x.m, 0);
	fill_pat(data, bytes, 0, 30);
	s0 = bst(&x);
	ck_assert_int_eq(wr(&x, 0, data, bytes, 0, 1), (ssize_t)bytes);
	s1 = bst(&x);
	ck_assert_msg(s1.writes - s0.writes == want,
		      "%s: aligned %" PRIu64 "-byte write into contiguous new blocks took %" PRIu64 " requests, want %" PRIu64,
		      where, bytes, s1.writes - s0.writes, want);
	ck_assert_uint_eq(s1.reads - s0.reads, 0);
	ck_assert_uint_eq(s1.write_bytes - s0.write_bytes, bytes);

	s0 = bst(&x);
	check_read(&x, data, bytes, 0, bytes, 0, 1, "contiguous read");
	s1 = bst(&x);
	ck_assert_msg(s1.reads - s0.reads == want,
		      "%s: aligned contiguous read took %" PRIu64 " requests, want %" PRIu64,
		      where, s1.reads - s0.reads, want);

	/* overwrite in place */
	fill_pat(data, bytes, 0, 31);
	s0 = bst(&x);
	ck_assert_int_eq(wr(&x, 0, data, bytes, 0, 1), (ssize_t)bytes);
	s1 = bst(&x);
	ck_assert_msg(s1.writes - s0.writes == want,
		      "%s: aligned overwrite took %" PRIu64 " requests, want %" PRIu64,
		      where, s1.writes - s0.writes, want);
	ck_assert_uint_eq(s1.reads - s0.reads, 0);

	/* an unaligned buffer goes through staging: still correct and capped */
	fill_pat(data, bytes, 0, 32);
	s0 = bst(&x);
	ck_assert_int_eq(wr(&x, 0, data, bytes, 1, 1), (ssize_t)bytes);
	s1 = bst(&x);
	ck_assert_uint_ge(s1.writes - s0.writes, want);
	check_dev(&x.m, data, bytes, "staged overwrite");

	/* one fs block per mapping, contiguous on the device: still merged */
	model_reset(&x.m, 0);
	x.m.max_run = 1;
	fill_pat(data, bytes, 0, 34);
	s0 = bst(&x);
	ck_assert_int_eq(wr(&x, 0, data, bytes, 0, 1), (ssize_t)bytes);
	s1 = bst(&x);
	ck_assert_msg(s1.writes - s0.writes == want,
		      "%s: aligned write, one block per mapping, took %" PRIu64 " requests, want %" PRIu64,
		      where, s1.writes - s0.writes, want);
	ck_assert_uint_ge(x.m.gb_calls, bytes / bs);
	s0 = bst(&x);
	check_read(&x, data, bytes, 0, bytes, 0, 1, "read, one block per mapping");
	s1 = bst(&x);
	ck_assert_msg(s1.reads - s0.reads == want,
		      "%s: aligned read, one block per mapping, took %" PRIu64 " requests, want %" PRIu64,
		      where, s1.reads - s0.reads, want);

	/* zeros, data and zeros of new contiguous blocks form one request */
	model_reset(&x.m, 0);
	fill_pat(data, 2ull * bs, bs / 2, 35);
	s0 = bst(&x);
	ck_assert_int_eq(wr(&x, bs / 2, data, 2ull * bs, 0, 1), (ssize_t)(2 * bs));
	s1 = bst(&x);
	ck_assert_msg(s1.writes - s0.writes == (3ull * bs + p.max_io - 1) / p.max_io,
		      "%s: write of [bs/2, 2.5 bs) into 3 new contiguous blocks took %" PRIu64 " requests",
		      where, s1.writes - s0.writes);
	ck_assert_uint_eq(s1.write_bytes - s0.write_bytes, 3ull * bs);

	/* fragmented: every other device block, one request per fragment */
	model_reset(&x.m, 0);
	x.m.stride = 2;
	nfrag = 8;
	fill_pat(img, nfrag * bs, 0, 33);
	s0 = bst(&x);
	ck_assert_int_eq(wr(&x, 0, img, nfrag * bs, 0, 1), (ssize_t)(nfrag * bs));
	s1 = bst(&x);
	ck_assert_msg(s1.writes - s0.writes == nfrag,
		      "%s: write into %" PRIu64 " fragments took %" PRIu64 " requests",
		      where, nfrag, s1.writes - s0.writes);
	for (uint64_t b = 1; b < nfrag; b++)
		ck_assert_uint_eq(x.m.map[b].pblk, x.m.map[b - 1].pblk + 2);
	s0 = bst(&x);
	check_read(&x, img, nfrag * bs, 0, nfrag * bs, 0, 1, "fragmented read");
	s1 = bst(&x);
	ck_assert_msg(s1.reads - s0.reads == nfrag,
		      "%s: read of %" PRIu64 " fragments took %" PRIu64 " requests",
		      where, nfrag, s1.reads - s0.reads);
	check_dev(&x.m, img, nfrag * bs, "fragmented");

	/* the worker's own count agrees with the device's */
	{
		struct dio_ctx_stats cs;

		dio_ctx_get_stats(x.ctx, &cs);
		ck_assert_uint_gt(cs.requests, 0);
		ck_assert_uint_gt(cs.batches, 0);
		ck_assert_uint_le(cs.batches, cs.requests);
	}
	model_assert_clean(&x.m);
	free(data);
	free(img);
	fx_fini(&x);
}

START_TEST(t_coalesce)
{
	core_coalesce(0, geoms[_i].fs_bs, geoms[_i].dev_bs);
}
END_TEST

/* ---- file-backed device: the same core cases ---------------------------- */

START_TEST(t_file_holes)
{
	core_holes(1, file_fs_bs[_i], 0);
}
END_TEST

START_TEST(t_file_eof)
{
	core_eof(1, file_fs_bs[_i], 0);
}
END_TEST

START_TEST(t_file_unaligned)
{
	core_unaligned(1, file_fs_bs[_i], 0);
}
END_TEST

START_TEST(t_file_new_partial)
{
	core_new_partial(1, file_fs_bs[_i], 0);
}
END_TEST

START_TEST(t_file_coalesce)
{
	core_coalesce(1, file_fs_bs[_i], 0);
}
END_TEST

/* ---- bounded memory -------------------------------------------------------- */

static const struct geom mem_geoms[] = { { 4096, 512 }, { 65536, 4096 } };

static long maxrss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/*
 * A 1 GiB file whose every MiB maps onto the same 1 MiB of the device,
 * read through 1024 iovecs that all point at one 1 MiB buffer: the worker
 * sees a 1 GiB request while the test holds 1 MiB.
 */
START_TEST(t_bounded_memory)
{
	const struct dio_params p = {
		.queue_depth = 16, .max_io = 256 * KiB, .staging_bufs = 4,
	};
	const size_t cap = (size_t)p.staging_bufs * p.max_io;
	struct fx x;
	unsigned bs;
	uint64_t w;
	unsigned char *base, *want;
	struct iovec *iov;
	struct dio_ctx_stats cs;
	uint64_t staged;
	long rss0;
	ssize_t r;

	fx_init(&x, 0, mem_geoms[_i].fs_bs, mem_geoms[_i].dev_bs, 4 * MiB, GiB, &p);
	bs = x.m.bs;
	w = MiB / bs;
	model_reset(&x.m, GiB);
	for (uint64_t b = 0; b < x.m.nblocks; b++) {
		x.m.map[b].state = B_MAPPED;
		x.m.map[b].pblk = ALLOC_BASE + b % w;
	}
	want = xalloc(MiB);
	fill_pat(want, MiB, 0, 40);
	dev_write(&x.e, (uint64_t)ALLOC_BASE * bs, want, MiB);
	base = xalloc(MiB + 64);
	iov = calloc(1024, sizeof(*iov));

	for (int mis = 0; mis <= 1; mis++) {
		memset(base, 0xEE, MiB + 64);
		for (int i = 0; i < 1024; i++) {
			iov[i].iov_base = base + mis;
			iov[i].iov_len = MiB;
		}
		rss0 = maxrss_kib();
		r = dio_rw(x.ctx, &x.m.f, DIO_READ, 0, iov, 1024);
		ck_assert_msg(r == (ssize_t)GiB, "%s: 1 GiB read (mis %d) = %zd",
			      where, mis, r);
		expect_mem(base + mis, want, MiB, "1 GiB read, mis %d", mis);
		dio_ctx_get_stats(x.ctx, &cs);
		ck_assert_msg(cs.staging_allocated <= cap,
			      "%s: staging_allocated %zu > %zu after a 1 GiB read (mis %d)",
			      where, cs.staging_allocated, cap, mis);
		ck_assert_msg(maxrss_kib() - rss0 < 32 * 1024,
			      "%s: peak RSS grew by %ld KiB during a 1 GiB read",
			      where, maxrss_kib() - rss0);
		if (mis)
			ck_assert_uint_gt(cs.staged_bytes, 0);
	}

	/*
	 * A 128 MiB write from an unaligned buffer.  The test device keeps a
	 * copy of every write in its log, which is why this one is smaller
	 * and why only the staging count is checked.
	 */
	fill_pat(want, MiB, 0, 41);
	memcpy(base + 1, want, MiB);
	dio_ctx_get_stats(x.ctx, &cs);
	staged = cs.staged_bytes;
	r = dio_rw(x.ctx, &x.m.f, DIO_WRITE, 0, iov, 128);
	ck_assert_msg(r == (ssize_t)(128 * MiB), "%s: 128 MiB write = %zd", where, r);
	bdev_test_log_clear(x.e.bdev);
	dio_ctx_get_stats(x.ctx, &cs);
	ck_assert_msg(cs.staging_allocated <= cap,
		      "%s: staging_allocated %zu > %zu after a 128 MiB write",
		      where, cs.staging_allocated, cap);
	ck_assert_uint_ge(cs.staged_bytes - staged, 128 * MiB);
	expect_mem(bdev_test_data(x.e.bdev) + (uint64_t)ALLOC_BASE * bs, want,
		   MiB, "device after the 1 GiB write");
	ck_assert_uint_eq(x.m.size_calls, 0);
	model_assert_clean(&x.m);
	free(iov);
	free(base);
	free(want);
	fx_fini(&x);
}
END_TEST

/* ---- injected I/O errors ---------------------------------------------------- */

static const struct dio_params eio_params = {
	.queue_depth = 4, .max_io = 128 * KiB, .staging_bufs = 4,
};

/*
 * After a failed write: the file holds img's first size bytes and zeros
 * elsewhere, even once end of file moves past the failed range.
 */
static void check_no_stale(struct fx *x, const unsigned char *img,
			   uint64_t size, uint64_t far, const char *what)
{
	unsigned char one = 0x5A;
	unsigned char *full = xzalloc(far + 1);

	memcpy(full, img, size);
	full[far] = one;
	bdev_test_clear_faults(x->e.bdev);
	ck_assert_int_eq(wr(x, far, &one, 1, 0, 1), 1);
	check_read(x, full, far + 1, 0, far + 1, 0, 1, what);
	check_dev(&x->m, full, far + 1, what);
	free(full);
}

START_TEST(t_eio_write_new)
{
	const uint64_t mx = eio_params.max_io, total = 16 * mx, k = 5;
	struct fx x;
	unsigned bs, db;
	unsigned char *data, *img;
	uint64_t devoff, good, keep;
	struct bdev_stats s0, s1;
	ssize_t r;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 8 * MiB, 4 * MiB + 65536, &eio_params);
	bs = x.m.bs;
	db = x.e.dev_bs;
	data = xalloc(total);
	img = xzalloc(total);
	fill_pat(data, total, 0, 50);

	/* request k of 16 fails: k requests' worth are good */
	model_reset(&x.m, 0);
	devoff = (uint64_t)ALLOC_BASE * bs + k * mx + mx / 2;
	bdev_test_fail_range(x.e.bdev, BDEV_WRITE, devoff / db * db, db, -EIO);
	s0 = bst(&x);
	r = wr(&x, 0, data, total, 0, 1);
	s1 = bst(&x);
	good = k * mx;
	ck_assert_msg(r == (ssize_t)good,
		      "%s: 2 MiB write into new blocks failing in request %" PRIu64 " returned %zd, want %" PRIu64,
		      where, k, r, good);
	ck_assert_msg(s1.writes - s0.writes <= k + 1 + eio_params.queue_depth,
		      "%s: %" PRIu64 " write requests after a failure in request %" PRIu64,
		      where, s1.writes - s0.writes, k);
	check_drained(&x, "failed write");
	ck_assert_uint_eq(x.m.f.size, good);
	ck_assert_uint_eq(x.m.size_calls, 1);
	ck_assert_uint_eq(x.m.last_size, good);
	keep = good / bs;
	for (uint64_t b = 0; b < keep; b++) {
		ck_assert_int_eq(x.m.map[b].state, B_MAPPED);
		ck_assert_uint_eq(x.m.map[b].pblk, ALLOC_BASE + b);
	}
	ck_assert_msg(model_allocated(&x.m) == keep,
		      "%s: %" PRIu64 " blocks allocated after the failed write, want %" PRIu64,
		      where, model_allocated(&x.m), keep);
	ck_assert_uint_ge(x.m.release_calls, 1);
	ck_assert_uint_ge(x.m.min_released, keep);
	model_assert_clean(&x.m);
	memcpy(img, data, good);
	check_read(&x, img, good, 0, total, 0, 1, "after the failed write");
	check_no_stale(&x, img, good, 4 * MiB, "extended after the failed write");

	/* the first request fails: nothing is good */
	model_reset(&x.m, 0);
	bdev_test_fail_range(x.e.bdev, BDEV_WRITE, (uint64_t)ALLOC_BASE * bs, db, -EIO);
	r = wr(&x, 0, data, total, 0, 1);
	ck_assert_msg(r == -EIO, "%s: write failing in its first request returned %zd, want -EIO",
		      where, r);
	check_drained(&x, "write failing at once");
	ck_assert_uint_eq(x.m.f.size, 0);
	ck_assert_uint_eq(x.m.size_calls, 0);
	ck_assert_uint_eq(model_allocated(&x.m), 0);
	ck_assert_uint_eq(x.m.converted, 0);
	model_assert_clean(&x.m);
	check_no_stale(&x, img, 0, 3 * MiB, "extended after the first request failed");
	free(data);
	free(img);
	fx_fini(&x);
}
END_TEST

/* An unaligned extending write fails part way: whatever it reports is consistent. */
START_TEST(t_eio_write_unaligned)
{
	const uint64_t mx = eio_params.max_io;
	const uint64_t off = 777, len = 2 * MiB - 1000, fail_at = MiB + 4096;
	struct fx x;
	unsigned bs, db;
	unsigned char *data, *img;
	uint64_t devoff, fa;
	ssize_t r;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 8 * MiB, 4 * MiB + 65536, &eio_params);
	bs = x.m.bs;
	db = x.e.dev_bs;
	data = xalloc(len);
	img = xzalloc(off + len);
	fill_pat(data, len, off, 51);
	model_reset(&x.m, 0);
	fa = fail_at / db * db;
	devoff = (uint64_t)ALLOC_BASE * bs + fa;
	bdev_test_fail_range(x.e.bdev, BDEV_WRITE, devoff, db, -EIO);
	r = wr(&x, off, data, len, 1, 3);
	ck_assert_msg(r > 0 && (uint64_t)r <= fa - off &&
		      (uint64_t)r + mx + bs >= fa - off,
		      "%s: write(off %" PRIu64 ", len %" PRIu64 ") failing at file offset %" PRIu64
		      " returned %zd, want the good bytes before the failing request",
		      where, off, len, fa, r);
	check_drained(&x, "failed unaligned write");
	ck_assert_uint_eq(x.m.f.size, off + (uint64_t)r);
	ck_assert_uint_eq(x.m.last_size, off + (uint64_t)r);
	ck_assert_uint_le(model_allocated(&x.m), (off + (uint64_t)r + bs - 1) / bs);
	model_assert_clean(&x.m);
	memcpy(img + off, data, (size_t)r);
	check_read(&x, img, off + (uint64_t)r, 0, off + len, 0, 1, "after the failed write");
	check_no_stale(&x, img, off + (uint64_t)r, 4 * MiB, "extended after the failed write");
	free(data);
	free(img);
	fx_fini(&x);
}
END_TEST

START_TEST(t_eio_overwrite)
{
	const uint64_t mx = eio_params.max_io, total = 16 * mx, k = 7;
	struct fx x;
	unsigned bs, db;
	unsigned char *data, *got;
	uint64_t nb;
	ssize_t r;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 8 * MiB, 4 * MiB, &eio_params);
	bs = x.m.bs;
	db = x.e.dev_bs;
	nb = total / bs;
	model_reset(&x.m, total);
	model_map(&x.m, 0, nb, B_MAPPED);
	model_fill(&x.m, 0, nb, 52, NULL);
	data = xalloc(total);
	got = xalloc(total);
	fill_pat(data, total, 0, 53);
	bdev_test_fail_range(x.e.bdev, BDEV_WRITE,
			     (uint64_t)ALLOC_BASE * bs + k * mx + db, db, -EIO);
	r = wr(&x, 0, data, total, 0, 1);
	ck_assert_msg(r == (ssize_t)(k * mx),
		      "%s: overwrite failing in request %" PRIu64 " returned %zd, want %" PRIu64,
		      where, k, r, k * mx);
	check_drained(&x, "failed overwrite");
	ck_assert_uint_eq(x.m.f.size, total);
	ck_assert_uint_eq(x.m.size_calls, 0);
	ck_assert_uint_eq(model_allocated(&x.m), nb);
	bdev_test_clear_faults(x.e.bdev);
	ck_assert_int_eq(rd(&x, 0, got, k * mx, 0, 1), (ssize_t)(k * mx));
	expect_mem(got, data, k * mx, "good part of a failed overwrite");
	model_assert_clean(&x.m);
	free(data);
	free(got);
	fx_fini(&x);
}
END_TEST

START_TEST(t_eio_read)
{
	const uint64_t mx = eio_params.max_io, total = 16 * mx, k = 3;
	struct fx x;
	unsigned bs, db;
	unsigned char *img, *got;
	uint64_t nb;
	struct bdev_stats s0, s1;
	ssize_t r;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 8 * MiB, 4 * MiB, &eio_params);
	bs = x.m.bs;
	db = x.e.dev_bs;
	nb = total / bs;
	model_reset(&x.m, total);
	model_map(&x.m, 0, nb, B_MAPPED);
	img = xalloc(total);
	got = xalloc(total);
	model_fill(&x.m, 0, nb, 54, img);

	bdev_test_fail_range(x.e.bdev, BDEV_READ,
			     (uint64_t)ALLOC_BASE * bs + k * mx + mx / 2 / db * db, db, -EIO);
	s0 = bst(&x);
	r = rd(&x, 0, got, total, 0, 1);
	s1 = bst(&x);
	ck_assert_msg(r == (ssize_t)(k * mx),
		      "%s: aligned read failing in request %" PRIu64 " returned %zd, want %" PRIu64,
		      where, k, r, k * mx);
	expect_mem(got, img, k * mx, "good part of a failed read");
	ck_assert_uint_le(s1.reads - s0.reads, k + 1 + eio_params.queue_depth);
	check_drained(&x, "failed read");

	/* unaligned buffer and offset: at most the bytes before the failure */
	r = rd(&x, 5, got, total - 10, 1, 2);
	ck_assert_msg(r > 0 && (uint64_t)r <= k * mx + mx / 2 - 5,
		      "%s: unaligned read failing at %" PRIu64 " returned %zd",
		      where, k * mx + mx / 2, r);
	expect_mem(got, img + 5, (size_t)r, "good part of a failed unaligned read");
	check_drained(&x, "failed unaligned read");

	/* failure in the first request */
	bdev_test_clear_faults(x.e.bdev);
	bdev_test_fail_range(x.e.bdev, BDEV_READ, (uint64_t)ALLOC_BASE * bs, db, -EIO);
	r = rd(&x, 0, got, total, 0, 1);
	ck_assert_msg(r == -EIO, "%s: read failing at once returned %zd", where, r);
	check_drained(&x, "read failing at once");

	/* and the device is fine again without faults */
	bdev_test_clear_faults(x.e.bdev);
	check_read(&x, img, total, 0, total, 0, 1, "after clearing faults");
	ck_assert_uint_eq(x.m.f.size, total);
	model_assert_clean(&x.m);
	free(img);
	free(got);
	fx_fini(&x);
}
END_TEST

/* ---- short completions and EAGAIN ------------------------------------------ */

START_TEST(t_short_and_eagain)
{
	struct fx x;
	unsigned bs, db;
	uint64_t size = 0, off, len;
	unsigned char *img;
	struct bdev_stats s;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 8 * MiB, 4 * MiB, NULL);
	bs = x.m.bs;
	db = x.e.dev_bs;
	img = xzalloc(4 * MiB);
	model_reset(&x.m, 0);

	off = 300;
	len = MiB + 1000;
	bdev_test_short_completions(x.e.bdev, 12, db);
	new_write(&x, img, &size, off, len, 1, 3, 60, "short completions, unaligned");
	bdev_test_short_completions(x.e.bdev, 12, db);
	check_read(&x, img, size, 1, size, 3, 2, "read with short completions");
	bdev_test_short_completions(x.e.bdev, 12, 2 * db);
	new_write(&x, img, &size, 2 * MiB, MiB, 0, 1, 61, "short completions, aligned");
	s = bst(&x);
	ck_assert_uint_gt(s.short_completions, 0);

	bdev_test_eagain(x.e.bdev, 3);
	new_write(&x, img, &size, 2 * MiB - bs - 7, bs + 20 + db, 0, 2, 62, "EAGAIN, unaligned");
	bdev_test_eagain(x.e.bdev, 3);
	new_write(&x, img, &size, 0, MiB, 0, 1, 63, "EAGAIN, aligned");
	bdev_test_eagain(x.e.bdev, 3);
	check_read(&x, img, size, 0, size, 0, 1, "read with EAGAIN");
	s = bst(&x);
	ck_assert_uint_gt(s.eagain, 0);
	free(img);
	fx_fini(&x);
}
END_TEST

/* ---- ENOSPC from get_block ---------------------------------------------- */

START_TEST(t_enospc)
{
	struct fx x;
	unsigned bs;
	unsigned char *data, *img;
	uint64_t len, sz;
	ssize_t r;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 8 * MiB, 64 * 65536, NULL);
	bs = x.m.bs;
	data = xalloc(16ull * bs);
	img = xzalloc(64ull * bs);

	/* extending writes, aligned and not, with room for 5 blocks */
	for (int u = 0; u < 2; u++) {
		uint64_t start = u ? bs / 2 + 1 : 0;

		model_reset(&x.m, 0);
		x.m.budget = 5;
		len = 10ull * bs + 100;
		fill_pat(data, len, start, 70);
		r = wr(&x, start, data, len, 0, 1);
		ck_assert_msg(r == -ENOSPC || (r > 0 && (uint64_t)r <= 5ull * bs - start),
			      "%s: write(off %" PRIu64 ", len %" PRIu64 ") with 5 free blocks returned %zd",
			      where, start, len, r);
		sz = r > 0 ? start + (uint64_t)r : 0;
		ck_assert_uint_eq(x.m.f.size, sz);
		ck_assert_uint_eq(x.m.size_calls, r > 0 ? 1 : 0);
		ck_assert_msg(model_allocated(&x.m) <= (sz + bs - 1) / bs,
			      "%s: %" PRIu64 " blocks left allocated past EOF %" PRIu64,
			      where, model_allocated(&x.m), sz);
		for (uint64_t b = 0; b < x.m.nblocks; b++)
			ck_assert_int_ne(x.m.map[b].state, B_UNWRITTEN);
		memset(img, 0, 64ull * bs);
		if (r > 0)
			memcpy(img + start, data, (size_t)r);
		check_read(&x, img, sz, 0, len + start, 1, 1, "after ENOSPC");
		check_dev(&x.m, img, sz, "after ENOSPC");
		model_assert_clean(&x.m);
		x.m.budget = -1;
		check_no_stale(&x, img, sz, 40ull * bs, "extended after ENOSPC");
	}

	/* into holes inside the file, with room for 3 blocks */
	model_reset(&x.m, 16ull * bs);
	x.m.budget = 3;
	len = 8ull * bs;
	fill_pat(data, len, 2ull * bs, 71);
	r = wr(&x, 2ull * bs, data, len, 0, 1);
	ck_assert_msg(r == -ENOSPC || (r > 0 && (uint64_t)r <= 3ull * bs),
		      "%s: write into holes with 3 free blocks returned %zd", where, r);
	ck_assert_uint_eq(x.m.f.size, 16ull * bs);
	ck_assert_uint_eq(x.m.size_calls, 0);
	memset(img, 0, 64ull * bs);
	if (r > 0)
		memcpy(img + 2ull * bs, data, (size_t)r);
	check_read(&x, img, 16ull * bs, 0, 16ull * bs, 0, 1, "holes after ENOSPC");
	check_dev(&x.m, img, 16ull * bs, "holes after ENOSPC");
	model_assert_clean(&x.m);
	free(data);
	free(img);
	fx_fini(&x);
}
END_TEST

/* ---- edge cases of the request itself ----------------------------------- */

START_TEST(t_zero_length)
{
	struct fx x;
	unsigned bs;
	unsigned char b[16] = { 0 }, img[16] = { 0 };
	struct iovec iov[3];
	ssize_t r;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 4 * MiB, 16 * 65536, NULL);
	bs = x.m.bs;
	model_reset(&x.m, 0);
	iov[0] = (struct iovec){ b, 0 };
	ck_assert_int_eq(dio_rw(x.ctx, &x.m.f, DIO_WRITE, 3ull * bs + 5, iov, 1), 0);
	ck_assert_int_eq(dio_rw(x.ctx, &x.m.f, DIO_READ, 0, iov, 1), 0);
	ck_assert_uint_eq(x.m.f.size, 0);
	ck_assert_uint_eq(x.m.size_calls, 0);
	ck_assert_uint_eq(model_allocated(&x.m), 0);

	/* empty segments among full ones */
	fill_pat(b, sizeof(b), 7, 80);
	iov[0] = (struct iovec){ b, 5 };
	iov[1] = (struct iovec){ b + 5, 0 };
	iov[2] = (struct iovec){ b + 5, 11 };
	r = dio_rw(x.ctx, &x.m.f, DIO_WRITE, 7, iov, 3);
	ck_assert_int_eq(r, 16);
	memcpy(img, b, 16);
	ck_assert_uint_eq(x.m.f.size, 23);
	memset(b, 0, sizeof(b));
	r = dio_rw(x.ctx, &x.m.f, DIO_READ, 7, iov, 3);
	ck_assert_int_eq(r, 16);
	expect_mem(b, img, 16, "read through an empty segment");
	model_assert_clean(&x.m);
	fx_fini(&x);
}
END_TEST

/* ---- randomized operations against a shadow copy ------------------------- */

struct rcfg {
	int file;
	unsigned fs_bs, dev_bs, stride;
	int ops;
	unsigned seed;
};

static const struct rcfg rcfgs[] = {
	{ 0, 4096, 512, 1, 3000, 0x5eed0001 },
	{ 0, 16384, 4096, 2, 3000, 0x5eed0002 },
	{ 0, 1024, 512, 2, 3000, 0x5eed0003 },
	{ 0, 65536, 512, 1, 3000, 0x5eed0004 },
	{ 1, 4096, 0, 1, 2000, 0x5eed0005 },
	{ 1, 16384, 0, 2, 2000, 0x5eed0006 },
};
#define NRCFGS ((int)(sizeof(rcfgs) / sizeof(rcfgs[0])))

static uint64_t rlen(uint64_t *s, unsigned bs, unsigned db, int *aligned)
{
	unsigned r = (unsigned)(rnd(s) % 10);

	*aligned = r >= 8;
	if (r < 5)
		return 1 + rnd(s) % 64;
	if (r < 8)
		return 1 + rnd(s) % (3ull * bs);
	return db * (1 + rnd(s) % (4ull * bs / db));
}

static void core_random(const struct rcfg *c)
{
	const struct dio_params p = {
		.queue_depth = 8, .max_io = 64 * KiB, .staging_bufs = 2,
	};
	const uint64_t maxfile = MiB;
	struct fx x;
	unsigned bs, db;
	uint64_t s, size = 0;
	unsigned char *shadow, *data, *got;

	fx_init(&x, c->file, c->fs_bs, c->dev_bs, 4 * MiB, maxfile, &p);
	bs = x.m.bs;
	db = x.e.dev_bs;
	model_reset(&x.m, 0);
	x.m.stride = c->stride;
	shadow = xzalloc(maxfile + 8 * 65536);
	data = xalloc(8 * 65536);
	got = xalloc(8 * 65536);
	s = c->seed;

	for (int op = 0; op < c->ops; op++) {
		int write = rnd(&s) % 100 < 45, aligned;
		uint64_t off, len = rlen(&s, bs, db, &aligned);
		unsigned mis = rnd(&s) % 2 ? 0 : (unsigned)(rnd(&s) % 16);
		int nseg = rnd(&s) % 2 ? 1 : 1 + (int)(rnd(&s) % 4);
		ssize_t r, want;

		if (write && rnd(&s) % 10 == 0)
			off = size + rnd(&s) % (2ull * bs);
		else if (write)
			off = rnd(&s) % (size + 1);
		else
			off = rnd(&s) % (size + bs + 1);
		if (aligned)
			off = rnd(&s) % 2 ? off / db * db : off / bs * bs;
		if (off >= maxfile)
			off = maxfile - len;
		if (off + len > maxfile)
			len = maxfile - off;
		if (!c->file && rnd(&s) % 40 == 0) {
			if (rnd(&s) % 2)
				bdev_test_short_completions(x.e.bdev, 2, db);
			else
				bdev_test_eagain(x.e.bdev, 1);
		}

		if (!write) {
			want = off >= size ? 0 :
				(ssize_t)(size - off < len ? size - off : len);
			r = rd_ctx(&x, x.ctx, off, got, len, mis, nseg, &s);
			ck_assert_msg(r == want,
				      "%s seed %#x op %d: read(off %" PRIu64 ", len %" PRIu64
				      ", mis %u, %d segs) = %zd, want %zd (size %" PRIu64 ")",
				      where, c->seed, op, off, len, mis, nseg, r, want, size);
			expect_mem(got, shadow + off, (size_t)want,
				   "seed %#x op %d: read(off %" PRIu64 ", len %" PRIu64 ", mis %u, %d segs)",
				   c->seed, op, off, len, mis, nseg);
			continue;
		}

		fill_pat(data, len, off, (unsigned)op);
		memcpy(shadow + off, data, len);
		if (off + len > size)
			size = off + len;
		model_expect(&x.m, shadow, size, off, len);
		r = wr_ctx(&x, x.ctx, off, data, len, mis, nseg, &s);
		x.m.expect = NULL;
		ck_assert_msg(r == (ssize_t)len,
			      "%s seed %#x op %d: write(off %" PRIu64 ", len %" PRIu64
			      ", mis %u, %d segs) = %zd",
			      where, c->seed, op, off, len, mis, nseg, r);
		ck_assert_msg(x.m.f.size == size,
			      "%s seed %#x op %d: size %" PRIu64 " after write, want %" PRIu64,
			      where, c->seed, op, x.m.f.size, size);
		ck_assert_msg(x.m.bad == 0 && x.m.early == 0,
			      "%s seed %#x op %d: write(off %" PRIu64 ", len %" PRIu64 "): %s%s",
			      where, c->seed, op, off, len, x.m.bad_what, x.m.early_what);

		/* read back the range and a little around it */
		{
			uint64_t a = rnd(&s) % (db + 1), b = rnd(&s) % (db + 1);
			uint64_t lo = off > a ? off - a : 0, n = off + len + b - lo;

			want = lo >= size ? 0 :
				(ssize_t)(size - lo < n ? size - lo : n);
			r = rd_ctx(&x, x.ctx, lo, got, n, 0, 1, NULL);
			ck_assert_msg(r == want,
				      "%s seed %#x op %d: read-back(off %" PRIu64 ", len %" PRIu64 ") = %zd, want %zd",
				      where, c->seed, op, lo, n, r, want);
			expect_mem(got, shadow + lo, (size_t)want,
				   "seed %#x op %d: read back after write(off %" PRIu64 ", len %" PRIu64
				   ", mis %u, %d segs)",
				   c->seed, op, off, len, mis, nseg);
		}
	}

	if (!c->file)
		bdev_test_clear_faults(x.e.bdev);
	check_read(&x, shadow, size, 0, size + bs, 0, 1, "whole file at the end");
	check_dev(&x.m, shadow, size, "whole file at the end");
	for (uint64_t b = 0; b < x.m.nblocks; b++)
		ck_assert_msg(x.m.map[b].state != B_UNWRITTEN,
			      "%s seed %#x: file block %" PRIu64 " left unwritten",
			      where, c->seed, b);
	model_assert_clean(&x.m);
	free(shadow);
	free(data);
	free(got);
	fx_fini(&x);
}

START_TEST(t_random)
{
	core_random(&rcfgs[_i]);
}
END_TEST

/* ---- two writers in one fs block ------------------------------------------ */

struct cthr {
	struct fx *x;
	struct dio_ctx *ctx;
	uint64_t off;
	size_t len;
	int id, iters;
	atomic_int *stop;
	const unsigned char *base;	/* the reader's view of the block outside the ranges */
	unsigned errors;
	char msg[200];
};

static void *writer(void *arg)
{
	struct cthr *t = arg;
	unsigned char buf[512], got[512];
	ssize_t r;

	for (int it = 0; it < t->iters; it++) {
		unsigned char v = (unsigned char)(1 + t->id * 100 + it % 97);

		memset(buf, v, t->len);
		r = wr_ctx(t->x, t->ctx, t->off, buf, t->len,
			   (unsigned)(1 + t->id), 1, NULL);
		if (r != (ssize_t)t->len) {
			if (!t->errors++)
				snprintf(t->msg, sizeof(t->msg),
					 "writer %d iter %d: write = %zd", t->id, it, r);
			continue;
		}
		r = rd_ctx(t->x, t->ctx, t->off, got, t->len, 0, 1, NULL);
		if (r != (ssize_t)t->len || memdiff(got, buf, t->len) >= 0) {
			if (!t->errors++)
				snprintf(t->msg, sizeof(t->msg),
					 "writer %d iter %d: read back = %zd, byte 0x%02x want 0x%02x (lost update)",
					 t->id, it, r, got[0], v);
		}
	}
	return NULL;
}

/* Outside both ranges the block stays as it was; each range is all one byte. */
static void *reader(void *arg)
{
	struct cthr *t = arg;
	struct cthr *w = t + 1;		/* the two writers follow */
	unsigned bs = t->x->m.bs;
	unsigned char *got = xalloc(bs), *base = xalloc(bs);
	ssize_t r;

	memcpy(base, t->base, bs);
	while (!atomic_load(t->stop)) {
		r = rd_ctx(t->x, t->ctx, t->off, got, bs, 0, 1, NULL);
		if (r != (ssize_t)bs) {
			if (!t->errors++)
				snprintf(t->msg, sizeof(t->msg), "reader: read = %zd", r);
			continue;
		}
		for (unsigned i = 0; i < bs; i++) {
			int in = -1;

			for (int k = 0; k < 2; k++)
				if (i >= w[k].off - t->off &&
				    i < w[k].off - t->off + w[k].len)
					in = k;
			if (in < 0 ? got[i] != base[i] :
			    got[i] != got[w[in].off - t->off]) {
				if (!t->errors++)
					snprintf(t->msg, sizeof(t->msg),
						 "reader: byte %u of the block is 0x%02x (range %d)",
						 i, got[i], in);
				break;
			}
		}
	}
	free(got);
	free(base);
	return NULL;
}

static const struct geom conc_geoms[] = {
	{ 4096, 512 }, { 16384, 4096 }, { 1024, 512 }, { 65536, 4096 },
};

START_TEST(t_concurrent_rmw)
{
	const int iters = 1500;
	struct fx x;
	unsigned bs, db;
	unsigned char *img;
	struct cthr t[3];
	pthread_t th[3];
	atomic_int stop;

	fx_init(&x, 0, conc_geoms[_i].fs_bs, conc_geoms[_i].dev_bs, 4 * MiB,
		16 * 65536, NULL);
	bs = x.m.bs;
	db = x.e.dev_bs;
	img = xalloc(4ull * bs);

	/* file block 1 mapped first, then a hole the writers race to allocate */
	for (int hole = 0; hole <= 1; hole++) {
		model_reset(&x.m, 4ull * bs);
		memset(img, 0, 4ull * bs);
		model_map(&x.m, 0, 1, B_MAPPED);
		model_fill(&x.m, 0, 1, 90, img);
		if (!hole) {
			model_map(&x.m, 1, 3, B_MAPPED);
			model_fill(&x.m, 1, 3, 91, img);
		}
		atomic_store(&stop, 0);
		memset(t, 0, sizeof(t));
		for (int i = 0; i < 3; i++) {
			t[i].x = &x;
			t[i].stop = &stop;
			t[i].iters = iters;
			t[i].base = img + bs;
			ck_assert_int_eq(dio_ctx_create(x.e.bdev, &x.p, &t[i].ctx), 0);
		}
		/* t[0] reads block 1; t[1], t[2] write two ranges of its first device block */
		t[0].off = bs;
		t[1].id = 0;
		t[1].off = bs + 100;
		t[1].len = 150;
		t[2].id = 1;
		t[2].off = bs + 300;
		t[2].len = db == 512 ? 150 : 400;
		if (!hole) {
			/* each range starts out uniform, as the reader expects */
			for (int k = 1; k <= 2; k++) {
				unsigned char pre[512];

				memset(pre, 0x7F, t[k].len);
				ck_assert_int_eq(wr(&x, t[k].off, pre, t[k].len, 0, 1),
						 (ssize_t)t[k].len);
				memset(img + t[k].off, 0x7F, t[k].len);
			}
		}
		ck_assert_int_eq(pthread_create(&th[0], NULL, reader, &t[0]), 0);
		ck_assert_int_eq(pthread_create(&th[1], NULL, writer, &t[1]), 0);
		ck_assert_int_eq(pthread_create(&th[2], NULL, writer, &t[2]), 0);
		pthread_join(th[1], NULL);
		pthread_join(th[2], NULL);
		atomic_store(&stop, 1);
		pthread_join(th[0], NULL);
		for (int i = 0; i < 3; i++) {
			ck_assert_msg(t[i].errors == 0, "%s (%s block): %u errors, first: %s",
				      where, hole ? "hole" : "mapped", t[i].errors,
				      t[i].msg);
			dio_ctx_destroy(t[i].ctx);
		}
		for (int k = 1; k <= 2; k++)
			memset(img + t[k].off, 1 + t[k].id * 100 + (iters - 1) % 97,
			       t[k].len);
		check_read(&x, img, 4ull * bs, 0, 4ull * bs, 0, 1,
			   hole ? "after concurrent writes into a hole" :
			   "after concurrent writes");
		check_dev(&x.m, img, 4ull * bs, "after concurrent writes");
		ck_assert_int_eq(x.m.map[1].state, B_MAPPED);
		model_assert_clean(&x.m);
	}
	free(img);
	fx_fini(&x);
}
END_TEST

/* ---- failures in the zeros around the data ------------------------------ */

/* Geometries where an fs block spans several device blocks. */
static const struct geom split_geoms[] = {
	{ 1024, 512 }, { 4096, 512 }, { 16384, 512 },
	{ 16384, 4096 }, { 65536, 512 }, { 65536, 4096 },
};
#define NSPLIT ((int)(sizeof(split_geoms) / sizeof(split_geoms[0])))

/*
 * An extending write whose last request holds nothing but the zeros after
 * the data, up to the end of the last fs block, and fails.  At fs 4 KiB,
 * device 512: size 1000, write(1000, 1047676) with 1 MiB requests starting
 * at 512, so the second request is file [1049088, 1052672): zeros only.
 * That fs block lacks its zeros: it must stay unwritten, uncounted.
 */
START_TEST(t_fail_in_tail_zeros)
{
	const struct dio_params p = { 0 };	/* the defaults: 1 MiB requests */
	struct fx x;
	unsigned bs, db;
	uint64_t s0, end, fail_at, good;
	unsigned char *img;
	ssize_t r;

	fx_init(&x, 0, split_geoms[_i].fs_bs, split_geoms[_i].dev_bs, 8 * MiB,
		2 * MiB, &p);
	bs = x.m.bs;
	db = x.e.dev_bs;
	s0 = db + 488;		/* requests start at db, db + 1 MiB, ... */
	end = MiB + 100;	/* inside the last device block of the first */
	fail_at = db + MiB;	/* the second request: zeros only */
	good = MiB;		/* the fs block holding it is not counted */
	img = xzalloc(end);
	model_reset(&x.m, s0);
	model_map(&x.m, 0, 1, B_MAPPED);
	model_fill(&x.m, 0, 1, 110, img);
	fill_pat(img + s0, end - s0, s0, 111);
	bdev_test_fail_range(x.e.bdev, BDEV_WRITE,
			     (uint64_t)ALLOC_BASE * bs + fail_at, db, -EIO);
	model_expect(&x.m, img, good, s0, good - s0);
	r = wr(&x, s0, img + s0, end - s0, 0, 1);
	x.m.expect = NULL;
	ck_assert_msg(r == (ssize_t)(good - s0),
		      "%s: write(%" PRIu64 ", %" PRIu64 ") whose zeros-only request at %" PRIu64
		      " failed returned %zd, want %" PRIu64,
		      where, s0, end - s0, fail_at, r, good - s0);
	check_drained(&x, "failed zeros-only request");
	ck_assert_uint_eq(x.m.f.size, good);
	ck_assert_uint_eq(x.m.size_calls, 1);
	ck_assert_uint_eq(x.m.last_size, good);
	ck_assert_uint_eq(x.m.converted, good / bs - 1);
	ck_assert_msg(x.m.map[good / bs].state == B_HOLE,
		      "%s: file block %" PRIu64 ", whose zeros failed, is in state %d",
		      where, good / bs, x.m.map[good / bs].state);
	ck_assert_uint_eq(x.m.release_calls, 1);
	ck_assert_uint_eq(x.m.released, 1);
	ck_assert_uint_eq(x.m.min_released, good / bs);
	ck_assert_uint_eq(model_allocated(&x.m), good / bs);
	model_assert_clean(&x.m);
	check_read(&x, img, good, 0, end + bs, 0, 1, "after the failed zeros");
	check_dev(&x.m, img, good, "after the failed zeros");
	check_no_stale(&x, img, good, MiB + bs - 672,
		       "extended into the block whose zeros failed");
	free(img);
	fx_fini(&x);
}
END_TEST

/*
 * write(0, 100) into an unwritten fs block inside the file, in requests
 * smaller than the block; the one at bs / 2 (zeros only) fails.  Nothing
 * of the block may be counted or converted: it must still read as zeros.
 */
START_TEST(t_fail_in_block_zeros)
{
	struct dio_params p = { .queue_depth = 8, .staging_bufs = 4 };
	struct fx x;
	unsigned bs, db;
	unsigned char data[100], *img;
	ssize_t r;

	p.max_io = split_geoms[_i].fs_bs / 2 < 1024 ?
		   split_geoms[_i].fs_bs / 2 : 1024;
	if (p.max_io < split_geoms[_i].dev_bs)
		p.max_io = split_geoms[_i].dev_bs;
	fx_init(&x, 0, split_geoms[_i].fs_bs, split_geoms[_i].dev_bs, 4 * MiB,
		16 * 65536, &p);
	bs = x.m.bs;
	db = x.e.dev_bs;
	img = xzalloc(2ull * bs);

	/* preallocated, then a hole the write allocates itself */
	for (int hole = 0; hole <= 1; hole++) {
		char what[64];

		snprintf(what, sizeof(what), "%s block, zeros at %u failed",
			 hole ? "new" : "unwritten", bs / 2);
		model_reset(&x.m, 2ull * bs);
		if (!hole)
			model_map(&x.m, 0, 1, B_UNWRITTEN);
		bdev_test_clear_faults(x.e.bdev);
		bdev_test_fail_range(x.e.bdev, BDEV_WRITE,
				     (uint64_t)ALLOC_BASE * bs + bs / 2, db, -EIO);
		fill_pat(data, sizeof(data), 0, 112 + (unsigned)hole);
		r = wr(&x, 0, data, sizeof(data), 1, 1);
		ck_assert_msg(r == -EIO, "%s: %s: write(0, 100) returned %zd, want -EIO",
			      where, what, r);
		check_drained(&x, what);
		ck_assert_uint_eq(x.m.f.size, 2ull * bs);
		ck_assert_uint_eq(x.m.size_calls, 0);
		ck_assert_uint_eq(x.m.convert_calls, 0);
		ck_assert_uint_eq(x.m.release_calls, 0);
		ck_assert_int_eq(x.m.map[0].state, B_UNWRITTEN);
		ck_assert_uint_eq(x.m.map[0].pblk, ALLOC_BASE);
		check_read(&x, NULL, 2ull * bs, 0, bs, 0, 1, what);
		check_read(&x, NULL, 2ull * bs, 0, 2ull * bs, 3, 2, what);
		model_assert_clean(&x.m);

		/* the same write without the fault fills the block */
		bdev_test_clear_faults(x.e.bdev);
		memcpy(img, data, sizeof(data));
		model_expect(&x.m, img, 2ull * bs, 0, sizeof(data));
		ck_assert_int_eq(wr(&x, 0, data, sizeof(data), 1, 1),
				 (ssize_t)sizeof(data));
		x.m.expect = NULL;
		ck_assert_int_eq(x.m.map[0].state, B_MAPPED);
		ck_assert_uint_eq(x.m.converted, 1);
		check_read(&x, img, 2ull * bs, 0, 2ull * bs, 0, 1, what);
		check_dev(&x.m, img, 2ull * bs, what);
		model_assert_clean(&x.m);
	}
	free(img);
	fx_fini(&x);
}
END_TEST

/* ---- a resend the device refuses, while the worker waits for a slot ----- */

/*
 * io_submit calls that fail with EAGAIN until the bdev layer gives up: one
 * call and BDEV_EAGAIN_TRIES (8) retries.  Exactly that many leaves the
 * device willing again right after, as a passing overload would.
 */
#define EAGAIN_GIVE_UP 9

/*
 * A short completion of block 0: one device block, so that the rest could
 * be resent, or 512 bytes where the fs block is one device block.
 */
static size_t short_bytes(const struct fx *x)
{
	return x->m.bs > x->e.dev_bs ? x->e.dev_bs : 512;
}

static const struct dio_params depth1_params = {
	.queue_depth = 1, .max_io = 128 * KiB, .staging_bufs = 4,
};

/*
 * Two fs blocks, one mapping each, the first sent before the second is
 * mapped (DIO_MAP_BOUNDARY).  With one request slot the worker must reap
 * block 0 to go on; it comes back short and its resend is refused.  Block
 * 0 failed, so nothing is good, and block 1 was never written.
 */
START_TEST(t_eagain_while_waiting)
{
	struct fx x;
	unsigned bs;
	unsigned char *data, *zero;
	struct bdev_stats s0, s1;
	ssize_t r;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 4 * MiB, 16 * 65536,
		&depth1_params);
	bs = x.m.bs;
	data = xalloc(2ull * bs);
	zero = xzalloc(8ull * bs);
	fill_pat(data, 2ull * bs, 0, 115);
	model_reset(&x.m, 0);
	x.m.max_run = 1;
	x.m.boundary = 1;
	x.m.fault_armed = 1;
	x.m.fault_lblk = 1;
	x.m.fault_short = short_bytes(&x);
	x.m.fault_eagain = EAGAIN_GIVE_UP;
	s0 = bst(&x);
	r = wr(&x, 0, data, 2ull * bs, 0, 1);
	s1 = bst(&x);
	ck_assert_int_eq(x.m.fault_armed, 0);
	ck_assert_uint_eq(s1.short_completions - s0.short_completions, 1);
	ck_assert_uint_eq(s1.eagain - s0.eagain, EAGAIN_GIVE_UP);
	ck_assert_msg(r == -EAGAIN,
		      "%s: write(0, %u) whose block 0 could not be resent returned %zd, want -EAGAIN",
		      where, 2 * bs, r);
	check_drained(&x, "refused resend");
	ck_assert_uint_eq(x.m.f.size, 0);
	ck_assert_uint_eq(x.m.size_calls, 0);
	ck_assert_uint_eq(x.m.convert_calls, 0);
	ck_assert_uint_eq(x.m.released, 2);
	ck_assert_uint_eq(model_allocated(&x.m), 0);
	model_assert_clean(&x.m);
	check_no_stale(&x, zero, 0, 4ull * bs, "extended after the refused resend");
	free(data);
	free(zero);
	fx_fini(&x);
}
END_TEST

/*
 * The same fault under a read into an unaligned buffer (block 0 staged),
 * with the device refusing until the test says otherwise.  The worker must
 * not leave block 0 in flight: a later call on the same context, reading a
 * hole of another file, would reap it and be handed its staged bytes.
 */
START_TEST(t_eagain_read_then_hole)
{
	struct fx x;
	struct model m2;
	unsigned bs;
	unsigned char *img, *got, *buf;
	struct iovec iov;
	ssize_t r;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 4 * MiB, 16 * 65536,
		&depth1_params);
	bs = x.m.bs;
	img = xalloc(2ull * bs);
	got = xalloc(2ull * bs);
	model_reset(&x.m, 2ull * bs);
	model_map(&x.m, 0, 2, B_MAPPED);
	memset(img, 0x11, 2ull * bs);
	for (int b = 0; b < 2; b++)
		memset(bdev_test_data(x.e.bdev) + x.m.map[b].pblk * bs, 0x11, bs);
	x.m.max_run = 1;
	x.m.boundary = 1;
	x.m.fault_armed = 1;
	x.m.fault_lblk = 1;
	x.m.fault_short = short_bytes(&x);
	x.m.fault_eagain = 1000;
	r = rd(&x, 0, got, 2ull * bs, 1, 1);
	ck_assert_int_eq(x.m.fault_armed, 0);
	ck_assert_msg(r == -EAGAIN,
		      "%s: read whose block 0 could not be resent returned %zd, want -EAGAIN",
		      where, r);
	bdev_test_clear_faults(x.e.bdev);

	/* file 2: all holes, read on the same context */
	model_init(&m2, &x.e, bs, 4);
	model_reset(&m2, 4ull * bs);
	buf = xalloc(bs + 3);
	memset(buf, 0xEE, bs + 3);
	iov = (struct iovec){ buf + 3, bs };
	r = dio_rw(x.ctx, &m2.f, DIO_READ, 0, &iov, 1);
	ck_assert_msg(r == (ssize_t)bs, "%s: read of a hole of file 2 = %zd", where, r);
	expect_mem(buf + 3, NULL, bs, "hole of file 2 after the refused resend");
	ck_assert_uint_eq(m2.gb_create_calls, 0);
	model_assert_clean(&m2);
	model_fini(&m2);
	free(buf);

	/* and file 1 reads whole again */
	check_read(&x, img, 2ull * bs, 0, 2ull * bs, 1, 1, "file 1 after the fault");
	check_drained(&x, "after the refused resend");
	model_assert_clean(&x.m);
	free(img);
	free(got);
	fx_fini(&x);
}
END_TEST

/* ---- the fs block holding end of file (dio.c rule 7) --------------------- */

/* The mapped fs block 0 holds pattern seed up to size; the device past it 0xA5. */
static void eof_block(struct fx *x, unsigned char *img, uint64_t size,
		      unsigned seed)
{
	unsigned bs = x->m.bs;

	memset(img, 0, 4ull * bs);
	model_reset(&x->m, size);
	model_map(&x->m, 0, 1, B_MAPPED);
	model_fill(&x->m, 0, 1, seed, img);
	memset(img + size, 0, bs - size);
	memset(bdev_test_data(x->e.bdev) + x->m.map[0].pblk * bs + size,
	       GARBAGE, bs - size);
}

START_TEST(t_gap_past_eof)
{
	struct dio_params p = { .queue_depth = 8, .staging_bufs = 4 };
	struct fx x;
	unsigned bs, db;
	uint64_t fail_at, size, far;
	unsigned char *img, *data, one = 0x5A;
	ssize_t r;

	p.max_io = geoms[_i].fs_bs / 4 > geoms[_i].dev_bs ?
		   geoms[_i].fs_bs / 4 : geoms[_i].dev_bs;
	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 4 * MiB, 16 * 65536, &p);
	bs = x.m.bs;
	db = x.e.dev_bs;
	img = xzalloc(4ull * bs);
	data = xalloc(bs);

	/*
	 * A: write(100, bs - 100) over mapped block 0 fails in its second
	 * request (the only one at bs == db); the requests after it land but
	 * are not counted.  Extending later must not show them.
	 */
	fail_at = bs >= 2 * p.max_io ? p.max_io : 0;
	eof_block(&x, img, 100, 120);
	fill_pat(data, bs - 100, 100, 121);
	bdev_test_fail_range(x.e.bdev, BDEV_WRITE,
			     x.m.map[0].pblk * bs + fail_at, db, -EIO);
	r = wr(&x, 100, data, bs - 100, 1, 2);
	size = fail_at > 100 ? fail_at : 100;
	ck_assert_msg(r == (fail_at > 100 ? (ssize_t)(fail_at - 100) : -EIO),
		      "%s: write(100, %u) failing at %" PRIu64 " returned %zd",
		      where, bs - 100, fail_at, r);
	check_drained(&x, "failed write over the EOF block");
	ck_assert_uint_eq(x.m.f.size, size);
	ck_assert_uint_eq(x.m.size_calls, fail_at > 100 ? 1 : 0);
	ck_assert_uint_eq(x.m.last_size, size);
	memcpy(img + 100, data, size - 100);
	check_read(&x, img, size, 0, bs, 0, 1, "after the failed write");
	bdev_test_clear_faults(x.e.bdev);
	far = bs - 96;
	ck_assert_int_eq(wr(&x, far, &one, 1, 0, 1), 1);
	img[far] = one;
	ck_assert_uint_eq(x.m.f.size, far + 1);
	ck_assert_uint_eq(x.m.last_size, far + 1);
	ck_assert_uint_eq(model_allocated(&x.m), 1);
	check_read(&x, img, far + 1, 0, far + 1 + bs, 0, 1,
		   "extended over the failed write's tail");
	model_assert_clean(&x.m);
	check_no_stale(&x, img, far + 1, 3ull * bs, "extended again, past the block");

	/* B: 0xA5 past EOF in the same fs block, write further into it */
	eof_block(&x, img, 100, 122);
	far = bs - bs / 4 - 72;
	ck_assert_int_eq(wr(&x, far, &one, 1, 1, 1), 1);
	img[far] = one;
	ck_assert_uint_eq(x.m.f.size, far + 1);
	ck_assert_uint_eq(x.m.size_calls, 1);
	ck_assert_uint_eq(x.m.converted, 0);
	ck_assert_uint_eq(model_allocated(&x.m), 1);
	check_read(&x, img, far + 1, 0, far + 1, 0, 1, "write past EOF in the EOF block");
	model_assert_clean(&x.m);
	check_no_stale(&x, img, far + 1, 3ull * bs, "and then past the block");

	/* C: the same, writing in a later fs block */
	eof_block(&x, img, 100, 123);
	far = 2ull * bs + bs / 2 - 240;
	ck_assert_int_eq(wr(&x, far, &one, 1, 1, 1), 1);
	img[far] = one;
	ck_assert_uint_eq(x.m.f.size, far + 1);
	ck_assert_uint_eq(x.m.size_calls, 1);
	ck_assert_uint_eq(x.m.converted, 1);
	ck_assert_uint_eq(model_allocated(&x.m), 2);
	ck_assert_int_eq(x.m.map[0].state, B_MAPPED);
	ck_assert_int_eq(x.m.map[1].state, B_HOLE);
	ck_assert_int_eq(x.m.map[2].state, B_MAPPED);
	check_read(&x, img, far + 1, 0, far + 1 + bs, 0, 1,
		   "write past EOF in a later block");
	check_dev(&x.m, img, far + 1, "write past EOF in a later block");
	model_assert_clean(&x.m);

	/* D: the EOF block is a hole or unwritten: nothing to zero or allocate */
	for (int st = B_HOLE; st <= B_UNWRITTEN; st++) {
		memset(img, 0, 4ull * bs);
		model_reset(&x.m, 100);
		if (st == B_UNWRITTEN)
			model_map(&x.m, 0, 1, B_UNWRITTEN);
		ck_assert_int_eq(wr(&x, far, &one, 1, 0, 1), 1);
		img[far] = one;
		ck_assert_uint_eq(x.m.f.size, far + 1);
		ck_assert_msg(x.m.min_create_lblk == far / bs,
			      "%s: EOF block %s: get_block(create) asked for block %" PRIu64,
			      where, st == B_HOLE ? "hole" : "unwritten",
			      x.m.min_create_lblk);
		ck_assert_uint_eq(model_allocated(&x.m), st == B_HOLE ? 1 : 2);
		ck_assert_int_eq(x.m.map[0].state, st);
		ck_assert_uint_eq(x.m.converted, 1);
		check_read(&x, img, far + 1, 0, far + 1, 1, 2,
			   "write past EOF, EOF block not mapped");
		model_assert_clean(&x.m);
	}
	free(img);
	free(data);
	fx_fini(&x);
}
END_TEST

/* ---- writes past EOF that fail before any good byte --------------------- */

START_TEST(t_failed_extend_keeps_size)
{
	struct fx x;
	unsigned bs;
	uint64_t off, size;
	unsigned char *img, *data;
	ssize_t r;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 4 * MiB, 16 * 65536, NULL);
	bs = x.m.bs;
	img = xzalloc(4ull * bs);
	data = xalloc(bs);
	off = 3ull * bs + 7;
	fill_pat(data, bs, off, 130);

	/* an empty file, or 100 bytes in a mapped block; ENOSPC, or EIO */
	for (int pre = 0; pre <= 1; pre++) {
		for (int eio = 0; eio <= 1; eio++) {
			char what[64];

			snprintf(what, sizeof(what), "size %d, %s at the first block",
				 pre ? 100 : 0, eio ? "EIO" : "ENOSPC");
			bdev_test_clear_faults(x.e.bdev);
			size = pre ? 100 : 0;
			if (pre) {
				eof_block(&x, img, size, 131);
			} else {
				memset(img, 0, 4ull * bs);
				model_reset(&x.m, 0);
			}
			if (eio)
				bdev_test_fail_range(x.e.bdev, BDEV_WRITE,
						     (uint64_t)(ALLOC_BASE + pre) * bs,
						     2ull * bs, -EIO);
			else
				x.m.budget = 0;
			r = wr(&x, off, data, bs, 0, 1);
			ck_assert_msg(r == (eio ? -EIO : -ENOSPC),
				      "%s: %s: write(%" PRIu64 ", %u) returned %zd",
				      where, what, off, bs, r);
			check_drained(&x, what);
			ck_assert_msg(x.m.f.size == size && x.m.size_calls == 0,
				      "%s: %s: size %" PRIu64 " after %u set_size calls, want %" PRIu64,
				      where, what, x.m.f.size, x.m.size_calls, size);
			ck_assert_uint_eq(x.m.convert_calls, 0);
			ck_assert_uint_eq(x.m.released, eio ? 2 : 0);
			ck_assert_uint_eq(model_allocated(&x.m), (uint64_t)pre);
			model_assert_clean(&x.m);
			x.m.budget = -1;
			check_no_stale(&x, img, size, 6ull * bs, what);
		}
	}
	free(img);
	free(data);
	fx_fini(&x);
}
END_TEST

/* ---- a get_block(create) that does not allocate ------------------------- */

START_TEST(t_create_hole)
{
	struct fx x;
	unsigned bs;
	unsigned char *data;
	ssize_t r;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 4 * MiB, 16 * 65536, NULL);
	bs = x.m.bs;
	data = xalloc(2ull * bs);
	fill_pat(data, 2ull * bs, 0, 135);

	/* at the first block, aligned or not: nothing landed */
	for (int mis = 0; mis <= 1; mis++) {
		model_reset(&x.m, 0);
		x.m.create_hole_from = 0;
		r = wr(&x, mis ? 5 : 0, data, 2ull * bs, (unsigned)mis, 1);
		ck_assert_msg(r == -EIO,
			      "%s: write(%d, %u) answered by a hole returned %zd, want -EIO",
			      where, mis ? 5 : 0, 2 * bs, r);
		check_drained(&x, "hole from get_block(create)");
		ck_assert_uint_eq(x.m.f.size, 0);
		ck_assert_uint_eq(x.m.size_calls, 0);
		ck_assert_uint_eq(x.m.convert_calls, 0);
		ck_assert_uint_eq(model_allocated(&x.m), 0);
		model_assert_clean(&x.m);
	}

	/* at the second block, the first already sent: only it counts */
	model_reset(&x.m, 0);
	x.m.max_run = 1;
	x.m.boundary = 1;
	x.m.create_hole_from = 1;
	model_expect(&x.m, data, bs, 0, bs);
	r = wr(&x, 0, data, 2ull * bs, 0, 1);
	x.m.expect = NULL;
	ck_assert_msg(r == (ssize_t)bs,
		      "%s: write(0, %u) whose block 1 is a hole returned %zd, want %u",
		      where, 2 * bs, r, bs);
	check_drained(&x, "hole at the second block");
	ck_assert_uint_eq(x.m.f.size, bs);
	ck_assert_uint_eq(x.m.size_calls, 1);
	ck_assert_uint_eq(x.m.last_size, bs);
	ck_assert_uint_eq(x.m.converted, 1);
	ck_assert_int_eq(x.m.map[0].state, B_MAPPED);
	ck_assert_int_eq(x.m.map[1].state, B_HOLE);
	check_read(&x, data, bs, 0, 2ull * bs, 0, 1, "hole at the second block");
	check_dev(&x.m, data, bs, "hole at the second block");
	model_assert_clean(&x.m);
	x.m.create_hole_from = UINT64_MAX;
	check_no_stale(&x, data, bs, 4ull * bs, "extended after the hole");
	free(data);
	fx_fini(&x);
}
END_TEST

/* ---- a failed read-modify-write read ends a large overwrite ------------- */

/*
 * Overwrite [0, 3 MiB + 100) of one mapped extent, one request in flight:
 * the three full requests have landed when the read of the partial tail
 * block fails, so 3 MiB are good.
 */
START_TEST(t_rmw_read_fails_at_tail)
{
	const struct dio_params p = { .queue_depth = 1 };
	const uint64_t size = 4 * MiB, len = 3 * MiB + 100;
	struct fx x;
	unsigned bs, db;
	unsigned char *img, *data;
	ssize_t r;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 8 * MiB, size, &p);
	bs = x.m.bs;
	db = x.e.dev_bs;
	img = xalloc(size);
	data = xalloc(len);
	model_reset(&x.m, size);
	model_map(&x.m, 0, size / bs, B_MAPPED);
	model_fill(&x.m, 0, size / bs, 140, img);
	for (unsigned mis = 0; mis <= 1; mis++) {
		fill_pat(data, len, 0, 141 + mis);
		bdev_test_fail_range(x.e.bdev, BDEV_READ,
				     (uint64_t)ALLOC_BASE * bs + 3 * MiB, db, -EIO);
		r = wr(&x, 0, data, len, mis, 1);
		ck_assert_msg(r == (ssize_t)(3 * MiB),
			      "%s: overwrite(0, %" PRIu64 ", mis %u) whose tail read failed returned %zd, want %" PRIu64,
			      where, len, mis, r, (uint64_t)(3 * MiB));
		check_drained(&x, "failed read-modify-write read");
		bdev_test_clear_faults(x.e.bdev);
		memcpy(img, data, 3 * MiB);
		check_read(&x, img, size, 0, size, 0, 1, "after the failed tail read");
		ck_assert_uint_eq(x.m.f.size, size);
		ck_assert_uint_eq(x.m.size_calls, 0);
		ck_assert_uint_eq(x.m.convert_calls, 0);
	}
	model_assert_clean(&x.m);
	free(img);
	free(data);
	fx_fini(&x);
}
END_TEST

/* ---- get_block describing more than it was asked for -------------------- */

START_TEST(t_hole_to_end)
{
	struct fx x;
	unsigned bs;
	uint64_t size;
	unsigned char *img;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 4 * MiB, 16 * 65536, NULL);
	bs = x.m.bs;
	size = 3ull * bs + 5;
	img = xzalloc(4ull * bs);
	alarm(10);	/* a walk that never ends is killed, and fails the case */
	model_reset(&x.m, size);
	x.m.hole_to_end = 1;
	check_read(&x, NULL, size, bs + 3, 2ull * bs, 1, 1, "hole to the end");
	check_read(&x, NULL, size, 0, 10ull * bs, 0, 1, "hole to the end, past EOF");
	model_map(&x.m, 0, 1, B_MAPPED);
	model_fill(&x.m, 0, 1, 150, img);
	check_read(&x, img, size, 0, size + bs, 0, 1, "mapped, then a hole to the end");
	check_read(&x, img, size, 7, 2ull * bs, 3, 2, "mapped, then a hole to the end");
	alarm(0);
	ck_assert_uint_eq(x.m.gb_create_calls, 0);
	model_assert_clean(&x.m);
	free(img);
	fx_fini(&x);
}
END_TEST

/* ---- two writers converting one block (dio.h rule 2) -------------------- */

struct cwriter {
	struct fx *x;
	struct dio_ctx *ctx;
	pthread_barrier_t *bar;
	int iters;
	unsigned char val;	/* set by the main thread before each round */
	ssize_t r;
};

static void *convert_writer(void *arg)
{
	struct cwriter *w = arg;
	unsigned bs = w->x->m.bs;
	unsigned char *buf = NULL;
	struct iovec iov;

	if (posix_memalign((void **)&buf, 4096, bs))
		buf = NULL;
	iov = (struct iovec){ buf, bs };
	for (int it = 0; it < w->iters; it++) {
		pthread_barrier_wait(w->bar);
		if (buf) {
			memset(buf, w->val, bs);
			w->r = dio_rw(w->ctx, &w->x->m.f, DIO_WRITE, bs, &iov, 1);
		} else {
			w->r = -ENOMEM;
		}
		pthread_barrier_wait(w->bar);
	}
	free(buf);
	return NULL;
}

/*
 * Whole-block writes inside the file share the lock, so both may find the
 * block unwritten and both convert it.  Each round: both succeed, the block
 * is converted once or twice, and it holds one write entirely.
 */
START_TEST(t_concurrent_convert)
{
	const int iters = 1000;
	struct fx x;
	unsigned bs;
	unsigned char *got, *want;
	struct cwriter w[2];
	pthread_t th[2];
	pthread_barrier_t bar;
	unsigned once = 0, twice = 0;

	fx_init(&x, 0, conc_geoms[_i].fs_bs, conc_geoms[_i].dev_bs, 4 * MiB,
		16 * 65536, NULL);
	bs = x.m.bs;
	got = xalloc(bs);
	want = xalloc(bs);
	model_reset(&x.m, 4ull * bs);
	model_map(&x.m, 1, 1, B_UNWRITTEN);
	ck_assert_int_eq(pthread_barrier_init(&bar, NULL, 3), 0);
	for (int i = 0; i < 2; i++) {
		w[i] = (struct cwriter){ .x = &x, .bar = &bar, .iters = iters };
		ck_assert_int_eq(dio_ctx_create(x.e.bdev, &x.p, &w[i].ctx), 0);
		ck_assert_int_eq(pthread_create(&th[i], NULL, convert_writer, &w[i]), 0);
	}
	for (int it = 0; it < iters; it++) {
		uint64_t c0 = x.m.converted, dc;
		ssize_t r;

		x.m.map[1].state = B_UNWRITTEN;
		memset(bdev_test_data(x.e.bdev) + x.m.map[1].pblk * bs, GARBAGE, bs);
		w[0].val = (unsigned char)(1 + it % 0x50);
		w[1].val = (unsigned char)(0x51 + it % 0x50);
		x.m.conv_vals[0] = w[0].val;
		x.m.conv_vals[1] = w[1].val;
		x.m.conv_uniform = 1;
		pthread_barrier_wait(&bar);	/* go */
		pthread_barrier_wait(&bar);	/* both done */
		ck_assert_msg(w[0].r == (ssize_t)bs && w[1].r == (ssize_t)bs,
			      "%s: round %d: writes returned %zd and %zd", where, it,
			      w[0].r, w[1].r);
		dc = x.m.converted - c0;
		ck_assert_msg(dc == 1 || dc == 2, "%s: round %d: block converted %" PRIu64 " times",
			      where, it, dc);
		once += dc == 1;
		twice += dc == 2;
		ck_assert_int_eq(x.m.map[1].state, B_MAPPED);
		r = rd(&x, bs, got, bs, 0, 1);
		ck_assert_int_eq(r, (ssize_t)bs);
		ck_assert_msg(got[0] == w[0].val || got[0] == w[1].val,
			      "%s: round %d: block starts with 0x%02x, want 0x%02x or 0x%02x",
			      where, it, got[0], w[0].val, w[1].val);
		memset(want, got[0], bs);
		expect_mem(got, want, bs, "round %d: a mix of two writes", it);
		model_assert_clean(&x.m);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		dio_ctx_destroy(w[i].ctx);
	}
	pthread_barrier_destroy(&bar);
	ck_assert_uint_eq(once + twice, (unsigned)iters);
	ck_assert_uint_eq(x.m.f.size, 4ull * bs);
	ck_assert_uint_eq(x.m.size_calls, 0);
	free(got);
	free(want);
	fx_fini(&x);
}
END_TEST

/* ---- asynchronous transfers: dio_submit, dio_reap ----------------------- */

/*
 * One transfer submitted with dio_submit(): its buffer, which belongs to
 * the worker until done runs (asynchronous rule 2 of dio.h), and what
 * dio_rw() would have returned for it.  done only records what it is given
 * (rule 1: it must not call into the context); the case checks afterwards.
 */
struct aop {
	struct iob b;
	struct model *m;
	enum dio_dir dir;
	uint64_t off;
	size_t len;
	ssize_t want;			/* dio_rw()'s result */
	unsigned char *want_data;	/* a read's first want bytes */
	int live;			/* submitted, not yet checked */
	unsigned ndone;			/* times done ran */
	ssize_t result;
	unsigned gb_at_done;		/* the model's get_block calls by then */
};

static void aop_done(void *priv, ssize_t result)
{
	struct aop *a = priv;

	a->ndone++;
	a->result = result;
	a->gb_at_done = a->m->gb_calls;
}

static void aop_init(struct aop *a, struct model *m, enum dio_dir dir,
		     uint64_t off, size_t len)
{
	memset(a, 0, sizeof(*a));
	a->m = m;
	a->dir = dir;
	a->off = off;
	a->len = len;
	a->live = 1;
}

static void aop_write_init(struct aop *a, struct model *m, uint64_t off,
			   const unsigned char *src, size_t len, unsigned mis,
			   int nseg, uint64_t *rng)
{
	aop_init(a, m, DIO_WRITE, off, len);
	a->want = (ssize_t)len;
	iob_make(&a->b, len, mis, nseg, rng);
	iob_put(&a->b, src);
}

/* Submit a write of src's len bytes at off: dio_rw() would return len. */
static void aop_write(struct dio_ctx *ctx, struct model *m, struct aop *a,
		      uint64_t off, const unsigned char *src, size_t len,
		      unsigned mis, int nseg, uint64_t *rng)
{
	aop_write_init(a, m, off, src, len, mis, nseg, rng);
	dio_submit(ctx, &m->f, DIO_WRITE, off, a->b.iov, a->b.n, aop_done, a);
}

/* The same with dio_submit_behind(): whether the write is in place. */
static bool aop_write_behind(struct dio_ctx *ctx, struct model *m,
			     struct aop *a, uint64_t off,
			     const unsigned char *src, size_t len)
{
	aop_write_init(a, m, off, src, len, 0, 1, NULL);
	return dio_submit_behind(ctx, &m->f, off, a->b.iov, a->b.n, aop_done,
				 a);
}

/*
 * Submit a read of [off, off+len) of a file that holds img's first size
 * bytes (img NULL: zeros) by the time the read looks at it.
 */
static void aop_read(struct dio_ctx *ctx, struct model *m, struct aop *a,
		     const unsigned char *img, uint64_t size, uint64_t off,
		     size_t len, unsigned mis, int nseg, uint64_t *rng)
{
	aop_init(a, m, DIO_READ, off, len);
	a->want = off >= size ? 0 :
		(ssize_t)(size - off < len ? size - off : len);
	a->want_data = xzalloc((size_t)a->want);
	if (img && a->want)
		memcpy(a->want_data, img + off, (size_t)a->want);
	iob_make(&a->b, len, mis, nseg, rng);
	dio_submit(ctx, &m->f, DIO_READ, off, a->b.iov, a->b.n, aop_done, a);
}

/* done ran exactly once, with dio_rw()'s result (and a read's bytes). */
static void aop_check(struct aop *a, const char *what)
{
	const char *op = a->dir == DIO_WRITE ? "write" : "read";

	ck_assert_msg(a->ndone == 1,
		      "%s: %s: %s(off %" PRIu64 ", len %zu): done ran %u times, want once",
		      where, what, op, a->off, a->len, a->ndone);
	ck_assert_msg(a->result == a->want,
		      "%s: %s: %s(off %" PRIu64 ", len %zu) completed with %zd, want %zd",
		      where, what, op, a->off, a->len, a->result, a->want);
	if (a->dir == DIO_READ && a->want > 0) {
		unsigned char *got = xalloc((size_t)a->want);

		iob_get(&a->b, got, (size_t)a->want);
		expect_mem(got, a->want_data, (size_t)a->want,
			   "%s: read(off %" PRIu64 ", len %zu)", what, a->off,
			   a->len);
		free(got);
	}
	free(a->b.base);
	free(a->want_data);
	a->b.base = NULL;
	a->want_data = NULL;
	a->live = 0;
}

/* Transfers of a[] submitted whose done has not run. */
static unsigned aops_running(const struct aop *a, int n)
{
	unsigned k = 0;

	for (int i = 0; i < n; i++)
		k += a[i].live && !a[i].ndone;
	return k;
}

static void check_pending(struct dio_ctx *ctx, const struct aop *a, int n,
			  const char *what)
{
	ck_assert_msg(dio_ctx_pending(ctx) == aops_running(a, n),
		      "%s: %s: dio_ctx_pending() = %u, but %u transfers have not completed",
		      where, what, dio_ctx_pending(ctx), aops_running(a, n));
}

/* None of a[] has completed yet: all really are in flight. */
static void check_in_flight(const struct aop *a, int n, const char *what)
{
	for (int i = 0; i < n; i++)
		ck_assert_msg(!a[i].live || a[i].ndone == 0,
			      "%s: %s: %s(off %" PRIu64 ", len %zu) completed before anything was reaped",
			      where, what, a[i].dir == DIO_WRITE ? "write" : "read",
			      a[i].off, a[i].len);
}

/* Check and retire every transfer of a[] whose done has run. */
static void aops_collect(struct dio_ctx *ctx, struct aop *a, int n,
			 const char *what)
{
	for (int i = 0; i < n; i++)
		if (a[i].live && a[i].ndone)
			aop_check(&a[i], what);
	check_pending(ctx, a, n, what);
}

/* dio_reap(ctx, pending) completes everything in flight, each once. */
static void reap_all(struct dio_ctx *ctx, struct aop *a, int n,
		     const char *what)
{
	unsigned p = dio_ctx_pending(ctx);
	int r;

	check_pending(ctx, a, n, what);
	r = dio_reap(ctx, p);
	ck_assert_msg(r == (int)p, "%s: %s: dio_reap(%u) = %d, want %u",
		      where, what, p, r, p);
	ck_assert_msg(dio_ctx_pending(ctx) == 0,
		      "%s: %s: %u transfers pending after dio_reap(%u)",
		      where, what, dio_ctx_pending(ctx), p);
	aops_collect(ctx, a, n, what);
}

/* Device address of file byte off, which must be mapped. */
static uint64_t file_dev(const struct model *m, uint64_t off)
{
	ck_assert_int_ne(m->map[off / m->bs].state, B_HOLE);
	return m->map[off / m->bs].pblk * m->bs + off % m->bs;
}

static const struct dio_params async_params = {
	.queue_depth = 16, .max_io = 128 * KiB, .staging_bufs = 4,
};

/*
 * Many transfers on one context, at distinct offsets of a file of mapped
 * blocks and one hole: aligned buffers first (nothing needs a staging
 * buffer, so on the test device nothing may complete before dio_reap),
 * then odd buffers through staging.
 */
static void core_async_many(int file, unsigned fs_bs, unsigned dev_bs)
{
	enum { N = 8 };
	struct fx x;
	struct aop a[N];
	unsigned bs, db;
	uint64_t size;
	unsigned char *shadow, *old, *data, *got;
	struct bdev_stats s0, s1;

	fx_init(&x, file, fs_bs, dev_bs, 8 * MiB, 32 * 65536, &async_params);
	memset(a, 0, sizeof(a));
	bs = x.m.bs;
	db = x.e.dev_bs;
	size = 16ull * bs;
	shadow = xzalloc(size);
	old = xalloc(size);
	data = xalloc(size);
	got = xalloc(bs);
	model_reset(&x.m, size);
	model_map(&x.m, 0, 12, B_MAPPED);
	model_fill(&x.m, 0, 12, 160, shadow);
	/* blocks 12 to 15 are holes */

	for (int pass = 0; pass < 2; pass++) {
		const struct { int write; uint64_t off, len; } t[N] = {
			{ 1, 0, bs },
			{ 0, bs, 2ull * bs },
			{ 1, 3ull * bs, 2ull * bs },
			{ 0, 5ull * bs + (bs > db ? db : 0), db },
			{ 1, 6ull * bs, bs },
			{ 0, 7ull * bs, 3ull * bs },
			{ 1, (12ull + (unsigned)pass) * bs, bs },	/* a hole */
			{ 1, 10ull * bs, 2ull * bs },
		};
		const unsigned mis = pass ? 1 : 0;
		const int nseg = pass ? 3 : 1;
		const char *what = pass ? "transfers from odd buffers in flight" :
				   "aligned transfers in flight";
		uint64_t hole = 12 + (unsigned)pass;

		memcpy(old, shadow, size);
		fill_pat(data, size, 0, 161 + (unsigned)pass);
		for (int i = 0; i < N; i++)
			if (t[i].write)
				memcpy(shadow + t[i].off, data + t[i].off, t[i].len);
		model_expect(&x.m, shadow, size, 0, size);
		model_counts_clear(&x.m);
		s0 = bst(&x);
		for (int i = 0; i < N; i++) {
			if (t[i].write)
				aop_write(x.ctx, &x.m, &a[i], t[i].off,
					  data + t[i].off, t[i].len, mis, nseg, NULL);
			else
				aop_read(x.ctx, &x.m, &a[i], shadow, size,
					 t[i].off, t[i].len, mis, nseg, NULL);
			ck_assert_uint_le(dio_ctx_pending(x.ctx), async_params.queue_depth);
		}
		check_pending(x.ctx, a, N, what);
		if (!pass)
			ck_assert_uint_gt(dio_ctx_pending(x.ctx), 1);
		if (!file && !pass) {
			struct dio_ctx *c2;
			struct iovec iov = { got, bs };

			check_in_flight(a, N, what);
			ck_assert_uint_eq(dio_ctx_pending(x.ctx), N);
			s1 = bst(&x);
			ck_assert_msg(s1.reads == s0.reads && s1.writes == s0.writes,
				      "%s: %s: %" PRIu64 " reads and %" PRIu64 " writes completed before dio_reap",
				      where, what, s1.reads - s0.reads,
				      s1.writes - s0.writes);
			for (int i = 0; i < N; i++) {
				unsigned char *dev;

				if (!t[i].write || t[i].off / bs == hole)
					continue;
				dev = xalloc(t[i].len);
				dev_read(&x.e, file_dev(&x.m, t[i].off), dev, t[i].len);
				expect_mem(dev, old + t[i].off, t[i].len,
					   "write(off %" PRIu64 ") landed before dio_reap",
					   t[i].off);
				free(dev);
			}
			ck_assert_int_eq(x.m.map[hole].state, B_UNWRITTEN);
			ck_assert_uint_eq(x.m.converted, 0);

			/* another context's call completes none of them */
			ck_assert_int_eq(dio_ctx_create(x.e.bdev, &x.p, &c2), 0);
			ck_assert_int_eq(dio_rw(c2, &x.m.f, DIO_READ, 8ull * bs, &iov, 1),
					 (ssize_t)bs);
			expect_mem(got, shadow + 8ull * bs, bs,
				   "read on a second context");
			dio_ctx_destroy(c2);
			check_in_flight(a, N, "after a call on another context");
			check_pending(x.ctx, a, N, "after a call on another context");
		}
		reap_all(x.ctx, a, N, what);
		x.m.expect = NULL;
		ck_assert_int_eq(x.m.map[hole].state, B_MAPPED);
		ck_assert_uint_eq(x.m.converted, 1);
		ck_assert_uint_eq(x.m.size_calls, 0);
		ck_assert_uint_eq(x.m.f.size, size);
		check_dev(&x.m, shadow, size, what);
		check_read(&x, shadow, size, 0, size + bs, 0, 1, what);
		model_assert_clean(&x.m);
	}
	free(shadow);
	free(old);
	free(data);
	free(got);
	fx_fini(&x);
}

START_TEST(t_async_many)
{
	core_async_many(0, geoms[_i].fs_bs, geoms[_i].dev_bs);
}
END_TEST

START_TEST(t_file_async_many)
{
	core_async_many(1, file_fs_bs[_i], 0);
}
END_TEST

/*
 * Three times as many transfers as request slots (rule 5): dio_submit()
 * completes earlier ones itself, never holding more than queue_depth.
 * First one request each, then two, with one transfer five times larger
 * than the whole queue.
 */
START_TEST(t_async_overflow)
{
	const struct dio_params p = {
		.queue_depth = 4, .max_io = 128 * KiB, .staging_bufs = 4,
	};
	enum { N = 12 };
	const uint64_t mx = p.max_io;
	struct fx x;
	struct aop a[N];
	unsigned bs;
	uint64_t size = 3 * MiB;
	unsigned char *shadow, *data;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 8 * MiB, size, &p);
	memset(a, 0, sizeof(a));
	bs = x.m.bs;
	shadow = xzalloc(size);
	data = xalloc(size);
	model_reset(&x.m, size);
	model_map(&x.m, 0, size / bs, B_MAPPED);
	model_fill(&x.m, 0, size / bs, 165, shadow);

	for (int round = 0; round < 2; round++) {
		const char *what = round ? "two requests each, one of five" :
				   "one request each";
		uint64_t off = 0;

		fill_pat(data, size, 0, 166 + (unsigned)round);
		for (int i = 0; i < N; i++) {
			uint64_t len = !round ? bs : i == 5 ? 5 * mx : mx + bs;
			unsigned mis = i % 3 == 2 ? 1 : 0;

			if (i % 2 == 0) {
				memcpy(shadow + off, data + off, len);
				aop_write(x.ctx, &x.m, &a[i], off, data + off, len,
					  mis, 1, NULL);
			} else {
				aop_read(x.ctx, &x.m, &a[i], shadow, size, off, len,
					 mis, 2, NULL);
			}
			ck_assert_msg(dio_ctx_pending(x.ctx) <= p.queue_depth,
				      "%s: %s: %u transfers pending after submission %d, queue depth %u",
				      where, what, dio_ctx_pending(x.ctx), i,
				      p.queue_depth);
			check_pending(x.ctx, a, i + 1, what);
			off += len;
		}
		ck_assert_uint_le(aops_running(a, N), p.queue_depth);
		reap_all(x.ctx, a, N, what);
		check_dev(&x.m, shadow, size, what);
		check_read(&x, shadow, size, 0, size, 0, 1, what);
	}
	ck_assert_uint_eq(x.m.size_calls, 0);
	ck_assert_uint_eq(x.m.convert_calls, 0);
	model_assert_clean(&x.m);
	free(shadow);
	free(data);
	fx_fini(&x);
}
END_TEST

/*
 * Transfers that need no device complete inside dio_submit(): reads of
 * holes, of unwritten blocks and at or past end of file, empty requests,
 * and a write refused as too large, while another transfer is in flight.
 */
static void core_async_no_device(int file, unsigned fs_bs, unsigned dev_bs)
{
	enum { N = 11 };
	struct fx x;
	struct aop a[N];
	unsigned bs;
	uint64_t size, nalloc;
	unsigned char *img;
	struct bdev_stats s0, s1;

	fx_init(&x, file, fs_bs, dev_bs, 8 * MiB, 32 * 65536, &async_params);
	memset(a, 0, sizeof(a));
	bs = x.m.bs;
	size = 5ull * bs + 123;
	img = xzalloc(8ull * bs);
	model_reset(&x.m, size);
	model_map(&x.m, 0, 2, B_MAPPED);
	model_fill(&x.m, 0, 2, 168, img);
	model_map(&x.m, 3, 1, B_UNWRITTEN);	/* block 2 and 4 on: holes */
	nalloc = model_allocated(&x.m);

	aop_read(x.ctx, &x.m, &a[0], img, size, 0, bs, 0, 1, NULL);
	check_pending(x.ctx, a, 1, "a read of a mapped block");
	s0 = bst(&x);

	const struct { int write; uint64_t off, len; unsigned mis; int nseg; } t[N] = {
		{ 0, 0, 0, 0, 0 },	/* a[0], submitted above */
		{ 0, 2ull * bs, bs, 0, 1 },		/* hole */
		{ 0, 2ull * bs + 5, bs - 10, 1, 2 },	/* hole, unaligned */
		{ 0, 3ull * bs, bs, 0, 1 },		/* unwritten */
		{ 0, 2ull * bs + 7, 4ull * bs, 3, 3 },	/* to EOF over both */
		{ 0, size, 10, 0, 1 },			/* at EOF */
		{ 0, size + 5000, bs, 0, 1 },		/* past EOF */
		{ 0, 1ull << 63, 10, 0, 1 },		/* past any file */
		{ 0, bs, 0, 0, 1 },			/* empty */
		{ 1, 3ull * bs + 5, 0, 0, 1 },		/* empty write */
		{ 1, (1ull << 63) - 10, 100, 0, 1 },	/* too large: -EFBIG */
	};
	for (int i = 1; i < N; i++) {
		unsigned char src[100];
		char what[80];

		snprintf(what, sizeof(what), "%s(off %" PRIu64 ", len %" PRIu64 ")",
			 t[i].write ? "write" : "read", t[i].off, t[i].len);
		if (t[i].write) {
			fill_pat(src, sizeof(src), 0, 169);
			aop_write(x.ctx, &x.m, &a[i], t[i].off, src, t[i].len,
				  t[i].mis, t[i].nseg, NULL);
			if (t[i].len)
				a[i].want = -EFBIG;
		} else {
			aop_read(x.ctx, &x.m, &a[i], img, size, t[i].off,
				 t[i].len, t[i].mis, t[i].nseg, NULL);
		}
		ck_assert_msg(a[i].ndone == 1,
			      "%s: %s, needing no device: done ran %u times inside dio_submit, want once",
			      where, what, a[i].ndone);
		aop_check(&a[i], what);
		check_pending(x.ctx, a, N, what);
	}
	s1 = bst(&x);
	ck_assert_msg(s1.reads - s0.reads <= 1 && s1.writes == s0.writes,
		      "%s: transfers needing no device did %" PRIu64 " reads and %" PRIu64 " writes",
		      where, s1.reads - s0.reads, s1.writes - s0.writes);
	reap_all(x.ctx, a, N, "after the transfers that need no device");
	ck_assert_uint_eq(x.m.f.size, size);
	ck_assert_uint_eq(x.m.size_calls, 0);
	ck_assert_uint_eq(x.m.gb_create_calls, 0);
	ck_assert_uint_eq(model_allocated(&x.m), nalloc);
	check_read(&x, img, size, 0, size, 0, 1, "after the transfers that need no device");
	model_assert_clean(&x.m);
	free(img);
	fx_fini(&x);
}

START_TEST(t_async_no_device)
{
	core_async_no_device(0, geoms[_i].fs_bs, geoms[_i].dev_bs);
}
END_TEST

START_TEST(t_file_async_no_device)
{
	core_async_no_device(1, file_fs_bs[_i], 0);
}
END_TEST

/*
 * An extending write in flight: end of file, the model's size and the new
 * blocks stay as they were until it completes, and then follow its data.
 * Meanwhile a second file takes an extending write on the same context.
 */
static void core_async_extend(int file, unsigned fs_bs, unsigned dev_bs)
{
	struct fx x;
	struct model m2;
	struct aop a[2];
	unsigned bs, db;
	unsigned char *img, *img2, *garbage, *dev;
	struct iovec iov;

	fx_init(&x, file, fs_bs, dev_bs, 8 * MiB, 32 * 65536, &async_params);
	memset(a, 0, sizeof(a));
	bs = x.m.bs;
	db = x.e.dev_bs;
	img = xzalloc(16ull * bs);
	img2 = xzalloc(16ull * bs);
	garbage = xalloc(bs);
	dev = xalloc(16ull * bs);
	memset(garbage, GARBAGE, bs);
	model_init(&m2, &x.e, bs, 16);

	const struct { const char *what; uint64_t off, len; unsigned mis; int nseg; } v[] = {
		{ "unaligned, from inside the EOF block", 2ull * bs + 150, 3ull * bs + 7, 1, 3 },
		{ "aligned, from the end of the EOF block", 3ull * bs, 2ull * bs, 0, 1 },
		{ "past the EOF block", 5ull * bs + 1, bs, 3, 2 },
		{ "one device block past the EOF block", 4ull * bs, db, 0, 1 },
	};
	for (size_t vi = 0; vi < sizeof(v) / sizeof(v[0]); vi++) {
		const uint64_t s0 = 2ull * bs + 100;
		uint64_t off = v[vi].off, len = v[vi].len, nsize = off + len;
		uint64_t first = off / bs, last = (nsize - 1) / bs, fresh = 0;
		uint64_t s2 = bs / 2 + 2ull * bs;
		ssize_t r;

		/* the device holds stale pattern past EOF in block 2 */
		if (!file)
			memset(bdev_test_data(x.e.bdev), GARBAGE, x.e.size);
		memset(img, 0, 16ull * bs);
		model_reset(&x.m, s0);
		model_map(&x.m, 0, 3, B_MAPPED);
		model_fill(&x.m, 0, 3, 170, img);
		memset(img + s0, 0, 3ull * bs - s0);
		for (uint64_t b = first; b <= last; b++)
			fresh += x.m.map[b].state != B_MAPPED;
		fill_pat(img + off, len, off, 171 + (unsigned)vi);
		model_expect(&x.m, img, nsize, off, len);

		aop_write(x.ctx, &x.m, &a[0], off, img + off, len, v[vi].mis,
			  v[vi].nseg, NULL);
		ck_assert_msg(a[0].ndone == 0 && x.m.f.size == s0 &&
			      x.m.size_calls == 0 && x.m.last_size == s0 &&
			      x.m.convert_calls == 0,
			      "%s: %s: once submitted: done %u, size %" PRIu64 ", set_size %u, convert %u; want none of it before completion",
			      where, v[vi].what, a[0].ndone, x.m.f.size,
			      x.m.size_calls, x.m.convert_calls);
		for (uint64_t b = first; b <= last; b++) {
			if (b < 3)
				continue;
			ck_assert_msg(x.m.map[b].state == B_UNWRITTEN,
				      "%s: %s: new block %" PRIu64 " in state %d while the write is in flight",
				      where, v[vi].what, b, x.m.map[b].state);
			if (!file) {
				dev_read(&x.e, x.m.map[b].pblk * bs, dev, bs);
				expect_mem(dev, garbage, bs,
					   "%s: new block %" PRIu64 " before dio_reap",
					   v[vi].what, b);
			}
		}

		/* a second file: an extending write of its own */
		memset(img2, 0, 16ull * bs);
		model_reset(&m2, 0);
		m2.cursor = m2.dev_blocks / 2;
		fill_pat(img2 + bs / 2, 2ull * bs, bs / 2, 175 + (unsigned)vi);
		model_expect(&m2, img2, s2, bs / 2, 2ull * bs);
		aop_write(x.ctx, &m2, &a[1], bs / 2, img2 + bs / 2, 2ull * bs,
			  1, 2, NULL);
		ck_assert_msg(a[1].ndone == 0 && m2.f.size == 0 && m2.size_calls == 0,
			      "%s: %s: second file once submitted: done %u, size %" PRIu64 ", set_size %u",
			      where, v[vi].what, a[1].ndone, m2.f.size, m2.size_calls);
		ck_assert_uint_eq(x.m.f.size, a[0].ndone ? nsize : s0);
		check_pending(x.ctx, a, 2, v[vi].what);

		reap_all(x.ctx, a, 2, v[vi].what);
		x.m.expect = NULL;
		m2.expect = NULL;
		ck_assert_uint_eq(x.m.f.size, nsize);
		ck_assert_uint_eq(x.m.size_calls, 1);
		ck_assert_uint_eq(x.m.last_size, nsize);
		for (uint64_t b = first; b <= last; b++)
			ck_assert_msg(x.m.map[b].state == B_MAPPED,
				      "%s: %s: block %" PRIu64 " not converted", where,
				      v[vi].what, b);
		ck_assert_uint_eq(x.m.converted, fresh);
		model_assert_clean(&x.m);
		check_dev(&x.m, img, nsize, v[vi].what);
		check_read(&x, img, nsize, 0, nsize + bs, 0, 1, v[vi].what);

		ck_assert_uint_eq(m2.f.size, s2);
		ck_assert_uint_eq(m2.size_calls, 1);
		ck_assert_uint_eq(m2.converted, 3);
		model_assert_clean(&m2);
		check_dev(&m2, img2, s2, "second file");
		iov = (struct iovec){ dev, 4ull * bs };
		r = dio_rw(x.ctx, &m2.f, DIO_READ, 0, &iov, 1);
		ck_assert_msg(r == (ssize_t)s2, "%s: read of the second file = %zd",
			      where, r);
		expect_mem(dev, img2, s2, "second file after %s", v[vi].what);
	}
	model_fini(&m2);
	free(img);
	free(img2);
	free(garbage);
	free(dev);
	fx_fini(&x);
}

START_TEST(t_async_extend)
{
	core_async_extend(0, geoms[_i].fs_bs, geoms[_i].dev_bs);
}
END_TEST

START_TEST(t_file_async_extend)
{
	core_async_extend(1, file_fs_bs[_i], 0);
}
END_TEST

/*
 * Rule 4 of the asynchronous contract.  Whole-block overwrites in flight
 * hold the lock shared; a write that needs it exclusive, submitted or done
 * with dio_rw() on the same context, must complete them all before it
 * looks anything up (else the thread would wait for itself).  When the
 * exclusive write overlaps one of them, that makes the order certain.
 * The last rounds go the other way: an extending write in flight, then a
 * read of what it writes.
 */
static void core_async_lock(int file, unsigned fs_bs, unsigned dev_bs)
{
	enum { N = 6 };
	const uint64_t nb = 16;
	struct fx x;
	struct aop a[N];
	unsigned bs;
	uint64_t size = 0;
	unsigned char *img, *data;

	fx_init(&x, file, fs_bs, dev_bs, 8 * MiB, 32 * 65536, &async_params);
	memset(a, 0, sizeof(a));
	bs = x.m.bs;
	img = xzalloc(24ull * bs);
	data = xalloc(24ull * bs);
	alarm(CASE_TIMEOUT);	/* a thread waiting for itself is killed */

	const struct { const char *what; uint64_t off, len; int sync; } later[] = {
		{ "unaligned write beside them", 8ull * bs + 5, 2ull * bs, 0 },
		{ "extending write", nb * bs + 3, bs, 0 },
		{ "aligned write at end of file", nb * bs, 2ull * bs, 0 },
		{ "sub-block write into a block being overwritten", 2ull * bs + 7, 10, 0 },
		{ "dio_rw of an unaligned write", 9ull * bs + 1, bs, 1 },
		{ "dio_rw of an extending write", nb * bs + 1, 5, 1 },
	};
	for (size_t li = 0; li < sizeof(later) / sizeof(later[0]); li++) {
		uint64_t off = later[li].off, len = later[li].len, nsize;
		const char *what = later[li].what;
		unsigned g0;

		size = nb * bs;
		memset(img, 0, 24ull * bs);
		model_reset(&x.m, size);
		model_map(&x.m, 0, nb, B_MAPPED);
		model_fill(&x.m, 0, nb, 180, img);
		fill_pat(data, 24ull * bs, 0, 181 + (unsigned)li);
		for (int i = 0; i < 4; i++) {
			uint64_t o = 2ull * (unsigned)i * bs;

			memcpy(img + o, data + o, bs);
			aop_write(x.ctx, &x.m, &a[i], o, data + o, bs, 0, 1, NULL);
		}
		aop_read(x.ctx, &x.m, &a[4], img, size, 10ull * bs, 2ull * bs, 0, 1, NULL);
		check_pending(x.ctx, a, 5, what);
		if (!file)
			check_in_flight(a, 5, what);
		g0 = x.m.gb_calls;

		fill_pat(data, len, off, 190 + (unsigned)li);
		memcpy(img + off, data, len);
		nsize = off + len > size ? off + len : size;
		model_expect(&x.m, img, nsize, off, len);
		if (later[li].sync) {
			ssize_t r = wr(&x, off, data, len, 1, 2);

			ck_assert_msg(r == (ssize_t)len, "%s: %s = %zd, want %" PRIu64,
				      where, what, r, len);
		} else {
			aop_write(x.ctx, &x.m, &a[5], off, data, len, 1, 2, NULL);
		}
		for (int i = 0; i < 5; i++)
			ck_assert_msg(a[i].ndone == 1 && a[i].gb_at_done == g0,
				      "%s: %s: the %s at %" PRIu64 " in flight before it: done ran %u times, at get_block call %u, want once at %u (before the write looked anything up)",
				      where, what, a[i].dir == DIO_WRITE ? "write" : "read",
				      a[i].off, a[i].ndone, a[i].gb_at_done, g0);
		reap_all(x.ctx, a, N, what);
		x.m.expect = NULL;
		ck_assert_uint_eq(x.m.f.size, nsize);
		ck_assert_uint_eq(x.m.size_calls, nsize > size ? 1 : 0);
		check_dev(&x.m, img, nsize, what);
		check_read(&x, img, nsize, 0, nsize + bs, 0, 1, what);
		model_assert_clean(&x.m);
	}

	/* dio_rw() of a read beside transfers in flight: no lock to wait for */
	model_reset(&x.m, size);
	model_map(&x.m, 0, nb, B_MAPPED);
	memset(img, 0, 24ull * bs);
	model_fill(&x.m, 0, nb, 182, img);
	fill_pat(data, 4ull * bs, 0, 183);
	memcpy(img, data, 4ull * bs);
	aop_write(x.ctx, &x.m, &a[0], 0, data, 4ull * bs, 0, 1, NULL);
	aop_read(x.ctx, &x.m, &a[1], img, size, 4ull * bs, 2ull * bs, 0, 1, NULL);
	check_read(&x, img, size, 6ull * bs + 3, 3ull * bs, 1, 2,
		   "dio_rw read beside transfers in flight");
	check_pending(x.ctx, a, 2, "dio_rw read beside transfers in flight");
	reap_all(x.ctx, a, 2, "dio_rw read beside transfers in flight");
	check_read(&x, img, size, 0, size, 0, 1, "dio_rw read beside transfers in flight");

	/* an extending write in flight, then reads of what it writes */
	for (int sync = 0; sync <= 1; sync++) {
		const char *what = sync ? "dio_rw read of an extending write in flight" :
				   "read of an extending write in flight";
		uint64_t off = size + 10, len = 2ull * bs, nsize = off + len;
		unsigned g0;

		fill_pat(data, len, off, 184 + (unsigned)sync);
		memcpy(img + off, data, len);
		model_expect(&x.m, img, nsize, off, len);
		aop_write(x.ctx, &x.m, &a[0], off, data, len, 0, 1, NULL);
		g0 = x.m.gb_calls;
		if (sync)
			check_read(&x, img, nsize, size, 3ull * bs, 1, 2, what);
		else
			aop_read(x.ctx, &x.m, &a[1], img, nsize, size, 3ull * bs,
				 1, 2, NULL);
		ck_assert_msg(a[0].ndone == 1 && a[0].gb_at_done == g0,
			      "%s: %s: the write's done ran %u times, at get_block call %u, want once at %u (before the read looked anything up)",
			      where, what, a[0].ndone, a[0].gb_at_done, g0);
		reap_all(x.ctx, a, sync ? 1 : 2, what);
		x.m.expect = NULL;
		size = nsize;
		ck_assert_uint_eq(x.m.f.size, size);
		model_assert_clean(&x.m);
	}
	check_dev(&x.m, img, size, "after the extending writes");
	alarm(0);
	free(img);
	free(data);
	fx_fini(&x);
}

START_TEST(t_async_lock)
{
	core_async_lock(0, geoms[_i].fs_bs, geoms[_i].dev_bs);
}
END_TEST

START_TEST(t_file_async_lock)
{
	core_async_lock(1, file_fs_bs[_i], 0);
}
END_TEST

/*
 * Device errors in some of many transfers in flight: each reports what
 * dio_rw() would (the good bytes before its failure, or -EIO), the others
 * succeed, and nothing stays in flight.  Then short completions and
 * EAGAIN from submit under a full queue.
 */
START_TEST(t_async_eio)
{
	enum { N = 9, M = 7 };
	const uint64_t mx = async_params.max_io, size = 16 * mx;
	struct fx x;
	struct aop a[N];
	unsigned bs, db;
	unsigned char *img, *data;
	uint64_t hole_pblk;
	struct bdev_stats s;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 8 * MiB, 4 * MiB, &async_params);
	memset(a, 0, sizeof(a));
	bs = x.m.bs;
	db = x.e.dev_bs;
	img = xzalloc(size);
	data = xalloc(size);
	model_reset(&x.m, size);
	model_map(&x.m, 0, 13 * mx / bs, B_MAPPED);
	model_fill(&x.m, 0, 13 * mx / bs, 200, img);
	model_map(&x.m, 14 * mx / bs, 2 * mx / bs, B_MAPPED);
	model_fill(&x.m, 14 * mx / bs, 2 * mx / bs, 200, img);
	hole_pblk = x.m.cursor;		/* where the write into the hole goes */
	fill_pat(data, size, 0, 201);

	/* fail: file offset whose device block fails, or UINT64_MAX */
	const struct {
		int write;
		uint64_t off, len;
		unsigned mis;
		uint64_t fail;
		ssize_t want;
	} t[N] = {
		{ 1, 0, 4 * mx, 0, 2 * mx + db, (ssize_t)(2 * mx) },
		{ 1, 4 * mx, mx, 0, UINT64_MAX, (ssize_t)mx },
		{ 0, 5 * mx, 3 * mx, 0, UINT64_MAX, (ssize_t)(3 * mx) },
		{ 0, 8 * mx, mx, 0, 8 * mx + db, -EIO },
		{ 1, 9 * mx, mx, 0, 9 * mx, -EIO },
		{ 0, 10 * mx + 5, mx, 1, UINT64_MAX, (ssize_t)mx },
		{ 0, 11 * mx, 2 * mx, 0, 12 * mx + mx / 2, (ssize_t)mx },
		{ 1, 13 * mx, mx, 0, 13 * mx, -EIO },	/* into holes */
		{ 1, 14 * mx, mx, 1, UINT64_MAX, (ssize_t)mx },
	};
	for (int i = 0; i < N; i++) {
		uint64_t dev;

		if (t[i].fail == UINT64_MAX)
			continue;
		/* a hole fails at the first block its write will allocate */
		dev = x.m.map[t[i].fail / bs].state == B_HOLE ?
		      hole_pblk * bs : file_dev(&x.m, t[i].fail);
		bdev_test_fail_range(x.e.bdev, t[i].write ? BDEV_WRITE : BDEV_READ,
				     dev / db * db, db, -EIO);
	}
	model_expect(&x.m, img, size, 0, size);
	for (int i = 0; i < N; i++) {
		if (t[i].write) {
			aop_write(x.ctx, &x.m, &a[i], t[i].off, data + t[i].off,
				  t[i].len, t[i].mis, t[i].mis ? 3 : 1, NULL);
			if (t[i].want > 0)
				memcpy(img + t[i].off, data + t[i].off,
				       (size_t)t[i].want);
		} else {
			aop_read(x.ctx, &x.m, &a[i], img, size, t[i].off, t[i].len,
				 t[i].mis, 1, NULL);
		}
		a[i].want = t[i].want;
	}
	check_pending(x.ctx, a, N, "failing transfers in flight");
	ck_assert_uint_gt(dio_ctx_pending(x.ctx), 1);
	reap_all(x.ctx, a, N, "failing transfers in flight");
	check_drained(&x, "failing transfers in flight");
	x.m.expect = NULL;
	ck_assert_uint_eq(x.m.f.size, size);
	ck_assert_uint_eq(x.m.size_calls, 0);
	ck_assert_uint_eq(x.m.converted, 0);
	for (uint64_t b = 13 * mx / bs; b < 14 * mx / bs; b++)
		ck_assert_int_ne(x.m.map[b].state, B_MAPPED);
	model_assert_clean(&x.m);
	bdev_test_clear_faults(x.e.bdev);
	check_read(&x, img, size, 0, 2 * mx, 0, 1, "good part of a failed write");
	check_read(&x, img, size, 4 * mx, size - 4 * mx, 0, 1,
		   "after failing transfers in flight");

	/* the same queue, with the device misbehaving as real ones do */
	for (int k = 0; k < 2; k++) {
		const char *what = k ? "EAGAIN with transfers in flight" :
				   "short completions with transfers in flight";
		const struct { int write; uint64_t off, len; unsigned mis; int nseg; } u[M] = {
			{ 1, 0, 2 * mx, 0, 1 },
			{ 1, 2 * mx, 2 * mx, 1, 3 },
			{ 0, 4 * mx, 2 * mx, 0, 1 },
			{ 0, 6 * mx + 1, 2 * mx - 1, 2, 2 },
			{ 1, 8 * mx, 2 * mx, 0, 1 },
			{ 1, 13 * mx, mx, 0, 1 },	/* the unwritten blocks */
			{ 0, 14 * mx, 2 * mx + 5, 0, 1 },
		};

		fill_pat(data, size, 0, 202 + (unsigned)k);
		for (int i = 0; i < M; i++)
			if (u[i].write)
				memcpy(img + u[i].off, data + u[i].off, u[i].len);
		model_expect(&x.m, img, size, 0, size);
		model_counts_clear(&x.m);
		if (k)
			bdev_test_eagain(x.e.bdev, 3);
		else
			bdev_test_short_completions(x.e.bdev, 8, db);
		for (int i = 0; i < M; i++) {
			if (u[i].write)
				aop_write(x.ctx, &x.m, &a[i], u[i].off, data + u[i].off,
					  u[i].len, u[i].mis, u[i].nseg, NULL);
			else
				aop_read(x.ctx, &x.m, &a[i], img, size, u[i].off,
					 u[i].len, u[i].mis, u[i].nseg, NULL);
		}
		reap_all(x.ctx, a, M, what);
		check_drained(&x, what);
		x.m.expect = NULL;
		ck_assert_uint_eq(x.m.converted, k ? 0 : mx / bs);
		check_read(&x, img, size, 0, size, 0, 1, what);
		check_dev(&x.m, img, size, what);
		model_assert_clean(&x.m);
	}
	s = bst(&x);
	ck_assert_uint_gt(s.short_completions, 0);
	ck_assert_uint_gt(s.eagain, 0);
	free(img);
	free(data);
	fx_fini(&x);
}
END_TEST

/*
 * dio_ctx_destroy() with transfers in flight runs every done, with the
 * results dio_rw() would give, and lets go of the file's lock.
 */
static void core_async_destroy(int file, unsigned fs_bs, unsigned dev_bs)
{
	enum { N = 6 };
	struct fx x;
	struct dio_ctx *c2;
	struct aop a[N];
	unsigned bs;
	uint64_t size, off, len;
	unsigned char *img, *data;

	fx_init(&x, file, fs_bs, dev_bs, 8 * MiB, 32 * 65536, &async_params);
	memset(a, 0, sizeof(a));
	bs = x.m.bs;
	size = 8ull * bs;
	img = xzalloc(12ull * bs);
	data = xalloc(12ull * bs);
	model_reset(&x.m, size);
	model_map(&x.m, 0, 5, B_MAPPED);
	model_fill(&x.m, 0, 5, 210, img);
	model_map(&x.m, 6, 2, B_MAPPED);
	model_fill(&x.m, 6, 2, 210, img);	/* block 5: a hole */
	alarm(CASE_TIMEOUT);	/* a lock left behind is killed */

	fill_pat(data, size, 0, 211);
	memcpy(img, data, bs);
	memcpy(img + 3ull * bs, data + 3ull * bs, bs);
	memcpy(img + 5ull * bs, data + 5ull * bs, bs);
	model_expect(&x.m, img, size, 0, size);
	ck_assert_int_eq(dio_ctx_create(x.e.bdev, &x.p, &c2), 0);
	aop_write(c2, &x.m, &a[0], 0, data, bs, 0, 1, NULL);
	aop_read(c2, &x.m, &a[1], img, size, bs, 2ull * bs, 0, 1, NULL);
	aop_write(c2, &x.m, &a[2], 3ull * bs, data + 3ull * bs, bs, 1, 2, NULL);
	aop_read(c2, &x.m, &a[3], img, size, 4ull * bs + 1, bs - 2, 3, 1, NULL);
	aop_write(c2, &x.m, &a[4], 5ull * bs, data + 5ull * bs, bs, 0, 1, NULL);
	aop_read(c2, &x.m, &a[5], img, size, 6ull * bs, 2ull * bs + 100, 0, 1, NULL);
	check_pending(c2, a, N, "transfers in flight at destroy");
	ck_assert_uint_gt(dio_ctx_pending(c2), 0);
	if (!file)
		ck_assert_uint_eq(dio_ctx_pending(c2), N);
	dio_ctx_destroy(c2);
	for (int i = 0; i < N; i++)
		aop_check(&a[i], "transfers in flight at destroy");
	x.m.expect = NULL;
	ck_assert_int_eq(x.m.map[5].state, B_MAPPED);
	ck_assert_uint_eq(x.m.converted, 1);
	check_dev(&x.m, img, size, "transfers in flight at destroy");
	check_read(&x, img, size, 0, size, 0, 1, "transfers in flight at destroy");
	model_assert_clean(&x.m);

	/* an extending write holds the lock exclusive until destroy */
	off = size + 10;
	len = 2ull * bs;
	fill_pat(data, len, off, 212);
	memcpy(img + off, data, len);
	model_expect(&x.m, img, off + len, off, len);
	ck_assert_int_eq(dio_ctx_create(x.e.bdev, &x.p, &c2), 0);
	aop_write(c2, &x.m, &a[0], off, data, len, 1, 1, NULL);
	ck_assert_uint_eq(x.m.f.size, size);
	ck_assert_uint_eq(dio_ctx_pending(c2), 1);
	dio_ctx_destroy(c2);
	aop_check(&a[0], "extending write in flight at destroy");
	x.m.expect = NULL;
	size = off + len;
	ck_assert_uint_eq(x.m.f.size, size);
	ck_assert_uint_eq(x.m.size_calls, 1);
	ck_assert_uint_eq(x.m.last_size, size);
	check_read(&x, img, size, 0, size + bs, 0, 1,
		   "extending write in flight at destroy");
	check_dev(&x.m, img, size, "extending write in flight at destroy");
	model_assert_clean(&x.m);
	alarm(0);
	free(img);
	free(data);
	fx_fini(&x);
}

START_TEST(t_async_destroy)
{
	core_async_destroy(0, geoms[_i].fs_bs, geoms[_i].dev_bs);
}
END_TEST

START_TEST(t_file_async_destroy)
{
	core_async_destroy(1, file_fs_bs[_i], 0);
}
END_TEST

/* ---- randomized transfers in flight against a shadow copy ---------------- */

static const struct rcfg arcfgs[] = {
	{ 0, 4096, 512, 1, 4000, 0xa5ed0001 },
	{ 0, 16384, 4096, 2, 4000, 0xa5ed0002 },
	{ 0, 1024, 512, 2, 4000, 0xa5ed0003 },
	{ 0, 65536, 512, 1, 3000, 0xa5ed0004 },
	{ 0, 65536, 4096, 2, 3000, 0xa5ed0005 },
	{ 1, 4096, 0, 1, 2000, 0xa5ed0006 },
	{ 1, 16384, 0, 2, 2000, 0xa5ed0007 },
};
#define NARCFGS ((int)(sizeof(arcfgs) / sizeof(arcfgs[0])))

/* Does [off, off+len) clash with a transfer in flight (one of them a write)? */
static int aops_clash(const struct aop *a, int n, int write, uint64_t off,
		      uint64_t len)
{
	for (int i = 0; i < n; i++)
		if (a[i].live && !a[i].ndone &&
		    (write || a[i].dir == DIO_WRITE) &&
		    off < a[i].off + a[i].len && a[i].off < off + len)
			return 1;
	return 0;
}

/*
 * One context, up to queue_depth transfers in flight, never two that
 * overlap where one is a write (the worker leaves their order open).  A
 * read's expected bytes are the shadow's when it is submitted.  The shadow
 * takes a write's bytes once dio_submit() has returned: transfers that the
 * submission completes first (rule 4) have their metadata checked against
 * the device as it was before this write.
 */
static void core_async_random(const struct rcfg *c)
{
	enum { DEPTH = 8 };
	const struct dio_params p = {
		.queue_depth = DEPTH, .max_io = 64 * KiB, .staging_bufs = 2,
	};
	const uint64_t maxfile = MiB, slack = 8 * 65536;
	struct fx x;
	struct aop a[DEPTH];
	unsigned bs, db;
	uint64_t s, size = 0;
	unsigned char *shadow, *data, *got;
	char what[64];

	fx_init(&x, c->file, c->fs_bs, c->dev_bs, 4 * MiB, maxfile, &p);
	bs = x.m.bs;
	db = x.e.dev_bs;
	model_reset(&x.m, 0);
	x.m.stride = c->stride;
	memset(a, 0, sizeof(a));
	shadow = xzalloc(maxfile + slack);
	data = xalloc(slack);
	got = xalloc(slack);
	model_expect(&x.m, shadow, maxfile + slack, 0, maxfile + slack);
	s = c->seed;

	for (int op = 0; op < c->ops; op++) {
		int write = rnd(&s) % 100 < 45, aligned;
		int sync = rnd(&s) % 25 == 0;
		unsigned kind = (unsigned)(rnd(&s) % 10);
		uint64_t off, len = rlen(&s, bs, db, &aligned);
		unsigned mis = rnd(&s) % 2 ? 0 : (unsigned)(rnd(&s) % 16);
		int nseg = rnd(&s) % 2 ? 1 : 1 + (int)(rnd(&s) % 4);
		struct aop *slot;
		ssize_t r, want;

		snprintf(what, sizeof(what), "seed %#x op %d", c->seed, op);
		if (write && kind < 4 && size >= bs) {
			/* whole fs blocks inside the file: the lock is shared */
			uint64_t nb = size / bs, n = 1 + rnd(&s) % (nb < 4 ? nb : 4);

			off = rnd(&s) % (nb - n + 1) * bs;
			len = n * bs;
		} else if (write && kind < 5) {
			off = size + rnd(&s) % (2ull * bs);
		} else if (write && kind < 6) {
			/* whole fs blocks from about end of file: exclusive only
			 * because it extends, maybe over a hole */
			off = (size + rnd(&s) % (2ull * bs)) / bs * bs;
			len = (1 + rnd(&s) % 3) * bs;
		} else {
			off = rnd(&s) % (size + (write ? 1 : bs + 1));
			if (aligned)
				off = rnd(&s) % 2 ? off / db * db : off / bs * bs;
		}
		if (off >= maxfile)
			off = maxfile - len;
		if (off + len > maxfile)
			len = maxfile - off;
		if (!c->file && rnd(&s) % 40 == 0) {
			if (rnd(&s) % 2)
				bdev_test_short_completions(x.e.bdev, 2, db);
			else
				bdev_test_eagain(x.e.bdev, 1);
		}

		while (aops_clash(a, DEPTH, write, off, len) ||
		       (sync && write && aops_running(a, DEPTH)) ||
		       aops_running(a, DEPTH) == DEPTH) {
			ck_assert_int_ge(dio_reap(x.ctx, 1), 1);
			aops_collect(x.ctx, a, DEPTH, what);
		}

		if (sync && write) {
			/* its hooks run inside dio_rw: the shadow goes first */
			fill_pat(data, len, off, (unsigned)op);
			memcpy(shadow + off, data, len);
			if (off + len > size)
				size = off + len;
			r = wr_ctx(&x, x.ctx, off, data, len, mis, nseg, &s);
			ck_assert_msg(r == (ssize_t)len,
				      "%s %s: dio_rw write(off %" PRIu64 ", len %" PRIu64 ") = %zd",
				      where, what, off, len, r);
		} else if (sync) {
			want = off >= size ? 0 :
				(ssize_t)(size - off < len ? size - off : len);
			r = rd_ctx(&x, x.ctx, off, got, len, mis, nseg, &s);
			ck_assert_msg(r == want,
				      "%s %s: dio_rw read(off %" PRIu64 ", len %" PRIu64 ") = %zd, want %zd",
				      where, what, off, len, r, want);
			expect_mem(got, shadow + off, (size_t)want,
				   "%s: dio_rw read(off %" PRIu64 ", len %" PRIu64 ")",
				   what, off, len);
		} else {
			for (slot = a; slot->live; slot++)
				ck_assert_ptr_ne(slot + 1, a + DEPTH);
			if (write) {
				fill_pat(data, len, off, (unsigned)op);
				aop_write(x.ctx, &x.m, slot, off, data, len, mis,
					  nseg, &s);
				memcpy(shadow + off, data, len);
				if (off + len > size)
					size = off + len;
			} else {
				aop_read(x.ctx, &x.m, slot, shadow, size, off, len,
					 mis, nseg, &s);
			}
		}
		aops_collect(x.ctx, a, DEPTH, what);
		ck_assert_msg(x.m.bad == 0 && x.m.early == 0, "%s %s: %s%s",
			      where, what, x.m.bad_what, x.m.early_what);

		if (rnd(&s) % 50 == 0) {
			unsigned want_min = (unsigned)(rnd(&s) % (aops_running(a, DEPTH) + 1));
			int n = dio_reap(x.ctx, want_min);

			ck_assert_msg(n >= (int)want_min, "%s %s: dio_reap(%u) = %d",
				      where, what, want_min, n);
			aops_collect(x.ctx, a, DEPTH, what);
		}
		if (!aops_running(a, DEPTH))
			ck_assert_msg(x.m.f.size == size,
				      "%s %s: size %" PRIu64 " with nothing in flight, want %" PRIu64,
				      where, what, x.m.f.size, size);
		if (!c->file && op % 256 == 255)
			bdev_test_log_clear(x.e.bdev);
	}

	reap_all(x.ctx, a, DEPTH, "at the end");
	ck_assert_uint_eq(x.m.f.size, size);
	if (!c->file)
		bdev_test_clear_faults(x.e.bdev);
	check_read(&x, shadow, size, 0, size + bs, 0, 1, "whole file at the end");
	check_dev(&x.m, shadow, size, "whole file at the end");
	for (uint64_t b = 0; b < x.m.nblocks; b++)
		ck_assert_msg(x.m.map[b].state != B_UNWRITTEN,
			      "%s seed %#x: file block %" PRIu64 " left unwritten",
			      where, c->seed, b);
	model_assert_clean(&x.m);
	free(shadow);
	free(data);
	free(got);
	fx_fini(&x);
}

START_TEST(t_async_random)
{
	core_async_random(&arcfgs[_i]);
}
END_TEST

/*
 * A wait for completions that fails while a read-modify-write read is at
 * the device: the read is waited out, not abandoned.  Abandoned, it would
 * land later in the one staging buffer, which by then holds the next
 * write's bytes (a whole block from an odd buffer), and the device would
 * get old bytes of another block in their place.
 */
START_TEST(t_rmw_wait_fails)
{
	static const struct dio_params one_buf = {
		.queue_depth = 4, .max_io = 64 * KiB, .staging_bufs = 1,
	};
	struct fx x;
	unsigned char *img, *data;
	uint64_t bs, size;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 8 * MiB,
		16 * 65536, &one_buf);
	bs = x.m.bs;
	size = 4 * bs;
	img = xzalloc(size);
	data = xalloc(size);
	model_reset(&x.m, size);
	model_map(&x.m, 0, 4, B_MAPPED);
	model_fill(&x.m, 0, 4, 210, img);

	fill_pat(data, 100, 10, 211);
	memcpy(img + 10, data, 100);
	bdev_test_getevents_fail(x.e.bdev, 1, -EFAULT);
	ck_assert_int_eq(wr(&x, 10, data, 100, 0, 1), 100);

	fill_pat(data, bs, bs, 212);
	memcpy(img + bs, data, bs);
	ck_assert_int_eq(wr(&x, bs, data, bs, 1, 1), (ssize_t)bs);

	check_dev(&x.m, img, size, "after a failed wait for a read-modify-write read");
	check_read(&x, img, size, 0, size, 0, 1, "after a failed wait");
	check_drained(&x, "after a failed wait");
	model_assert_clean(&x.m);
	free(img);
	free(data);
	fx_fini(&x);
}
END_TEST

struct exclusive_taker {
	struct dio_file *f;
	atomic_int held;	/* 1 while it holds the lock, 2 after */
};

static void *take_exclusive(void *arg)
{
	struct exclusive_taker *w = arg;

	pthread_rwlock_wrlock(&w->f->lock);
	atomic_store(&w->held, 1);
	usleep(20000);
	atomic_store(&w->held, 2);
	pthread_rwlock_unlock(&w->f->lock);
	return NULL;
}

/*
 * A thread that always has a read in flight holds its file's lock shared
 * without a break.  A writer waiting for it (truncate, an extending write
 * on another thread) must still get in: the lock prefers writers, so the
 * reader's next submission finds it busy, completes what it has in flight
 * and waits its turn behind the writer, instead of starving it.
 */
START_TEST(t_async_writer_not_starved)
{
	struct fx x;
	struct aop a[2];
	struct exclusive_taker w = { 0 };
	unsigned char *img;
	pthread_t tid;
	uint64_t bs, size;
	int waiting = 0;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 8 * MiB,
		16 * 65536, &async_params);
	memset(a, 0, sizeof(a));
	bs = x.m.bs;
	size = 4 * bs;
	img = xzalloc(size);
	model_reset(&x.m, size);
	model_map(&x.m, 0, 4, B_MAPPED);
	model_fill(&x.m, 0, 4, 220, img);
	alarm(CASE_TIMEOUT);

	aop_read(x.ctx, &x.m, &a[0], img, size, 0, bs, 0, 1, NULL);
	check_in_flight(a, 1, "first read");
	w.f = &x.m.f;
	ck_assert_int_eq(pthread_create(&tid, NULL, take_exclusive, &w), 0);
	/* A writer is waiting once a shared try fails (up to 5 s). */
	for (int i = 0; i < 5000 && !waiting; i++) {
		if (pthread_rwlock_tryrdlock(&x.m.f.lock)) {
			waiting = 1;
		} else {
			pthread_rwlock_unlock(&x.m.f.lock);
			usleep(1000);
		}
	}
	ck_assert_msg(waiting, "%s: a waiting writer does not stop new readers",
		      where);

	aop_read(x.ctx, &x.m, &a[1], img, size, bs, bs, 0, 1, NULL);
	ck_assert_msg(a[0].ndone == 1,
		      "%s: the read in flight was not completed before waiting",
		      where);
	ck_assert_msg(atomic_load(&w.held) == 2,
		      "%s: the second read went ahead of the waiting writer",
		      where);
	reap_all(x.ctx, a, 2, "after the writer");
	pthread_join(tid, NULL);
	alarm(0);
	model_assert_clean(&x.m);
	free(img);
	fx_fini(&x);
}
END_TEST

/* ---- order: transfers after a write in flight --------------------------- */

/* A dio_rw() on another thread and ctx, which may have to wait. */
struct other_rw {
	struct fx *x;
	struct dio_ctx *ctx;
	enum dio_dir dir;
	uint64_t off;
	unsigned char *buf;	/* a read's bytes, or a write's */
	size_t len;
	ssize_t result;
	atomic_int finished;
};

static void *other_rw_run(void *arg)
{
	struct other_rw *o = arg;

	o->result = o->dir == DIO_READ ?
		rd_ctx(o->x, o->ctx, o->off, o->buf, o->len, 0, 1, NULL) :
		wr_ctx(o->x, o->ctx, o->off, o->buf, o->len, 0, 1, NULL);
	atomic_store(&o->finished, 1);
	return NULL;
}

/*
 * Start o on its own thread and check that it waits for the write a[0]
 * in flight on x's ctx (dio.h, asynchronous rule 6) until that is reaped.
 */
static void other_waits_for(struct fx *x, struct aop *a, struct other_rw *o,
			    const char *what)
{
	pthread_t tid;

	ck_assert_int_eq(pthread_create(&tid, NULL, other_rw_run, o), 0);
	usleep(50000);
	ck_assert_msg(!atomic_load(&o->finished),
		      "%s: %s went ahead of the write in flight it overlaps",
		      where, what);
	check_in_flight(a, 1, what);
	reap_all(x->ctx, a, 1, what);
	pthread_join(tid, NULL);
	ck_assert_msg(o->result == (ssize_t)o->len, "%s: %s = %zd, want %zu",
		      where, what, o->result, o->len);
}

/*
 * Which writes dio_submit_behind() calls in place (whole written blocks
 * inside the file), and rule 6 of the asynchronous use: a read or write
 * that overlaps such a write in flight, on any ctx, comes after it, so
 * that a caller may answer that write early; one that does not overlap
 * it, or overlaps a write from dio_submit(), goes ahead at once.
 */
START_TEST(t_async_order)
{
	struct fx x;
	struct aop a[2];
	struct dio_ctx *other;
	struct other_rw o;
	unsigned char *img, *data;
	uint64_t bs, size;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 8 * MiB,
		16 * 65536, &async_params);
	ck_assert_int_eq(dio_ctx_create(x.e.bdev, &x.p, &other), 0);
	memset(a, 0, sizeof(a));
	bs = x.m.bs;
	size = 8 * bs;
	img = xzalloc(10 * bs);
	data = xalloc(2 * bs);
	model_reset(&x.m, size);
	model_map(&x.m, 0, 6, B_MAPPED);	/* blocks 6 and 7: holes */
	model_fill(&x.m, 0, 6, 240, img);
	alarm(CASE_TIMEOUT);

	const struct { const char *what; uint64_t off, len; bool in_place; } kinds[] = {
		{ "whole written blocks", bs, 2 * bs, true },
		{ "part of a block", bs + 3, bs, false },
		{ "a hole", 6 * bs, bs, false },
		{ "past end of file", 8 * bs, bs, false },
	};
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		fill_pat(data, kinds[k].len, kinds[k].off, 241 + (unsigned)k);
		memcpy(img + kinds[k].off, data, kinds[k].len);
		ck_assert_msg(aop_write_behind(x.ctx, &x.m, &a[0],
					       kinds[k].off, data,
					       kinds[k].len) ==
			      kinds[k].in_place,
			      "%s: a write of %s: in place should be %d",
			      where, kinds[k].what, kinds[k].in_place);
		reap_all(x.ctx, a, 1, kinds[k].what);
	}
	size = 9 * bs;
	check_dev(&x.m, img, size, "after the writes");

	/* another ctx's read of other bytes does not wait */
	fill_pat(data, bs, 2 * bs, 250);
	memcpy(img + 2 * bs, data, bs);
	ck_assert(aop_write_behind(x.ctx, &x.m, &a[0], 2 * bs, data, bs));
	o = (struct other_rw){ .x = &x, .ctx = other, .dir = DIO_READ,
			       .off = 4 * bs, .len = bs,
			       .buf = xalloc(2 * bs) };
	other_rw_run(&o);
	expect_mem(o.buf, img + 4 * bs, bs, "a read beside the write");
	check_in_flight(a, 1, "a read beside the write");

	/* one of the bytes it writes waits, and sees them */
	o = (struct other_rw){ .x = &x, .ctx = other, .dir = DIO_READ,
			       .off = 2 * bs + 1, .len = bs, .buf = o.buf };
	other_waits_for(&x, a, &o, "another ctx's read");
	expect_mem(o.buf, img + 2 * bs + 1, bs, "the read after the write");

	/* a write over it lands after it */
	fill_pat(data, bs, 3 * bs, 251);
	ck_assert(aop_write_behind(x.ctx, &x.m, &a[0], 3 * bs, data, bs));
	fill_pat(o.buf, bs, 3 * bs, 252);
	memcpy(img + 3 * bs, o.buf, bs);
	o = (struct other_rw){ .x = &x, .ctx = other, .dir = DIO_WRITE,
			       .off = 3 * bs, .len = bs, .buf = o.buf };
	other_waits_for(&x, a, &o, "another ctx's write");
	check_dev(&x.m, img, size, "after the second write");

	/* a write from dio_submit() is not listed: nothing waits for it */
	fill_pat(data, bs, 5 * bs, 254);
	aop_write(x.ctx, &x.m, &a[0], 5 * bs, data, bs, 0, 1, NULL);
	o = (struct other_rw){ .x = &x, .ctx = other, .dir = DIO_READ,
			       .off = 5 * bs, .len = bs, .buf = o.buf };
	other_rw_run(&o);
	ck_assert_int_eq(o.result, (ssize_t)bs);
	check_in_flight(a, 1, "a read beside an unlisted write");
	reap_all(x.ctx, a, 1, "a read beside an unlisted write");
	memcpy(img + 5 * bs, data, bs);

	/* on the same ctx, the read completes the write first */
	fill_pat(data, bs, 0, 253);
	memcpy(img, data, bs);
	ck_assert(aop_write_behind(x.ctx, &x.m, &a[0], 0, data, bs));
	aop_read(x.ctx, &x.m, &a[1], img, size, 0, 2 * bs, 0, 1, NULL);
	ck_assert_msg(a[0].ndone == 1,
		      "%s: the read went ahead of the write it overlaps", where);
	reap_all(x.ctx, a, 2, "a read on the same ctx");

	alarm(0);
	model_assert_clean(&x.m);
	dio_ctx_destroy(other);
	free(o.buf);
	free(img);
	free(data);
	fx_fini(&x);
}
END_TEST

/* ---- zeroing a range: dio_zero_range() ---------------------------------- */

#define ZR_BLOCKS 12	/* file blocks laid out by zr_layout() */

/* Mapped, hole, unwritten, mapped, ... from block 0; the end of file in
 * mapped block 8, so blocks 9 (hole), 10 (unwritten) and 11 (mapped) lie
 * past it.  shadow gets what the device holds behind every block that is
 * not a hole. */
static uint64_t zr_layout(struct fx *x, unsigned char *shadow)
{
	unsigned bs = x->m.bs;
	uint64_t size = 8ull * bs + bs / 2 + 1;

	model_reset(&x->m, size);
	memset(shadow, 0, ZR_BLOCKS * (size_t)bs);
	for (uint64_t b = 0; b < ZR_BLOCKS; b++) {
		if (b % 4 == 1)
			continue;
		model_map(&x->m, b, 1, b % 4 == 2 ? B_UNWRITTEN : B_MAPPED);
		model_fill(&x->m, b, 1, 40 + (unsigned)b, shadow);
	}
	return size;
}

/* The worker's unit: the larger of the device block and memory alignment. */
static unsigned zr_dbs(struct fx *x)
{
	unsigned a = bdev_mem_align(x->e.bdev);

	return a > x->e.dev_bs ? a : x->e.dev_bs;
}

static int zr_mapped(struct fx *x, uint64_t pos)
{
	uint64_t b = pos / x->m.bs;

	return b < x->m.nblocks && x->m.map[b].state == B_MAPPED;
}

/* Device blocks that [off, end) covers in part and that hold data: the
 * worker must read each of them once to zero its part. */
static unsigned zr_rmw_expected(struct fx *x, uint64_t off, uint64_t end)
{
	unsigned db = zr_dbs(x), n = 0;
	uint64_t head = off / db * db, tail = end / db * db;

	if (off % db && zr_mapped(x, head))
		n++;
	if (end % db && (tail != head || !(off % db)) && zr_mapped(x, tail))
		n++;
	return n;
}

/* dio_zero_range() with f->lock held exclusive, as the filesystem calls it. */
static int zr_call(struct fx *x, uint64_t off, uint64_t len)
{
	int r;

	ck_assert_int_eq(pthread_rwlock_wrlock(&x->m.f.lock), 0);
	r = dio_zero_range(x->ctx, &x->m.f, off, len);
	ck_assert_int_eq(pthread_rwlock_unlock(&x->m.f.lock), 0);
	return r;
}

/* The device and reads after zeroing: shadow is the device's expected
 * contents, which read back as zeros in holes and unwritten blocks. */
static void zr_check(struct fx *x, const unsigned char *shadow, uint64_t size,
		     const char *what)
{
	unsigned bs = x->m.bs;
	unsigned char *got = xalloc(bs);
	unsigned char *img = xzalloc(ZR_BLOCKS * (size_t)bs);

	for (uint64_t b = 0; b < ZR_BLOCKS; b++) {
		if (x->m.map[b].state == B_HOLE)
			continue;
		dev_read(&x->e, x->m.map[b].pblk * bs, got, bs);
		expect_mem(got, shadow + b * bs, bs,
			   "%s: device copy of file block %" PRIu64, what, b);
		if (x->m.map[b].state == B_MAPPED)
			memcpy(img + b * bs, shadow + b * bs, bs);
	}
	check_read(x, img, size, 0, ZR_BLOCKS * (size_t)bs, 0, 1, what);
	check_read(x, img, size, bs / 2 + 1, 5ull * bs, 3, 2, what);
	free(got);
	free(img);
}

static void core_zero_range(int file, unsigned fs_bs, unsigned dev_bs)
{
	/* the defaults, and a context whose every request is one unit */
	const struct dio_params tight = {
		.queue_depth = 2, .max_io = 4096, .staging_bufs = 1,
	};
	unsigned char *shadow;
	uint64_t size;
	unsigned bs, db;
	struct fx x;

	fx_init(&x, file, fs_bs, dev_bs, 8 * MiB, 16 * 65536, NULL);
	bs = x.m.bs;
	db = zr_dbs(&x);
	shadow = xalloc(ZR_BLOCKS * (size_t)bs);

	for (int pi = 0; pi < 2; pi++) {
		if (pi) {
			dio_ctx_destroy(x.ctx);
			x.p = tight;
			ck_assert_int_eq(dio_ctx_create(x.e.bdev, &x.p, &x.ctx), 0);
		}
		size = zr_layout(&x, shadow);
		const struct { uint64_t off, len; const char *what; } cases[] = {
			{ 0, 1, "one byte of a mapped block" },
			{ db - 1, 2, "across a device block" },
			{ bs / 2 + 3, bs, "a mapped tail and a hole's head" },
			{ bs + 5, bs - 10, "inside a hole" },
			{ 2ull * bs + 7, bs - 9, "inside an unwritten block" },
			{ 2ull * bs, bs, "a whole unwritten block" },
			{ 3ull * bs, bs, "a whole mapped block" },
			{ 3ull * bs + db, 2ull * db > bs - db ? bs - db : 2ull * db,
			  "device blocks inside a mapped block" },
			{ 4ull * bs - 1, 3ull * db + 2, "unaligned, from a mapped block on" },
			{ 1, 5ull * bs, "over every kind of block" },
			{ size - 7, 20, "across end of file" },
			{ size, 9ull * bs - size, "the tail of the last block" },
			{ 9ull * bs + 3, 2ull * bs, "past end of file: hole, unwritten" },
			{ 11ull * bs + 5, bs - 5, "a mapped block past end of file" },
			{ 13ull * bs, 3ull * bs, "past every block" },
			{ 0, (uint64_t)ZR_BLOCKS * bs, "the whole file" },
		};

		for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
			uint64_t off = cases[ci].off, end = off + cases[ci].len;
			unsigned rmw = zr_rmw_expected(&x, off, end);
			struct dio_ctx_stats c0, c1;
			struct bdev_stats s0, s1;
			int data = 0;
			char what[128];

			snprintf(what, sizeof(what), "%s (%" PRIu64 ", %" PRIu64 ", %s)",
				 cases[ci].what, off, cases[ci].len,
				 pi ? "one unit per request" : "defaults");
			for (uint64_t p = off / bs * bs; p < end; p += bs)
				data |= zr_mapped(&x, p);
			for (uint64_t b = off / bs; b * bs < end && b < ZR_BLOCKS; b++) {
				uint64_t a = b * bs > off ? b * bs : off;
				uint64_t e = (b + 1) * bs < end ? (b + 1) * bs : end;

				if (x.m.map[b].state == B_MAPPED)
					memset(shadow + a, 0, e - a);
			}
			model_counts_clear(&x.m);
			dio_ctx_get_stats(x.ctx, &c0);
			s0 = bst(&x);
			ck_assert_msg(zr_call(&x, off, cases[ci].len) == 0,
				      "%s: %s failed", where, what);
			s1 = bst(&x);
			dio_ctx_get_stats(x.ctx, &c1);

			ck_assert_uint_eq(x.m.gb_create_calls, 0);
			ck_assert_uint_eq(x.m.convert_calls, 0);
			ck_assert_uint_eq(x.m.size_calls, 0);
			ck_assert_uint_eq(x.m.release_calls, 0);
			ck_assert_uint_eq(x.m.f.size, size);
			ck_assert_uint_eq(model_allocated(&x.m), ZR_BLOCKS * 3 / 4);
			ck_assert_msg(c1.rmw_reads - c0.rmw_reads == rmw,
				      "%s: %s: %" PRIu64 " read-modify-write reads, want %u",
				      where, what, c1.rmw_reads - c0.rmw_reads, rmw);
			if (!data)
				ck_assert_msg(s1.writes == s0.writes &&
					      s1.reads == s0.reads,
					      "%s: %s: %" PRIu64 " writes, %" PRIu64 " reads without data to zero",
					      where, what, s1.writes - s0.writes,
					      s1.reads - s0.reads);
			else
				ck_assert_uint_gt(s1.writes, s0.writes);
			if (!(off % db) && !(cases[ci].len % db))
				ck_assert_msg(c1.staged_bytes == c0.staged_bytes,
					      "%s: %s: %" PRIu64 " bytes staged for whole device blocks",
					      where, what, c1.staged_bytes - c0.staged_bytes);
			check_drained(&x, what);
			zr_check(&x, shadow, size, what);
			model_assert_clean(&x.m);
		}
		ck_assert_int_eq(zr_call(&x, 5, 0), 0);
	}
	free(shadow);
	fx_fini(&x);
}

START_TEST(t_zero_range)
{
	core_zero_range(0, geoms[_i].fs_bs, geoms[_i].dev_bs);
}
END_TEST

START_TEST(t_file_zero_range)
{
	core_zero_range(1, file_fs_bs[_i], 0);
}
END_TEST

/* A failed write or read-modify-write read: the error, nothing in flight. */
START_TEST(t_zero_range_eio)
{
	struct fx x;
	unsigned char *shadow;
	uint64_t size, dev;
	unsigned bs, db;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 8 * MiB, 16 * 65536, NULL);
	bs = x.m.bs;
	db = zr_dbs(&x);
	shadow = xalloc(ZR_BLOCKS * (size_t)bs);

	/* the write of the third mapped block fails */
	size = zr_layout(&x, shadow);
	dev = x.m.map[4].pblk * bs;
	bdev_test_fail_range(x.e.bdev, BDEV_WRITE, dev, db, -EIO);
	ck_assert_int_eq(zr_call(&x, 7, 6ull * bs), -EIO);
	check_drained(&x, "a failed write");
	bdev_test_clear_faults(x.e.bdev);
	ck_assert_uint_eq(x.m.f.size, size);
	ck_assert_uint_eq(x.m.gb_create_calls, 0);
	ck_assert_uint_eq(x.m.convert_calls, 0);
	ck_assert_uint_eq(x.m.size_calls, 0);

	/* the read before a partial device block is patched fails: the block
	 * keeps its contents */
	size = zr_layout(&x, shadow);
	dev = x.m.map[3].pblk * bs;
	bdev_test_fail_range(x.e.bdev, BDEV_READ, dev, db, -EIO);
	ck_assert_int_eq(zr_call(&x, 3ull * bs + 1, db / 2), -EIO);
	check_drained(&x, "a failed read-modify-write read");
	bdev_test_clear_faults(x.e.bdev);
	zr_check(&x, shadow, size, "after a failed read-modify-write read");

	/* and the same range then works */
	ck_assert_int_eq(zr_call(&x, 3ull * bs + 1, db / 2), 0);
	memset(shadow + 3ull * bs + 1, 0, db / 2);
	zr_check(&x, shadow, size, "zeroed again");
	model_assert_clean(&x.m);
	free(shadow);
	fx_fini(&x);
}
END_TEST

/* ---- the tail block's copy (dio.c rule 10) ------------------------------ */

/* Append len bytes of seed's pattern at *size, through an odd buffer. */
static void tail_append(struct fx *x, unsigned char *img, uint64_t *size,
			size_t len, unsigned seed, const char *what)
{
	ssize_t r;

	fill_pat(img + *size, len, *size, seed);
	r = wr(x, *size, img + *size, len, 3, 1);
	ck_assert_msg(r == (ssize_t)len, "%s: %s: append at %" PRIu64 " = %zd",
		      where, what, *size, r);
	*size += len;
}

START_TEST(t_tail_copy)
{
	const uint64_t cap = 256 * KiB;
	struct dio_ctx_stats c0, c1;
	unsigned char *img, *data;
	uint64_t size = 0, blocks, tail;
	unsigned bs, db;
	struct fx x;
	ssize_t r;

	fx_init(&x, 0, geoms[_i].fs_bs, geoms[_i].dev_bs, 8 * MiB, 4 * cap, NULL);
	bs = x.m.bs;
	db = x.e.dev_bs;
	img = xzalloc(4 * cap);
	data = xalloc(bs);
	model_reset(&x.m, 0);

	/* Small appends read no block that an earlier append wrote: at most
	 * one read per device block, for the first append into a device
	 * block of an fs block allocated before. */
	dio_ctx_get_stats(x.ctx, &c0);
	for (unsigned i = 0; size + 7 <= cap / 4; i++)
		tail_append(&x, img, &size, 1 + i % 7, 160 + i % 3, "small appends");
	dio_ctx_get_stats(x.ctx, &c1);
	blocks = (size + db - 1) / db;
	ck_assert_msg(c1.rmw_reads - c0.rmw_reads <= blocks,
		      "%s: %" PRIu64 " read-modify-write reads for %" PRIu64 " bytes of appends in %" PRIu64 " device blocks",
		      where, c1.rmw_reads - c0.rmw_reads, size, blocks);
	check_read(&x, img, size, 0, size + bs, 0, 1, "after small appends");

	/* A write covering the tail block whole: the copy is forgotten. */
	tail = size / bs * bs;
	fill_pat(data, bs, tail, 161);
	memcpy(img + tail, data, bs);
	ck_assert_int_eq(wr(&x, tail, data, bs, 0, 1), (ssize_t)bs);
	size = tail + bs;
	tail_append(&x, img, &size, 5, 162, "after a whole-block write");
	tail = size / db * db;
	fill_pat(data, db, tail, 163);
	memcpy(img + tail, data, db);
	ck_assert_int_eq(wr(&x, tail, data, db, 0, 1), (ssize_t)db);
	size = tail + db;
	fill_pat(img + tail + 1, 3, tail + 1, 170);
	ck_assert_int_eq(wr(&x, tail + 1, img + tail + 1, 3, 1, 1), 3);
	tail_append(&x, img, &size, 3, 164, "after a whole device block");
	check_read(&x, img, size, 0, size + bs, 0, 1, "after whole-block writes");

	/* Zeros written over the tail (as truncate and hole punching do):
	 * the copy is forgotten. */
	pthread_rwlock_wrlock(&x.m.f.lock);
	ck_assert_int_eq(dio_zero_range(x.ctx, &x.m.f, size - 2, 2), 0);
	pthread_rwlock_unlock(&x.m.f.lock);
	memset(img + size - 2, 0, 2);
	tail_append(&x, img, &size, 4, 165, "after zeroing the tail");
	check_read(&x, img, size, 0, size + bs, 0, 1, "after zeroing the tail");

	/* A failed write leaves no valid copy of what it did not write. */
	tail = (size - 5) / db * db;
	bdev_test_fail_range(x.e.bdev, BDEV_WRITE, file_dev(&x.m, tail), db,
			     -EIO);
	fill_pat(data, 3, size - 5, 166);
	r = wr(&x, size - 5, data, 3, 3, 1);
	ck_assert_msg(r < 0, "%s: a failed overwrite returned %zd", where, r);
	bdev_test_clear_faults(x.e.bdev);
	check_drained(&x, "failed overwrite");
	ck_assert_uint_eq(x.m.f.size, size);
	tail_append(&x, img, &size, 2, 167, "after a failed overwrite");
	check_read(&x, img, size, 0, size + bs, 0, 1, "after a failed overwrite");

	/* An overwrite inside the tail block: the copy follows it. */
	fill_pat(img + size - 5, 3, size - 5, 168);
	ck_assert_int_eq(wr(&x, size - 5, img + size - 5, 3, 1, 1), 3);
	tail_append(&x, img, &size, 6, 169, "after an overwrite");
	check_read(&x, img, size, 0, size + bs, 0, 1, "after an overwrite");
	model_assert_clean(&x.m);
	free(data);
	free(img);
	fx_fini(&x);
}
END_TEST

static Suite *dio_suite(void)
{
	Suite *s = suite_create("dio");
	struct {
		const char *name;
		const TTest *fn;
		int n;
	} cases[] = {
		{ "holes", t_holes, NGEOMS },
		{ "eof", t_eof, NGEOMS },
		{ "unaligned", t_unaligned, NGEOMS },
		{ "new_partial", t_new_partial, NGEOMS },
		{ "coalesce", t_coalesce, NGEOMS },
		{ "bounded_memory", t_bounded_memory, 2 },
		{ "eio_write_new", t_eio_write_new, NGEOMS },
		{ "eio_write_unaligned", t_eio_write_unaligned, NGEOMS },
		{ "eio_overwrite", t_eio_overwrite, NGEOMS },
		{ "eio_read", t_eio_read, NGEOMS },
		{ "short_and_eagain", t_short_and_eagain, NGEOMS },
		{ "enospc", t_enospc, NGEOMS },
		{ "zero_length", t_zero_length, NGEOMS },
		{ "file_holes", t_file_holes, NFILEGEOMS },
		{ "file_eof", t_file_eof, NFILEGEOMS },
		{ "file_unaligned", t_file_unaligned, NFILEGEOMS },
		{ "file_new_partial", t_file_new_partial, NFILEGEOMS },
		{ "file_coalesce", t_file_coalesce, NFILEGEOMS },
		{ "random", t_random, NRCFGS },
		{ "concurrent_rmw", t_concurrent_rmw, 4 },
		{ "fail_in_tail_zeros", t_fail_in_tail_zeros, NSPLIT },
		{ "fail_in_block_zeros", t_fail_in_block_zeros, NSPLIT },
		{ "eagain_while_waiting", t_eagain_while_waiting, NGEOMS },
		{ "eagain_read_then_hole", t_eagain_read_then_hole, NGEOMS },
		{ "gap_past_eof", t_gap_past_eof, NGEOMS },
		{ "failed_extend_keeps_size", t_failed_extend_keeps_size, NGEOMS },
		{ "create_hole", t_create_hole, NGEOMS },
		{ "rmw_read_fails_at_tail", t_rmw_read_fails_at_tail, NGEOMS },
		{ "hole_to_end", t_hole_to_end, NGEOMS },
		{ "concurrent_convert", t_concurrent_convert, 4 },
		{ "async_many", t_async_many, NGEOMS },
		{ "file_async_many", t_file_async_many, NFILEGEOMS },
		{ "async_overflow", t_async_overflow, NGEOMS },
		{ "async_no_device", t_async_no_device, NGEOMS },
		{ "file_async_no_device", t_file_async_no_device, NFILEGEOMS },
		{ "async_extend", t_async_extend, NGEOMS },
		{ "file_async_extend", t_file_async_extend, NFILEGEOMS },
		{ "async_lock", t_async_lock, NGEOMS },
		{ "file_async_lock", t_file_async_lock, NFILEGEOMS },
		{ "async_eio", t_async_eio, NGEOMS },
		{ "async_destroy", t_async_destroy, NGEOMS },
		{ "file_async_destroy", t_file_async_destroy, NFILEGEOMS },
		{ "async_random", t_async_random, NARCFGS },
		{ "rmw_wait_fails", t_rmw_wait_fails, NGEOMS },
		{ "async_writer_not_starved", t_async_writer_not_starved, NGEOMS },
		{ "async_order", t_async_order, NGEOMS },
		{ "zero_range", t_zero_range, NGEOMS },
		{ "file_zero_range", t_file_zero_range, NFILEGEOMS },
		{ "zero_range_eio", t_zero_range_eio, NGEOMS },
		{ "tail_copy", t_tail_copy, NGEOMS },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);

		tcase_set_timeout(tc, CASE_TIMEOUT);
		tcase_add_loop_test(tc, cases[i].fn, 0, cases[i].n);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(dio_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
