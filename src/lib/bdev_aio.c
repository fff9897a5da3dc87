/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bdev_aio: the real backend, a block device or image file opened with
 * O_DIRECT and driven through libaio.
 *
 * Rules:
 *  1. The descriptor is opened O_DIRECT.  A block device is opened O_EXCL,
 *     which the kernel refuses while it is mounted or held exclusively by
 *     another program; an image file takes an exclusive, non-blocking flock.
 *     Either way a second user gets -EBUSY.  Both hold for read-only opens
 *     too: a reader must not see a filesystem that a writer is changing.
 *     A loop device also flocks its backing image: the device and the
 *     image are one filesystem under two names, and neither claim alone
 *     would see the other.
 *  2. block_size is the device's logical block size (BLKSSZGET) or, for an
 *     image file, the direct-I/O offset alignment statx reports
 *     (STATX_DIOALIGN), else 4096, which every filesystem accepts.
 *     mem_align is statx's direct-I/O memory alignment when reported, else
 *     block_size.
 *  3. size is rounded down to whole blocks: O_DIRECT cannot read the
 *     partial block at the end of an odd-sized image anyway.
 *  4. Every queue gets its own io_context, created with io_setup(depth).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "diofs/bdev_impl.h"

#define BDEV_AIO_DEFAULT_ALIGN 4096

#ifdef STATX_DIOALIGN
static uint32_t stx_mem_align(const struct statx *stx)
{
	return stx->stx_dio_mem_align;
}

static uint32_t stx_offset_align(const struct statx *stx)
{
	return stx->stx_dio_offset_align;
}
#else
/*
 * Headers older than Linux 6.1 lack the direct-I/O fields; the kernel ABI
 * keeps them at fixed offsets after stx_mnt_id.
 */
#define STATX_DIOALIGN 0x2000U

static uint32_t stx_raw32(const struct statx *stx, size_t off)
{
	uint32_t v;

	memcpy(&v, (const char *)stx + off, sizeof(v));
	return v;
}

static uint32_t stx_mem_align(const struct statx *stx)
{
	return stx_raw32(stx, 0x98);
}

static uint32_t stx_offset_align(const struct statx *stx)
{
	return stx_raw32(stx, 0x9c);
}
#endif

static io_context_t queue_ctx(const struct bdev_queue *q)
{
	return q->priv;
}

static int aio_queue_init(struct bdev_queue *q)
{
	io_context_t ctx = NULL;
	int ret = io_setup((int)q->depth, &ctx);

	if (ret < 0)
		return ret;
	q->priv = ctx;
	return 0;
}

static void aio_queue_fini(struct bdev_queue *q)
{
	io_destroy(queue_ctx(q));
}

static int aio_submit(struct bdev_queue *q, unsigned n, struct iocb **iocbs)
{
	return io_submit(queue_ctx(q), (long)n, iocbs);
}

static int aio_getevents(struct bdev_queue *q, unsigned min, unsigned max,
			 struct io_event *ev, const struct timespec *timeout)
{
	return io_getevents(queue_ctx(q), (long)min, (long)max, ev,
			    (struct timespec *)timeout);
}

static int aio_flush(struct bdev *bdev)
{
	return fdatasync(bdev->fd) < 0 ? -errno : 0;
}

static void aio_destroy(struct bdev *bdev)
{
	/* closing the descriptor drops the flock or the exclusive claim */
	if (bdev->backing_fd >= 0)
		close(bdev->backing_fd);
	close(bdev->fd);
	free(bdev);
}

/*
 * Rule 1: if the block device st names is a loop device, flock its backing
 * image and return that descriptor in *out (else -1).  -EBUSY when the
 * image is in use; a backing file that cannot be opened (deleted, or not
 * reachable from here) has nobody else to lock it either.
 */
static int lock_loop_backing(const struct stat *st, int *out)
{
	char sys[96], file[PATH_MAX];
	ssize_t n;
	int fd;

	*out = -1;
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/loop/backing_file",
		 major(st->st_rdev), minor(st->st_rdev));
	fd = open(sys, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;	/* not a loop device */
	n = read(fd, file, sizeof(file) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	file[n] = '\0';
	file[strcspn(file, "\n")] = '\0';
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;

		close(fd);
		return err == EWOULDBLOCK ? -EBUSY : 0;
	}
	*out = fd;
	return 0;
}

static const struct bdev_ops aio_ops = {
	.queue_init = aio_queue_init,
	.queue_fini = aio_queue_fini,
	.submit = aio_submit,
	.getevents = aio_getevents,
	.flush = aio_flush,
	.destroy = aio_destroy,
};

static const char *open_error(int err)
{
	switch (err) {
	case -ENOENT:
		return "no such file or device";
	case -EACCES:
	case -EPERM:
		return "permission denied";
	case -EBUSY:
		return "device is in use (mounted or opened by another program)";
	case -EROFS:
		return "device or filesystem is read-only; open it read-only";
	case -EINVAL:
		return "direct I/O (O_DIRECT) is not supported here";
	case -ENOTDIR:
	case -ELOOP:
	case -ENAMETOOLONG:
		return "invalid path";
	case -ENXIO:
	case -ENODEV:
	case -ENOMEDIUM:
		return "no such device, or no medium in it";
	default:
		return "cannot open the device";
	}
}

