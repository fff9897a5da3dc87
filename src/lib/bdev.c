/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bdev: requests, queues and completions, common to every backend.
 *
 * bdev_submit() checks each request, prepares it as one vectored iocb and
 * hands the batch to the backend in as few io_submit calls as the device
 * allows.  Raw events that come back are turned into finished requests: a
 * short one is moved past what the device did and sent again, so that
 * bdev_reap() only ever hands back a request that is fully done or has
 * failed.  Finished requests wait on the queue's done list until
 * bdev_reap() takes them, which lets bdev_submit() and bdev_pread() reap
 * while they work without losing anybody's completion.
 *
 *   bdev_submit --req_start--> checked --q_send--> backend (atdev)
 *        | refused by rule 3                          |
 *        v                                     q_wait / q_event
 *      done <----------- full or failed --------------+
 *        |                                            | short
 *        v                                            v
 *   bdev_reap                 q_push_pending <---- pending
 *
 * Rules:
 *  1. inflight = pending + atdev + done (plus the sync request while it is
 *     out) and never exceeds depth, so the rings and the scratch arrays,
 *     all sized by depth, never overflow.  bdev_submit() takes only as many
 *     requests as there is room for, and returns -EAGAIN when there is none.
 *  2. While the layer owns a request, its result is -EINPROGRESS; it is set
 *     once more, when the request finishes.
 *  3. Misaligned requests, requests reaching past the device, empty ones
 *     and ones with more than IOV_MAX iovecs complete with -EINVAL without
 *     reaching the device; writes to a read-only bdev complete with -EROFS.
 *     bdev_submit() counts them as accepted: the caller reaps them.
 *  4. An iocb the device refuses at submission (io_submit's error for the
 *     first iocb of a call) completes with that error.
 *  5. EAGAIN from the device: while iocbs are out, wait for one of them and
 *     try again; when none are, sleep briefly and try again, at most
 *     BDEV_EAGAIN_TRIES times, then give up with -EAGAIN.
 *  6. A short completion advances the request's iov in place (the caller
 *     lent it as scratch) and puts the request on the pending ring, which is
 *     sent before any new request.  A completion that transfers nothing
 *     while bytes remain fails the request with -EIO.
 *  7. The request behind bdev_pread()/bdev_pwrite() lives in the queue and
 *     never enters the done list: bdev_reap() never sees it.  They return
 *     only once the device is done with the caller's buffer: a wait that
 *     fails with the request still at the device is tried again, since the
 *     caller frees or reuses the buffer the moment they return.
 *  8. STATS_DEV_READS/WRITES and the byte counters count requests that
 *     finished successfully.  The counters are the bdev's struct stats
 *     (stats.h): every thread counts into its own shard, and nothing is
 *     ordered by them.  Each io_submit that the device takes iocbs from
 *     adds their number to STATS_H_BATCH and the iocbs then at the device
 *     (this queue's) to STATS_H_QUEUE_DEPTH.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "diofs/bdev_impl.h"

#define BDEV_EAGAIN_TRIES 8
#define BDEV_EAGAIN_SLEEP_NS 50000L	/* first back-off, doubled each try */

#define req_of(io) \
	((struct bdev_req *)((char *)(io) - offsetof(struct bdev_req, iocb)))


/* ---- rings of requests --------------------------------------------------- */

static int ring_init(struct bdev_ring *r, unsigned cap)
{
	r->slot = calloc(cap, sizeof(*r->slot));
	r->cap = cap;
	r->head = 0;
	r->count = 0;
	return r->slot ? 0 : -ENOMEM;
}

static struct bdev_req *ring_at(const struct bdev_ring *r, unsigned i)
{
	return r->slot[(r->head + i) % r->cap];
}

static void ring_push(struct bdev_ring *r, struct bdev_req *req)
{
	r->slot[(r->head + r->count++) % r->cap] = req;
}

static struct bdev_req *ring_pop(struct bdev_ring *r)
{
	struct bdev_req *req = r->slot[r->head];

	r->head = (r->head + 1) % r->cap;
	r->count--;
	return req;
}

/* Take req out of the ring, keeping the others in order; 1 if it was in. */
static int ring_remove(struct bdev_ring *r, const struct bdev_req *req)
{
	unsigned i = 0;

	while (i < r->count && ring_at(r, i) != req)
		i++;
	if (i == r->count)
		return 0;
	for (; i + 1 < r->count; i++)
		r->slot[(r->head + i) % r->cap] = ring_at(r, i + 1);
	r->count--;
	return 1;
}

/* ---- the device, common part --------------------------------------------- */

int bdev_init(struct bdev *bdev, const struct bdev_ops *ops)
{
	bdev->ops = ops;
	bdev->fd = -1;
	bdev->backing_fd = -1;
	return stats_create(STATS_WORDS(struct stats_engine), &bdev->stats);
}

void bdev_fini(struct bdev *bdev)
{
	stats_destroy(bdev->stats);
	bdev->stats = NULL;
}

int bdev_iocb_check(const struct bdev *bdev, const struct iocb *iocb,
		    size_t *len)
{
	const struct iovec *iov = iocb->u.v.vec;
	unsigned long i, n = iocb->u.v.nr;
	uint64_t off = (uint64_t)iocb->u.v.offset;
	uint64_t total = 0;

	if (n == 0 || n > IOV_MAX || off % bdev->block_size)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (iov[i].iov_len % bdev->block_size ||
		    (uintptr_t)iov[i].iov_base % bdev->mem_align)
			return -EINVAL;
		/* total stays <= size, so neither sum can overflow */
		if (iov[i].iov_len > bdev->size - total)
			return -EINVAL;
		total += iov[i].iov_len;
	}
	if (total == 0 || off > bdev->size - total)
		return -EINVAL;
	*len = total;
	return 0;
}

