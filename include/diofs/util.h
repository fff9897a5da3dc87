/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * util: small helpers the engine modules (and fsck) share.
 *
 *  - container_of(): the structure a member pointer is inside.
 *  - grow_array(): make room for need elements in a realloc()ed array,
 *    doubling; 0 or -ENOMEM (the array is untouched then).
 *  - iov_total(): the bytes an iovec array describes.
 *  - set_msg(): format a one-line reason into a caller's buffer, which may
 *    be NULL (the caller did not ask why).
 */
#ifndef DIOFS_UTIL_H
#define DIOFS_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>

static inline int grow_array(void **v, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*v, n * size);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = n;
	return 0;
}

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

static inline size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t n = 0;

	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

static inline void set_msg(char *msg, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline void set_msg(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!msg || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
}

#endif