/*
 * Direct-I/O alignment from statx: 1 with *offset and *mem set, 0 when the
 * kernel does not report it (before Linux 6.1, and for block devices before
 * 6.11).
 */
static int dio_align(int fd, uint32_t *offset, uint32_t *mem)
{
	struct statx stx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) < 0 ||
	    !(stx.stx_mask & STATX_DIOALIGN))
		return 0;
	*offset = stx_offset_align(&stx);
	*mem = stx_mem_align(&stx);
	return 1;
}

static int probe_blockdev(struct bdev *bdev, const char **msg)
{
	uint32_t offset, mem;
	int lbs;

	if (ioctl(bdev->fd, BLKSSZGET, &lbs) < 0 ||
	    ioctl(bdev->fd, BLKGETSIZE64, &bdev->size) < 0) {
		*msg = "cannot read the device's block size or size";
		return -errno;
	}
	bdev->block_size = (uint32_t)lbs;
	bdev->mem_align = bdev->block_size;
	if (dio_align(bdev->fd, &offset, &mem) && mem)
		bdev->mem_align = mem;
	return 0;
}

static int probe_file(struct bdev *bdev, const struct stat *st,
		      const char **msg)
{
	uint32_t offset, mem;

	bdev->block_size = BDEV_AIO_DEFAULT_ALIGN;
	bdev->mem_align = BDEV_AIO_DEFAULT_ALIGN;
	if (dio_align(bdev->fd, &offset, &mem)) {
		if (offset == 0 || mem == 0) {
			*msg = "the filesystem holding the image does not support direct I/O";
			return -EINVAL;
		}
		bdev->block_size = offset;
		bdev->mem_align = mem;
	}
	bdev->size = (uint64_t)st->st_size;
	return 0;
}

static int is_usable(const struct stat *st)
{
	return S_ISBLK(st->st_mode) || S_ISREG(st->st_mode);
}

/* bdev.h: the real device is this backend's; the test device has its own
 * constructor, bdev_test_create(). */
int bdev_open(const char *path, int flags, struct bdev **out,
	      const char **err_msg)
{
	const char *msg = NULL;
	struct bdev *bdev;
	struct stat st;
	int fd, ret, ro, backing_fd = -1;

	if (flags & ~BDEV_RDWR) {
		msg = "invalid open flags";
		ret = -EINVAL;
		goto out_err;
	}
	/* before open: open(O_DIRECT) of a directory or FIFO fails obscurely */
	if (stat(path, &st) < 0) {
		ret = -errno;
		msg = open_error(ret);
		goto out_err;
	}
	if (!is_usable(&st)) {
		msg = "not a block device or regular file";
		ret = -ENOTBLK;
		goto out_err;
	}
	/* without O_CREAT, O_EXCL claims a block device; files ignore it */
	fd = open(path, (flags & BDEV_RDWR ? O_RDWR : O_RDONLY) | O_DIRECT |
			O_EXCL | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		msg = open_error(ret);
		goto out_err;
	}
	/* the path may have been replaced between stat() and open() */
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		msg = "cannot stat the device";
		goto out_close;
	}
	if (!is_usable(&st)) {
		msg = "not a block device or regular file";
		ret = -ENOTBLK;
		goto out_close;
	}
	/* A write-protected block device opens for writing, then refuses
	 * every write (EPERM): say so now. */
	if (S_ISBLK(st.st_mode) && (flags & BDEV_RDWR) &&
	    ioctl(fd, BLKROGET, &ro) == 0 && ro) {
		ret = -EROFS;
		msg = open_error(ret);
		goto out_close;
	}
	if (S_ISREG(st.st_mode) && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ret = errno == EWOULDBLOCK ? -EBUSY : -errno;
		msg = ret == -EBUSY ? open_error(ret) :
				       "cannot lock the image file";
		goto out_close;
	}
	if (S_ISBLK(st.st_mode)) {
		ret = lock_loop_backing(&st, &backing_fd);
		if (ret) {
			msg = "the image behind this loop device is in use "
			      "(mounted or opened by another program)";
			goto out_close;
		}
	}
	bdev = calloc(1, sizeof(*bdev));
	if (!bdev) {
		ret = -ENOMEM;
		msg = "out of memory";
		goto out_close;
	}
	ret = bdev_init(bdev, &aio_ops);
	if (ret) {
		msg = "out of memory";
		free(bdev);
		goto out_close;
	}
	bdev->fd = fd;
	bdev->backing_fd = backing_fd;
	bdev->read_only = !(flags & BDEV_RDWR);
	bdev->writable = !bdev->read_only;
	if (S_ISBLK(st.st_mode))
		ret = probe_blockdev(bdev, &msg);
	else
		ret = probe_file(bdev, &st, &msg);
	if (ret)
		goto out_free;
	bdev->size -= bdev->size % bdev->block_size;
	if (bdev->size == 0) {
		msg = "device is too small (not even one block)";
		ret = -ENOSPC;
		goto out_free;
	}
	*out = bdev;
	return 0;

out_free:
	bdev_fini(bdev);
	free(bdev);
out_close:
	if (backing_fd >= 0)
		close(backing_fd);
	close(fd);
out_err:
	if (err_msg)
		*err_msg = msg;
	return ret;
}