void bdev_close(struct bdev *bdev)
{
	if (!bdev)
		return;
	bdev_fini(bdev);
	bdev->ops->destroy(bdev);
}

uint32_t bdev_block_size(const struct bdev *bdev)
{
	return bdev->block_size;
}

uint32_t bdev_mem_align(const struct bdev *bdev)
{
	return bdev->mem_align;
}

uint64_t bdev_size(const struct bdev *bdev)
{
	return bdev->size;
}

int bdev_read_only(const struct bdev *bdev)
{
	return bdev->read_only;
}

int bdev_allow_writes(struct bdev *bdev, int allow)
{
	if (!bdev->writable || bdev->overlay)
		return allow ? -EROFS : 0;
	bdev->read_only = !allow;
	return 0;
}

int bdev_flush(struct bdev *bdev)
{
	int ret = bdev->ops->flush(bdev);

	if (ret == 0)
		stats_count(bdev->stats, STATS_DEV_FLUSHES, 1);
	else
		bdev_report(bdev, LOG_ERR, "I/O error flushing the device: %s",
			    strerror(-ret));
	return ret;
}

struct stats *bdev_stats(struct bdev *bdev)
{
	return bdev->stats;
}

void bdev_set_report(struct bdev *bdev, bdev_report_fn report)
{
	bdev->report = report;
}

void bdev_report(const struct bdev *bdev, int level, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (!bdev->report)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	bdev->report(level, line);
}

void bdev_get_stats(struct bdev *bdev, struct bdev_stats *st)
{
	struct stats_engine e;
	const uint64_t *c = e.counter;

	stats_fold(bdev->stats, (uint64_t *)&e);
	st->reads = c[STATS_DEV_READS];
	st->writes = c[STATS_DEV_WRITES];
	st->read_bytes = c[STATS_DEV_READ_BYTES];
	st->write_bytes = c[STATS_DEV_WRITE_BYTES];
	st->submit_calls = c[STATS_DEV_SUBMIT_CALLS];
	st->eagain = c[STATS_DEV_EAGAIN];
	st->short_completions = c[STATS_DEV_SHORT];
	st->flushes = c[STATS_DEV_FLUSHES];
}

/* ---- queues ------------------------------------------------------------- */

int bdev_queue_open(struct bdev *bdev, unsigned depth, struct bdev_queue **out)
{
	struct bdev_queue *q;
	int ret = -ENOMEM;

	if (depth == 0)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->bdev = bdev;
	q->depth = depth;
	q->event_fd = -1;
	if (ring_init(&q->pending, depth))
		goto out_free;
	if (ring_init(&q->done, depth))
		goto out_pending;
	q->iocbs = calloc(depth, sizeof(*q->iocbs));
	if (!q->iocbs)
		goto out_done;
	q->events = calloc(depth, sizeof(*q->events));
	if (!q->events)
		goto out_iocbs;
	ret = bdev->ops->queue_init(q);
	if (ret)
		goto out_events;
	*out = q;
	return 0;

out_events:
	free(q->events);
out_iocbs:
	free(q->iocbs);
out_done:
	free(q->done.slot);
out_pending:
	free(q->pending.slot);
out_free:
	free(q);
	return ret;
}

unsigned bdev_queue_depth(const struct bdev_queue *q)
{
	return q->depth;
}

unsigned bdev_queue_inflight(const struct bdev_queue *q)
{
	return q->inflight;
}

