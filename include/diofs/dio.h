/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dio: the direct-I/O worker.
 *
 * dio_rw() moves bytes between a caller's buffers and a file whose blocks
 * live on a bdev.  It walks the request in device blocks, asks the file's
 * get_block() for the mapping, reads holes and unwritten extents as zeros,
 * stops at end of file, zeroes the parts of new blocks that the request does
 * not cover, merges device-contiguous pieces into large vectored requests
 * and sends them in batches, reaping as it goes.  Any byte offset and length
 * is accepted.
 *
 * The contract with the filesystem (struct dio_file_ops):
 *  1. get_block(create=1) allocates holes as unwritten blocks and returns
 *     them as DIO_MAP_UNWRITTEN with DIO_MAP_NEW.  Unwritten blocks read as
 *     zeros, so a reader racing with the write, or a crash before the data
 *     lands, never sees stale device contents.
 *  2. convert() is called for the file blocks a write filled, only after
 *     their data (and the zeros around it) is on the device.  Two writers
 *     sharing the lock may convert the same block: convert() must accept
 *     blocks that are already written.
 *  3. set_size() is called when a write moved end of file, only after all
 *     of its data is on the device; f->size is updated by the worker.
 *  4. release() gives back blocks that a failed write allocated past the
 *     end of file it leaves behind.
 *  5. The worker takes f->lock: shared for reads and for writes that cover
 *     whole fs blocks inside the file, exclusive otherwise (extending,
 *     allocating partial blocks, sub-block read-modify-write).  The
 *     filesystem takes it exclusive around truncate and hole punching, and
 *     calls dio_zero_range() with it held.  It prefers writers and is not
 *     recursive: a thread never takes it twice.
 */
#ifndef DIOFS_DIO_H
#define DIOFS_DIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "diofs/bdev.h"

enum dio_dir { DIO_READ, DIO_WRITE };

enum dio_map_type {
	DIO_MAP_HOLE,		/* no blocks: reads as zeros */
	DIO_MAP_UNWRITTEN,	/* blocks allocated, contents not valid: reads as zeros */
	DIO_MAP_MAPPED,		/* blocks hold the file's data */
};

/* Allocated by this get_block call.  With DIO_MAP_MAPPED (outside rule 1)
 * the worker still zeroes around the data, but a concurrent reader may see
 * the block before the data lands. */
#define DIO_MAP_NEW      0x1
#define DIO_MAP_BOUNDARY 0x2	/* send what is assembled before going on */

struct dio_map {
	enum dio_map_type type;
	unsigned flags;
	uint64_t lblk;		/* first file block described: the one asked for */
	uint64_t len;		/* file blocks described, >= 1 */
	uint64_t pblk;		/* first device block in fs-block units (not holes) */
};

struct dio_file;
struct dio;

struct dio_file_ops {
	/*
	 * Describe file blocks from lblk on, at most max of them.  With
	 * create, holes are allocated (rule 1).  Returns 0 or -errno.
	 */
	int (*get_block)(struct dio_file *f, uint64_t lblk, uint64_t max,
			 int create, struct dio_map *map);
	/* Rule 2: file blocks [lblk, lblk+len) now hold data. */
	int (*convert)(struct dio_file *f, uint64_t lblk, uint64_t len);
	/* Rule 3: the file size is now size (larger than before). */
	int (*set_size)(struct dio_file *f, uint64_t size);
	/* Rule 4: give back file blocks [lblk, lblk+len). */
	void (*release)(struct dio_file *f, uint64_t lblk, uint64_t len);
	/* Optional, around the convert() and set_size() calls of one write,
	 * so that a journal commits them together: after a crash a write's
	 * blocks are never written past the end of file it had. */
	void (*update_begin)(struct dio_file *f);
	void (*update_end)(struct dio_file *f);
};

struct dio_file {
	const struct dio_file_ops *ops;
	unsigned blkbits;	/* fs block size is 1 << blkbits */
	uint64_t size;		/* i_size in bytes (read and written under lock) */
	pthread_rwlock_t lock;	/* rule 5 */
	void *priv;		/* the filesystem's */
	/* The worker's copy of the last device block a sub-block write left
	 * on the device (dio.c rule 10); NULL until the first one. */
	void *tail;
	uint64_t tail_file;	/* its file offset */
	uint64_t tail_dev;	/* its device offset */
	uint32_t tail_len;	/* its size: the device block */
	bool tail_valid;
	/* In-place writes in flight that dio_submit_behind() listed (rule 6
	 * of the asynchronous use; dio.c's order lock). */
	struct dio *writes_in_flight;
};

int dio_file_init(struct dio_file *f, const struct dio_file_ops *ops,
		  unsigned blkbits, uint64_t size, void *priv);
void dio_file_destroy(struct dio_file *f);

/* Per-thread resources: a bdev queue and a bounded pool of staging buffers. */
struct dio_params {
	unsigned queue_depth;	/* requests in flight; 0: 64 */
	size_t max_io;		/* largest single request, bytes; 0: 1 MiB */
	unsigned staging_bufs;	/* aligned buffers of max_io bytes; 0: 8 */
};

struct dio_ctx_stats {
	uint64_t requests;	/* device requests (iocbs) submitted */
	uint64_t batches;	/* bdev_submit calls */
	uint64_t get_block_calls;
	uint64_t staged_bytes;	/* bytes that went through staging buffers */
	uint64_t rmw_reads;	/* partial device blocks read for read-modify-write */
	size_t staging_allocated; /* bytes of staging buffers allocated (peak) */
};

struct dio_ctx;

int dio_ctx_create(struct bdev *bdev, const struct dio_params *params,
		   struct dio_ctx **out);
