/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * statctl.c: the names of the counters in a struct statctl_reply, shared
 * by the daemon and diofs-stat.
 */
#include "statctl.h"

const char *const statctl_req_names[OPS_REQ_NR] = {
	[OPS_REQ_LOOKUP] = "lookup",
	[OPS_REQ_FORGET] = "forget",
	[OPS_REQ_GETATTR] = "getattr",
	[OPS_REQ_SETATTR] = "setattr",
	[OPS_REQ_READLINK] = "readlink",
	[OPS_REQ_MKNOD] = "mknod",
	[OPS_REQ_MKDIR] = "mkdir",
	[OPS_REQ_UNLINK] = "unlink",
	[OPS_REQ_RMDIR] = "rmdir",
	[OPS_REQ_SYMLINK] = "symlink",
	[OPS_REQ_RENAME] = "rename",
	[OPS_REQ_LINK] = "link",
	[OPS_REQ_OPEN] = "open",
	[OPS_REQ_READ] = "read",
	[OPS_REQ_WRITE] = "write",
	[OPS_REQ_RELEASE] = "release",
	[OPS_REQ_FSYNC] = "fsync",
	[OPS_REQ_OPENDIR] = "opendir",
	[OPS_REQ_READDIR] = "readdir",
	[OPS_REQ_READDIRPLUS] = "readdirplus",
	[OPS_REQ_RELEASEDIR] = "releasedir",
	[OPS_REQ_FSYNCDIR] = "fsyncdir",
	[OPS_REQ_STATFS] = "statfs",
	[OPS_REQ_CREATE] = "create",
	[OPS_REQ_SETXATTR] = "setxattr",
	[OPS_REQ_GETXATTR] = "getxattr",
	[OPS_REQ_LISTXATTR] = "listxattr",
	[OPS_REQ_REMOVEXATTR] = "removexattr",
	[OPS_REQ_FALLOCATE] = "fallocate",
	[OPS_REQ_LSEEK] = "lseek",
	[OPS_REQ_COPY_FILE_RANGE] = "copy_file_range",
	[OPS_REQ_IOCTL] = "ioctl",
};

const char *const statctl_counter_names[STATS_NR_COUNTERS] = {
	[STATS_DEV_READS] = "dev_reads",
	[STATS_DEV_WRITES] = "dev_writes",
	[STATS_DEV_READ_BYTES] = "dev_read_bytes",
	[STATS_DEV_WRITE_BYTES] = "dev_write_bytes",
	[STATS_DEV_SUBMIT_CALLS] = "dev_submit_calls",
	[STATS_DEV_EAGAIN] = "dev_eagain",
	[STATS_DEV_SHORT] = "dev_short_completions",
	[STATS_DEV_FLUSHES] = "dev_flushes",
	[STATS_DIO_READS] = "dio_reads",
	[STATS_DIO_WRITES] = "dio_writes",
	[STATS_DIO_READ_BYTES] = "dio_read_bytes",
	[STATS_DIO_WRITE_BYTES] = "dio_write_bytes",
	[STATS_DIO_ZERO_READ_BYTES] = "dio_zero_read_bytes",
	[STATS_DIO_ZEROED_BYTES] = "dio_zeroed_bytes",
	[STATS_DIO_RMW] = "dio_rmw_reads",
	[STATS_WRITES_BEHIND] = "writes_behind",
	[STATS_CACHE_HITS] = "cache_hits",
	[STATS_CACHE_MISSES] = "cache_misses",
	[STATS_TXN_STARTED] = "txn_started",
	[STATS_TXN_COMMITTED] = "txn_committed",
	[STATS_TXN_ABORTED] = "txn_aborted",
	[STATS_COMMITS] = "commits",
	[STATS_JOURNAL_COMMITS] = "journal_commits",
	[STATS_JOURNAL_BLOCKS] = "journal_blocks",
	[STATS_CHECKPOINTS] = "checkpoints",
};

const char *const statctl_hist_names[STATS_NR_HISTS] = {
	[STATS_H_BATCH] = "dev_batch_iocbs",
	[STATS_H_QUEUE_DEPTH] = "dev_queue_depth",
	[STATS_H_MERGES] = "dio_merges",
};
