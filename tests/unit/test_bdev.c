/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the block-device layer.
 *
 * The "aio" cases run the real backend on a temporary image file under
 * /tmp (O_DIRECT, libaio, flock); the "test device" cases run the in-memory
 * device over device block sizes 512 and 4096 and inject the faults a real
 * device produces only rarely: failed blocks, short completions, completions
 * that make no progress, EAGAIN from io_submit.
 *
 * Rules:
 *  1. Every temporary file is removed by the unchecked fixture teardown
 *     (which runs in the parent process, so also after a failed case), or
 *     unlinked before the case asserts anything about it.
 *  2. Data is checked against a pattern that depends on the device offset
 *     and a seed, so that a misplaced or stale block shows up.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diofs/bdev.h"

#define IMG_SIZE (4u << 20)

static char img_path[] = "/tmp/diofs-test-bdev-XXXXXX";
static const uint32_t block_sizes[] = { 512, 4096 };

/* ---- helpers ------------------------------------------------------------ */

static unsigned char pattern(uint64_t pos, unsigned seed)
{
	return (unsigned char)(pos * 131 + (pos >> 9) * 7 + seed * 29 + 1);
}

static void fill(void *buf, size_t len, uint64_t off, unsigned seed)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = pattern(off + i, seed);
}

static int matches(const void *buf, size_t len, uint64_t off, unsigned seed)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != pattern(off + i, seed))
			return 0;
	return 1;
}

