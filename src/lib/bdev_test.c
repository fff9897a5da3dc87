/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bdev_test: an in-memory block device for unit tests, with faults on
 * demand and a log of every write and flush.
 *
 * It behaves as an O_DIRECT device behind libaio would, as far as bdev.c
 * can tell: submit() queues iocbs without touching them, getevents()
 * completes them in submission order, checking alignment as the kernel
 * would, and the faults it injects (failed ranges, short completions,
 * EAGAIN from submit, a failing wait for completions) are the ones bdev.c
 * must cope with on real hardware.
 *
 * Rules:
 *  1. A request is done only when getevents() hands back its event: that is
 *     when a read copies out of memory and a write lands in it, so requests
 *     really are in flight between bdev_submit() and bdev_reap().
 *  2. Each queue keeps its own FIFO of submitted iocbs, at most depth of
 *     them (more is refused with -EAGAIN, as io_submit does on a full
 *     context).  The FIFO belongs to the queue's thread; the contents, the
 *     faults and the log are shared and guarded by the device's lock.
 *  3. A completion that fails (misaligned, out of range, failed range)
 *     transfers nothing and leaves the short-completion count alone.  Every
 *     other completion uses one of that count up while it lasts, and then
 *     transfers at most short_bytes: a prefix of the request.
 *  4. The log holds what reached memory, in that order: one entry per write
 *     completion (with a copy of the bytes it wrote; a short one logs only
 *     its prefix) and one per flush.  A write that cannot be logged fails
 *     with -ENOMEM and changes nothing.  The log grows by realloc, so an
 *     entry pointer is good until the next write, flush or log clear.
 *  5. The bdev_test_* functions abort when given a bdev that is not a test
 *     device: that is a bug in the test, not a condition to handle.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "diofs/bdev_impl.h"

/* io_set_eventfd()'s flag (IOCB_FLAG_RESFD in linux/aio_abi.h, which
 * libaio.h does not include) */
#define TEST_FLAG_RESFD		(1u << 0)

struct test_range {
	enum bdev_op op;
	uint64_t offset, len;
	int err;
};

struct bdev_test {
	struct bdev bdev;		/* first: bdev_test is a bdev */
	unsigned char *data;
	pthread_mutex_t lock;		/* everything below, and data */
	struct test_range *ranges;
	size_t nranges;
	unsigned short_count;
	size_t short_bytes;
	unsigned eagain_count;
	unsigned getevents_fail_count;
	int getevents_err;
	struct bdev_log_entry *log;
	size_t nlog, log_cap;
};

/* The iocbs submitted on one queue and not yet completed (rule 2). */
struct test_queue {
	struct iocb **io;
	unsigned head, count;
};

static const struct bdev_ops test_ops;

static struct bdev_test *to_test(struct bdev *bdev)
{
	if (bdev->ops != &test_ops) {
		fprintf(stderr, "diofs: bdev_test call on a device that is not a test device\n");
		abort();
	}
	return (struct bdev_test *)bdev;
}

static int test_queue_init(struct bdev_queue *q)
{
	struct test_queue *tq = calloc(1, sizeof(*tq));

	if (!tq)
		return -ENOMEM;
	tq->io = calloc(q->depth, sizeof(*tq->io));
	if (!tq->io) {
		free(tq);
		return -ENOMEM;
	}
	q->priv = tq;
	return 0;
}

static void test_queue_fini(struct bdev_queue *q)
{
	struct test_queue *tq = q->priv;

	free(tq->io);
	free(tq);
}

static int test_submit(struct bdev_queue *q, unsigned n, struct iocb **iocbs)
{
	struct bdev_test *t = to_test(q->bdev);
	struct test_queue *tq = q->priv;
	unsigned i, room = q->depth - tq->count;
	int eagain;

	pthread_mutex_lock(&t->lock);
	eagain = t->eagain_count > 0;
	if (eagain)
		t->eagain_count--;
	pthread_mutex_unlock(&t->lock);
	if (eagain || room == 0)
		return -EAGAIN;
	if (n > room)
		n = room;
	for (i = 0; i < n; i++) {
		tq->io[(tq->head + tq->count++) % q->depth] = iocbs[i];
		/* its event can be had at once (rule 1): backend rule 5 */
		if (iocbs[i]->u.c.flags & TEST_FLAG_RESFD)
			(void)eventfd_write((int)iocbs[i]->u.c.resfd, 1);
	}
	return (int)n;
}

