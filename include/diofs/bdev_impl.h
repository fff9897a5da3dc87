/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bdev_impl: what the block-device layer shares with its backends.
 *
 * bdev.c owns everything a caller can see: validation, the queue's
 * bookkeeping, short completions, EAGAIN, the done list and the stats.  A
 * backend (bdev_aio.c, bdev_test.c) only moves prepared iocbs to a device
 * and hands back raw events, with io_submit()/io_getevents() semantics, so
 * both backends share one implementation of the rules in bdev.h.
 *
 * Rules for backends:
 *  1. submit() accepts a prefix of the iocbs and returns its length, or a
 *     negative errno when it accepts none: -EAGAIN means "try again later";
 *     any other error belongs to iocbs[0] alone.
 *  2. getevents() returns between min and max raw events of iocbs that
 *     submit() accepted on the same queue (min is never more than are
 *     outstanding), or a negative errno.  ev->obj is the iocb, ev->res the
 *     bytes transferred or a negative errno.
 *  3. A backend never touches struct bdev_req; it sees iocbs prepared with
 *     io_prep_preadv()/io_prep_pwritev() (and io_set_eventfd()) and nothing
 *     else.
 *  4. queue_fini() runs after bdev.c has waited for every submitted iocb.
 *  5. An iocb with IOCB_FLAG_RESFD (io_set_eventfd()) adds 1 to its
 *     eventfd once its event can be had from getevents().
 */
#ifndef DIOFS_BDEV_IMPL_H
#define DIOFS_BDEV_IMPL_H

#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

#include "diofs/bdev.h"
#include "diofs/stats.h"

struct bdev_ops {
	int (*queue_init)(struct bdev_queue *q);
	void (*queue_fini)(struct bdev_queue *q);
	int (*submit)(struct bdev_queue *q, unsigned n, struct iocb **iocbs);
	/* timeout NULL: wait for min events; zero: do not wait */
	int (*getevents)(struct bdev_queue *q, unsigned min, unsigned max,
			 struct io_event *ev, const struct timespec *timeout);
	int (*flush)(struct bdev *bdev);
	void (*destroy)(struct bdev *bdev);	/* frees the bdev */
};

struct bdev {
	const struct bdev_ops *ops;
	int fd;			/* every iocb's aio_fildes; -1: test device */
	int backing_fd;		/* a loop device's image, flocked; -1: none */
	uint32_t block_size;
	uint32_t mem_align;
	uint64_t size;
	int read_only;
	struct stats *stats;	/* the engine's counters (stats.h) */
	int writable;		/* opened for writing (bdev_allow_writes()) */
	/* bdev_set_overlay() */
	void (*overlay)(void *arg, void *buf, size_t len, uint64_t off);
	void *overlay_arg;
	int overlay_saved_ro;	/* read_only before the overlay */
	bdev_report_fn report;	/* bdev_set_report() */
};

/* A FIFO of requests, sized for the queue depth. */
struct bdev_ring {
	struct bdev_req **slot;
	unsigned cap, head, count;
};

struct bdev_queue {
	struct bdev *bdev;
	unsigned depth;
	unsigned inflight;	/* accepted, not yet handed back */
	unsigned atdev;		/* iocbs the backend holds */
	struct bdev_ring pending;	/* short ones, to be sent again */
	struct bdev_ring done;		/* finished, not yet reaped */
	struct iocb **iocbs;	/* scratch: one io_submit batch */
	struct io_event *events;	/* scratch: one io_getevents batch */
	struct bdev_req sync_req;	/* bdev_pread()/bdev_pwrite() */
	struct iovec sync_iov;
	int event_fd;		/* bdev_queue_event_fd(); -1: none */
	void *priv;		/* the backend's */
};

/*
 * Set up the fields of struct bdev common to all backends.  The backend
 * fills in fd, block_size, mem_align, size and read_only.  0 or -ENOMEM;
 * bdev_close() (or bdev_fini() on a backend's failure path) undoes it.
 */
int bdev_init(struct bdev *bdev, const struct bdev_ops *ops);
void bdev_fini(struct bdev *bdev);

/*
 * Check an iocb against rule 1 of bdev.h and the device size; store its
 * byte count in *len.  Returns 0 or -EINVAL.
 */
int bdev_iocb_check(const struct bdev *bdev, const struct iocb *iocb,
		    size_t *len);

#endif