static int all_zero(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

static void *abuf(size_t len, size_t align)
{
	void *p = NULL;

	ck_assert_int_eq(posix_memalign(&p, align < sizeof(void *) ?
					 sizeof(void *) : align, len), 0);
	memset(p, 0, len);
	return p;
}

static void req_init(struct bdev_req *r, enum bdev_op op, uint64_t off,
		     struct iovec *iov, int iovcnt)
{
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->offset = off;
	r->iov = iov;
	r->iovcnt = iovcnt;
}

/* Reap exactly n requests, one bdev_reap() call at a time. */
static void reap_n(struct bdev_queue *q, unsigned n, struct bdev_req **out)
{
	unsigned got = 0;
	int ret;

	while (got < n) {
		ret = bdev_reap(q, 1, n - got, out + got);
		ck_assert_int_gt(ret, 0);
		got += ret;
	}
}

static void submit_all(struct bdev_queue *q, struct bdev_req **reqs,
		       unsigned n)
{
	ck_assert_int_eq(bdev_submit(q, reqs, n), (int)n);
}

/* Whether fd polls readable within ms milliseconds. */
static bool fd_ready(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

/*
 * The queue's event fd: quiet while nothing has completed, readable once
 * requests submitted after it was made have, cleared by reading it; the
 * completions are still had from bdev_reap().
 */
static void check_event_fd(struct bdev_queue *q, uint32_t bs, unsigned char *buf)
{
	struct bdev_req reqs[4], *ptrs[4], *done[4];
	struct iovec iov[4];
	eventfd_t count, rest;
	int efd = bdev_queue_event_fd(q);

	ck_assert_int_ge(efd, 0);
	ck_assert_int_eq(bdev_queue_event_fd(q), efd);	/* made once */
	ck_assert(!fd_ready(efd, 0));
	for (int i = 0; i < 4; i++) {
		iov[i] = (struct iovec){ buf + (size_t)i * bs, bs };
		req_init(&reqs[i], BDEV_READ, (uint64_t)i * bs, &iov[i], 1);
		ptrs[i] = &reqs[i];
	}
	submit_all(q, ptrs, 4);
	ck_assert(fd_ready(efd, 5000));
	ck_assert_int_eq(eventfd_read(efd, &count), 0);
	ck_assert_uint_ge(count, 1);
	reap_n(q, 4, done);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(reqs[i].result, (ssize_t)bs);
	/* one count per completion, all there once they are reaped */
	if (count < 4) {
		ck_assert_int_eq(eventfd_read(efd, &rest), 0);
		count += rest;
	}
	ck_assert_uint_eq(count, 4);
	ck_assert(!fd_ready(efd, 0));
}

/* Read the image through the page cache, independently of the bdev layer. */
static void file_read(uint64_t off, void *buf, size_t len)
{
	int fd = open(img_path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/* ---- the real backend on an image file ---------------------------------- */

static void img_setup(void)
{
	int fd = mkstemp(img_path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, IMG_SIZE), 0);
	close(fd);
}

static void img_teardown(void)
{
	unlink(img_path);
}

/* Each case starts from an image of zeros. */
static void img_reset(void)
{
	ck_assert_int_eq(truncate(img_path, 0), 0);
	ck_assert_int_eq(truncate(img_path, IMG_SIZE), 0);
}

static struct bdev *img_open(int flags)
{
	struct bdev *bdev = NULL;
	const char *msg = NULL;
	int ret = bdev_open(img_path, flags, &bdev, &msg);

	ck_assert_msg(ret == 0, "bdev_open: %d (%s)", ret, msg ? msg : "");
	return bdev;
}

START_TEST(aio_open_properties)
{
	struct bdev *bdev = img_open(BDEV_RDWR);
	struct bdev_queue *q;
	uint32_t want_bs = 4096, want_mem = 4096;
	struct statx stx;

	if (statx(AT_FDCWD, img_path, 0, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		want_bs = stx.stx_dio_offset_align;
		want_mem = stx.stx_dio_mem_align;
	}
	ck_assert_uint_eq(bdev_block_size(bdev), want_bs);
	ck_assert_uint_eq(bdev_mem_align(bdev), want_mem);
	ck_assert_uint_eq(bdev_size(bdev), IMG_SIZE);
	ck_assert_int_eq(bdev_read_only(bdev), 0);

	ck_assert_int_eq(bdev_queue_open(bdev, 8, &q), 0);
	ck_assert_uint_eq(bdev_queue_depth(q), 8);
	ck_assert_uint_eq(bdev_queue_inflight(q), 0);
	ck_assert_ptr_eq(bdev_queue_bdev(q), bdev);
	bdev_queue_close(q);
	ck_assert_int_eq(bdev_queue_open(bdev, 0, &q), -EINVAL);
	bdev_close(bdev);
}
END_TEST

START_TEST(aio_multi_iovec_round_trip)
{
	struct bdev *bdev = img_open(BDEV_RDWR);
	uint32_t bs = bdev_block_size(bdev), al = bdev_mem_align(bdev);
	size_t wlen[3] = { bs, 2 * bs, bs }, total = 4 * bs;
	uint64_t off = 3 * (uint64_t)bs;
	struct iovec wiov[3], riov[2];
	struct bdev_req w, r, *rp = &r, *wp = &w, *done;
	struct bdev_queue *q;
	unsigned char *check = malloc(total);
	size_t pos = 0;
	int i;

	ck_assert_int_eq(bdev_queue_open(bdev, 4, &q), 0);
	for (i = 0; i < 3; i++) {
		wiov[i].iov_base = abuf(wlen[i], al);
		wiov[i].iov_len = wlen[i];
		fill(wiov[i].iov_base, wlen[i], off + pos, 1);
		pos += wlen[i];
	}
	req_init(&w, BDEV_WRITE, off, wiov, 3);
	submit_all(q, &wp, 1);
	ck_assert_uint_eq(bdev_queue_inflight(q), 1);
	reap_n(q, 1, &done);
	ck_assert_ptr_eq(done, &w);
	ck_assert_int_eq(w.result, (ssize_t)total);
	ck_assert_uint_eq(bdev_queue_inflight(q), 0);

	/* read back split differently from how it was written */
	for (i = 0; i < 2; i++) {
		riov[i].iov_base = abuf(2 * bs, al);
		riov[i].iov_len = 2 * bs;
	}
	req_init(&r, BDEV_READ, off, riov, 2);
	submit_all(q, &rp, 1);
	reap_n(q, 1, &done);
	ck_assert_ptr_eq(done, &r);
	ck_assert_int_eq(r.result, (ssize_t)total);
	ck_assert(matches(riov[0].iov_base, 2 * bs, off, 1));
	ck_assert(matches(riov[1].iov_base, 2 * bs, off + 2 * bs, 1));

	file_read(off, check, total);
	ck_assert(matches(check, total, off, 1));
	file_read(off - bs, check, bs);
	ck_assert(all_zero(check, bs));

	bdev_queue_close(q);
	bdev_close(bdev);
	for (i = 0; i < 3; i++)
		free(wiov[i].iov_base);
	for (i = 0; i < 2; i++)
		free(riov[i].iov_base);
	free(check);
}
END_TEST

#define BATCH 64
#define BATCH_DEPTH 16

/*
 * Run BATCH requests of op over the first BATCH * 3 blocks, with up to
 * BATCH_DEPTH in flight; request i covers blocks [3i, 3i+3) in i % 3 + 1
 * iovecs.
 */
static void run_batch(struct bdev_queue *q, enum bdev_op op,
		      unsigned char *buf, unsigned seed)
{
	uint32_t bs = bdev_block_size(bdev_queue_bdev(q));
	static struct bdev_req reqs[BATCH];
	static struct iovec iovs[BATCH][3];
	struct bdev_req *ptrs[BATCH], *done[BATCH];
	unsigned char seen[BATCH] = { 0 };
	unsigned i, j, next = 0, finished = 0;
	int ret;

	for (i = 0; i < BATCH; i++) {
		unsigned n = i % 3 + 1;
		unsigned char *p = buf + (size_t)i * 3 * bs;
		size_t left = 3 * (size_t)bs;

		for (j = 0; j < n; j++) {
			iovs[i][j].iov_base = p;
			iovs[i][j].iov_len = j + 1 < n ? bs : left;
			p += iovs[i][j].iov_len;
			left -= iovs[i][j].iov_len;
		}
		req_init(&reqs[i], op, (uint64_t)i * 3 * bs, iovs[i], n);
		reqs[i].priv = &seen[i];
		ptrs[i] = &reqs[i];
		if (op == BDEV_WRITE)
			fill(buf + (size_t)i * 3 * bs, 3 * bs, reqs[i].offset,
			     seed);
	}
	while (finished < BATCH) {
		unsigned room = BATCH_DEPTH - bdev_queue_inflight(q);

		if (room > BATCH - next)
			room = BATCH - next;
		if (room) {
			ret = bdev_submit(q, ptrs + next, room);
			ck_assert_int_eq(ret, (int)room);
			next += room;
		}
		ck_assert_uint_le(bdev_queue_inflight(q), BATCH_DEPTH);
		ret = bdev_reap(q, 1, BATCH, done);
		ck_assert_int_gt(ret, 0);
		for (i = 0; i < (unsigned)ret; i++) {
			unsigned char *mark = done[i]->priv;

			ck_assert_int_eq(done[i]->result, 3 * (ssize_t)bs);
			ck_assert_int_eq(*mark, 0);
			*mark = 1;
		}
		finished += ret;
	}
	ck_assert_uint_eq(bdev_queue_inflight(q), 0);
}

START_TEST(aio_batch_with_reap)
{
	struct bdev *bdev = img_open(BDEV_RDWR);
	uint32_t bs = bdev_block_size(bdev);
	size_t len = (size_t)BATCH * 3 * bs;
	unsigned char *wbuf = abuf(len, bdev_mem_align(bdev));
	unsigned char *rbuf = abuf(len, bdev_mem_align(bdev));
	unsigned char *check = malloc(len);
	struct bdev_queue *q;
	struct bdev_stats st;

	ck_assert_int_eq(bdev_queue_open(bdev, BATCH_DEPTH, &q), 0);
	run_batch(q, BDEV_WRITE, wbuf, 2);
	run_batch(q, BDEV_READ, rbuf, 2);
	ck_assert(matches(rbuf, len, 0, 2));
	file_read(0, check, len);
	ck_assert(matches(check, len, 0, 2));

	bdev_get_stats(bdev, &st);
	ck_assert_uint_eq(st.writes, BATCH);
	ck_assert_uint_eq(st.reads, BATCH);
	ck_assert_uint_eq(st.write_bytes, len);
	ck_assert_uint_eq(st.read_bytes, len);
	ck_assert_uint_ge(st.submit_calls, 2 * BATCH / BATCH_DEPTH);
	ck_assert_uint_le(st.submit_calls, 2 * BATCH);
	ck_assert_uint_eq(st.short_completions, 0);

	bdev_queue_close(q);
	bdev_close(bdev);
	free(wbuf);
	free(rbuf);
	free(check);
}
END_TEST

START_TEST(aio_event_fd_signals_completions)
{
	struct bdev *bdev = img_open(BDEV_RDWR);
	uint32_t bs = bdev_block_size(bdev);
	unsigned char *buf = abuf(4 * (size_t)bs, bdev_mem_align(bdev));
	struct bdev_queue *q;

	ck_assert_int_eq(bdev_queue_open(bdev, 8, &q), 0);
	check_event_fd(q, bs, buf);
	bdev_queue_close(q);
	bdev_close(bdev);
	free(buf);
}
END_TEST

START_TEST(aio_sync_helpers_keep_other_completions)
{
	struct bdev *bdev = img_open(BDEV_RDWR);
	uint32_t bs = bdev_block_size(bdev), al = bdev_mem_align(bdev);
	unsigned char *a = abuf(4 * bs, al), *b = abuf(2 * bs, al);
	struct bdev_req reqs[4], *ptrs[4], *done[4];
	struct iovec iov[4];
	struct bdev_queue *q;
	int i;

	ck_assert_int_eq(bdev_queue_open(bdev, 8, &q), 0);
	fill(a, 4 * bs, 100 * (uint64_t)bs, 3);
	for (i = 0; i < 4; i++) {
		iov[i].iov_base = a + (size_t)i * bs;
		iov[i].iov_len = bs;
		req_init(&reqs[i], BDEV_WRITE, (100 + i) * (uint64_t)bs,
			 &iov[i], 1);
		ptrs[i] = &reqs[i];
	}
	submit_all(q, ptrs, 4);

	fill(b, 2 * bs, 200 * (uint64_t)bs, 4);
	ck_assert_int_eq(bdev_pwrite(q, b, 2 * bs, 200 * (uint64_t)bs),
			 2 * (ssize_t)bs);
	memset(b, 0, 2 * bs);
	ck_assert_int_eq(bdev_pread(q, b, 2 * bs, 200 * (uint64_t)bs),
			 2 * (ssize_t)bs);
	ck_assert(matches(b, 2 * bs, 200 * (uint64_t)bs, 4));

	/* the four asynchronous writes are still there for bdev_reap */
	ck_assert_uint_eq(bdev_queue_inflight(q), 4);
	reap_n(q, 4, done);
	for (i = 0; i < 4; i++) {
		ck_assert(done[i] >= reqs && done[i] < reqs + 4);
		ck_assert_int_eq(done[i]->result, (ssize_t)bs);
	}
	ck_assert_int_eq(bdev_reap(q, 0, 4, done), 0);
	ck_assert_int_eq(bdev_pread(q, a, 4 * bs, 100 * (uint64_t)bs),
			 4 * (ssize_t)bs);
	ck_assert(matches(a, 4 * bs, 100 * (uint64_t)bs, 3));

	/* the helpers obey the same alignment rules */
	ck_assert_int_eq(bdev_pread(q, b, bs / 2, 0), -EINVAL);
	ck_assert_int_eq(bdev_pwrite(q, b, bs, bs / 2), -EINVAL);
	ck_assert_uint_eq(bdev_queue_inflight(q), 0);

	bdev_queue_close(q);
	bdev_close(bdev);
	free(a);
	free(b);
}
END_TEST

START_TEST(aio_second_open_is_busy)
{
	struct bdev *bdev = img_open(BDEV_RDWR), *other = NULL;
	const char *msg = NULL;

	ck_assert_int_eq(bdev_open(img_path, BDEV_RDWR, &other, &msg), -EBUSY);
	ck_assert_ptr_nonnull(msg);
	ck_assert_ptr_nonnull(strstr(msg, "in use"));
	msg = NULL;
	ck_assert_int_eq(bdev_open(img_path, BDEV_RDONLY, &other, &msg),
			 -EBUSY);
	ck_assert_ptr_nonnull(msg);
	bdev_close(bdev);

	/* closing releases the lock */
	bdev = img_open(BDEV_RDONLY);
	ck_assert_int_eq(bdev_open(img_path, BDEV_RDWR, &other, NULL), -EBUSY);
	bdev_close(bdev);
}
END_TEST

START_TEST(aio_read_only_refuses_writes)
{
	struct bdev *bdev = img_open(BDEV_RDWR);
	uint32_t bs = bdev_block_size(bdev);
	unsigned char *buf = abuf(bs, bdev_mem_align(bdev));
	struct bdev_req w, *wp = &w, *done;
	struct bdev_queue *q;
	struct iovec iov;

	/* put known data down first, read-write */
	ck_assert_int_eq(bdev_queue_open(bdev, 2, &q), 0);
	fill(buf, bs, 7 * (uint64_t)bs, 5);
	ck_assert_int_eq(bdev_pwrite(q, buf, bs, 7 * (uint64_t)bs),
			 (ssize_t)bs);
	bdev_queue_close(q);
	bdev_close(bdev);

	bdev = img_open(BDEV_RDONLY);
	ck_assert_int_eq(bdev_read_only(bdev), 1);
	ck_assert_int_eq(bdev_queue_open(bdev, 2, &q), 0);
	fill(buf, bs, 7 * (uint64_t)bs, 6);
	iov.iov_base = buf;
	iov.iov_len = bs;
	req_init(&w, BDEV_WRITE, 7 * (uint64_t)bs, &iov, 1);
	submit_all(q, &wp, 1);
	reap_n(q, 1, &done);
	ck_assert_int_eq(w.result, -EROFS);
	ck_assert_int_eq(bdev_pwrite(q, buf, bs, 7 * (uint64_t)bs), -EROFS);

	ck_assert_int_eq(bdev_pread(q, buf, bs, 7 * (uint64_t)bs),
			 (ssize_t)bs);
	ck_assert(matches(buf, bs, 7 * (uint64_t)bs, 5));
	ck_assert_int_eq(bdev_flush(bdev), 0);
	bdev_queue_close(q);
	bdev_close(bdev);
	free(buf);
}
END_TEST

START_TEST(aio_misaligned_requests_fail)
{
	struct bdev *bdev = img_open(BDEV_RDWR);
	uint32_t bs = bdev_block_size(bdev), al = bdev_mem_align(bdev);
	unsigned char *buf = abuf(4 * bs, al);
	struct bdev_req reqs[6], *ptrs[6], *done[6];
	struct iovec iov[6];
	struct bdev_queue *q;
	int i;

	ck_assert_uint_ge(al, 2);
	ck_assert_int_eq(bdev_queue_open(bdev, 8, &q), 0);
	fill(buf, 4 * bs, 0, 7);
	for (i = 0; i < 6; i++) {
		iov[i].iov_base = buf;
		iov[i].iov_len = bs;
		req_init(&reqs[i], BDEV_WRITE, 0, &iov[i], 1);
		ptrs[i] = &reqs[i];
	}
	reqs[1].offset = bs / 2;			/* misaligned offset */
	iov[2].iov_len = bs + bs / 2;			/* misaligned length */
	iov[3].iov_base = buf + al / 2;			/* misaligned buffer */
	reqs[4].offset = bdev_size(bdev);		/* past the end */
	reqs[5].iovcnt = 0;				/* empty */
	ck_assert_int_eq(bdev_submit(q, ptrs, 6), 6);
	reap_n(q, 6, done);
	ck_assert_int_eq(reqs[0].result, (ssize_t)bs);
	for (i = 1; i < 6; i++)
		ck_assert_msg(reqs[i].result == -EINVAL, "request %d: %zd", i,
			      reqs[i].result);
	/* only the good one reached the device */
	memset(buf, 0, 4 * bs);
	file_read(0, buf, 4 * bs);
	ck_assert(matches(buf, bs, 0, 7));
	ck_assert(all_zero(buf + bs, 3 * bs));

	bdev_queue_close(q);
	bdev_close(bdev);
	free(buf);
}
END_TEST

START_TEST(aio_flush)
{
	struct bdev *bdev = img_open(BDEV_RDWR);
	uint32_t bs = bdev_block_size(bdev);
	unsigned char *buf = abuf(bs, bdev_mem_align(bdev));
	struct bdev_queue *q;
	struct bdev_stats st;

	ck_assert_int_eq(bdev_queue_open(bdev, 1, &q), 0);
	fill(buf, bs, 0, 8);
	ck_assert_int_eq(bdev_pwrite(q, buf, bs, 0), (ssize_t)bs);
	ck_assert_int_eq(bdev_flush(bdev), 0);
	ck_assert_int_eq(bdev_flush(bdev), 0);
	bdev_get_stats(bdev, &st);
	ck_assert_uint_eq(st.flushes, 2);
	ck_assert_uint_eq(st.writes, 1);
	bdev_queue_close(q);
	bdev_close(bdev);
	free(buf);
}
END_TEST

/* An image file of size bytes; the path is unlinked by the caller. */
static void make_file(char *path, off_t size)
{
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, size), 0);
	close(fd);
}

START_TEST(aio_open_errors)
{
	char small[] = "/tmp/diofs-test-bdev-small-XXXXXX";
	char odd[] = "/tmp/diofs-test-bdev-odd-XXXXXX";
	struct bdev *bdev = NULL;
	const char *msg;
	int ret;

	msg = NULL;
	ck_assert_int_eq(bdev_open("/tmp/diofs-test-bdev-does-not-exist",
				   BDEV_RDWR, &bdev, &msg), -ENOENT);
	ck_assert_ptr_nonnull(msg);

	msg = NULL;
	ck_assert_int_eq(bdev_open("/tmp", BDEV_RDONLY, &bdev, &msg),
			 -ENOTBLK);
	ck_assert_str_eq(msg, "not a block device or regular file");
	msg = NULL;
	ck_assert_int_eq(bdev_open("/dev/null", BDEV_RDONLY, &bdev, &msg),
			 -ENOTBLK);
	ck_assert_ptr_nonnull(msg);

	msg = NULL;
	ck_assert_int_eq(bdev_open(img_path, 0x10, &bdev, &msg), -EINVAL);
	ck_assert_ptr_nonnull(msg);

	make_file(small, 100);
	msg = NULL;
	ret = bdev_open(small, BDEV_RDWR, &bdev, &msg);
	unlink(small);
	ck_assert_int_eq(ret, -ENOSPC);
	ck_assert_ptr_nonnull(strstr(msg, "too small"));

	/* an odd tail cannot be read with O_DIRECT, so it is not offered */
	make_file(odd, (1 << 20) + 100);
	ret = bdev_open(odd, BDEV_RDWR, &bdev, NULL);
	unlink(odd);
	ck_assert_int_eq(ret, 0);
	ck_assert_uint_eq(bdev_size(bdev), 1 << 20);
	bdev_close(bdev);
}
END_TEST

/* ---- the test device ---------------------------------------------------- */

#define TDEV_BLOCKS 256

static uint32_t tdev_bs;

static struct bdev *tdev_open(unsigned depth, struct bdev_queue **q)
{
	struct bdev_test_opts opts = {
		.size = (uint64_t)TDEV_BLOCKS * tdev_bs,
		.block_size = tdev_bs,
	};
	struct bdev *bdev;

	ck_assert_int_eq(bdev_test_create(&opts, &bdev), 0);
	ck_assert_uint_eq(bdev_block_size(bdev), tdev_bs);
	ck_assert_uint_eq(bdev_mem_align(bdev), tdev_bs);
	ck_assert_uint_eq(bdev_size(bdev), opts.size);
	ck_assert_int_eq(bdev_queue_open(bdev, depth, q), 0);
	return bdev;
}

static void tdev_close(struct bdev *bdev, struct bdev_queue *q)
{
	bdev_queue_close(q);
	bdev_close(bdev);
}

/* n one-block requests of op on blocks first.., data in buf */
static void one_block_reqs(struct bdev_req *reqs, struct bdev_req **ptrs,
			   struct iovec *iov, unsigned n, enum bdev_op op,
			   unsigned first, unsigned char *buf)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		iov[i].iov_base = buf + (size_t)i * tdev_bs;
		iov[i].iov_len = tdev_bs;
		req_init(&reqs[i], op, (uint64_t)(first + i) * tdev_bs,
			 &iov[i], 1);
		ptrs[i] = &reqs[i];
	}
}