static int test_failed_range(const struct bdev_test *t, enum bdev_op op,
			     uint64_t off, size_t len)
{
	size_t i;

	for (i = 0; i < t->nranges; i++) {
		const struct test_range *r = &t->ranges[i];

		if (r->op == op && off < r->offset + r->len &&
		    r->offset < off + len)
			return r->err;
	}
	return 0;
}

/* Make room for one more log entry; called with the lock held. */
static int test_log_reserve(struct bdev_test *t)
{
	struct bdev_log_entry *log;
	size_t cap;

	if (t->nlog < t->log_cap)
		return 0;
	cap = t->log_cap ? 2 * t->log_cap : 64;
	log = realloc(t->log, cap * sizeof(*log));
	if (!log)
		return -ENOMEM;
	t->log = log;
	t->log_cap = cap;
	return 0;
}

/* Copy len bytes between the device at off and the iocb's buffers. */
static void test_transfer(struct bdev_test *t, const struct iocb *io,
			  uint64_t off, size_t len)
{
	const struct iovec *iov = io->u.v.vec;
	unsigned char *dev = t->data + off;
	size_t n;

	for (; len; iov++, dev += n, len -= n) {
		n = iov->iov_len < len ? iov->iov_len : len;
		if (io->aio_lio_opcode == IO_CMD_PWRITEV)
			memcpy(dev, iov->iov_base, n);
		else
			memcpy(iov->iov_base, dev, n);
	}
}

/* Carry out one iocb; returns its event's res (rules 1, 3 and 4). */
static long test_complete(struct bdev_test *t, const struct iocb *io)
{
	enum bdev_op op = io->aio_lio_opcode == IO_CMD_PWRITEV ?
			  BDEV_WRITE : BDEV_READ;
	uint64_t off = (uint64_t)io->u.v.offset;
	unsigned char *copy = NULL;
	size_t len;
	long ret;

	pthread_mutex_lock(&t->lock);
	ret = bdev_iocb_check(&t->bdev, io, &len);
	if (ret)
		goto out;
	ret = test_failed_range(t, op, off, len);
	if (ret)
		goto out;
	if (t->short_count) {
		t->short_count--;
		if (len > t->short_bytes)
			len = t->short_bytes;
	}
	if (op == BDEV_WRITE && len) {
		copy = malloc(len);
		if (!copy || test_log_reserve(t)) {
			free(copy);
			ret = -ENOMEM;
			goto out;
		}
	}
	test_transfer(t, io, off, len);
	if (copy) {
		memcpy(copy, t->data + off, len);
		t->log[t->nlog++] = (struct bdev_log_entry){
			.kind = BDEV_LOG_WRITE, .offset = off, .len = len,
			.data = copy,
		};
	}
	ret = (long)len;
out:
	pthread_mutex_unlock(&t->lock);
	return ret;
}

static int test_getevents(struct bdev_queue *q, unsigned min, unsigned max,
			  struct io_event *ev, const struct timespec *timeout)
{
	struct bdev_test *t = to_test(q->bdev);
	struct test_queue *tq = q->priv;
	unsigned i, n = max < tq->count ? max : tq->count;
	int fail = 0;

	pthread_mutex_lock(&t->lock);
	if (t->getevents_fail_count) {
		t->getevents_fail_count--;
		fail = t->getevents_err;
	}
	pthread_mutex_unlock(&t->lock);
	if (fail)
		return fail;	/* nothing completes: all stays in flight */
	/* everything queued is "done" by the time anybody asks (rule 1) */
	for (i = 0; i < n; i++) {
		struct iocb *io = tq->io[tq->head];

		tq->head = (tq->head + 1) % q->depth;
		tq->count--;
		ev[i] = (struct io_event){
			.data = io->data,
			.obj = io,
			.res = (unsigned long)test_complete(t, io),
		};
	}
	return (int)n;
}

static int test_flush(struct bdev *bdev)
{
	struct bdev_test *t = to_test(bdev);
	int ret;

	pthread_mutex_lock(&t->lock);
	ret = test_log_reserve(t);
	if (ret == 0)
		t->log[t->nlog++] = (struct bdev_log_entry){
			.kind = BDEV_LOG_FLUSH,
		};
	pthread_mutex_unlock(&t->lock);
	return ret;
}

static void test_log_free(struct bdev_test *t)
{
	size_t i;

	for (i = 0; i < t->nlog; i++)
		free((void *)t->log[i].data);
	t->nlog = 0;
}