struct bdev *bdev_queue_bdev(const struct bdev_queue *q)
{
	return q->bdev;
}

int bdev_queue_event_fd(struct bdev_queue *q)
{
	if (q->event_fd < 0) {
		q->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (q->event_fd < 0)
			return -errno;
	}
	return q->event_fd;
}

static void req_prep(const struct bdev_queue *q, struct bdev_req *req,
		     struct iovec *iov, int iovcnt)
{
	long long off = (long long)(req->offset + req->done);

	if (req->op == BDEV_WRITE)
		io_prep_pwritev(&req->iocb, q->bdev->fd, iov, iovcnt, off);
	else
		io_prep_preadv(&req->iocb, q->bdev->fd, iov, iovcnt, off);
	if (q->event_fd >= 0)
		io_set_eventfd(&req->iocb, q->event_fd);
}

/* The request has finished with result (rule 2). */
static void q_finish(struct bdev_queue *q, struct bdev_req *req,
		     ssize_t result)
{
	struct stats *st = q->bdev->stats;

	req->result = result;
	if (result >= 0 && req->op == BDEV_WRITE) {
		stats_count(st, STATS_DEV_WRITES, 1);
		stats_count(st, STATS_DEV_WRITE_BYTES, result);
	} else if (result >= 0) {
		stats_count(st, STATS_DEV_READS, 1);
		stats_count(st, STATS_DEV_READ_BYTES, result);
	}
	if (req == &q->sync_req)
		q->inflight--;
	else
		ring_push(&q->done, req);
}

/*
 * The device did res more bytes of req, fewer than remain: prepare the iocb
 * for the rest (rule 6).  The walk stops inside the iov array because more
 * than res bytes remain in it.
 */
static void req_advance(struct bdev_queue *q, struct bdev_req *req,
			size_t res)
{
	struct iovec *iov = req->iov + (req->iocb.u.v.vec - req->iov);
	int n = (int)req->iocb.u.v.nr;

	req->done += res;
	while (iov->iov_len <= res) {
		res -= iov->iov_len;
		iov++;
		n--;
	}
	iov->iov_base = (char *)iov->iov_base + res;
	iov->iov_len -= res;
	req_prep(q, req, iov, n);
}

/* The device failed req with err (rule 6). */
static void q_failed(struct bdev_queue *q, struct bdev_req *req, int err)
{
	bdev_report(q->bdev, LOG_ERR,
		    "I/O error %s %zu bytes at byte %" PRIu64 " of the device: %s",
		    req->op == BDEV_WRITE ? "writing" : "reading",
		    req->len - req->done, req->offset + req->done,
		    strerror(-err));
	q_finish(q, req, err);
}

static void q_event(struct bdev_queue *q, const struct io_event *ev)
{
	struct bdev_req *req = req_of(ev->obj);
	long res = (long)ev->res;
	size_t left = req->len - req->done;

	q->atdev--;
	if (res < 0) {
		q_failed(q, req, (int)res);
	} else if (res == 0) {
		q_failed(q, req, -EIO);
	} else if ((size_t)res >= left) {
		req->done = req->len;
		q_finish(q, req, (ssize_t)req->len);
	} else {
		stats_count(q->bdev->stats, STATS_DEV_SHORT, 1);
		req_advance(q, req, res);
		ring_push(&q->pending, req);
	}
}

/*
 * Take at least min events from the backend (timeout as for io_getevents)
 * and process them.  Returns the number of events or -errno.
 */
static int q_wait(struct bdev_queue *q, unsigned min,
		  const struct timespec *timeout)
{
	int i, ret;

	do
		ret = q->bdev->ops->getevents(q, min, q->atdev, q->events,
					      timeout);
	while (ret == -EINTR);
	for (i = 0; i < ret; i++)
		q_event(q, &q->events[i]);
	return ret;
}

static void q_backoff(unsigned tries)
{
	struct timespec ts = { 0, BDEV_EAGAIN_SLEEP_NS << tries };

	nanosleep(&ts, NULL);
}

/*
 * Send n prepared iocbs through partial submission and EAGAIN (rules 4 and
 * 5).  Returns how many were taken, by the device or by rule 4, or -errno
 * when none were.  Completions reaped here land on the done and pending
 * rings; nothing is resubmitted from in here.
 */
