/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fstab.c: the nofail mount.fuse drops, from mount(8)'s fstab (fstab.h).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <libmount.h>

#include "fstab.h"

/* How far up the parents mount(8) may be: sh, then mount(8). */
#define FSTAB_ANCESTORS	3

/* The whole of /proc/PID/NAME (NUL-separated strings), malloc'ed. */
static char *proc_read(pid_t pid, const char *name, size_t *len)
{
	char path[64], *buf = NULL, *grown;
	size_t cap = 0, n = 0, got;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, name);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	for (;;) {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			grown = realloc(buf, cap + 1);
			if (!grown) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = grown;
		}
		got = fread(buf + n, 1, cap - n, f);
		if (!got)
			break;
		n += got;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static pid_t parent_of(pid_t pid)
{
	char path[64];
	long ppid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	/* the command name may hold spaces and parentheses: skip to the
	 * last ')' */
	if (fscanf(f, "%*d (%*[^)]) %*c %ld", &ppid) != 1)
		ppid = 0;
	fclose(f);
	return (pid_t)ppid;
}

/* Rule 1: whether pid runs a program named mount. */
static bool is_mount(pid_t pid)
{
	char path[64], exe[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/exe", (long)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	base = strrchr(exe, '/');
	return !strcmp(base ? base + 1 : exe, "mount");
}

/* The fstab mount(8) process pid reads, malloc'ed; relative to its
 * working directory through /proc. */
static char *fstab_of(pid_t pid)
{
	char *args, *env, *p, *file = NULL, *path = NULL;
	size_t len, i;

	args = proc_read(pid, "cmdline", &len);
	for (p = args; args && p < args + len; p += strlen(p) + 1) {
		if (!strcmp(p, "--fstab") || !strcmp(p, "-T"))
			file = p + strlen(p) + 1 < args + len ?
			       p + strlen(p) + 1 : NULL;
		else if (!strncmp(p, "--fstab=", 8))
			file = p + 8;
	}
	if (!file) {
		env = proc_read(pid, "environ", &len);
		for (i = 0; env && i < len; i += strlen(env + i) + 1)
			if (!strncmp(env + i, "LIBMOUNT_FSTAB=", 15))
				path = strdup(env + i + 15);
		free(env);
	} else if (file[0] == '/') {
		path = strdup(file);
	} else if (asprintf(&path, "/proc/%ld/cwd/%s", (long)pid, file) < 0) {
		path = NULL;
	}
	free(args);
	if (!path && !file)
		path = strdup(mnt_get_fstab_path());
	return path;
}

/* Whether fs is the line for source on mountpoint (a canonical path). */
static bool line_matches(struct libmnt_fs *fs, const char *source,
			 const char *mountpoint)
{
	const char *src = mnt_fs_get_source(fs);
	const char *target = mnt_fs_get_target(fs);
	char *real;
	bool same;

	if (!src || !target)
		return false;
	if (!strncmp(src, "diofs#", 6))
		src += 6;
	if (strcmp(src, source))
		return false;
	real = realpath(target, NULL);
	same = real && !strcmp(real, mountpoint);
	free(real);
	return same;
}

bool fstab_line_has_nofail(const char *source, const char *mountpoint)
{
	struct libmnt_table *tb;
	struct libmnt_iter *itr;
	struct libmnt_fs *fs;
	char *path = NULL, *mnt;
	pid_t pid = getpid();
	bool nofail = false;
	int i;

	for (i = 0; i < FSTAB_ANCESTORS && !path; i++) {
		pid = parent_of(pid);
		if (pid <= 1)
			return false;
		if (is_mount(pid))
			path = fstab_of(pid);
	}
	mnt = realpath(mountpoint, NULL);
	tb = path && mnt ? mnt_new_table_from_file(path) : NULL;
	itr = tb ? mnt_new_iter(MNT_ITER_FORWARD) : NULL;
	while (itr && !nofail && mnt_table_next_fs(tb, itr, &fs) == 0)
		nofail = line_matches(fs, source, mnt) &&
			 mnt_fs_get_option(fs, "nofail", NULL, NULL) == 0;
	mnt_free_iter(itr);
	mnt_unref_table(tb);
	free(mnt);
	free(path);
	return nofail;
}
