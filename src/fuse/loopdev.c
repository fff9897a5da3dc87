/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * loopdev.c: loop devices over image files (loopdev.h).
 *
 * Rules:
 *  1. LOOP_CTL_GET_FREE names a free device, but another program may
 *     configure it first: LOOP_CONFIGURE then fails with EBUSY and the
 *     next free one is asked for, a bounded number of times.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "loopdev.h"

#define LOOPDEV_TRIES	16

int loopdev_attach(const char *image, char **dev, int *fd, const char **why)
{
	struct loop_config cfg;
	char path[64];
	int ctl, back, lfd = -1, rfd, n, tries, err;

	memset(&cfg, 0, sizeof(cfg));
	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
	back = open(image, O_RDWR | O_CLOEXEC);
	if (back < 0 && (errno == EROFS || errno == EACCES || errno == EPERM)) {
		cfg.info.lo_flags |= LO_FLAGS_READ_ONLY;
		back = open(image, O_RDONLY | O_CLOEXEC);
	}
	if (back < 0) {
		*why = "cannot open the image for its loop device";
		return -errno;
	}
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		err = -errno;
		*why = "cannot open /dev/loop-control";
		goto out_back;
	}
	cfg.fd = (__u32)back;
	snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name),
		 "%s", image);
	err = -EBUSY;
	for (tries = 0; tries < LOOPDEV_TRIES && err == -EBUSY; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			err = -errno;
			*why = "no free loop device";
			break;
		}
		snprintf(path, sizeof(path), "/dev/loop%d", n);
		/* read-write, or the device is made read-only */
		lfd = open(path, O_RDWR | O_CLOEXEC);
		if (lfd < 0) {
			err = -errno;
			*why = "cannot open the new loop device";
			break;
		}
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0) {
			err = 0;
			break;
		}
		err = -errno;
		*why = "cannot set up a loop device";
		close(lfd);
		lfd = -1;
	}
	if (!err) {
		/* Held read-only from here: a kernel that keeps writers off
		 * mounted devices would refuse the mount while a writer held
		 * it.  The device stays, one descriptor being open throughout. */
		rfd = open(path, O_RDONLY | O_CLOEXEC);
		if (rfd >= 0) {
			close(lfd);
			lfd = rfd;
		}
		*dev = strdup(path);
		if (*dev) {
			*fd = lfd;
		} else {
			err = -ENOMEM;
			*why = "out of memory";
			close(lfd);	/* rule 1 of loopdev.h: it goes away */
		}
	}
	close(ctl);
out_back:
	close(back);
	return err;
}
