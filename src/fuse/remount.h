/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * remount: mount -o remount,... of a mounted diofs.
 *
 * A FUSE daemon hears nothing of a remount: mount(8) runs the helper
 * (mount.diofs, or diofs itself through mount.fuse) with "-o remount,...",
 * and the helper does the work: the kernel's remount of the mount, and
 * the engine's (fs_set_read_only()) through the DIOFS_IOC_SET_RO ioctl on
 * the mount's root directory, which the kernel hands to the daemon that
 * serves it.
 *
 * Rules:
 *  1. Read-only: the kernel first, so that no writer is left when the
 *     daemon writes everything home (the kernel refuses with EBUSY while a
 *     file is open for writing, and nothing changes); then the daemon.
 *     When remount returns, everything written before is durable.
 *  2. Read-write: the daemon first, so that the kernel never lets a write
 *     through that the engine would refuse; if the kernel then refuses,
 *     the daemon goes back to read-only.
 *  3. The options are the mount's flags, all of them, as mount(2) takes
 *     them for a kernel filesystem: mount(8) passes the mount's current
 *     options merged with the new ones, and a flag not given is off (ro,
 *     nosuid, nodev, noexec, sync), except the atime flags, which the
 *     kernel keeps when none is given.  user and users imply nosuid, nodev
 *     and noexec, owner and group nosuid and nodev, unless a later option
 *     says otherwise (mount(8)).  Options that are not flags are ignored:
 *     they cannot change on a mounted filesystem.
 */
#ifndef DIOFS_FUSE_REMOUNT_H
#define DIOFS_FUSE_REMOUNT_H

#include <stddef.h>

/* Remount the diofs mounted on dir with the comma-separated opts.  On
 * failure msg holds a one-line reason. */
int remount(const char *dir, const char *opts, char *msg, size_t msglen);

#endif