static void tdev_setup(int i)
{
	tdev_bs = block_sizes[i];
}

START_TEST(tdev_requests_are_in_flight_until_reaped)
{
	struct bdev_queue *q;
	struct bdev *bdev;
	unsigned char *buf, *dev;
	struct bdev_req reqs[4], *ptrs[4], *done[8];
	struct iovec iov[4];
	int i;

	tdev_setup(_i);
	bdev = tdev_open(8, &q);
	dev = bdev_test_data(bdev);
	buf = abuf(4 * tdev_bs, tdev_bs);
	fill(buf, 4 * tdev_bs, 10 * (uint64_t)tdev_bs, 1);
	one_block_reqs(reqs, ptrs, iov, 4, BDEV_WRITE, 10, buf);
	submit_all(q, ptrs, 4);
	ck_assert_uint_eq(bdev_queue_inflight(q), 4);
	ck_assert(all_zero(dev, (size_t)TDEV_BLOCKS * tdev_bs));
	ck_assert_uint_eq(bdev_test_log_count(bdev), 0);

	/* a poll completes what is there, in submission order */
	ck_assert_int_eq(bdev_reap(q, 0, 8, done), 4);
	for (i = 0; i < 4; i++) {
		ck_assert_ptr_eq(done[i], &reqs[i]);
		ck_assert_int_eq(reqs[i].result, (ssize_t)tdev_bs);
	}
	ck_assert_uint_eq(bdev_queue_inflight(q), 0);
	ck_assert(matches(dev + 10 * tdev_bs, 4 * tdev_bs,
			  10 * (uint64_t)tdev_bs, 1));
	ck_assert_int_eq(bdev_reap(q, 0, 8, done), 0);

	/* asking for more than are in flight does not hang */
	one_block_reqs(reqs, ptrs, iov, 2, BDEV_READ, 10, buf);
	submit_all(q, ptrs, 2);
	ck_assert_int_eq(bdev_reap(q, 5, 8, done), 2);
	ck_assert(matches(buf, 2 * tdev_bs, 10 * (uint64_t)tdev_bs, 1));
	tdev_close(bdev, q);
	free(buf);
}
END_TEST

