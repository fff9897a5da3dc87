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
 *     write; it is destroyed when the thread ends.  So the session loop
 *     must have joined all its workers before ops_state_destroy() and
 *     fs_unmount() run.
 *  2. Lookup counts follow FUSE exactly: a reply that gives the kernel a
 *     new reference (entry, create, readdirplus entries other than "." and
 *     "..") keeps the one the engine added; a reply that fails gives it
 *     back.
 */
#ifndef DIOFS_FUSE_OPS_H
#define DIOFS_FUSE_OPS_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif

#include <stdbool.h>

#include <fuse_lowlevel.h>

#include "diofs/fs.h"

struct ops_config {
	bool direct_io;		/* -o direct_io: every open bypasses the page cache */
	bool acl;		/* POSIX ACLs, when the kernel supports them */
	unsigned max_background; /* FUSE background requests (readahead, async dio) */
	double timeout;		/* seconds the kernel may cache entries and attributes */
	struct fuse_conn_info_opts *conn_opts; /* standard FUSE overrides, or NULL */
};

struct ops_state;

/*
 * The state is made before the engine is mounted, so that libfuse can
 * reject bad options without the device being touched; ops_state_attach()
 * gives it the mounted filesystem before the session is served.
 */
int ops_state_create(const struct ops_config *cfg, struct ops_state **out);
void ops_state_attach(struct ops_state *st, struct fs *fs);
void ops_state_destroy(struct ops_state *st);

extern const struct fuse_lowlevel_ops ops_table;

#endif
