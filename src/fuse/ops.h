/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ops: the diofs daemon's FUSE low-level operations.
 *
 * ops_table translates every request into one fs_* call on the mounted
 * filesystem and its result into a reply.  The session's userdata is a
 * struct ops_state made by ops_state_create().
 *
 * Rules:
 *  1. Every worker thread gets its own struct dio_ctx on its first read or
 *     write; it is destroyed when the thread ends or when the engine is
 *     unmounted, whichever comes first.  The session loop must have joined
 *     all its workers before ops_state_destroy() runs.
 *  2. Lookup counts follow FUSE exactly: a reply that gives the kernel a
 *     new reference (entry, create, readdirplus entries other than "." and
 *     "..") keeps the one the engine added; a reply that fails gives it
 *     back.
 *  3. Once attached, the engine belongs to the state: ops_unmount()
 *     unmounts it, from the destroy request or after the session loop,
 *     whichever comes first.
 */
#ifndef DIOFS_FUSE_OPS_H
#define DIOFS_FUSE_OPS_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif

#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include <fuse_lowlevel.h>

#include "diofs/fs.h"

struct ops_config {
	bool direct_io;		/* -o direct_io: every open bypasses the page cache */
	bool acl;		/* POSIX ACLs, when the kernel supports them */
	unsigned max_background; /* FUSE background requests (readahead, async dio) */
	double attr_timeout;	/* seconds the kernel may cache attributes */
	double entry_timeout;	/* seconds it may cache names, found or not */
	struct fuse_conn_info_opts *conn_opts; /* standard FUSE overrides, or NULL */
	/* The mount's backing device info, /sys/class/bdi/NAME, whose
	 * read-ahead the daemon sets (ops.c rule 18); NULL: leave it. */
	const char *bdi;
};

struct ops_state;

/*
 * The state is made before the engine is mounted, so that libfuse can
 * reject bad options without the device being touched; ops_state_attach()
 * gives it the mounted filesystem before the session is served.
 */
int ops_state_create(const struct ops_config *cfg, struct ops_state **out);
void ops_state_attach(struct ops_state *st, struct fs *fs);
/* The session that serves st, before it is mounted (ops.c rule 9). */
void ops_state_set_session(struct ops_state *st, struct fuse_session *se);
/* Unmount the attached engine unless that is done; fs_unmount()'s result,
 * the same on every call (rule 3). */
int ops_unmount(struct ops_state *st);
void ops_state_destroy(struct ops_state *st);

/*
 * Sent by mount.diofs to the root directory of a mount to remount it, with
 * a uint32_t: 1 read-only, 0 read-write (fs_set_read_only()).  Only root
 * may; other callers get EPERM.
 */
#define DIOFS_IOC_SET_RO	_IOW('d', 0xf0, uint32_t)

/* ext4's and XFS's shutdown, which older linux/fs.h do not define. */
#ifndef FS_IOC_SHUTDOWN
#define FS_IOC_SHUTDOWN			_IOR('X', 125, uint32_t)
#define FS_GOING_DOWN_FULLSYNC		0
#define FS_GOING_DOWN_METAFLUSH		1
#define FS_GOING_DOWN_NOSYNC		2
#endif

extern const struct fuse_lowlevel_ops ops_table;

#endif
