/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * channel.c: reading requests and writing replies for libfuse, to use
 * what libfuse 3.14 cannot ask for (channel.h).
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "channel.h"

/* Set while the INIT request waits for its reply (rules 1 and 4). */
static uint64_t init_unique;
static bool init_offers_killpriv;

static __thread bool request_kills_setid;	/* rule 2 */

/*
 * Rule 5: how long a worker with work in flight waits before it looks
 * again by itself, in case a completion never signals the event fd (a
 * request the device refused for the moment, resent at the next reap).
 */
#define WORK_POLL_MS	10

/* Rule 5: a thread's waiting state. */
struct waiter {
	const struct channel_worker *worker;
	int epfd;		/* -1: none yet */
	int mode_fd;		/* the /dev/fuse fd whose mode is known */
	bool nonblocking;	/* its mode */
	int watched_dev;	/* the /dev/fuse fd in epfd */
	int watched_work;	/* the work's event fd in epfd */
};

static __thread struct waiter waiter = {
	.epfd = -1, .mode_fd = -1, .watched_dev = -1, .watched_work = -1,
};
/* The session's own descriptor, which workers share if libfuse could not
 * clone one for each: its mode is never changed (rule 5). */
static int session_fd = -1;
static pthread_key_t waiter_key;	/* closes a thread's epfd at its end */
static pthread_once_t waiter_once = PTHREAD_ONCE_INIT;

/* The first @size bytes of the request's argument, the rest zeroed. */
static void request_arg(void *dst, size_t size, const void *arg,
			size_t arg_size)
{
	memset(dst, 0, size);
	memcpy(dst, arg, arg_size < size ? arg_size : size);
}

static void note_request(const void *buf, size_t len)
{
	const struct fuse_in_header *in = buf;
	const void *arg = in + 1;
	size_t arg_size;
	union {
		struct fuse_init_in init;
		struct fuse_write_in write;
		struct fuse_setattr_in setattr;
		struct fuse_create_in create;
	} a;

	request_kills_setid = false;
	if (len < sizeof(*in))
		return;
	arg_size = len - sizeof(*in);
	switch (in->opcode) {
	case FUSE_INIT:
		request_arg(&a.init, sizeof(a.init), arg, arg_size);
		init_offers_killpriv = a.init.flags & FUSE_HANDLE_KILLPRIV_V2;
		__atomic_store_n(&init_unique, in->unique, __ATOMIC_RELEASE);
		break;
	case FUSE_WRITE:
		request_arg(&a.write, sizeof(a.write), arg, arg_size);
		request_kills_setid =
			a.write.write_flags & FUSE_WRITE_KILL_SUIDGID;
		break;
	case FUSE_SETATTR:
		request_arg(&a.setattr, sizeof(a.setattr), arg, arg_size);
		request_kills_setid = a.setattr.valid & FATTR_KILL_SUIDGID;
		break;
	case FUSE_CREATE:
		request_arg(&a.create, sizeof(a.create), arg, arg_size);
		request_kills_setid =
			a.create.open_flags & FUSE_OPEN_KILL_SUIDGID;
		break;
	}
}

static void waiter_end(void *p)
{
	struct waiter *w = p;

	close(w->epfd);
	w->epfd = -1;
}

static void waiter_key_make(void)
{
	(void)pthread_key_create(&waiter_key, waiter_end);
}

/* Rule 5: collect the thread's work; libfuse may cancel a worker only
 * while it waits, never half-way through an answer. */
static unsigned collect(bool all)
{
	const struct channel_worker *w = waiter.worker;
	unsigned inflight;
	int state;

	if (!w)
		return 0;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	inflight = w->collect(w->arg, all);
	pthread_setcancelstate(state, NULL);
	return inflight;
}

/* Make the thread's /dev/fuse fd non-blocking or blocking; false when its
 * mode cannot be changed. */
static bool set_nonblocking(int fd, bool on)
{
	int flags;

	if (fd == session_fd)
		return false;
	if (waiter.mode_fd == fd && waiter.nonblocking == on)
		return true;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return false;
	flags = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
	if (fcntl(fd, F_SETFL, flags) < 0)
		return false;
	waiter.mode_fd = fd;
	waiter.nonblocking = on;
	return true;
}

/* The thread's epoll set with @fd in it, and the work's event fd when
 * @work; false when it cannot be had. */
