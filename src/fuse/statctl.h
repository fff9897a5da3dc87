/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * statctl: what diofs-stat asks a mounted diofs for, and the names of what
 * it gets back.
 *
 * DIOFS_IOC_GET_STATS on the root directory of a mount answers with one
 * struct statctl_reply: the engine's counters (stats.h) and a latency
 * histogram for each kind of FUSE request the daemon serves.
 *
 * Rules:
 *  1. Only root and the user who mounted (the daemon's uid) may ask;
 *     everybody else gets EPERM, or EACCES from the kernel first when the
 *     mount is not allow_other.
 *  2. The reply's size is in the command number (_IOR), so the kernel
 *     copies exactly that much: it must stay below 16 KiB, the largest
 *     size an ioctl number can hold.  A layout that changes changes
 *     STATCTL_VERSION, and the size with it where it can.
 *  3. Request latencies are in microseconds, from the handler's entry to
 *     its return (the reply has gone to the kernel by then); the engine's
 *     histograms count what their enum says.
 */
#ifndef DIOFS_FUSE_STATCTL_H
#define DIOFS_FUSE_STATCTL_H

#include <stdint.h>
#include <sys/ioctl.h>

#include "diofs/stats.h"

/* The FUSE requests the daemon serves, each with its own histogram. */
enum ops_req {
	OPS_REQ_LOOKUP,
	OPS_REQ_FORGET,		/* forget and batch forget, per request */
	OPS_REQ_GETATTR,
	OPS_REQ_SETATTR,
	OPS_REQ_READLINK,
	OPS_REQ_MKNOD,
	OPS_REQ_MKDIR,
	OPS_REQ_UNLINK,
	OPS_REQ_RMDIR,
	OPS_REQ_SYMLINK,
	OPS_REQ_RENAME,
	OPS_REQ_LINK,
	OPS_REQ_OPEN,
	OPS_REQ_READ,
	OPS_REQ_WRITE,
	OPS_REQ_RELEASE,
	OPS_REQ_FSYNC,
	OPS_REQ_OPENDIR,
	OPS_REQ_READDIR,
	OPS_REQ_READDIRPLUS,
	OPS_REQ_RELEASEDIR,
	OPS_REQ_FSYNCDIR,
	OPS_REQ_STATFS,
	OPS_REQ_CREATE,
	OPS_REQ_SETXATTR,
	OPS_REQ_GETXATTR,
	OPS_REQ_LISTXATTR,
	OPS_REQ_REMOVEXATTR,
	OPS_REQ_FALLOCATE,
	OPS_REQ_LSEEK,
	OPS_REQ_COPY_FILE_RANGE,
	OPS_REQ_IOCTL,
	OPS_REQ_NR
};

#define STATCTL_VERSION		1
#define STATCTL_REQ_SLOTS	36	/* room for requests served later */

struct statctl_reply {
	uint64_t version;	/* STATCTL_VERSION */
	uint64_t uptime_ns;	/* since the daemon attached the engine */
	struct stats_engine engine;
	struct stats_hist req[STATCTL_REQ_SLOTS];	/* enum ops_req */
};

static_assert(OPS_REQ_NR <= STATCTL_REQ_SLOTS, "request slots");
static_assert(sizeof(struct statctl_reply) < (1u << 14), "rule 2");

#define DIOFS_IOC_GET_STATS	_IOR('d', 0xf1, struct statctl_reply)

/* Names as diofs-stat prints them and diofs(8) documents them. */
extern const char *const statctl_req_names[OPS_REQ_NR];
extern const char *const statctl_counter_names[STATS_NR_COUNTERS];
extern const char *const statctl_hist_names[STATS_NR_HISTS];

#endif
