/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * remount.c: mount -o remount,... (remount.h).
 *
 * Rules:
 *  1. dir must be the mountpoint of a diofs (fstype fuse.diofs or
 *     fuseblk.diofs in /proc/self/mountinfo): the ioctl is only ever sent
 *     to a diofs daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <libmount.h>

#include "ops.h"		/* DIOFS_IOC_SET_RO */
#include "remount.h"

/* The flags a remount sets. */
#define REMOUNT_FLAGS	(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | \
			 MS_NOATIME | MS_NODIRATIME | MS_RELATIME | \
			 MS_STRICTATIME | MS_NOSYMFOLLOW | MS_SYNCHRONOUS | \
			 MS_DIRSYNC | MS_LAZYTIME | MS_MANDLOCK)

static int fail(char *msg, size_t len, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *msg, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return err;
}

/* Rule 1. */
static int check_diofs(const char *dir, char *msg, size_t len)
{
	struct libmnt_table *tb;
	struct libmnt_fs *fs;
	const char *type;
	int err = 0;

	tb = mnt_new_table_from_file("/proc/self/mountinfo");
	if (!tb)
		return fail(msg, len, -EIO, "cannot read /proc/self/mountinfo");
	fs = mnt_table_find_target(tb, dir, MNT_ITER_BACKWARD);
	type = fs ? mnt_fs_get_fstype(fs) : NULL;
	if (!type || (strcmp(type, "fuse.diofs") &&
		      strcmp(type, "fuseblk.diofs")))
		err = fail(msg, len, -EINVAL,
			   "not the mountpoint of a diofs filesystem");
	mnt_unref_table(tb);
	return err;
}

/* remount.h rule 3: the flags opts give. */
static int opts_flags(const char *opts, unsigned long *flags, char *msg,
		      size_t len)
{
	const struct libmnt_optmap *map = mnt_get_builtin_optmap(MNT_LINUX_MAP);
	char *copy, *p, *name, *val, *one;
	size_t namesz, valsz;
	unsigned long f = 0;
	int err = 0;

	copy = strdup(opts ? opts : "");
	if (!copy)
		return fail(msg, len, -ENOMEM, "out of memory");
	p = copy;
	while (!err && !mnt_optstr_next_option(&p, &name, &namesz, &val,
					       &valsz)) {
		one = strndup(name, val ? (size_t)(val + valsz - name) : namesz);
		if (!one) {
			err = fail(msg, len, -ENOMEM, "out of memory");
			break;
		}
		if (!strcmp(one, "user") || !strcmp(one, "users"))
			f |= MS_NOSUID | MS_NODEV | MS_NOEXEC;
		else if (!strcmp(one, "owner") || !strcmp(one, "group"))
			f |= MS_NOSUID | MS_NODEV;
		else if (mnt_optstr_get_flags(one, &f, map))
			err = fail(msg, len, -EINVAL, "bad option '%s'", one);
		free(one);
	}
	free(copy);
	*flags = f & REMOUNT_FLAGS;
	return err;
}

static int set_ro(int fd, bool ro)
{
	uint32_t arg = ro;

	return ioctl(fd, DIOFS_IOC_SET_RO, &arg) < 0 ? -errno : 0;
}

int remount(const char *dir, const char *opts, char *msg, size_t len)
{
	unsigned long flags = 0;
	struct statvfs sv;
	char *real;
	bool ro;
	int fd, err;

	real = realpath(dir, NULL);
	if (!real)
		return fail(msg, len, -errno, "%s", strerror(errno));
	err = check_diofs(real, msg, len);
	if (!err)
		err = opts_flags(opts, &flags, msg, len);
	if (err)
		goto out;
	ro = flags & MS_RDONLY;
	fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = fail(msg, len, -errno, "%s", strerror(errno));
		goto out;
	}
	if (fstatvfs(fd, &sv) < 0) {
		err = fail(msg, len, -errno, "%s", strerror(errno));
		goto out_fd;
	}
	if (!ro) {
		/* remount.h rule 2 */
		err = set_ro(fd, false);
		if (err == -EROFS)
			fail(msg, len, err,
			     "it stays read-only: the device is write-protected or opened read-only, or the filesystem has features this diofs can only read");
		else if (err == -EBUSY)
			fail(msg, len, err,
			     "its journal was replayed in memory only when it was mounted read-only: unmount it and mount it read-write, which replays it");
		else if (err == -EPERM)
			fail(msg, len, err, "only root may remount it");
		else if (err)
			fail(msg, len, err,
			     "the filesystem cannot take changes again (%s): unmount it and run fsck.diofs",
			     strerror(-err));
		if (err)
			goto out_fd;
	}
	if (mount(NULL, real, NULL, MS_REMOUNT | flags, NULL) < 0) {
		err = -errno;
		if (err == -EBUSY && ro)
			fail(msg, len, err,
			     "files are open for writing on it: close them and try again");
		else
			fail(msg, len, err, "cannot remount: %s",
			     strerror(-err));
		if (!ro && (sv.f_flag & ST_RDONLY))
			set_ro(fd, true);
		goto out_fd;
	}
	if (ro) {
		/* remount.h rule 1 */
		err = set_ro(fd, true);
		if (err)
			fail(msg, len, err,
			     "the kernel remounted it read-only, but writing everything to the device failed (%s): unmount it and run fsck.diofs",
			     strerror(-err));
	}
out_fd:
	close(fd);
out:
	free(real);
	return err;
}
