/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dio.c: the direct-I/O worker.
 *
 * One transfer (dio_submit(), or dio_rw() which waits for it) turns a byte
 * range of a file into device requests.  It walks the range from front to
 * back, one mapping at a time:
 *
 *     get_block(cursor) ──▶ hole / unwritten ──read──▶ zero the caller's bytes
 *            │                     └────────write─▶ data + zeros out to whole fs blocks
 *            └───────────▶ mapped ──read/write───▶ data (partial device blocks staged)
 *
 * and hands every device-block-aligned piece to add_piece(), which grows the
 * request under assembly while the next piece continues it on the device
 * and in the file, and closes it otherwise.  Closed requests gather in a
 * batch that goes to the device with one bdev_submit(); completions are
 * reaped whenever a request slot or staging buffer is needed, so a huge
 * request holds at most queue_depth requests and staging_bufs buffers.
 *
 * Rules:
 *  1. The worker's unit is the device block (dbs): the larger of the
 *     device's logical block and its memory alignment.  Every request it
 *     sends is aligned to it.  The fs block is 1 << blkbits >= dbs.
 *  2. Caller memory is used directly only when every iovec is aligned and
 *     the request starts on a device block; then every device block wholly
 *     inside the request is sent from (or read into) the caller's memory.
 *     Every other device block goes through a staging buffer: on writes it
 *     is filled with the old contents (read-modify-write, mapped blocks) or
 *     zeros (unwritten or new blocks) and then the caller's bytes; on reads
 *     the caller's part is copied out after completion.  Whole device
 *     blocks of zeros only (rules 3, 7 and 9) are sent from the ctx's
 *     buffer of zeros.
 *  3. A write into an unwritten or new fs block also writes zeros over the
 *     parts of that fs block the request does not cover, in the same pass,
 *     so the whole block is valid when convert() makes it readable.
 *  4. Pieces merge only when contiguous both on the device and in the file,
 *     and a request never exceeds max_io bytes or DIO_MAX_IOVS iovecs.
 *  5. After the first error nothing new is submitted; everything in flight
 *     is drained before the transfer completes.  The result counts the
 *     bytes below the lowest file offset that failed or was never sent, cut
 *     back to the start of the fs block if that block was to be converted:
 *     its zeros or data may be missing, so it stays unwritten and reads as
 *     zeros.
 *  6. Metadata follows data: convert(), then set_size(), run after the data
 *     is on the device; release() returns new blocks left past end of file.
 *  7. Bytes past end of file read as zeros.  A write that starts beyond
 *     end of file first zeroes the rest of the fs block holding end of
 *     file, in the same call and without allocating (walk_write()): a
 *     failed write may have left bytes there that were never counted as
 *     written, and extending over them must not make them visible.
 *  8. Transfers share the ctx's request slots, staging buffers and queue;
 *     one transfer walks at a time (inside dio_submit() or
 *     dio_zero_range()), the others only wait for completions.  Whoever
 *     reaps finishes each request for the transfer it belongs to; a
 *     transfer completes (rule 6, then unlock, then done) when its walk is
 *     over and its last request has finished.
 *  9. dio_zero_range() is a write whose every byte is a zero of rule 7's
 *     kind: it walks like the gap of rule 7 (nothing allocated, holes and
 *     unwritten blocks skipped, mapped ones written, partial device blocks
 *     read-modify-written), ignores end of file, and completes without
 *     metadata (no convert, size or release) and without touching
 *     f->lock, which its caller holds exclusive.
 * 10. The worker counts into the bdev's struct stats (stats.h): transfers
 *     and the bytes they ask for, bytes of holes and unwritten blocks read
 *     as zeros without I/O, zeros written around the data in new or
 *     unwritten fs blocks (rule 3), device blocks read for read-modify-
 *     write, and, per device request, how many pieces add_piece() merged.
 * 11. The file's tail block: a write that stages a partial device block
 *     keeps a copy of what it writes there in f->tail, and the copy
 *     becomes valid when the whole write has succeeded; a later write
 *     into the same device block at the same file offset takes its old
 *     contents from the copy instead of reading the device, so that small
 *     appends cost no read.  Staging partial blocks always holds f->lock
 *     exclusive, which guards the copy.  A write that will cover the
 *     block whole (rule 7's gap included) forgets the copy before it
 *     starts, under the shared lock too, where the copy only ever becomes
 *     invalid; one that covers it in part stages it again, from the copy.
 *     dio_zero_range() forgets a copy anywhere in its device blocks.  A
 *     block that a truncate frees and a later allocation reuses comes
 *     back unwritten or new, which never reads old contents, and the
 *     copy is used only below end of file.
 * 12. Write-behind (dio.h, asynchronous use, rule 6): a write that
 *     dio_submit_behind() finds in place once it has walked is listed on
 *     its file until it completes.  A transfer that takes the shared lock
 *     looks at the list and, if it overlaps one there, lets the lock go
 *     and waits (after completing its ctx's own) until none does.  The
 *     exclusive lock needs no list: it waits for every shared holder.
 *     Other writes are not listed, so O_DIRECT writes never pay for it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "diofs/dio.h"
#include "diofs/stats.h"
#include "diofs/util.h"

#define DIO_DEFAULT_DEPTH	64
#define DIO_DEFAULT_MAX_IO	(1024 * 1024)
#define DIO_DEFAULT_BUFS	8
#define DIO_MAX_IOVS		256	/* iovecs in one device request */
#define DIO_MAX_STAGED		4	/* staged runs in one read request */
#define DIO_MAX_FILE_SIZE	((uint64_t)INT64_MAX)

/* A file-block range the write must convert, or that it allocated. */
struct blk_range {
	uint64_t start, end;
};

struct range_list {
	struct blk_range *v;
	size_t n, cap;
};

/* A staged run of a read request: file bytes at buf + (file - req->file). */
struct staged_run {
	uint64_t file;
	size_t len;
};

struct dio;

/* One device request and the worker's record of it. */
struct dio_req {
	struct bdev_req breq;
	struct dio *d;		/* the transfer it belongs to */
	struct iovec iov[DIO_MAX_IOVS];
	uint64_t dev;		/* device byte offset */
	uint64_t file;		/* file byte offset of the first byte */
	size_t len;
	unsigned pieces;	/* add_piece() calls merged into it */
	int buf;		/* staging buffer index, or -1 */
	unsigned nstaged;
	struct staged_run staged[DIO_MAX_STAGED];
	struct dio_req *next_free;
};

struct dio_ctx {
	struct bdev *bdev;
	struct stats *counts;	/* the bdev's (rule 10) */
	struct bdev_queue *q;
	uint32_t dbs;
	size_t max_io;
	unsigned depth;
	unsigned nbufs;
	void **bufs;		/* allocated on first use */
	int *free_bufs;		/* stack of free buffer indexes */
	unsigned nfree_bufs;
	void *zero;		/* max_io bytes of zeros, read-only */
	struct dio_req *reqs;
	struct dio_req *free_reqs;
	struct dio *dios;	/* queue_depth + 1: one per transfer */
	struct dio *free_dios;
	unsigned pending;	/* transfers submitted, done not yet run */
	uint64_t completed;	/* transfers whose done has run */
	struct bdev_req **batch;	/* the walking transfer's requests */
	unsigned nbatch;
	struct bdev_req **done;
	struct dio_ctx_stats stats;
};

/* Where the caller's next byte is: a forward-only cursor over the iovecs. */
struct user_cursor {
	const struct iovec *iov;
	int iovcnt;
	int idx;
	size_t in;		/* offset inside iov[idx] */
	uint64_t pos;		/* file offset of that byte */
	uint64_t base;		/* file offset of the first byte */
};

/* The state of one transfer, from dio_submit() until its done runs. */
struct dio {
	struct dio_ctx *ctx;
	struct dio_file *f;
	enum dio_dir dir;
	uint64_t uoff;		/* the caller's first byte */
	uint64_t off, end;	/* bytes the walk fills: zeros in [off, uoff),
				 * then the caller's (end clamped at EOF for
				 * reads); off < uoff only for rule 7's gap */
	uint64_t assembled;	/* file offset after the last piece assembled */
	bool gap;		/* zeros alone (rule 7's gap, or rule 9):
				 * allocate nothing */
	bool zeroing;		/* dio_zero_range() (rule 9) */
	bool user_direct;	/* rule 2 */
	bool tail_staged;	/* f->tail holds a block this write stages
				 * (rule 11) */
	struct user_cursor uc;		/* the walk's position in the caller's bytes */
	struct user_cursor uc_done;	/* copy-out of completed staged reads */
	struct dio_req *cur;	/* request under assembly */
	int error;		/* first I/O error: stops all submission */
	int map_error;		/* get_block failed: what was mapped still goes */
	uint64_t fail_file;	/* lowest file offset that failed or was not sent */
	struct range_list convert;
	struct range_list allocated;
	unsigned nreq;		/* requests assembled or in flight */
	bool walking;		/* dio_submit() is still adding requests */
	bool ordered;		/* on f->writes_in_flight (rule 12) */
	struct dio *order_next, **order_pprev;
	dio_done_fn done;
	void *priv;
	struct dio *next_free;
};

/* ---- small helpers ------------------------------------------------------ */

static inline uint64_t align_down(uint64_t x, uint64_t a)
{
	return x & ~(a - 1);
}

static inline uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static int range_add(struct range_list *l, uint64_t start, uint64_t end)
{
	if (l->n && l->v[l->n - 1].end >= start) {
		if (end > l->v[l->n - 1].end)
			l->v[l->n - 1].end = end;
		return 0;
	}
	if (grow_array((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
		return -ENOMEM;
	l->v[l->n++] = (struct blk_range){ start, end };
	return 0;
}

static void uc_seek(struct user_cursor *uc, uint64_t pos)
{
	uint64_t skip;

	if (pos < uc->pos) {
		/* Completions arrive in any order: start over from the top. */
		uc->idx = 0;
		uc->in = 0;
		uc->pos = uc->base;
	}
	skip = pos - uc->pos;

	while (skip && uc->idx < uc->iovcnt) {
		size_t left = uc->iov[uc->idx].iov_len - uc->in;

		if (skip < left) {
			uc->in += skip;
			break;
		}
		skip -= left;
		uc->idx++;
		uc->in = 0;
	}
	uc->pos = pos;
	while (uc->idx < uc->iovcnt && uc->in == uc->iov[uc->idx].iov_len) {
		uc->idx++;
		uc->in = 0;
	}
}

/* Copy between the caller's bytes [pos, pos+len) and buf. */
static void uc_copy(struct user_cursor *uc, uint64_t pos, void *buf,
		    size_t len, bool to_user)
{
	char *p = buf;

	uc_seek(uc, pos);
	while (len) {
		const struct iovec *v = &uc->iov[uc->idx];
		size_t n = min_u64(len, v->iov_len - uc->in);
		char *u = (char *)v->iov_base + uc->in;

		if (!buf)
			memset(u, 0, n);
		else if (to_user)
			memcpy(u, p, n);
		else
			memcpy(p, u, n);
		p += n;
		len -= n;
		uc_seek(uc, uc->pos + n);
	}
}

static bool user_iov_aligned(const struct iovec *iov, int iovcnt, uint32_t dbs)
{
	for (int i = 0; i < iovcnt; i++)
		if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & (dbs - 1))
			return false;
	return true;
}

/* ---- per-thread context -------------------------------------------------- */

int dio_ctx_create(struct bdev *bdev, const struct dio_params *params,
		   struct dio_ctx **out)
{
	struct dio_params p = params ? *params : (struct dio_params){ 0 };
	struct dio_ctx *ctx;
	int ret = -ENOMEM;

	if (!p.queue_depth)
		p.queue_depth = DIO_DEFAULT_DEPTH;
	if (!p.max_io)
		p.max_io = DIO_DEFAULT_MAX_IO;
	if (!p.staging_bufs)
		p.staging_bufs = DIO_DEFAULT_BUFS;

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->bdev = bdev;
	ctx->counts = bdev_stats(bdev);
	ctx->dbs = bdev_block_size(bdev);
	if (bdev_mem_align(bdev) > ctx->dbs)
		ctx->dbs = bdev_mem_align(bdev);
	if (p.max_io < ctx->dbs || p.max_io % ctx->dbs) {
		ret = -EINVAL;
		goto out_free;
	}
	ctx->max_io = p.max_io;
	ctx->depth = p.queue_depth;
	ctx->nbufs = p.staging_bufs;

	ctx->bufs = calloc(ctx->nbufs, sizeof(*ctx->bufs));
	ctx->free_bufs = calloc(ctx->nbufs, sizeof(*ctx->free_bufs));
	ctx->reqs = calloc(ctx->depth, sizeof(*ctx->reqs));
	ctx->dios = calloc(ctx->depth + 1, sizeof(*ctx->dios));
	ctx->batch = calloc(ctx->depth, sizeof(*ctx->batch));
	ctx->done = calloc(ctx->depth, sizeof(*ctx->done));
	if (!ctx->bufs || !ctx->free_bufs || !ctx->reqs || !ctx->dios ||
	    !ctx->batch || !ctx->done)
		goto out_free;
	/* Untouched read-only anonymous memory is the kernel's zero page:
	 * the zeros cost neither resident memory nor a memset per context. */
	ctx->zero = mmap(NULL, ctx->max_io, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ctx->zero == MAP_FAILED) {
		ctx->zero = NULL;
		goto out_free;
	}

	for (unsigned i = 0; i < ctx->nbufs; i++)
		ctx->free_bufs[ctx->nfree_bufs++] = ctx->nbufs - 1 - i;
	for (unsigned i = 0; i < ctx->depth; i++) {
		ctx->reqs[i].next_free = ctx->free_reqs;
		ctx->free_reqs = &ctx->reqs[i];
	}
	/* Every transfer in flight holds a request slot, and one more may
	 * be walking: depth + 1 transfer records are always enough. */
	for (unsigned i = 0; i <= ctx->depth; i++) {
		ctx->dios[i].next_free = ctx->free_dios;
		ctx->free_dios = &ctx->dios[i];
	}

	/* One slot more than requests: room for a read-modify-write read. */
	ret = bdev_queue_open(bdev, ctx->depth + 1, &ctx->q);
	if (ret)
		goto out_free;
	*out = ctx;
	return 0;

out_free:
	dio_ctx_destroy(ctx);
	return ret;
}

static void complete_all(struct dio_ctx *ctx);

void dio_ctx_destroy(struct dio_ctx *ctx)
{
	if (!ctx)
		return;
	if (ctx->q) {
		complete_all(ctx);
		bdev_queue_close(ctx->q);
	}
	if (ctx->bufs)
		for (unsigned i = 0; i < ctx->nbufs; i++)
			free(ctx->bufs[i]);
	if (ctx->dios)
		for (unsigned i = 0; i <= ctx->depth; i++) {
			free(ctx->dios[i].convert.v);
			free(ctx->dios[i].allocated.v);
		}
	free(ctx->bufs);
	free(ctx->free_bufs);
	free(ctx->reqs);
	free(ctx->dios);
	free(ctx->batch);
	free(ctx->done);
	if (ctx->zero)
		munmap(ctx->zero, ctx->max_io);
	free(ctx);
}

void dio_ctx_get_stats(const struct dio_ctx *ctx, struct dio_ctx_stats *st)
{
	*st = ctx->stats;
}

int dio_file_init(struct dio_file *f, const struct dio_file_ops *ops,
		  unsigned blkbits, uint64_t size, void *priv)
{
	pthread_rwlockattr_t attr;
	int ret;

	f->ops = ops;
	f->blkbits = blkbits;
	f->size = size;
	f->priv = priv;
	f->tail = NULL;
	f->tail_valid = false;
	f->writes_in_flight = NULL;
	/*
	 * Writers first: a thread that always has some read in flight holds
	 * the lock shared without a break, and with readers first a writer
	 * (truncate, an extending write) would wait until it stopped.  With
	 * writers first its next submission finds the lock busy and completes
	 * what it has in flight (lock_file()), which lets the writer in.
	 */
	ret = pthread_rwlockattr_init(&attr);
	if (ret)
		return -ret;
	ret = pthread_rwlockattr_setkind_np(&attr,
			PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	if (!ret)
		ret = pthread_rwlock_init(&f->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	return -ret;
}

void dio_file_destroy(struct dio_file *f)
{
	pthread_rwlock_destroy(&f->lock);
	free(f->tail);
}

/*
 * Rule 11: the copy of the tail block is stale once the block is written
 * whole, by a write of [a, b).  A write that covers it only in part
 * stages it, from the copy, and so keeps the copy true.
 */
static void tail_forget(struct dio_file *f, uint64_t a, uint64_t b,
			uint32_t dbs)
{
	if (f->tail_file >= a && f->tail_file + dbs <= b)
		__atomic_store_n(&f->tail_valid, false, __ATOMIC_RELAXED);
}

/* Rule 11: can the old contents of the device block at dev come from the
 * copy?  Only with f->lock exclusive. */
static bool tail_hit(const struct dio_file *f, uint64_t dev, uint64_t file,
		     size_t len)
{
	return f->tail_valid && f->tail_dev == dev && f->tail_file == file &&
	       f->tail_len == len && file < f->size;
}

/* Rule 11: keep a copy of the partial device block buf, which this write
 * is about to send; valid once the write has succeeded. */
static void tail_stage(struct dio *d, const char *buf, uint64_t dev,
		       uint64_t file, size_t len)
{
	struct dio_file *f = d->f;

	if (!f->tail || f->tail_len != len) {
		free(f->tail);
		f->tail = malloc(len);
		if (!f->tail)
			return;		/* no copy: the next write reads */
		f->tail_len = (uint32_t)len;
	}
	memcpy(f->tail, buf, len);
	f->tail_dev = dev;
	f->tail_file = file;
	f->tail_valid = false;
	d->tail_staged = true;
}

/* ---- submission and completion ------------------------------------------ */

static void note_failure(struct dio *d, uint64_t file, int err)
{
	if (!d->error)
		d->error = err;
	if (file < d->fail_file)
		d->fail_file = file;
}

static void release_req(struct dio *d, struct dio_req *r)
{
	struct dio_ctx *ctx = d->ctx;

	if (r->buf >= 0)
		ctx->free_bufs[ctx->nfree_bufs++] = r->buf;
	r->next_free = ctx->free_reqs;
	ctx->free_reqs = r;
	d->nreq--;
}

/* A request that is never sent: nothing from its first byte on is good. */
static void drop_req(struct dio *d, struct dio_req *r, int err)
{
	note_failure(d, r->file, err);
	release_req(d, r);
}

static void complete_dio(struct dio *d);

static void finish_req(struct dio_req *r)
{
	struct dio *d = r->d;
	struct dio_ctx *ctx = d->ctx;

	if (r->breq.result < 0) {
		note_failure(d, r->file, (int)r->breq.result);
	} else if (d->dir == DIO_READ) {
		char *buf = r->buf >= 0 ? ctx->bufs[r->buf] : NULL;

		for (unsigned i = 0; i < r->nstaged; i++) {
			const struct staged_run *s = &r->staged[i];
			uint64_t a = max_u64(s->file, d->uoff);
			uint64_t b = min_u64(s->file + s->len, d->end);

			if (a < b)
				uc_copy(&d->uc_done, a, buf + (a - r->file),
					b - a, true);
		}
	}
	release_req(d, r);
	if (!d->nreq && !d->walking)
		complete_dio(d);
}

/* Reap at least min device completions, of any transfer (rule 8). */
static int reap(struct dio_ctx *ctx, unsigned min)
{
	int n = bdev_reap(ctx->q, min, ctx->depth, ctx->done);

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		finish_req(ctx->done[i]->priv);
	return 0;
}

/* Send the batch; after an error, drop it unsent instead (rule 5). */
static int submit_batch(struct dio *d)
{
	struct dio_ctx *ctx = d->ctx;
	unsigned sent = 0;

	while (sent < ctx->nbatch && !d->error) {
		int n = bdev_submit(ctx->q, ctx->batch + sent,
				    ctx->nbatch - sent);

		ctx->stats.batches++;
		if (n < 0) {
			note_failure(d, ((struct dio_req *)
					 ctx->batch[sent]->priv)->file, n);
			break;
		}
		ctx->stats.requests += n;
		sent += n;
	}
	for (unsigned i = sent; i < ctx->nbatch; i++)
		drop_req(d, ctx->batch[i]->priv, d->error);
	ctx->nbatch = 0;
	return d->error;
}

static void close_req(struct dio *d)
{
	struct dio_req *r = d->cur;
	struct dio_ctx *ctx = d->ctx;

	if (!r)
		return;
	d->cur = NULL;
	stats_sample(ctx->counts, STATS_H_MERGES, r->pieces);
	r->breq.op = d->dir == DIO_WRITE ? BDEV_WRITE : BDEV_READ;
	r->breq.offset = r->dev;
	r->breq.iov = r->iov;
	r->breq.priv = r;
	r->breq.result = 0;
	ctx->batch[ctx->nbatch++] = &r->breq;
}

/* Wait until a request slot (and, if want_buf, a staging buffer) is free. */
static int wait_for_room(struct dio *d, bool want_buf)
{
	struct dio_ctx *ctx = d->ctx;

	while (!ctx->free_reqs || (want_buf && !ctx->nfree_bufs)) {
		int ret = submit_batch(d);

		if (ret)
			return ret;
		if (!bdev_queue_inflight(ctx->q))
			return -EIO;	/* nothing will ever free a slot */
		ret = reap(ctx, 1);
		if (ret) {
			note_failure(d, d->assembled, ret);
			return ret;
		}
	}
	return 0;
}

/* can_extend() and start_req() made sure a buffer is free. */
static int take_buf(struct dio *d, struct dio_req *r)
{
	struct dio_ctx *ctx = d->ctx;
	int b;

	if (r->buf >= 0)
		return 0;
	b = ctx->free_bufs[--ctx->nfree_bufs];
	if (!ctx->bufs[b]) {
		if (posix_memalign(&ctx->bufs[b], 4096, ctx->max_io)) {
			ctx->free_bufs[ctx->nfree_bufs++] = b;
			return -ENOMEM;
		}
		ctx->stats.staging_allocated += ctx->max_io;
	}
	r->buf = b;
	return 0;
}

/* How a piece's bytes are produced. */
enum piece_src {
	SRC_USER,	/* the caller's memory, used directly (rule 2) */
	SRC_ZERO,	/* zeros (rule 3) */
	SRC_STAGE,	/* a staging buffer, filled by the caller of add_piece */
};

static bool can_extend(struct dio *d, uint64_t dev, uint64_t file,
		       enum piece_src src)
{
	struct dio_req *r = d->cur;

	if (!r || r->dev + r->len != dev || r->file + r->len != file ||
	    r->len >= d->ctx->max_io || r->breq.iovcnt >= DIO_MAX_IOVS)
		return false;
	if (src == SRC_STAGE && r->buf < 0 && !d->ctx->nfree_bufs)
		return false;
	if (src == SRC_STAGE && d->dir == DIO_READ &&
	    r->nstaged == DIO_MAX_STAGED &&
	    r->staged[r->nstaged - 1].file + r->staged[r->nstaged - 1].len !=
		    file)
		return false;	/* no room to record one more staged run */
	return true;
}

static int start_req(struct dio *d, uint64_t dev, uint64_t file,
		     enum piece_src src)
{
	struct dio_ctx *ctx = d->ctx;
	struct dio_req *r;
	int ret;

	close_req(d);
	if (ctx->nbatch >= ctx->depth / 4 + 1) {
		ret = submit_batch(d);
		if (ret)
			return ret;
		ret = reap(ctx, 0);	/* keep completions moving */
		if (ret)
			return ret;
	}
	ret = wait_for_room(d, src == SRC_STAGE);
	if (ret)
		return ret;
	r = ctx->free_reqs;
	ctx->free_reqs = r->next_free;
	d->nreq++;
	r->d = d;
	r->dev = dev;
	r->file = file;
	r->len = 0;
	r->pieces = 0;
	r->buf = -1;
	r->nstaged = 0;
	r->breq.iovcnt = 0;
	d->cur = r;
	return 0;
}

static void push_iov(struct dio_req *r, void *base, size_t len)
{
	struct iovec *last = r->breq.iovcnt ? &r->iov[r->breq.iovcnt - 1] : NULL;

	if (last && (char *)last->iov_base + last->iov_len == (char *)base)
		last->iov_len += len;
	else
		r->iov[r->breq.iovcnt++] = (struct iovec){ base, len };
}

/*
 * Append up to len bytes at device offset dev, file offset file, to the
 * request under assembly (rule 4), starting a new request if this piece
 * does not continue it; *got says how many bytes were taken (the request
 * may be full).  For SRC_STAGE, *stage is where those bytes go: a write
 * fills them before the next add_piece, a read's are copied out when the
 * request completes.
 */
static int add_piece(struct dio *d, uint64_t dev, uint64_t file, size_t len,
		     enum piece_src src, char **stage, size_t *got)
{
	struct dio_ctx *ctx = d->ctx;
	struct dio_req *r;
	size_t n;
	int ret;

	if (!can_extend(d, dev, file, src)) {
		ret = start_req(d, dev, file, src);
		if (ret)
			return ret;
	}
	r = d->cur;
	n = min_u64(len, ctx->max_io - r->len);

	switch (src) {
	case SRC_USER: {
		/* The caller's bytes may span iovecs: one iovec per span. */
		size_t left = n;

		uc_seek(&d->uc, file);
		while (left && r->breq.iovcnt < DIO_MAX_IOVS) {
			const struct iovec *v = &d->uc.iov[d->uc.idx];
			size_t k = min_u64(left, v->iov_len - d->uc.in);

			push_iov(r, (char *)v->iov_base + d->uc.in, k);
			left -= k;
			uc_seek(&d->uc, d->uc.pos + k);
		}
		n -= left;
		break;
	}
	case SRC_ZERO:
		push_iov(r, ctx->zero, n);
		break;
	case SRC_STAGE:
		ret = take_buf(d, r);
		if (ret)
			return ret;
		*stage = (char *)ctx->bufs[r->buf] + r->len;
		push_iov(r, *stage, n);
		ctx->stats.staged_bytes += n;
		if (d->dir == DIO_READ) {
			struct staged_run *s = r->nstaged ?
				&r->staged[r->nstaged - 1] : NULL;

			if (s && s->file + s->len == file)
				s->len += n;
			else
				r->staged[r->nstaged++] =
					(struct staged_run){ file, n };
		}
		break;
	}
	r->len += n;
	r->pieces++;
	r->breq.len = r->len;
	d->assembled = file + n;
	*got = n;
	return 0;
}

/* ---- the walk ------------------------------------------------------------ */

/* Device byte offset of file byte pos inside mapping m. */
static inline uint64_t map_dev(const struct dio *d, const struct dio_map *m,
			       uint64_t pos)
{
	unsigned bits = d->f->blkbits;

	return (m->pblk << bits) + (pos - (m->lblk << bits));
}

/*
 * Fill a staged write piece: file bytes [file, file+len), either one
 * device block that the caller's bytes cover only in part, or whole blocks
 * they cover entirely.  A partial block starts as zeros (fresh) or as its
 * old contents, read from the device.
 */
static int fill_stage(struct dio *d, char *buf, uint64_t dev, uint64_t file,
		      size_t len, bool fresh)
{
	struct dio_ctx *ctx = d->ctx;
	uint64_t a = max_u64(file, d->off), b = min_u64(file + len, d->end);
	uint64_t u = max_u64(a, d->uoff);

	bool partial = a > file || b < file + len;

	if (partial) {
		if (fresh) {
			memset(buf, 0, len);
			stats_count(ctx->counts, STATS_DIO_ZEROED_BYTES,
				    len - (u < b ? b - u : 0));
		} else if (!d->zeroing && tail_hit(d->f, dev, file, len)) {
			memcpy(buf, d->f->tail, len);
		} else {
			ssize_t r = bdev_pread(ctx->q, buf, len, dev);

			if (r < 0)
				return (int)r;
			ctx->stats.rmw_reads++;
			stats_count(ctx->counts, STATS_DIO_RMW, 1);
		}
	}
	if (a < u)	/* zeros before the caller's bytes: rules 7 and 9 */
		memset(buf + (a - file), 0, min_u64(u, b) - a);
	if (u < b)
		uc_copy(&d->uc, u, buf + (u - file), b - u, false);
	if (partial && !d->zeroing && len == ctx->dbs)
		tail_stage(d, buf, dev, file, len);
	return 0;
}

/*
 * Emit [a, b) of mapping m (device-block aligned file offsets) as pieces:
 * device blocks the caller covers only in part one at a time through
 * staging, whole ones in runs from the caller's memory or through staging
 * (rule 2).  fresh: the blocks hold no valid data (unwritten or new).
 */
static int emit_data(struct dio *d, const struct dio_map *m, uint64_t a,
		     uint64_t b, bool fresh)
{
	uint32_t dbs = d->ctx->dbs;

	while (a < b) {
		bool partial = a < d->off || a + dbs > d->end;
		enum piece_src src = SRC_STAGE;
		uint64_t want = dbs;
		char *stage = NULL;
		size_t got;
		int ret;

		if (!partial) {
			want = min_u64(b, align_down(d->end, dbs)) - a;
			if (a + dbs <= d->uoff) {
				/* whole device blocks of zeros before the
				 * caller's bytes (rules 7 and 9) */
				src = SRC_ZERO;
				want = min_u64(want,
					       align_down(d->uoff, dbs) - a);
			} else if (d->user_direct && a >= d->uoff) {
				src = SRC_USER;
			} else if (a < d->uoff) {
				want = min_u64(want,
					       align_up(d->uoff, dbs) - a);
			}
		}
		ret = add_piece(d, map_dev(d, m, a), a, want, src, &stage,
				&got);
		if (ret)
			return ret;
		if (stage && d->dir == DIO_WRITE) {
			ret = fill_stage(d, stage, map_dev(d, m, a), a, got,
					 fresh);
			if (ret)
				return ret;
		}
		a += got;
	}
	return 0;
}

static int emit_zeros(struct dio *d, const struct dio_map *m, uint64_t a,
		      uint64_t b)
{
	while (a < b) {
		size_t got;
		int ret = add_piece(d, map_dev(d, m, a), a, b - a, SRC_ZERO,
				    NULL, &got);

		if (ret)
			return ret;
		a += got;
	}
	return 0;
}

/* Write [a, b) into unwritten or new blocks: zeros around it (rule 3). */
static int write_fresh(struct dio *d, const struct dio_map *m, uint64_t a,
		       uint64_t b)
{
	uint64_t bs = 1ULL << d->f->blkbits;
	uint64_t za = align_down(a, bs), zb = align_up(b, bs);
	int ret = 0;

	/* Recorded first: if a later request fails, finish_write() converts
	 * the blocks below the failure that were already sent. */
	if (m->type == DIO_MAP_UNWRITTEN)
		ret = range_add(&d->convert, za >> d->f->blkbits,
				zb >> d->f->blkbits);
	if (!ret)
		ret = emit_zeros(d, m, za, a);
	if (!ret)
		ret = emit_data(d, m, a, b, true);
	if (!ret)
		ret = emit_zeros(d, m, b, zb);
	if (!ret)
		stats_count(d->ctx->counts, STATS_DIO_ZEROED_BYTES,
			    (a - za) + (zb - b));
	return ret;
}

/*
 * Walk [start, stop) (device-block aligned) mapping by mapping.  Errors
 * are recorded in d (rule 5); a failed get_block ends the walk early.
 */
static void walk(struct dio *d, uint64_t start, uint64_t stop)
{
	struct dio_file *f = d->f;
	unsigned bits = f->blkbits;
	uint64_t last_lblk = (stop - 1) >> bits;
	uint64_t pos = start;

	while (pos < stop && !d->error) {
		uint64_t lblk = pos >> bits;
		struct dio_map m = { 0 };
		uint64_t mend;
		int ret;

		d->ctx->stats.get_block_calls++;
		ret = f->ops->get_block(f, lblk, last_lblk - lblk + 1,
					d->dir == DIO_WRITE && !d->gap, &m);
		if (!ret && (m.lblk != lblk || !m.len))
			ret = -EIO;	/* the map callback broke its contract */
		if (m.len > last_lblk - lblk + 1)
			m.len = last_lblk - lblk + 1;
		if (ret) {
			/* Nothing of this mapping is assembled yet: what came
			 * before it still goes to the device (a short write). */
			d->map_error = ret;
			if (pos < d->fail_file)
				d->fail_file = pos;
			return;
		}
		mend = min_u64(stop, (lblk + m.len) << bits);
		if (m.flags & DIO_MAP_NEW)
			ret = range_add(&d->allocated, lblk, lblk + m.len);

		switch (ret ? -1 : (int)m.type) {
		case -1:
			break;
		case DIO_MAP_HOLE:
		case DIO_MAP_UNWRITTEN:
			if (d->dir == DIO_READ) {
				uint64_t a = max_u64(pos, d->off);
				uint64_t b = min_u64(mend, d->end);

				if (a < b) {
					uc_copy(&d->uc, a, NULL, b - a, true);
					stats_count(d->ctx->counts,
						    STATS_DIO_ZERO_READ_BYTES,
						    b - a);
				}
			} else if (d->gap) {
				/* already reads as zeros */
			} else if (m.type == DIO_MAP_HOLE) {
				ret = -EIO;	/* create must allocate */
			} else {
				ret = write_fresh(d, &m, pos, mend);
			}
			break;
		case DIO_MAP_MAPPED:
			if (d->dir == DIO_WRITE && (m.flags & DIO_MAP_NEW))
				ret = write_fresh(d, &m, pos, mend);
			else
				ret = emit_data(d, &m, pos, mend, false);
			break;
		default:
			ret = -EIO;	/* an unknown mapping type */
		}
		if (ret) {
			/* Nothing past what was assembled is good; the request
			 * under assembly is dropped by the caller. */
			note_failure(d, d->assembled, ret);
			return;
		}
		if (m.flags & DIO_MAP_BOUNDARY) {
			close_req(d);
			submit_batch(d);
		}
		pos = mend;
	}
}

/* Rules 5 and 6: how many bytes are good, and the metadata that follows. */
static ssize_t finish_write(struct dio *d)
{
	struct dio_file *f = d->f;
	unsigned bits = f->blkbits;
	uint64_t good = d->end;
	uint64_t conv_end = UINT64_MAX;	/* convert only blocks below this */
	int ret = 0;

	if (d->fail_file != UINT64_MAX) {
		/*
		 * The fs block holding the failure may lack its data or its
		 * zeros (even a failure past d->end, in the zeros after the
		 * data): it stays unwritten, and its bytes are not counted.
		 */
		uint64_t fail_blk = d->fail_file >> bits;

		conv_end = fail_blk;
		good = min_u64(good, d->fail_file);
		for (size_t i = 0; i < d->convert.n; i++)
			if (fail_blk >= d->convert.v[i].start &&
			    fail_blk < d->convert.v[i].end)
				good = min_u64(good, fail_blk << bits);
	}

	if (f->ops->update_begin)
		f->ops->update_begin(f);
	for (size_t i = 0; i < d->convert.n && !ret; i++) {
		const struct blk_range *c = &d->convert.v[i];
		uint64_t e = min_u64(c->end, conv_end);

		if (c->start < e)
			ret = f->ops->convert(f, c->start, e - c->start);
	}
	if (!ret && good > d->uoff && good > f->size) {
		ret = f->ops->set_size(f, good);
		if (!ret)
			f->size = good;
	}
	if (f->ops->update_end)
		f->ops->update_end(f);
	if (ret && !d->error)
		d->error = ret;
	/* rule 11: all of it is on the device */
	if (d->tail_staged && !d->error && d->fail_file == UINT64_MAX)
		f->tail_valid = true;

	/* New blocks wholly past the end of file are given back. */
	if (f->ops->release) {
		uint64_t eof_blk = align_up(f->size, 1ULL << bits) >> bits;

		for (size_t i = 0; i < d->allocated.n; i++) {
			const struct blk_range *c = &d->allocated.v[i];
			uint64_t s = max_u64(c->start, eof_blk);

			if (s < c->end)
				f->ops->release(f, s, c->end - s);
		}
	}
	if (ret)
		return ret;
	if (good > d->uoff)
		return good - d->uoff;
	return d->error ? d->error : 0;
}

/*
 * Rule 7: a write beyond end of file also fills [size, end of its fs
 * block) with zeros.  When that gap touches the write's own fs block it
 * simply widens the walk (off < uoff); otherwise it is walked first on
 * its own, so no device block is written twice in one call.
 */
static void walk_write(struct dio *d)
{
	struct dio_file *f = d->f;
	uint64_t bs = 1ULL << f->blkbits;
	uint32_t dbs = d->ctx->dbs;
	uint64_t size = f->size;

	if (d->uoff > size && (size & (bs - 1))) {
		uint64_t gap_end = align_up(size, bs);

		if (d->uoff <= gap_end) {
			d->off = size;
		} else {
			uint64_t end = d->end;

			d->off = size;
			d->end = gap_end;
			d->gap = true;
			d->assembled = align_down(size, dbs);
			walk(d, d->assembled, gap_end);
			d->gap = false;
			d->off = d->uoff;
			d->end = end;
		}
	}
	if (!d->error && !d->map_error) {
		d->assembled = align_down(d->off, dbs);
		walk(d, d->assembled, align_up(d->end, dbs));
	}
}

/* ---- rule 12: later transfers wait for the writes they overlap -------- */

/*
 * One lock for every file's list of listed writes in flight, and one
 * condition for the transfers waiting for such a write to end: a listed
 * write takes the lock twice, briefly, and waiting is rare.
 */
static pthread_mutex_t order_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t order_cond = PTHREAD_COND_INITIALIZER;
static unsigned order_waiters;

static void order_add(struct dio *d)
{
	struct dio_file *f = d->f;

	pthread_mutex_lock(&order_lock);
	d->order_next = f->writes_in_flight;
	if (d->order_next)
		d->order_next->order_pprev = &d->order_next;
	d->order_pprev = &f->writes_in_flight;
	__atomic_store_n(&f->writes_in_flight, d, __ATOMIC_RELEASE);
	d->ordered = true;
	pthread_mutex_unlock(&order_lock);
}

static void order_remove(struct dio *d)
{
	pthread_mutex_lock(&order_lock);
	__atomic_store_n(d->order_pprev, d->order_next, __ATOMIC_RELEASE);
	if (d->order_next)
		d->order_next->order_pprev = d->order_pprev;
	d->ordered = false;
	if (order_waiters)
		pthread_cond_broadcast(&order_cond);
	pthread_mutex_unlock(&order_lock);
}

/* With order_lock held. */
static bool overlaps_write(const struct dio_file *f, uint64_t off,
			   uint64_t end)
{
	for (const struct dio *w = f->writes_in_flight; w; w = w->order_next)
		if (off < w->end && w->uoff < end)
			return true;
	return false;
}

/*
 * Rule 12, with f->lock held shared: true when [off, end) overlaps no
 * listed write in flight on f.  Otherwise the lock goes, the ctx's own
 * transfers complete (dio.h rule 4), the thread waits until the writes it
 * overlaps have completed on their threads, and the caller starts over
 * (false).  A write listed after the unlocked look was not yet answered
 * when this transfer started, and need not come first.
 */
static bool order_after_writes(struct dio_ctx *ctx, struct dio_file *f,
			       uint64_t off, uint64_t end)
{
	bool clear;

	if (!__atomic_load_n(&f->writes_in_flight, __ATOMIC_ACQUIRE))
		return true;
	pthread_mutex_lock(&order_lock);
	clear = !overlaps_write(f, off, end);
	pthread_mutex_unlock(&order_lock);
	if (clear)
		return true;
	pthread_rwlock_unlock(&f->lock);
	complete_all(ctx);
	pthread_mutex_lock(&order_lock);
	order_waiters++;
	while (overlaps_write(f, off, end))
		pthread_cond_wait(&order_cond, &order_lock);
	order_waiters--;
	pthread_mutex_unlock(&order_lock);
	return false;
}

/* The end of a transfer (rule 8): metadata, unlock, then the caller's done. */
static void complete_dio(struct dio *d)
{
	struct dio_ctx *ctx = d->ctx;
	ssize_t ret;

	if (!d->error)
		d->error = d->map_error;
	if (d->zeroing) {
		ret = d->error;		/* rule 9: no metadata */
	} else if (d->dir == DIO_WRITE) {
		ret = finish_write(d);
	} else {
		uint64_t good = min_u64(d->fail_file, d->end);

		ret = good > d->uoff ? (ssize_t)(good - d->uoff) : d->error;
	}
	if (d->ordered)
		order_remove(d);
	if (!d->zeroing)
		pthread_rwlock_unlock(&d->f->lock);
	d->next_free = ctx->free_dios;
	ctx->free_dios = d;
	ctx->pending--;
	ctx->completed++;
	d->done(d->priv, ret);
}

/*
 * Wait for one device completion at least.  The bdev layer completes what
 * it cannot send with an error, so only a failing io_getevents comes back
 * without progress; waiting goes on, since the device may still be using
 * the caller's memory or a staging buffer.
 */
static void reap_progress(struct dio_ctx *ctx)
{
	if (reap(ctx, 1)) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
}

static void complete_all(struct dio_ctx *ctx)
{
	while (ctx->pending)
		reap_progress(ctx);
}

/*
 * Take f->lock, shared or exclusive.  Rule 4 of the asynchronous use in
 * dio.h: if it is not free at once, complete every transfer in flight
 * before waiting, since those hold locks (maybe this one) that another
 * thread, or this one, may be waiting for.  Returns 0 or -errno (EDEADLK:
 * the caller holds it exclusive itself).
 */
static int lock_file(struct dio_ctx *ctx, struct dio_file *f, bool excl)
{
	if (!(excl ? pthread_rwlock_trywrlock(&f->lock) :
		     pthread_rwlock_tryrdlock(&f->lock)))
		return 0;
	complete_all(ctx);
	return -(excl ? pthread_rwlock_wrlock(&f->lock) :
			pthread_rwlock_rdlock(&f->lock));
}

/*
 * Take f->lock for a transfer of [off, off+len): exclusive for the writes
 * dio.h rule 5 names (*excl), shared for the rest, which come after the
 * writes in flight that they overlap (rule 12).  0 or -errno.
 */
static int lock_for_transfer(struct dio_ctx *ctx, struct dio_file *f,
			     enum dio_dir dir, uint64_t off, uint64_t len,
			     bool *excl)
{
	uint64_t bs = 1ULL << f->blkbits;
	int ret;

	*excl = false;
	do {
		ret = lock_file(ctx, f, false);
		if (ret)
			return ret;
		if (dir == DIO_WRITE &&
		    ((off | len) & (bs - 1) || off + len > f->size)) {
			/* Extending, partial-block or read-modify-write. */
			pthread_rwlock_unlock(&f->lock);
			*excl = true;
			return lock_file(ctx, f, true);
		}
	} while (!order_after_writes(ctx, f, off, off + len));
	return 0;
}

/* A transfer record for [off, off+len) of f; ctx always has one free
 * (depth + 1 of them, and at most depth transfers in flight). */
static struct dio *new_dio(struct dio_ctx *ctx, struct dio_file *f,
			   enum dio_dir dir, uint64_t off, uint64_t len,
			   dio_done_fn done, void *priv)
{
	struct dio *d = ctx->free_dios;

	ctx->free_dios = d->next_free;
	ctx->pending++;
	*d = (struct dio){
		.ctx = ctx, .f = f, .dir = dir, .off = off, .uoff = off,
		.end = off + len, .fail_file = UINT64_MAX,
		/* the lists keep their memory from one transfer to the next */
		.convert = { .v = d->convert.v, .cap = d->convert.cap },
		.allocated = { .v = d->allocated.v, .cap = d->allocated.cap },
		.walking = true, .done = done, .priv = priv,
	};
	return d;
}

/* The walk is over: send what it assembled (or drop it after an error);
 * the transfer completes now if nothing is in flight. */
static void end_walk(struct dio *d)
{
	if (d->error && d->cur) {
		drop_req(d, d->cur, d->error);
		d->cur = NULL;
	}
	close_req(d);
	submit_batch(d);
	d->walking = false;
	if (!d->nreq)
		complete_dio(d);
}

/* dio_submit(), and with behind dio_submit_behind() (rule 12). */
static bool submit(struct dio_ctx *ctx, struct dio_file *f, enum dio_dir dir,
		   uint64_t off, const struct iovec *iov, int iovcnt,
		   dio_done_fn done, void *priv, bool behind)
{
	uint64_t bs = 1ULL << f->blkbits;
	uint64_t len = iov_total(iov, iovcnt);
	struct dio *d;
	bool excl, in_place;
	int ret;

	if (!len) {
		done(priv, 0);
		return false;
	}
	if (bs < ctx->dbs) {
		done(priv, -EINVAL);
		return false;
	}
	if (off > DIO_MAX_FILE_SIZE || len > DIO_MAX_FILE_SIZE - off) {
		if (dir == DIO_WRITE) {
			done(priv, -EFBIG);
			return false;
		}
		len = off > DIO_MAX_FILE_SIZE ? 0 : DIO_MAX_FILE_SIZE - off;
	}

	ret = lock_for_transfer(ctx, f, dir, off, len, &excl);
	if (ret) {
		done(priv, ret);
		return false;
	}
	if (dir == DIO_WRITE)	/* rule 11; rule 7's gap starts at f->size */
		tail_forget(f, min_u64(off, f->size), off + len, ctx->dbs);
	if (dir == DIO_READ) {
		if (off >= f->size) {
			pthread_rwlock_unlock(&f->lock);
			done(priv, 0);
			return false;
		}
		len = min_u64(len, f->size - off);
	}

	stats_count(ctx->counts, dir == DIO_WRITE ? STATS_DIO_WRITES :
						   STATS_DIO_READS, 1);
	stats_count(ctx->counts, dir == DIO_WRITE ? STATS_DIO_WRITE_BYTES :
						   STATS_DIO_READ_BYTES, len);
	d = new_dio(ctx, f, dir, off, len, done, priv);
	d->uc = (struct user_cursor){
		.iov = iov, .iovcnt = iovcnt, .pos = off, .base = off,
	};
	d->uc_done = d->uc;
	d->user_direct = !(off & (ctx->dbs - 1)) &&
			 user_iov_aligned(iov, iovcnt, ctx->dbs);

	if (dir == DIO_WRITE) {
		walk_write(d);
	} else {
		d->assembled = align_down(off, ctx->dbs);
		walk(d, d->assembled, align_up(d->end, ctx->dbs));
	}
	in_place = behind && !excl && !d->convert.n && !d->allocated.n &&
		   !d->error && !d->map_error;
	if (in_place)
		order_add(d);
	end_walk(d);		/* d may be gone after it */
	return in_place;
}

void dio_submit(struct dio_ctx *ctx, struct dio_file *f, enum dio_dir dir,
		uint64_t off, const struct iovec *iov, int iovcnt,
		dio_done_fn done, void *priv)
{
	(void)submit(ctx, f, dir, off, iov, iovcnt, done, priv, false);
}

bool dio_submit_behind(struct dio_ctx *ctx, struct dio_file *f,
		       uint64_t off, const struct iovec *iov, int iovcnt,
		       dio_done_fn done, void *priv)
{
	return submit(ctx, f, DIO_WRITE, off, iov, iovcnt, done, priv, true);
}

int dio_reap(struct dio_ctx *ctx, unsigned min)
{
	uint64_t start = ctx->completed;

	if (min > ctx->pending)
		min = ctx->pending;
	do {
		int ret = reap(ctx, ctx->completed - start < min);

		if (ret)
			return ctx->completed > start ?
			       (int)(ctx->completed - start) : ret;
	} while (ctx->completed - start < min);
	return (int)(ctx->completed - start);
}

unsigned dio_ctx_pending(const struct dio_ctx *ctx)
{
	return ctx->pending;
}

int dio_ctx_event_fd(struct dio_ctx *ctx)
{
	return bdev_queue_event_fd(ctx->q);
}

struct rw_result {
	bool done;
	ssize_t ret;
};

static void rw_done(void *priv, ssize_t ret)
{
	struct rw_result *res = priv;

	res->done = true;
	res->ret = ret;
}

ssize_t dio_rw(struct dio_ctx *ctx, struct dio_file *f, enum dio_dir dir,
	       uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct rw_result res = { 0 };

	dio_submit(ctx, f, dir, off, iov, iovcnt, rw_done, &res);
	while (!res.done)
		reap_progress(ctx);
	return res.ret;
}

int dio_zero_range(struct dio_ctx *ctx, struct dio_file *f, uint64_t off,
		   uint64_t len)
{
	struct rw_result res = { 0 };
	struct dio *d;

	if (!len)
		return 0;
	if ((1ULL << f->blkbits) < ctx->dbs)
		return -EINVAL;
	if (off > DIO_MAX_FILE_SIZE || len > DIO_MAX_FILE_SIZE - off)
		return -EFBIG;

	/* Rule 9: every byte is a zero before the caller's (none), no
	 * allocation, no end of file, and f->lock is the caller's. */
	/* rule 11: zeros are never staged as a copy, even in part */
	tail_forget(f, align_down(off, ctx->dbs), align_up(off + len, ctx->dbs),
		    ctx->dbs);
	d = new_dio(ctx, f, DIO_WRITE, off, len, rw_done, &res);
	d->uoff = d->end;
	d->gap = true;
	d->zeroing = true;
	d->assembled = align_down(off, ctx->dbs);
	walk(d, d->assembled, align_up(d->end, ctx->dbs));
	end_walk(d);
	while (!res.done)
		reap_progress(ctx);
	return (int)res.ret;
}
