/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * loopdev: a loop device over an image file, for the kernel's side of a
 * fuseblk mount.
 *
 * A fuseblk mount needs a block device for the kernel to claim, and it is
 * what makes umount(2) wait for the daemon (main.c rule 5).  An image file
 * gets one the way "mount -o loop" gives it one: a new loop device over
 * the image, which goes away by itself after its last close.  The engine
 * itself keeps using the image file directly.
 *
 * Rules:
 *  1. The loop device is made with LOOP_CONFIGURE and LO_FLAGS_AUTOCLEAR:
 *     the kernel detaches it when the last descriptor closes, so a mount
 *     that fails, a daemon that dies and an unmount all leave nothing
 *     behind.  The caller keeps the descriptor it gets until the kernel
 *     has opened the device (the mount), then closes it.
 *  2. It is read-write when the image can be opened for writing (a
 *     read-only mount may later be remounted read-write), read-only
 *     otherwise.
 */
#ifndef DIOFS_FUSE_LOOPDEV_H
#define DIOFS_FUSE_LOOPDEV_H

/* Attach image; *dev (malloc'ed) names the device, *fd holds it open.
 * On failure *why says why in one line. */
int loopdev_attach(const char *image, char **dev, int *fd, const char **why);

#endif
