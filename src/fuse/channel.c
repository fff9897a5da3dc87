/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * channel.c: reading requests and writing replies for libfuse, to use
 * what libfuse 3.14 cannot ask for (channel.h).
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "channel.h"

/* Set while the INIT request waits for its reply (rules 1 and 4). */
static uint64_t init_unique;
static bool init_offers_killpriv;

static __thread bool request_kills_setid;	/* rule 2 */

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

static ssize_t channel_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);

	(void)userdata;
	if (n > 0)
		note_request(buf, (size_t)n);
	return n;
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

	return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}

bool channel_request_kills_setid(void)
{
	return request_kills_setid;
}
