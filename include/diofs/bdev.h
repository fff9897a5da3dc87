/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bdev: the block-device layer.
 *
 * A struct bdev is an open block device or image file, read with O_DIRECT
 * through libaio, or the in-memory test device that stands in for one in
 * unit tests and can inject faults.  Both sit behind this one interface.
 *
 * Rules:
 *  1. Every request is aligned: its device offset and every iovec length are
 *     multiples of bdev_block_size(), and every iovec base is a multiple of
 *     bdev_mem_align().  A misaligned request completes with -EINVAL.
 *  2. A struct bdev is shared by all threads.  A struct bdev_queue belongs to
 *     one thread at a time (one libaio context each, so threads never
 *     contend for completions).
 *  3. bdev_submit() accepts a whole batch with one io_submit where it can;
 *     partial submission and EAGAIN are handled inside (EAGAIN by reaping a
 *     completion, which is kept for the next bdev_reap()).
 *  4. A short completion is resubmitted for the rest; a request that makes
 *     no progress completes with -EIO.  A request is reported once, with
 *     result = its full length or a negative errno.
 *  5. bdev_flush() makes every write that has completed durable.
 *  6. Every layer above reports what it finds wrong with the filesystem
 *     (a block that fails its checks, an I/O error) through bdev_report(),
 *     which hands one line to the hook the mount installed: the bottom
 *     layer carries it, so no layer calls upward to report.  The device
 *     itself reports every request the device failed and every failed
 *     flush.
 */
#ifndef DIOFS_BDEV_H
#define DIOFS_BDEV_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <libaio.h>
#include <syslog.h>	/* bdev_report() levels */

struct bdev;
struct bdev_queue;

enum bdev_op { BDEV_READ, BDEV_WRITE };

/* bdev_open() flags */
#define BDEV_RDONLY 0x0
#define BDEV_RDWR   0x1

struct bdev_req {
	/* filled by the caller */
	enum bdev_op op;
	uint64_t offset;	/* device byte offset */
	struct iovec *iov;	/* scratch for the layer until completion */
	int iovcnt;
	void *priv;		/* the caller's */

	/* filled on completion */
	ssize_t result;		/* total bytes transferred, or -errno */

	/* private to the bdev layer */
	size_t done;		/* bytes completed by earlier short completions */
	size_t len;		/* total length of iov */
	struct iocb iocb;
};

struct stats;

struct bdev_stats {
	uint64_t reads;		/* read requests completed (iocbs, not retries) */
	uint64_t writes;	/* write requests completed */
	uint64_t read_bytes;
	uint64_t write_bytes;
	uint64_t submit_calls;	/* io_submit calls */
	uint64_t eagain;	/* EAGAINs seen from io_submit */
	uint64_t short_completions;
	uint64_t flushes;
};

/*
 * Open a block device or regular image file with O_DIRECT.  flags is
 * BDEV_RDONLY or BDEV_RDWR.  A block device is opened O_EXCL; an image file
 * takes an exclusive flock, so a second user gets -EBUSY.  Returns 0 or
 * -errno; on failure *err_msg (if non-NULL) points at a static one-line
 * explanation.
 */
int bdev_open(const char *path, int flags, struct bdev **out,
	      const char **err_msg);
void bdev_close(struct bdev *bdev);

uint32_t bdev_block_size(const struct bdev *bdev);	/* I/O alignment, bytes */
uint32_t bdev_mem_align(const struct bdev *bdev);	/* buffer alignment */
uint64_t bdev_size(const struct bdev *bdev);		/* bytes */
int bdev_read_only(const struct bdev *bdev);
/*
 * Refuse writes (allow false: they complete with -EROFS) or take them
 * again, on a device opened for writing: a read-only mount opens the
 * device for writing when it can, so that a remount can write.  -EROFS
 * for a device opened read-only or showing an overlay.
 */
int bdev_allow_writes(struct bdev *bdev, int allow);
int bdev_flush(struct bdev *bdev);
void bdev_get_stats(struct bdev *bdev, struct bdev_stats *st);
/* The engine's counters for everything on this bdev (stats.h), freed by
 * bdev_close(). */
struct stats *bdev_stats(struct bdev *bdev);

/* A queue of up to depth requests in flight, for one thread. */
int bdev_queue_open(struct bdev *bdev, unsigned depth, struct bdev_queue **out);
void bdev_queue_close(struct bdev_queue *q);	/* waits for in-flight I/O */
unsigned bdev_queue_depth(const struct bdev_queue *q);
unsigned bdev_queue_inflight(const struct bdev_queue *q);
struct bdev *bdev_queue_bdev(const struct bdev_queue *q);

