/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * append-bench: small appends through write(2), as a log writer makes them.
 *
 *     append-bench [-n COUNT] [-s SIZE] [-p PROCS] [-d] FILE
 *
 * Creates FILE (truncating it), opens it with O_WRONLY | O_APPEND (and
 * O_DIRECT with -d) in each of PROCS processes (1), and makes COUNT
 * (20000) appends of SIZE (4) bytes in total, split evenly between the
 * processes; then closes it, which hands the kernel's cached writes to the
 * filesystem.  It checks that the file ends up COUNT * SIZE bytes long and
 * prints
 *
 *     appends/s N
 *
 * with N = COUNT / (seconds from the first write to the last close).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int append_loop(const char *path, int flags, long count, size_t size)
{
	char *buf;
	long i;
	int fd;

	/* O_DIRECT wants an aligned buffer. */
	if (posix_memalign((void **)&buf, 4096, size < 4096 ? 4096 : size))
		return -1;
	memset(buf, 'a', size);
	fd = open(path, flags);
	if (fd < 0) {
		perror(path);
		return -1;
	}
	for (i = 0; i < count; i++) {
		if (write(fd, buf, size) != (ssize_t)size) {
			perror("write");
			return -1;
		}
	}
	if (close(fd)) {
		perror("close");
		return -1;
	}
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int flags = O_WRONLY | O_APPEND;
	long count = 20000, procs = 1, p;
	size_t size = 4;
	struct stat st;
	double t0, t;
	int c, fd, fails = 0, status;

	while ((c = getopt(argc, argv, "n:s:p:d")) != -1) {
		switch (c) {
		case 'n': count = atol(optarg); break;
		case 's': size = (size_t)atol(optarg); break;
		case 'p': procs = atol(optarg); break;
		case 'd': flags |= O_DIRECT; break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || count <= 0 || !size || procs <= 0)
		goto usage;
	fd = open(argv[optind], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || close(fd)) {
		perror(argv[optind]);
		return 1;
	}
	t0 = now();
	for (p = 0; p < procs; p++) {
		long n = count / procs + (p < count % procs);

		switch (fork()) {
		case -1:
			perror("fork");
			return 1;
		case 0:
			_exit(append_loop(argv[optind], flags, n, size) ? 1 : 0);
		}
	}
	while (wait(&status) > 0)
		fails += !WIFEXITED(status) || WEXITSTATUS(status);
	t = now() - t0;
	if (fails)
		return 1;
	if (stat(argv[optind], &st)) {
		perror(argv[optind]);
		return 1;
	}
	if (st.st_size != (off_t)(count * size)) {
		fprintf(stderr, "append-bench: %s is %lld bytes, not %lld\n",
			argv[optind], (long long)st.st_size,
			(long long)(count * size));
		return 1;
	}
	printf("appends/s %.0f\n", count / t);
	return 0;
usage:
	fprintf(stderr, "usage: append-bench [-n COUNT] [-s SIZE] [-p PROCS] [-d] FILE\n");
	return 2;
}