void dio_ctx_destroy(struct dio_ctx *ctx);	/* completes what is in flight */
void dio_ctx_get_stats(const struct dio_ctx *ctx, struct dio_ctx_stats *st);

/*
 * Read or write len bytes (the sum of iov) at byte offset off.  Returns the
 * bytes transferred: a read stops at end of file (0 at or past it); on an
 * I/O error, the bytes known good before the first failure, or -errno when
 * there were none.
 */
ssize_t dio_rw(struct dio_ctx *ctx, struct dio_file *f, enum dio_dir dir,
	       uint64_t off, const struct iovec *iov, int iovcnt);

/*
 * Zero the file bytes [off, off+len) that are mapped and written, on the
 * device, as truncate, hole punching and zero-range need at their partial
 * edge blocks (as iomap's iomap_zero_range()).  Holes and unwritten blocks
 * read as zeros already: nothing is written or allocated there.  End of
 * file does not limit the range (the tail of the last block past it is
 * zeroed as well), and neither f->size nor any extent changes.  Partial
 * device blocks are read, patched and written back.
 *
 * Locking: the caller holds f->lock exclusive across the call, which does
 * not take it (rule 5), so no transfer of f overlaps the zeroing; it took
 * the lock as rule 4 of the asynchronous use below says, after completing
 * what ctx had in flight.  get_block is called with create 0.  Other
 * transfers in flight on ctx may complete inside the call.  Returns 0 or
 * -errno.
 */
int dio_zero_range(struct dio_ctx *ctx, struct dio_file *f, uint64_t off,
		   uint64_t len);

/*
 * Asynchronous use: one thread keeps many transfers in flight on one ctx
 * and collects their completions together.
 *
 * dio_submit() starts the transfer dio_rw() would do and returns once its
 * device requests are submitted; done(priv, result) is later called exactly
 * once with what dio_rw() would have returned.  dio_rw() is dio_submit()
 * followed by waiting for that one transfer.
 *
 *  1. done runs inside dio_submit(), dio_reap(), dio_rw(),
 *     dio_zero_range() or dio_ctx_destroy() on the same ctx (inside
 *     dio_submit() itself when nothing needed the device, e.g. a read of
 *     a hole).  It must not call into the ctx, nor take or wait for any
 *     dio_file's lock: the thread may hold the locks of every transfer in
 *     flight.
 *  2. The iovec array and the memory it points at belong to the transfer
 *     until done runs.
 *  3. Transfers that take the lock shared are unordered while in flight
 *     together, like the device's own requests: two overlapping writes in
 *     flight at once land in either order, a read overlapping a write sees
 *     either, except as rule 6 says.  One that takes it exclusive is
 *     ordered after everything in flight on that file (rule 4).  The
 *     file's metadata (convert, set_size) follows each one's own data
 *     (rules 2 and 3).
 *  4. A transfer holds f->lock (rule 5) from submission to completion.  A
 *     submission that would have to wait for a lock first completes every
 *     transfer the ctx has in flight, so a thread never waits for a lock
 *     while holding one; a caller that takes f->lock itself must first do
 *     the same: dio_reap(ctx, dio_ctx_pending(ctx)), and so must a thread
 *     before it waits for anything another thread may provide only after
 *     taking one of those locks.  Locks are released by the thread that
 *     took them, so a ctx, and its dio_ctx_destroy(), stay with one thread
 *     while it has transfers in flight.
 *  5. At most queue_depth transfers are in flight per ctx, each holding at
 *     least one device request: dio_submit() waits for completions (and
 *     runs their done) when the ctx has no request slot free.
 *  6. Write-behind: dio_submit_behind() is dio_submit() of a write that
 *     the caller would like to answer before it completes.  It returns
 *     true when the write is in place: in flight, overwriting blocks
 *     already written, whole, inside end of file, so that its end changes
 *     no metadata (no convert, set_size or release) and only a device
 *     error can still fail it.  Such a write is listed on its file until
 *     it completes, and a transfer of the file submitted after that
 *     return, on any ctx, that overlaps it waits for it: the caller may
 *     answer it, and every later read sees it, every later write lands
 *     after it.  To wait, the thread first completes every transfer its
 *     own ctx has in flight (as rule 4 does), so the write it waits for
 *     is always another thread's, which that thread completes as rule 4
 *     has it.  When it returns false the caller waits for done as usual.
 */
typedef void (*dio_done_fn)(void *priv, ssize_t result);

void dio_submit(struct dio_ctx *ctx, struct dio_file *f, enum dio_dir dir,
		uint64_t off, const struct iovec *iov, int iovcnt,
		dio_done_fn done, void *priv);
bool dio_submit_behind(struct dio_ctx *ctx, struct dio_file *f,
		       uint64_t off, const struct iovec *iov, int iovcnt,
		       dio_done_fn done, void *priv);

/*
 * Wait until at least min transfers have completed (all of those in
 * flight, if fewer) and run their done callbacks; 0 polls.  Returns the
 * number completed in this call, or -errno if waiting for the device
 * failed before any did.
 */
int dio_reap(struct dio_ctx *ctx, unsigned min);

/* Transfers submitted whose done has not run yet. */
unsigned dio_ctx_pending(const struct dio_ctx *ctx);

/*
 * A file descriptor that polls readable when a device request of the ctx
 * has completed (bdev_queue_event_fd()), so that the thread can wait for
 * its transfers together with other work, then dio_reap(ctx, 0).  Each
 * completion adds one to it: a level-triggered waiter reads it (it is
 * non-blocking) to clear it before reaping; an edge-triggered epoll need
 * not.  The ctx owns it.  Returns the fd or -errno.
 */
int dio_ctx_event_fd(struct dio_ctx *ctx);

#endif