START_TEST(tdev_event_fd_signals_completions)
{
	struct bdev_queue *q;
	struct bdev *bdev;
	unsigned char *buf;

	tdev_setup(_i);
	bdev = tdev_open(8, &q);
	buf = abuf(4 * tdev_bs, tdev_bs);
	check_event_fd(q, tdev_bs, buf);
	tdev_close(bdev, q);
	free(buf);
}
END_TEST

START_TEST(tdev_queue_close_completes_writes)
{
	struct bdev_req reqs[3], *ptrs[3];
	struct bdev_queue *q;
	struct iovec iov[3];
	struct bdev *bdev;
	unsigned char *buf;

	tdev_setup(_i);
	bdev = tdev_open(4, &q);
	buf = abuf(3 * tdev_bs, tdev_bs);
	fill(buf, 3 * tdev_bs, 20 * (uint64_t)tdev_bs, 9);
	one_block_reqs(reqs, ptrs, iov, 3, BDEV_WRITE, 20, buf);
	submit_all(q, ptrs, 3);
	bdev_queue_close(q);
	ck_assert(matches(bdev_test_data(bdev) + 20 * tdev_bs, 3 * tdev_bs,
			  20 * (uint64_t)tdev_bs, 9));
	ck_assert_uint_eq(bdev_test_log_count(bdev), 3);
	bdev_close(bdev);
	free(buf);
}
END_TEST