static void test_destroy(struct bdev *bdev)
{
	struct bdev_test *t = to_test(bdev);

	test_log_free(t);
	free(t->log);
	free(t->ranges);
	pthread_mutex_destroy(&t->lock);
	free(t->data);
	free(t);
}

static const struct bdev_ops test_ops = {
	.queue_init = test_queue_init,
	.queue_fini = test_queue_fini,
	.submit = test_submit,
	.getevents = test_getevents,
	.flush = test_flush,
	.destroy = test_destroy,
};

static int is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

int bdev_test_create(const struct bdev_test_opts *opts, struct bdev **out)
{
	uint32_t bs = opts->block_size;
	uint32_t align = opts->mem_align ? opts->mem_align : bs;
	struct bdev_test *t;
	void *data;

	if (!is_pow2(bs) || bs < 512 || bs > 65536 || !is_pow2(align) ||
	    opts->size == 0 || opts->size % bs || opts->size > SIZE_MAX)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	if (posix_memalign(&data, bs, (size_t)opts->size)) {
		free(t);
		return -ENOMEM;
	}
	memset(data, 0, (size_t)opts->size);
	t->data = data;
	if (bdev_init(&t->bdev, &test_ops)) {
		free(data);
		free(t);
		return -ENOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->bdev.block_size = bs;
	t->bdev.mem_align = align;
	t->bdev.size = opts->size;
	t->bdev.read_only = 0;
	t->bdev.writable = 1;
	*out = &t->bdev;
	return 0;
}

unsigned char *bdev_test_data(struct bdev *bdev)
{
	return to_test(bdev)->data;
}

void bdev_test_fail_range(struct bdev *bdev, enum bdev_op op, uint64_t offset,
			  uint64_t len, int err)
{
	struct bdev_test *t = to_test(bdev);
	struct test_range *r;

	pthread_mutex_lock(&t->lock);
	r = realloc(t->ranges, (t->nranges + 1) * sizeof(*r));
	if (!r) {
		fprintf(stderr, "diofs: bdev_test_fail_range: out of memory\n");
		abort();
	}
	t->ranges = r;
	t->ranges[t->nranges++] = (struct test_range){
		.op = op, .offset = offset, .len = len, .err = err,
	};
	pthread_mutex_unlock(&t->lock);
}

void bdev_test_short_completions(struct bdev *bdev, unsigned count,
				 size_t bytes)
{
	struct bdev_test *t = to_test(bdev);

	pthread_mutex_lock(&t->lock);
	t->short_count = count;
	t->short_bytes = bytes;
	pthread_mutex_unlock(&t->lock);
}

void bdev_test_eagain(struct bdev *bdev, unsigned count)
{
	struct bdev_test *t = to_test(bdev);

	pthread_mutex_lock(&t->lock);
	t->eagain_count = count;
	pthread_mutex_unlock(&t->lock);
}

void bdev_test_getevents_fail(struct bdev *bdev, unsigned count, int err)
{
	struct bdev_test *t = to_test(bdev);

	pthread_mutex_lock(&t->lock);
	t->getevents_fail_count = count;
	t->getevents_err = err;
	pthread_mutex_unlock(&t->lock);
}

void bdev_test_clear_faults(struct bdev *bdev)
{
	struct bdev_test *t = to_test(bdev);

	pthread_mutex_lock(&t->lock);
	t->getevents_fail_count = 0;
	free(t->ranges);
	t->ranges = NULL;
	t->nranges = 0;
	t->short_count = 0;
	t->eagain_count = 0;
	pthread_mutex_unlock(&t->lock);
}

size_t bdev_test_log_count(struct bdev *bdev)
{
	struct bdev_test *t = to_test(bdev);
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->nlog;
	pthread_mutex_unlock(&t->lock);
	return n;
}

const struct bdev_log_entry *bdev_test_log_entry(struct bdev *bdev, size_t i)
{
	struct bdev_test *t = to_test(bdev);
	const struct bdev_log_entry *e;

	pthread_mutex_lock(&t->lock);
	e = i < t->nlog ? &t->log[i] : NULL;
	pthread_mutex_unlock(&t->lock);
	return e;
}

void bdev_test_log_clear(struct bdev *bdev)
{
	struct bdev_test *t = to_test(bdev);

	pthread_mutex_lock(&t->lock);
	test_log_free(t);
	pthread_mutex_unlock(&t->lock);
}