static int q_send(struct bdev_queue *q, struct iocb **iocbs, unsigned n)
{
	struct stats *st = q->bdev->stats;
	unsigned sent = 0, tries = 0;
	int ret = 0;

	while (sent < n) {
		ret = q->bdev->ops->submit(q, n - sent, iocbs + sent);
		stats_count(st, STATS_DEV_SUBMIT_CALLS, 1);
		if (ret > 0) {
			q->atdev += ret;
			sent += ret;
			tries = 0;
			stats_sample(st, STATS_H_BATCH, ret);
			stats_sample(st, STATS_H_QUEUE_DEPTH, q->atdev);
			continue;
		}
		if (ret != -EAGAIN) {
			q_finish(q, req_of(iocbs[sent]), ret);
			sent++;
			continue;
		}
		stats_count(st, STATS_DEV_EAGAIN, 1);
		if (q->atdev) {
			ret = q_wait(q, 1, NULL);
			if (ret < 0)
				break;
		} else if (tries < BDEV_EAGAIN_TRIES) {
			q_backoff(tries++);
		} else {
			break;
		}
	}
	return sent ? (int)sent : ret;
}

/*
 * Send the pending ring again.  Its requests leave the ring before they are
 * sent, so that one reaped short while q_send() waits can be queued again
 * without the ring holding it twice.
 */
static void q_push_pending(struct bdev_queue *q)
{
	unsigned i, n = q->pending.count;
	int ret;

	if (n == 0)
		return;
	for (i = 0; i < n; i++)
		q->iocbs[i] = &ring_pop(&q->pending)->iocb;
	ret = q_send(q, q->iocbs, n);
	/* If the device refuses them all, they complete with that error:
	 * left pending, nothing could ever reap them. */
	for (i = ret > 0 ? ret : 0; i < n; i++) {
		if (ret < 0)
			q_finish(q, req_of(q->iocbs[i]), ret);
		else
			ring_push(&q->pending, req_of(q->iocbs[i]));
	}
}

/*
 * Make progress until want requests are on the done list or, if req is not
 * NULL, until req has finished.  Returns 0 or -errno.
 */
static int q_run(struct bdev_queue *q, unsigned want,
		 const struct bdev_req *req)
{
	unsigned min;
	int ret;

	for (;;) {
		q_push_pending(q);
		if (req ? req->result != -EINPROGRESS : q->done.count >= want)
			return 0;
		/* nothing is at the device: nothing more can complete */
		if (!q->atdev)
			return -EAGAIN;
		min = req ? 1 : want - q->done.count;
		ret = q_wait(q, min < q->atdev ? min : q->atdev, NULL);
		if (ret < 0)
			return ret;
	}
}

void bdev_queue_close(struct bdev_queue *q)
{
	if (!q)
		return;
	/*
	 * The device may still write into the callers' buffers and read our
	 * iocbs; requests waiting to be resent are simply dropped.
	 */
	while (q->atdev && q_wait(q, q->atdev, NULL) >= 0)
		;
	q->bdev->ops->queue_fini(q);
	if (q->event_fd >= 0)
		close(q->event_fd);
	free(q->events);
	free(q->iocbs);
	free(q->done.slot);
	free(q->pending.slot);
	free(q);
}

/* Prepare and check a new request; returns 0 or the error it completes with. */
static int req_start(struct bdev_queue *q, struct bdev_req *req)
{
	int ret;

	req->done = 0;
	req->len = 0;
	req->result = -EINPROGRESS;
	if (req->op != BDEV_READ && req->op != BDEV_WRITE)
		return -EINVAL;
	req_prep(q, req, req->iov, req->iovcnt);
	ret = bdev_iocb_check(q->bdev, &req->iocb, &req->len);
	if (ret)
		return ret;
	if (req->op == BDEV_WRITE && q->bdev->read_only)
		return -EROFS;
	return 0;
}

/* Send the m new requests gathered in q->iocbs; returns as q_send(). */
static int q_send_new(struct bdev_queue *q, unsigned m)
{
	int ret;

	/* counted first: rule 4 may finish some of them inside q_send() */
	q->inflight += m;
	ret = q_send(q, q->iocbs, m);
	q->inflight -= m - (ret > 0 ? ret : 0);
	return ret;
}

int bdev_submit(struct bdev_queue *q, struct bdev_req **reqs, unsigned n)
{
	unsigned i, m = 0, taken = 0, room = q->depth - q->inflight;
	int err, ret;

	if (n == 0)
		return 0;
	if (room == 0)
		return -EAGAIN;
	if (n > room)
		n = room;
	q_push_pending(q);
	for (i = 0; i < n; i++) {
		err = req_start(q, reqs[i]);
		if (!err) {
			q->iocbs[m++] = &reqs[i]->iocb;
			continue;
		}
		/*
		 * Send what came before the refused request first, so that
		 * what bdev_submit() accepts is always a prefix of reqs.
		 */
		if (m) {
			ret = q_send_new(q, m);
			if (ret < (int)m)
				goto out;
			taken += m;
			m = 0;
			ret = 0;
		}
		q->inflight++;
		q_finish(q, reqs[i], err);
		taken++;
	}
	if (m)
		ret = q_send_new(q, m);
out:
	if (ret > 0)
		taken += ret;
	return taken ? (int)taken : ret;
}