START_TEST(tdev_eio_in_the_middle_of_a_batch)
{
	struct bdev_req reqs[10], *ptrs[10], *done[10];
	struct bdev_queue *q;
	struct iovec iov[10];
	struct bdev_stats st;
	struct bdev *bdev;
	unsigned char *buf, *dev;
	int i;

	tdev_setup(_i);
	bdev = tdev_open(16, &q);
	dev = bdev_test_data(bdev);
	buf = abuf(10 * tdev_bs, tdev_bs);
	fill(buf, 10 * tdev_bs, 0, 3);
	bdev_test_fail_range(bdev, BDEV_WRITE, 5 * (uint64_t)tdev_bs + 1, 1,
			     -EIO);
	one_block_reqs(reqs, ptrs, iov, 10, BDEV_WRITE, 0, buf);
	submit_all(q, ptrs, 10);
	reap_n(q, 10, done);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(reqs[i].result,
				 i == 5 ? -EIO : (ssize_t)tdev_bs);
	ck_assert(matches(dev, 5 * tdev_bs, 0, 3));
	ck_assert(all_zero(dev + 5 * tdev_bs, tdev_bs));
	ck_assert(matches(dev + 6 * tdev_bs, 4 * tdev_bs,
			  6 * (uint64_t)tdev_bs, 3));
	bdev_get_stats(bdev, &st);
	ck_assert_uint_eq(st.writes, 9);
	ck_assert_uint_eq(st.write_bytes, 9 * (uint64_t)tdev_bs);
	ck_assert_uint_eq(bdev_test_log_count(bdev), 9);

	/* the fault is for writes only: reads of that block work */
	ck_assert_int_eq(bdev_pread(q, buf, tdev_bs, 5 * (uint64_t)tdev_bs),
			 (ssize_t)tdev_bs);
	bdev_test_fail_range(bdev, BDEV_READ, 0, tdev_bs, -ENXIO);
	ck_assert_int_eq(bdev_pread(q, buf, 2 * tdev_bs, 0), -ENXIO);
	ck_assert_int_eq(bdev_pread(q, buf, tdev_bs, tdev_bs),
			 (ssize_t)tdev_bs);

	bdev_test_clear_faults(bdev);
	fill(buf, tdev_bs, 5 * (uint64_t)tdev_bs, 3);
	ck_assert_int_eq(bdev_pwrite(q, buf, tdev_bs, 5 * (uint64_t)tdev_bs),
			 (ssize_t)tdev_bs);
	ck_assert(matches(dev, 10 * tdev_bs, 0, 3));
	ck_assert_int_eq(bdev_pread(q, buf, tdev_bs, 0), (ssize_t)tdev_bs);
	tdev_close(bdev, q);
	free(buf);
}
END_TEST

START_TEST(tdev_short_completions_are_resubmitted)
{
	size_t wlen[3];
	struct bdev_req w, r, *wp = &w, *rp = &r, *done;
	struct iovec wiov[3], riov[2];
	uint64_t off;
	const struct bdev_log_entry *e;
	unsigned char *wbuf, *rbuf;
	struct bdev_queue *q;
	struct bdev_stats st;
	struct bdev *bdev;
	size_t pos = 0;
	int i;

	tdev_setup(_i);
	off = 30 * (uint64_t)tdev_bs;
	wlen[0] = tdev_bs;
	wlen[1] = 2 * tdev_bs;
	wlen[2] = tdev_bs;
	bdev = tdev_open(4, &q);
	wbuf = abuf(4 * tdev_bs, tdev_bs);
	rbuf = abuf(4 * tdev_bs, tdev_bs);
	fill(wbuf, 4 * tdev_bs, off, 4);
	for (i = 0; i < 3; i++) {
		wiov[i].iov_base = wbuf + pos;
		wiov[i].iov_len = wlen[i];
		pos += wlen[i];
	}
	/* one block per completion: the write takes four of them */
	bdev_test_short_completions(bdev, 3, tdev_bs);
	req_init(&w, BDEV_WRITE, off, wiov, 3);
	submit_all(q, &wp, 1);
	reap_n(q, 1, &done);
	ck_assert_ptr_eq(done, &w);
	ck_assert_int_eq(w.result, 4 * (ssize_t)tdev_bs);
	ck_assert(matches(bdev_test_data(bdev) + off, 4 * tdev_bs, off, 4));
	ck_assert_uint_eq(bdev_test_log_count(bdev), 4);
	for (i = 0; i < 4; i++) {
		e = bdev_test_log_entry(bdev, i);
		ck_assert_int_eq(e->kind, BDEV_LOG_WRITE);
		ck_assert_uint_eq(e->offset, off + (uint64_t)i * tdev_bs);
		ck_assert_uint_eq(e->len, tdev_bs);
		ck_assert(matches(e->data, tdev_bs, e->offset, 4));
	}
	bdev_get_stats(bdev, &st);
	ck_assert_uint_eq(st.short_completions, 3);
	ck_assert_uint_eq(st.writes, 1);
	ck_assert_uint_eq(st.write_bytes, 4 * (uint64_t)tdev_bs);

	/* a cut inside an iovec: 3 blocks, then the last one */
	for (i = 0; i < 2; i++) {
		riov[i].iov_base = rbuf + (size_t)i * 2 * tdev_bs;
		riov[i].iov_len = 2 * tdev_bs;
	}
	bdev_test_short_completions(bdev, 1, 3 * tdev_bs);
	req_init(&r, BDEV_READ, off, riov, 2);
	submit_all(q, &rp, 1);
	reap_n(q, 1, &done);
	ck_assert_int_eq(r.result, 4 * (ssize_t)tdev_bs);
	ck_assert(matches(rbuf, 4 * tdev_bs, off, 4));

	/* the synchronous helpers go through the same path */
	memset(rbuf, 0, 4 * tdev_bs);
	bdev_test_short_completions(bdev, 2, tdev_bs);
	ck_assert_int_eq(bdev_pread(q, rbuf, 4 * tdev_bs, off),
			 4 * (ssize_t)tdev_bs);
	ck_assert(matches(rbuf, 4 * tdev_bs, off, 4));
	bdev_get_stats(bdev, &st);
	ck_assert_uint_eq(st.short_completions, 6);
	ck_assert_uint_eq(st.reads, 2);
	tdev_close(bdev, q);
	free(wbuf);
	free(rbuf);
}
END_TEST

START_TEST(tdev_no_progress_is_eio)
{
	struct bdev_req reqs[3], *ptrs[3], *done[3];
	struct bdev_queue *q;
	struct iovec iov[3];
	struct bdev_stats st;
	struct bdev *bdev;
	unsigned char *buf;

	tdev_setup(_i);
	bdev = tdev_open(4, &q);
	buf = abuf(3 * tdev_bs, tdev_bs);

	bdev_test_short_completions(bdev, 1, 0);
	one_block_reqs(reqs, ptrs, iov, 2, BDEV_WRITE, 0, buf);
	submit_all(q, ptrs, 2);
	reap_n(q, 2, done);
	ck_assert_int_eq(reqs[0].result, -EIO);
	ck_assert_int_eq(reqs[1].result, (ssize_t)tdev_bs);

	/* the synchronous helpers report it the same way */
	bdev_test_short_completions(bdev, 2, tdev_bs);
	ck_assert_int_eq(bdev_pread(q, buf, 3 * tdev_bs, 0),
			 3 * (ssize_t)tdev_bs);
	bdev_test_short_completions(bdev, 3, 0);
	ck_assert_int_eq(bdev_pread(q, buf, 3 * tdev_bs, 0), -EIO);

	/* a short completion can leave a misaligned rest, as with O_DIRECT */
	bdev_test_short_completions(bdev, 1, tdev_bs / 2);
	ck_assert_int_eq(bdev_pread(q, buf, 2 * tdev_bs, 0), -EINVAL);

	bdev_get_stats(bdev, &st);
	ck_assert_uint_eq(st.short_completions, 3);
	ck_assert_uint_eq(st.writes, 1);
	ck_assert_uint_eq(st.reads, 1);
	tdev_close(bdev, q);
	free(buf);
}
END_TEST

