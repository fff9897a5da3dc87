/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * log.c: standard error or syslog, with a rate limit (log.h).
 */
#include "log.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum log_dest { DEST_TERMINAL, DEST_SYSLOG, DEST_DETACHED_STDERR };

static enum log_dest dest = DEST_TERMINAL;

/* rule 2 */
static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;
static struct timespec window_start;
static unsigned window_count;
static unsigned long suppressed;
static unsigned long errors;		/* log_errors() */

static void log_write(int level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void log_write(int level, const char *fmt, va_list ap)
{
	char line[512];

	if (dest == DEST_SYSLOG) {
		vsyslog(level, fmt, ap);
		return;
	}
	/* one write per message, so lines of different threads never mix */
	vsnprintf(line, sizeof(line), fmt, ap);
	if (dest == DEST_DETACHED_STDERR)
		fprintf(stderr, "diofs[%ld]: %s\n", (long)getpid(), line);
	else
		fprintf(stderr, "diofs: %s\n", line);
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(level, fmt, ap);
	va_end(ap);
}

static void log_suppressed(void)
{
	log_msg(LOG_WARNING, "%lu message%s suppressed (at most %d every %d seconds)",
		suppressed, suppressed == 1 ? "" : "s", LOG_BURST,
		LOG_INTERVAL);
	suppressed = 0;
}

void log_event(int level, const char *fmt, ...)
{
	struct timespec now;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&limit_lock);
	if (level <= LOG_ERR)
		errors++;
	if (window_count == 0 ||
	    now.tv_sec - window_start.tv_sec >= LOG_INTERVAL) {
		if (suppressed)
			log_suppressed();
		window_start = now;
		window_count = 0;
	}
	if (window_count < LOG_BURST) {
		window_count++;
		va_start(ap, fmt);
		log_write(level, fmt, ap);
		va_end(ap);
	} else {
		suppressed++;
	}
	pthread_mutex_unlock(&limit_lock);
}

void log_engine(int level, const char *line)
{
	log_event(level, "%s", line);
}

unsigned long log_errors(void)
{
	unsigned long n;

	pthread_mutex_lock(&limit_lock);
	n = errors;
	pthread_mutex_unlock(&limit_lock);
	return n;
}

void log_flush(void)
{
	pthread_mutex_lock(&limit_lock);
	if (suppressed)
		log_suppressed();
	pthread_mutex_unlock(&limit_lock);
}

/* Rule 1: whether a syslog daemon takes messages on /dev/log (glibc
 * tries a datagram socket, then a stream one). */
static bool syslog_listens(void)
{
	static const int types[] = { SOCK_DGRAM, SOCK_STREAM };
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	bool ok = false;
	unsigned i;
	int fd;

	strncpy(addr.sun_path, _PATH_LOG, sizeof(addr.sun_path) - 1);
	for (i = 0; i < sizeof(types) / sizeof(types[0]) && !ok; i++) {
		fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		ok = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
		close(fd);
	}
	return ok;
}

/* Rule 4: a file or a terminal, not a pipe or socket someone reads to
 * the end. */
static bool stderr_keepable(void)
{
	struct stat st;

	return fstat(STDERR_FILENO, &st) == 0 &&
	       (S_ISREG(st.st_mode) || S_ISCHR(st.st_mode));
}

void log_detach(void)
{
	bool to_syslog = syslog_listens();
	bool keep = !to_syslog && stderr_keepable();
	int fd;

	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (!keep)
			dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	if (to_syslog)
		openlog("diofs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	dest = to_syslog ? DEST_SYSLOG : DEST_DETACHED_STDERR;
}
