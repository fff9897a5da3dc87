/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * channel: the daemon's reads from and writes to /dev/fuse, under libfuse.
 *
 * libfuse 3.14 reads every request and writes every reply through the
 * hooks channel_attach() installs (fuse_session_custom_io()), so that the
 * daemon can use a part of the kernel's protocol (7.33 and later) which
 * libfuse 3.14 can neither ask for nor pass on: FUSE_HANDLE_KILLPRIV_V2.
 *
 * Without it the kernel cannot trust its cached "this file has no set-id
 * bits and no security.capability attribute" state for a FUSE file, so it
 * asks the daemon for "security.capability" before every write(2): one
 * more round trip per write, the whole cost of a small append under
 * writeback caching.  With it the kernel trusts that state until the
 * file's attributes are next fetched, and leaves clearing the set-user-ID
 * and set-group-ID bits to the daemon, flagging the requests that must:
 * a write (FUSE_WRITE_KILL_SUIDGID) or truncate (FATTR_KILL_SUIDGID) by a
 * caller without CAP_FSETID, any change of owner (FATTR_KILL_SUIDGID), a
 * create with O_TRUNC of a name that turns out to exist
 * (FUSE_OPEN_KILL_SUIDGID).  The kernel still removes security.capability
 * itself, with a removexattr request, as for any filesystem.
 *
 * Rules:
 *  1. The INIT reply is libfuse's, with FUSE_HANDLE_KILLPRIV_V2 added when
 *     the kernel offered it.
 *  2. libfuse serves a request on the thread that read it, from the buffer
 *     it read it into, and the handler replies before the thread reads
 *     again.  So the read hook notes, per thread, whether the request just
 *     read carries one of the flags above, and
 *     channel_request_kills_setid() gives the handler that answer.
 *  3. Splice is never used: requests must arrive in memory, where the read
 *     hook sees them (libfuse offers no splice without splice hooks).
 *  4. One session per daemon: the INIT state is the process's.
 *  5. A worker may leave work in flight when its handler returns (the
 *     engine's reads and writes, ops.c), having told the channel how to
 *     collect it (channel_set_worker()).  While it has some, the read hook
 *     waits for the next request and for that work together: the thread's
 *     /dev/fuse descriptor is made non-blocking and watched with epoll
 *     (exclusively, so that one request wakes one waiting worker) beside
 *     the work's event fd, and whatever completes is collected, and
 *     answered, as it does; without any, the worker blocks in read(2)
 *     again.  Before the
 *     hook hands libfuse any request but a READ or a WRITE, it collects
 *     all of the thread's work, so that every other handler starts with
 *     nothing in flight: it may take locks that work holds.
 */
#ifndef DIOFS_FUSE_CHANNEL_H
#define DIOFS_FUSE_CHANNEL_H

#include <stdbool.h>

struct fuse_session;

/* Serve the mounted session @se through the hooks, from before its
 * first request.  Returns 0 or a negative errno. */
int channel_attach(struct fuse_session *se);

/* Rule 2: the request this thread is serving asks for the set-id bits
 * to be cleared. */
bool channel_request_kills_setid(void);

/* Rule 5: a worker's work in flight. */
struct channel_worker {
	int event_fd;	/* polls readable when some of it may have completed */
	/* Collect what has completed, or, with all, wait for all of it;
	 * returns how much is still in flight. */
	unsigned (*collect)(void *arg, bool all);
	void *arg;
};

/* Rule 5: the calling thread's work is @w (NULL: none), which must stay
 * valid while the thread may read requests. */
void channel_set_worker(const struct channel_worker *w);

#endif