START_TEST(tdev_eagain_is_survived)
{
	struct bdev_req reqs[8], *ptrs[8], *done[8];
	struct bdev_stats st;
	struct bdev_queue *q;
	struct iovec iov[8];
	struct bdev *bdev;
	unsigned char *buf;
	int i;

	tdev_setup(_i);
	bdev = tdev_open(8, &q);
	buf = abuf(8 * tdev_bs, tdev_bs);
	fill(buf, 8 * tdev_bs, 0, 5);

	/* nothing in flight: the layer backs off and tries again */
	bdev_test_eagain(bdev, 3);
	one_block_reqs(reqs, ptrs, iov, 8, BDEV_WRITE, 0, buf);
	submit_all(q, ptrs, 8);
	bdev_get_stats(bdev, &st);
	ck_assert_uint_eq(st.eagain, 3);
	ck_assert_uint_eq(st.submit_calls, 4);
	reap_n(q, 8, done);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(reqs[i].result, (ssize_t)tdev_bs);

	/* with requests in flight, it reaps one and keeps it for bdev_reap */
	one_block_reqs(reqs, ptrs, iov, 8, BDEV_READ, 0, buf);
	submit_all(q, ptrs, 4);
	bdev_test_eagain(bdev, 2);
	submit_all(q, ptrs + 4, 4);
	bdev_get_stats(bdev, &st);
	ck_assert_uint_eq(st.eagain, 5);
	ck_assert_uint_eq(bdev_queue_inflight(q), 8);
	reap_n(q, 8, done);
	for (i = 0; i < 8; i++) {
		ck_assert_ptr_eq(done[i], &reqs[i]);
		ck_assert_int_eq(reqs[i].result, (ssize_t)tdev_bs);
	}
	ck_assert(matches(buf, 8 * tdev_bs, 0, 5));

	/* EAGAIN that does not go away is reported, and nothing is taken */
	bdev_test_eagain(bdev, 1000);
	ck_assert_int_eq(bdev_submit(q, ptrs, 8), -EAGAIN);
	ck_assert_uint_eq(bdev_queue_inflight(q), 0);
	ck_assert_int_eq(bdev_pread(q, buf, tdev_bs, 0), -EAGAIN);
	bdev_test_clear_faults(bdev);
	submit_all(q, ptrs, 8);
	reap_n(q, 8, done);

	/* a resubmission that meets EAGAIN is retried too */
	iov[0].iov_base = buf;
	iov[0].iov_len = 2 * tdev_bs;
	req_init(&reqs[0], BDEV_READ, 0, iov, 1);
	bdev_test_short_completions(bdev, 1, tdev_bs);
	submit_all(q, ptrs, 1);
	bdev_test_eagain(bdev, 2);
	reap_n(q, 1, done);
	ck_assert_int_eq(reqs[0].result, 2 * (ssize_t)tdev_bs);
	bdev_get_stats(bdev, &st);
	/* 5 so far, 9 each for the two refusals, 2 for the resubmission */
	ck_assert_uint_eq(st.eagain, 5 + 9 + 9 + 2);
	ck_assert_uint_eq(st.short_completions, 1);
	ck_assert(matches(buf, 2 * tdev_bs, 0, 5));
	tdev_close(bdev, q);
	free(buf);
}
END_TEST

START_TEST(tdev_depth_limit)
{
	struct bdev_req reqs[6], *ptrs[6], *done[6];
	struct bdev_queue *q;
	struct iovec iov[6];
	struct bdev *bdev;
	unsigned char *buf;

	tdev_setup(_i);
	bdev = tdev_open(4, &q);
	buf = abuf(6 * tdev_bs, tdev_bs);
	one_block_reqs(reqs, ptrs, iov, 6, BDEV_READ, 0, buf);
	ck_assert_int_eq(bdev_submit(q, ptrs, 6), 4);
	ck_assert_int_eq(bdev_submit(q, ptrs + 4, 2), -EAGAIN);
	ck_assert_int_eq(bdev_pread(q, buf, tdev_bs, 0), -EAGAIN);
	ck_assert_int_eq(bdev_reap(q, 4, 6, done), 4);
	ck_assert_int_eq(bdev_submit(q, ptrs + 4, 2), 2);
	ck_assert_int_eq(bdev_reap(q, 2, 6, done), 2);
	ck_assert_ptr_eq(done[0], &reqs[4]);
	ck_assert_ptr_eq(done[1], &reqs[5]);
	tdev_close(bdev, q);
	free(buf);
}
END_TEST

START_TEST(tdev_log_records_writes_and_flushes)
{
	const struct bdev_log_entry *e;
	struct bdev_queue *q;
	struct bdev_stats st;
	struct iovec iov[2];
	struct bdev_req w, *wp = &w, *done;
	struct bdev *bdev;
	unsigned char *a, *b;
	uint64_t boff;

	tdev_setup(_i);
	bdev = tdev_open(4, &q);
	boff = 8 * (uint64_t)tdev_bs;
	a = abuf(2 * tdev_bs, tdev_bs);
	b = abuf(3 * tdev_bs, tdev_bs);

	fill(a, 2 * tdev_bs, 0, 1);
	ck_assert_int_eq(bdev_pwrite(q, a, 2 * tdev_bs, 0),
			 2 * (ssize_t)tdev_bs);
	ck_assert_int_eq(bdev_flush(bdev), 0);
	fill(b, 3 * tdev_bs, boff, 2);
	iov[0].iov_base = b;
	iov[0].iov_len = tdev_bs;
	iov[1].iov_base = b + tdev_bs;
	iov[1].iov_len = 2 * tdev_bs;
	req_init(&w, BDEV_WRITE, boff, iov, 2);
	submit_all(q, &wp, 1);
	reap_n(q, 1, &done);
	/* overwrite the first write: its log entry must keep the old bytes */
	fill(a, tdev_bs, 0, 3);
	ck_assert_int_eq(bdev_pwrite(q, a, tdev_bs, 0), (ssize_t)tdev_bs);
	ck_assert_int_eq(bdev_pread(q, b, tdev_bs, 0), (ssize_t)tdev_bs);
	ck_assert_int_eq(bdev_flush(bdev), 0);

	ck_assert_uint_eq(bdev_test_log_count(bdev), 5);
	e = bdev_test_log_entry(bdev, 0);
	ck_assert_int_eq(e->kind, BDEV_LOG_WRITE);
	ck_assert_uint_eq(e->offset, 0);
	ck_assert_uint_eq(e->len, 2 * tdev_bs);
	ck_assert(matches(e->data, 2 * tdev_bs, 0, 1));
	ck_assert_int_eq(bdev_test_log_entry(bdev, 1)->kind, BDEV_LOG_FLUSH);
	e = bdev_test_log_entry(bdev, 2);
	ck_assert_int_eq(e->kind, BDEV_LOG_WRITE);
	ck_assert_uint_eq(e->offset, boff);
	ck_assert_uint_eq(e->len, 3 * tdev_bs);
	ck_assert(matches(e->data, 3 * tdev_bs, boff, 2));
	e = bdev_test_log_entry(bdev, 3);
	ck_assert_int_eq(e->kind, BDEV_LOG_WRITE);
	ck_assert_uint_eq(e->offset, 0);
	ck_assert_uint_eq(e->len, tdev_bs);
	ck_assert(matches(e->data, tdev_bs, 0, 3));
	ck_assert_int_eq(bdev_test_log_entry(bdev, 4)->kind, BDEV_LOG_FLUSH);
	ck_assert_ptr_null(bdev_test_log_entry(bdev, 5));

	bdev_get_stats(bdev, &st);
	ck_assert_uint_eq(st.flushes, 2);
	ck_assert_uint_eq(st.writes, 3);
	ck_assert_uint_eq(st.write_bytes, 6 * (uint64_t)tdev_bs);
	ck_assert_uint_eq(st.reads, 1);
	ck_assert_uint_eq(st.read_bytes, tdev_bs);

	bdev_test_log_clear(bdev);
	ck_assert_uint_eq(bdev_test_log_count(bdev), 0);
	ck_assert_int_eq(bdev_flush(bdev), 0);
	ck_assert_uint_eq(bdev_test_log_count(bdev), 1);
	tdev_close(bdev, q);
	free(a);
	free(b);
}
END_TEST