int bdev_reap(struct bdev_queue *q, unsigned min, unsigned max,
	      struct bdev_req **done)
{
	static const struct timespec poll;
	unsigned n, want = min < max ? min : max;
	int ret = 0;

	/* nobody else can finish: waiting for more would never end */
	if (want > q->inflight)
		want = q->inflight;
	/* Pick up what is already complete when q_run() will not wait: a
	 * waiting io_getevents returns every ready completion anyway, so
	 * polling first would cost a system call per request. */
	if (q->atdev && q->done.count < max && q->done.count >= want)
		ret = q_wait(q, 0, &poll);
	if (ret >= 0)
		ret = q_run(q, want, NULL);
	for (n = 0; n < max && q->done.count; n++) {
		done[n] = ring_pop(&q->done);
		q->inflight--;
	}
	return n ? (int)n : ret;
}

/* bdev_pread() and bdev_pwrite(): one request, waited for alone (rule 7). */
static ssize_t q_sync(struct bdev_queue *q, enum bdev_op op, void *buf,
		      size_t len, uint64_t off)
{
	struct bdev_req *req = &q->sync_req;
	int ret;

	q->sync_iov.iov_base = buf;
	q->sync_iov.iov_len = len;
	req->op = op;
	req->offset = off;
	req->iov = &q->sync_iov;
	req->iovcnt = 1;
	req->priv = NULL;
	ret = bdev_submit(q, &req, 1);
	if (ret < 0) {
		req->result = ret;
		return ret;
	}
	for (;;) {
		ret = q_run(q, 0, req);
		if (req->result != -EINPROGRESS)
			return req->result;
		/* waiting to be sent again: never sent after we return */
		if (ring_remove(&q->pending, req)) {
			q->inflight--;
			req->result = ret;
			return ret;
		}
		q_backoff(0);	/* the wait failed with it at the device */
	}
}

ssize_t bdev_pread(struct bdev_queue *q, void *buf, size_t len, uint64_t off)
{
	struct bdev *bdev = q->bdev;
	ssize_t n = q_sync(q, BDEV_READ, buf, len, off);

	if (n > 0 && bdev->overlay)
		bdev->overlay(bdev->overlay_arg, buf, (size_t)n, off);
	return n;
}

void bdev_set_overlay(struct bdev *bdev,
		      void (*patch)(void *arg, void *buf, size_t len,
				    uint64_t off),
		      void *arg)
{
	if (patch && !bdev->overlay) {
		bdev->overlay_saved_ro = bdev->read_only;
		bdev->read_only = 1;
	} else if (!patch && bdev->overlay) {
		bdev->read_only = bdev->overlay_saved_ro;
	}
	bdev->overlay = patch;
	bdev->overlay_arg = arg;
}

int bdev_run(struct bdev_queue *q, struct bdev_req *reqs, size_t n)
{
	struct bdev_req *batch[64], *done[64];
	size_t next = 0, inflight = 0;
	unsigned cap = q->depth < 64 ? q->depth : 64;
	int err = 0, r, i;

	while ((next < n && !err) || inflight > 0) {
		if (!err && next < n && inflight < cap) {
			unsigned k = 0;

			while (next + k < n && inflight + k < cap) {
				batch[k] = &reqs[next + k];
				k++;
			}
			r = bdev_submit(q, batch, k);
			if (r < 0) {
				err = r;
				continue;
			}
			next += r;
			inflight += r;
			if ((unsigned)r < k)
				err = -EIO;
			continue;
		}
		r = bdev_reap(q, 1, cap, done);
		if (r < 0) {
			/* the queue itself failed: nothing more can be reaped */
			err = err ? err : r;
			break;
		}
		for (i = 0; i < r; i++)
			if (done[i]->result != (ssize_t)done[i]->len && !err)
				err = done[i]->result < 0 ?
				      (int)done[i]->result : -EIO;
		inflight -= r;
	}
	return err;
}

ssize_t bdev_pwrite(struct bdev_queue *q, const void *buf, size_t len,
		    uint64_t off)
{
	/* the layer only reads from a write's buffer */
	return q_sync(q, BDEV_WRITE, (void *)buf, len, off);
}