static bool watch(int fd, bool work)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int event_fd = waiter.worker ? waiter.worker->event_fd : -1;

	if (waiter.epfd < 0) {
		pthread_once(&waiter_once, waiter_key_make);
		waiter.epfd = epoll_create1(EPOLL_CLOEXEC);
		if (waiter.epfd < 0)
			return false;
		(void)pthread_setspecific(waiter_key, &waiter);
	}
	if (waiter.watched_dev != fd) {
		ev.events = EPOLLIN | EPOLLEXCLUSIVE;
		ev.data.fd = fd;
		if (epoll_ctl(waiter.epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			return false;
		waiter.watched_dev = fd;
	}
	if (work && event_fd >= 0 && waiter.watched_work != event_fd) {
		if (waiter.watched_work >= 0)
			(void)epoll_ctl(waiter.epfd, EPOLL_CTL_DEL,
					waiter.watched_work, NULL);
		/* edge-triggered: each completion wakes once, and the
		 * counter never needs clearing */
		ev.events = EPOLLIN | EPOLLET;
		ev.data.fd = event_fd;
		if (epoll_ctl(waiter.epfd, EPOLL_CTL_ADD, event_fd, &ev) < 0)
			return false;
		waiter.watched_work = event_fd;
	}
	return true;
}

/* Wait until a request may be there to read, or, with work in flight,
 * some of it may have completed. */
static void wait_ready(int fd, unsigned inflight)
{
	int timeout = inflight ? WORK_POLL_MS : -1;
	struct epoll_event ev[2];
	struct pollfd pfd[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = inflight ? waiter.worker->event_fd : -1,
		  .events = POLLIN },
	};
	uint64_t events;

	if (watch(fd, inflight)) {
		(void)epoll_wait(waiter.epfd, ev, 2, timeout);
		return;
	}
	/* level-triggered: cleared before the collection that follows */
	if (poll(pfd, 2, timeout) > 0 && pfd[1].revents)
		(void)read(pfd[1].fd, &events, sizeof(events));
}

/*
 * Rule 5.  A worker without work in flight blocks in read(2), as libfuse
 * would: waking a worker through epoll instead halved the rate of one
 * process's stat(2)s.  One with work reads without blocking and, when
 * nothing is there, waits in epoll, where a new request wakes one waiting
 * worker and its completions wake it.  The descriptor goes back to
 * blocking only when the worker finds neither work nor a request, so a
 * busy worker does not switch it per request.  On a descriptor whose mode
 * cannot be changed (the session's own, which workers may share) the
 * work is collected before each read, as if it were synchronous.  EAGAIN
 * never reaches libfuse, which would end the session.
 */
static ssize_t channel_read(int fd, void *buf, size_t len, void *userdata)
{
	const struct fuse_in_header *in = buf;
	unsigned inflight;
	ssize_t n;
	int err;

	(void)userdata;
	for (;;) {
		inflight = collect(false);
		if (inflight && !set_nonblocking(fd, true))
			inflight = collect(true);
		n = read(fd, buf, len);
		if (n >= 0 || errno != EAGAIN)
			break;
		/* idle: block in read(2) from now on */
		if (!inflight && set_nonblocking(fd, false))
			continue;
		wait_ready(fd, inflight);
	}
	err = errno;
	if (inflight && (n < (ssize_t)sizeof(*in) ||
			 (in->opcode != FUSE_READ && in->opcode != FUSE_WRITE)))
		collect(true);
	if (n > 0)
		note_request(buf, (size_t)n);
	errno = err;
	return n;
}

void channel_set_worker(const struct channel_worker *w)
{
	waiter.worker = w;
}

/* The INIT reply: libfuse's, with KILLPRIV_V2 added (rule 1). */
static void amend_init_reply(struct iovec *iov, int count)
{
	const struct fuse_out_header *out = iov[0].iov_base;
	struct fuse_init_out *reply;

	__atomic_store_n(&init_unique, 0, __ATOMIC_RELEASE);
	if (out->error || count < 2 ||
	    iov[1].iov_len < offsetof(struct fuse_init_out, flags) +
			     sizeof(reply->flags))
		return;
	reply = iov[1].iov_base;
	if (init_offers_killpriv)
		reply->flags |= FUSE_HANDLE_KILLPRIV_V2;
}

static ssize_t channel_writev(int fd, struct iovec *iov, int count,
			      void *userdata)
{
	const struct fuse_out_header *out = iov[0].iov_base;
	uint64_t init = __atomic_load_n(&init_unique, __ATOMIC_ACQUIRE);

	(void)userdata;
	if (init && out->unique == init)
		amend_init_reply(iov, count);
	return writev(fd, iov, count);
}

int channel_attach(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.read = channel_read,
		.writev = channel_writev,
	};

	session_fd = fuse_session_fd(se);
	return fuse_session_custom_io(se, &io, session_fd);
}

bool channel_request_kills_setid(void)
{
	return request_kills_setid;
}