START_TEST(tdev_alignment_and_options)
{
	struct bdev_test_opts opts;
	struct bdev_req reqs[4], *ptrs[4], *done[4];
	struct bdev_queue *q;
	struct iovec iov[4];
	struct bdev *bdev;
	unsigned char *buf;
	int i;

	tdev_setup(_i);
	opts.size = 64 * (uint64_t)tdev_bs;
	opts.block_size = tdev_bs;
	opts.mem_align = 8192;
	ck_assert_int_eq(bdev_test_create(&opts, &bdev), 0);
	ck_assert_uint_eq(bdev_mem_align(bdev), 8192);
	ck_assert_int_eq(bdev_queue_open(bdev, 4, &q), 0);
	buf = abuf(2 * 8192, 8192);
	for (i = 0; i < 4; i++) {
		iov[i].iov_base = buf;
		iov[i].iov_len = tdev_bs;
		req_init(&reqs[i], BDEV_READ, 0, &iov[i], 1);
		ptrs[i] = &reqs[i];
	}
	iov[1].iov_base = buf + tdev_bs;	/* block-aligned only */
	reqs[2].offset = 64 * (uint64_t)tdev_bs - tdev_bs;
	iov[2].iov_len = 2 * tdev_bs;		/* runs off the end */
	reqs[3].op = 7;				/* no such op */
	ck_assert_int_eq(bdev_submit(q, ptrs, 4), 4);
	reap_n(q, 4, done);
	ck_assert_int_eq(reqs[0].result, (ssize_t)tdev_bs);
	ck_assert_int_eq(reqs[1].result, -EINVAL);
	ck_assert_int_eq(reqs[2].result, -EINVAL);
	ck_assert_int_eq(reqs[3].result, -EINVAL);
	tdev_close(bdev, q);
	free(buf);

	opts.mem_align = 0;
	opts.block_size = 1000;
	ck_assert_int_eq(bdev_test_create(&opts, &bdev), -EINVAL);
	opts.block_size = 256;
	ck_assert_int_eq(bdev_test_create(&opts, &bdev), -EINVAL);
	opts.block_size = tdev_bs;
	opts.size = tdev_bs + 1;
	ck_assert_int_eq(bdev_test_create(&opts, &bdev), -EINVAL);
	opts.size = 0;
	ck_assert_int_eq(bdev_test_create(&opts, &bdev), -EINVAL);
}
END_TEST

START_TEST(tdev_sync_request_never_reaped)
{
	struct bdev_req reqs[3], *ptrs[3], *done[8];
	struct bdev_queue *q;
	struct iovec iov[3];
	struct bdev *bdev;
	unsigned char *buf, *one;
	int i;

	tdev_setup(_i);
	bdev = tdev_open(4, &q);
	buf = abuf(3 * tdev_bs, tdev_bs);
	one = abuf(tdev_bs, tdev_bs);
	fill(buf, 3 * tdev_bs, 0, 6);
	one_block_reqs(reqs, ptrs, iov, 3, BDEV_WRITE, 0, buf);
	submit_all(q, ptrs, 3);
	/* the device completes the three writes ahead of the read */
	ck_assert_int_eq(bdev_pread(q, one, tdev_bs, tdev_bs),
			 (ssize_t)tdev_bs);
	ck_assert(matches(one, tdev_bs, tdev_bs, 6));
	ck_assert_uint_eq(bdev_queue_inflight(q), 3);
	ck_assert_int_eq(bdev_reap(q, 0, 8, done), 3);
	for (i = 0; i < 3; i++)
		ck_assert_ptr_eq(done[i], &reqs[i]);
	ck_assert_int_eq(bdev_reap(q, 0, 8, done), 0);
	tdev_close(bdev, q);
	free(buf);
	free(one);
}
END_TEST

/*
 * bdev_pread() and bdev_pwrite() return only once the device is done with
 * the caller's buffer: a failed wait for completions is waited out, not
 * passed up with the request still at the device, where it would later
 * write into memory the caller has freed or reused.  Other requests in
 * flight are kept for bdev_reap() as usual.
 */
START_TEST(tdev_sync_request_outlives_failed_wait)
{
	struct bdev_req reqs[2], *ptrs[2], *done[4];
	struct bdev_queue *q;
	struct iovec iov[2];
	struct bdev *bdev;
	unsigned char *buf, *one;

	tdev_setup(_i);
	bdev = tdev_open(4, &q);
	buf = abuf(2 * tdev_bs, tdev_bs);
	one = abuf(tdev_bs, tdev_bs);
	fill(buf, 2 * tdev_bs, 0, 7);
	one_block_reqs(reqs, ptrs, iov, 2, BDEV_WRITE, 0, buf);
	submit_all(q, ptrs, 2);

	bdev_test_getevents_fail(bdev, 2, -EFAULT);
	ck_assert_int_eq(bdev_pread(q, one, tdev_bs, tdev_bs),
			 (ssize_t)tdev_bs);
	ck_assert(matches(one, tdev_bs, tdev_bs, 7));
	ck_assert_uint_eq(bdev_queue_inflight(q), 2);

	fill(one, tdev_bs, 5 * tdev_bs, 8);
	bdev_test_getevents_fail(bdev, 1, -EFAULT);
	ck_assert_int_eq(bdev_pwrite(q, one, tdev_bs, 5 * tdev_bs),
			 (ssize_t)tdev_bs);
	ck_assert(matches(bdev_test_data(bdev) + 5 * tdev_bs, tdev_bs,
			  5 * tdev_bs, 8));

	ck_assert_int_eq(bdev_reap(q, 2, 4, done), 2);
	ck_assert_int_eq(reqs[0].result, (ssize_t)tdev_bs);
	ck_assert_int_eq(reqs[1].result, (ssize_t)tdev_bs);
	ck_assert_uint_eq(bdev_queue_inflight(q), 0);
	tdev_close(bdev, q);
	free(buf);
	free(one);
}
END_TEST

/*
 * A short completion whose resend the device refuses for good (EAGAIN past
 * the retries, with nothing at the device to wait for) completes with that
 * error through bdev_reap(), like any failed request, instead of staying in
 * flight where no reap could ever finish it.
 */