/*
 * An eventfd that the queue's requests submitted from now on signal when
 * they complete, so that a thread can wait for them together with other
 * file descriptors (poll, epoll).  Made on the first call; the queue owns
 * it and closes it.  Non-blocking: read it to clear it before reaping, so
 * that no completion is missed between the reap and the next wait.
 * Returns the fd or -errno.
 */
int bdev_queue_event_fd(struct bdev_queue *q);

/*
 * Submit n requests.  Returns the number accepted (n unless an error stops
 * it), or -errno when the first one could not be submitted.  The caller must
 * not have more than bdev_queue_depth() in flight.
 */
int bdev_submit(struct bdev_queue *q, struct bdev_req **reqs, unsigned n);

/*
 * Wait until at least min requests have completed and store up to max of
 * them in done[].  Returns the number stored, or -errno if waiting failed.
 * min may be 0 (poll).
 */
int bdev_reap(struct bdev_queue *q, unsigned min, unsigned max,
	      struct bdev_req **done);

/*
 * Synchronous helpers: submit one request on q and wait for that one only
 * (other completions are kept for bdev_reap).  Same alignment rules.
 * Return bytes transferred (always len) or -errno, and only once the device
 * is done with buf, even when waiting fails.
 */
ssize_t bdev_pread(struct bdev_queue *q, void *buf, size_t len, uint64_t off);
ssize_t bdev_pwrite(struct bdev_queue *q, const void *buf, size_t len,
		    uint64_t off);

/*
 * Submit n prepared requests (op, offset, iov, iovcnt), keeping the queue
 * full, and wait for all of them.  Returns 0 or the first error; a request
 * that transferred less than its length counts as -EIO.  The queue must
 * have nothing else in flight.
 */
int bdev_run(struct bdev_queue *q, struct bdev_req *reqs, size_t n);

/*
 * Make the device read-only and let patch(arg, buf, len, off) change what
 * every bdev_pread() returns: a journal replayed in memory shows through
 * it (journal.h).  Reads through bdev_submit() (file data) are not
 * patched.  NULL removes the overlay and gives back the device's own
 * read-only state.
 */
void bdev_set_overlay(struct bdev *bdev,
		      void (*patch)(void *arg, void *buf, size_t len,
				    uint64_t off),
		      void *arg);

/*
 * Where bdev_report() sends its lines: report(level, line), level one of
 * syslog(3)'s (LOG_CRIT, LOG_ERR, LOG_WARNING, ...); NULL, the default:
 * nothing is reported (fsck and the unit tests say what they find
 * themselves).  The hook must be safe to call from any thread and must not
 * call back into the engine.
 */
typedef void (*bdev_report_fn)(int level, const char *line);
void bdev_set_report(struct bdev *bdev, bdev_report_fn report);
void bdev_report(const struct bdev *bdev, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- the test device (unit tests only) ---------------------------------- */

struct bdev_test_opts {
	uint64_t size;		/* bytes */
	uint32_t block_size;	/* 512 or 4096 */
	uint32_t mem_align;	/* 0: same as block_size */
};

/* One recorded event: a completed write (with a copy of its data) or a flush. */
enum bdev_log_kind { BDEV_LOG_WRITE, BDEV_LOG_FLUSH };
struct bdev_log_entry {
	enum bdev_log_kind kind;
	uint64_t offset;
	size_t len;
	const unsigned char *data;
};

/*
 * An in-memory device.  Requests complete only when reaped, in submission
 * order, so requests really are in flight; misaligned requests fail with
 * -EINVAL, as O_DIRECT would.  Every completed write and every flush is
 * recorded in order.
 */
int bdev_test_create(const struct bdev_test_opts *opts, struct bdev **out);
unsigned char *bdev_test_data(struct bdev *bdev);	/* the device contents */

/* Requests of op touching [offset, offset+len) complete with err (e.g. -EIO). */
void bdev_test_fail_range(struct bdev *bdev, enum bdev_op op, uint64_t offset,
			  uint64_t len, int err);
/* Each of the next count completions transfers at most bytes (short). */
void bdev_test_short_completions(struct bdev *bdev, unsigned count,
				 size_t bytes);
/* The next count io_submit calls fail with EAGAIN. */
void bdev_test_eagain(struct bdev *bdev, unsigned count);
/* The next count waits for completions fail with err (e.g. -EFAULT),
 * completing nothing: what was in flight stays in flight. */
void bdev_test_getevents_fail(struct bdev *bdev, unsigned count, int err);
void bdev_test_clear_faults(struct bdev *bdev);

size_t bdev_test_log_count(struct bdev *bdev);
const struct bdev_log_entry *bdev_test_log_entry(struct bdev *bdev, size_t i);
void bdev_test_log_clear(struct bdev *bdev);

#endif