START_TEST(tdev_refused_resend_completes)
{
	struct bdev_req reqs[2], *ptrs[2] = { &reqs[0], &reqs[1] }, *done[4];
	struct bdev_stats s0, s1;
	struct bdev_queue *q;
	struct iovec iov[2];
	struct bdev *bdev;
	unsigned char *buf, *dev;
	uint64_t off;
	int n;

	tdev_setup(_i);
	off = 40 * (uint64_t)tdev_bs;
	bdev = tdev_open(4, &q);
	dev = bdev_test_data(bdev);
	buf = abuf(3 * tdev_bs, tdev_bs);
	fill(buf, 3 * tdev_bs, off, 8);
	iov[0] = (struct iovec){ buf, 2 * tdev_bs };
	req_init(&reqs[0], BDEV_WRITE, off, &iov[0], 1);
	iov[1] = (struct iovec){ buf + 2 * tdev_bs, tdev_bs };
	req_init(&reqs[1], BDEV_WRITE, off + 2 * tdev_bs, &iov[1], 1);
	submit_all(q, ptrs, 2);

	/* both at the device: the first comes back one block short */
	bdev_test_short_completions(bdev, 1, tdev_bs);
	bdev_test_eagain(bdev, 1000);
	bdev_get_stats(bdev, &s0);
	n = bdev_reap(q, 2, 4, done);
	bdev_get_stats(bdev, &s1);
	ck_assert_int_eq(n, 2);
	ck_assert(done[0] != done[1]);
	ck_assert(done[0] == &reqs[0] || done[0] == &reqs[1]);
	ck_assert(done[1] == &reqs[0] || done[1] == &reqs[1]);
	ck_assert_int_eq(reqs[0].result, -EAGAIN);
	ck_assert_int_eq(reqs[1].result, (ssize_t)tdev_bs);
	ck_assert_uint_eq(bdev_queue_inflight(q), 0);
	/* one io_submit and BDEV_EAGAIN_TRIES (8) retries, then it gave up */
	ck_assert_uint_eq(s1.eagain - s0.eagain, 9);
	ck_assert_uint_eq(s1.short_completions - s0.short_completions, 1);
	ck_assert_uint_eq(s1.writes - s0.writes, 1);
	ck_assert(matches(dev + off, tdev_bs, off, 8));
	ck_assert(all_zero(dev + off + tdev_bs, tdev_bs));
	ck_assert(matches(dev + off + 2 * tdev_bs, tdev_bs, off + 2 * tdev_bs, 8));

	/* nothing is left to come back, even once the device accepts again */
	bdev_test_clear_faults(bdev);
	ck_assert_int_eq(bdev_reap(q, 0, 4, done), 0);
	ck_assert_int_eq(bdev_reap(q, 1, 4, done), 0);
	ck_assert_uint_eq(bdev_test_log_count(bdev), 2);

	/* and the queue works as before (iov[0] was advanced in place) */
	iov[0] = (struct iovec){ buf, 2 * tdev_bs };
	req_init(&reqs[0], BDEV_WRITE, off, &iov[0], 1);
	submit_all(q, ptrs, 1);
	reap_n(q, 1, done);
	ck_assert_ptr_eq(done[0], &reqs[0]);
	ck_assert_int_eq(reqs[0].result, 2 * (ssize_t)tdev_bs);
	ck_assert(matches(dev + off, 3 * tdev_bs, off, 8));
	ck_assert_uint_eq(bdev_queue_inflight(q), 0);
	tdev_close(bdev, q);
	free(buf);
}
END_TEST

#define THREADS 4
#define PER_THREAD 64

struct worker {
	struct bdev *bdev;
	unsigned id;
	int ok;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	uint32_t bs = bdev_block_size(w->bdev);
	struct bdev_queue *q;
	unsigned char *buf;
	unsigned i;

	if (posix_memalign((void **)&buf, bs, bs))
		return NULL;
	if (bdev_queue_open(w->bdev, 4, &q)) {
		free(buf);
		return NULL;
	}
	w->ok = 1;
	for (i = 0; i < PER_THREAD && w->ok; i++) {
		uint64_t off = (uint64_t)(w->id * PER_THREAD + i) * bs;

		fill(buf, bs, off, w->id);
		w->ok = bdev_pwrite(q, buf, bs, off) == (ssize_t)bs &&
			bdev_pread(q, buf, bs, off) == (ssize_t)bs &&
			matches(buf, bs, off, w->id);
	}
	bdev_queue_close(q);
	free(buf);
	return NULL;
}

START_TEST(tdev_threads_share_a_device)
{
	struct bdev_test_opts opts = {
		.size = (uint64_t)THREADS * PER_THREAD * 512,
		.block_size = 512,
	};
	struct worker w[THREADS];
	pthread_t th[THREADS];
	struct bdev_stats st;
	struct bdev *bdev;
	unsigned i;

	ck_assert_int_eq(bdev_test_create(&opts, &bdev), 0);
	for (i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .bdev = bdev, .id = i };
		ck_assert_int_eq(pthread_create(&th[i], NULL, worker_run,
						&w[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		ck_assert(w[i].ok);
	}
	bdev_get_stats(bdev, &st);
	ck_assert_uint_eq(st.writes, THREADS * PER_THREAD);
	ck_assert_uint_eq(st.reads, THREADS * PER_THREAD);
	ck_assert_uint_eq(st.write_bytes, opts.size);
	ck_assert_uint_eq(bdev_test_log_count(bdev), THREADS * PER_THREAD);
	for (i = 0; i < THREADS; i++)
		ck_assert(matches(bdev_test_data(bdev) + i * PER_THREAD * 512,
				  PER_THREAD * 512,
				  (uint64_t)i * PER_THREAD * 512, i));
	bdev_close(bdev);
}
END_TEST

static Suite *bdev_suite(void)
{
	Suite *s = suite_create("bdev");
	TCase *tc = tcase_create("aio");
	unsigned nbs = sizeof(block_sizes) / sizeof(block_sizes[0]);

	tcase_add_unchecked_fixture(tc, img_setup, img_teardown);
	tcase_add_checked_fixture(tc, img_reset, NULL);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, aio_open_properties);
	tcase_add_test(tc, aio_multi_iovec_round_trip);
	tcase_add_test(tc, aio_batch_with_reap);
	tcase_add_test(tc, aio_event_fd_signals_completions);
	tcase_add_test(tc, aio_sync_helpers_keep_other_completions);
	tcase_add_test(tc, aio_second_open_is_busy);
	tcase_add_test(tc, aio_read_only_refuses_writes);
	tcase_add_test(tc, aio_misaligned_requests_fail);
	tcase_add_test(tc, aio_flush);
	tcase_add_test(tc, aio_open_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("test device");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, tdev_requests_are_in_flight_until_reaped, 0,
			    nbs);
	tcase_add_loop_test(tc, tdev_event_fd_signals_completions, 0, nbs);
	tcase_add_loop_test(tc, tdev_queue_close_completes_writes, 0, nbs);
	tcase_add_loop_test(tc, tdev_eio_in_the_middle_of_a_batch, 0, nbs);
	tcase_add_loop_test(tc, tdev_short_completions_are_resubmitted, 0,
			    nbs);
	tcase_add_loop_test(tc, tdev_no_progress_is_eio, 0, nbs);
	tcase_add_loop_test(tc, tdev_eagain_is_survived, 0, nbs);
	tcase_add_loop_test(tc, tdev_depth_limit, 0, nbs);
	tcase_add_loop_test(tc, tdev_log_records_writes_and_flushes, 0, nbs);
	tcase_add_loop_test(tc, tdev_alignment_and_options, 0, nbs);
	tcase_add_loop_test(tc, tdev_sync_request_never_reaped, 0, nbs);
	tcase_add_loop_test(tc, tdev_sync_request_outlives_failed_wait, 0,
			    nbs);
	tcase_add_loop_test(tc, tdev_refused_resend_completes, 0, nbs);
	tcase_add_test(tc, tdev_threads_share_a_device);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(bdev_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
