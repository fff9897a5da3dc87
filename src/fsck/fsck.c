/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fsck.diofs: check and repair a diofs filesystem.
 *
 * The checker itself is fsck_run() (check.c); this program parses the
 * options, makes sure nobody else uses the filesystem, opens it and turns
 * the result into fsck(8)'s exit codes.
 *
 * Rules:
 *  1. Exit codes are fsck(8)'s, or-ed together: 0 no errors, 1 errors
 *     corrected, 4 errors left uncorrected, 8 operational error (cannot
 *     open, not a diofs filesystem, I/O error), 16 usage or syntax error.
 *  2. -n opens the device read-only and writes nothing.  -y repairs
 *     everything it can.  -p is -y without questions, which this tool
 *     never asks anyway, except that it skips a cleanly unmounted
 *     filesystem unless -f is given.  Without any of the three, -n.
 *  3. A mounted filesystem is refused: the daemon holds its device
 *     exclusively (bdev_open() then fails with EBUSY), and an image file
 *     behind a mounted loop device is found through libmount.
 *  4. Problems and fixes go to stdout, one line each; a failure that ends
 *     the run is one line on stderr.
 *  5. Progress, as e2fsck shows it: -C FD (FD > 0) writes a line
 *     "PASS DONE TOTAL DEVICE" to FD at every step the checker reports,
 *     for fsck(8) and systemd-fsck; -C 0 keeps one line on stdout up to
 *     date, and so does a check without -C whose stderr is a terminal,
 *     there.  That line appears only once the check has run for a second,
 *     and is wiped before any other output, so it never mixes with it.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libmount/libmount.h>

#include "diofs/bdev.h"
#include "checker.h"

#define PROG "fsck.diofs"

#define EXIT_CLEAN	0
#define EXIT_FIXED	1
#define EXIT_LEFT	4
#define EXIT_OPERROR	8
#define EXIT_USAGE	16

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2),
							      noreturn));

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("; run '" PROG " -h' for help\n", stderr);
	exit(EXIT_USAGE);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						     noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_OPERROR);
}

static void help(void)
{
	printf("Usage: " PROG " [-n|-y|-p] [-f] [-C FD] DEVICE|IMAGE\n"
	       "Check a diofs filesystem and, with -y or -p, repair it.\n\n"
	       "  -n     check only: open read-only, change nothing (the default)\n"
	       "  -y     repair every problem that can be repaired\n"
	       "  -p     repair without questions (as -y); skip a cleanly\n"
	       "         unmounted filesystem unless -f is given (-a is the same)\n"
	       "  -f     check even a cleanly unmounted filesystem with -p\n"
	       "  -C FD  write progress lines \"PASS DONE TOTAL DEVICE\" to file\n"
	       "         descriptor FD; with 0, show a progress line on stdout\n"
	       "  -V     print the version and exit\n"
	       "  -h     show this help\n\n"
	       "Exit status: 0 no errors, 1 errors corrected, 4 errors left\n"
	       "uncorrected, 8 operational error, 16 usage or syntax error.\n");
}

/* ---- progress (rule 5) ------------------------------------------------------- */

struct progress {
	int fd;			/* -C FD, FD > 0; -1: none */
	FILE *line;		/* where the updating line goes; NULL: none */
	const char *dev;
	struct timespec start;
	char shown[80];		/* the line on the screen now; "": none */
};

static double since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) +
	       (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* Wipe the progress line, if one is shown. */
static void progress_clear(struct progress *p)
{
	size_t n = strlen(p->shown);

	if (!n)
		return;
	fprintf(p->line, "\r%*s\r", (int)n, "");
	fflush(p->line);
	p->shown[0] = '\0';
}

static void progress_step(void *arg, int pass, uint64_t done, uint64_t total)
{
	struct progress *p = arg;
	const char *what;
	char text[sizeof(p->shown)];
	size_t old = strlen(p->shown);

	if (p->fd > 0) {
		/* e2fsck's format, which fsck(8) and systemd-fsck read */
		dprintf(p->fd, "%d %" PRIu64 " %" PRIu64 " %s\n", pass, done,
			total, p->dev);
		return;
	}
	if (!p->line || (!old && since(&p->start) < 1.0))
		return;
	switch (pass) {
	case FSCK_PASS_INODES:
		what = "inodes";
		break;
	case FSCK_PASS_DIRS:
		what = "directories";
		break;
	default:
		what = "groups";
		break;
	}
	snprintf(text, sizeof(text), "diofs: checking %s %3d%%", what,
		 total ? (int)(done * 100 / total) : 100);
	if (!strcmp(text, p->shown))
		return;
	fprintf(p->line, "\r%s", text);
	if (strlen(text) < old)
		fprintf(p->line, "%*s\r%s", (int)(old - strlen(text)), "", text);
	fflush(p->line);
	strcpy(p->shown, text);
}

/* The problem lines go through here, so the progress line is wiped before
 * each of them. */
static ssize_t out_write(void *arg, const char *buf, size_t size)
{
	progress_clear(arg);
	if (fwrite(buf, 1, size, stdout) != size)
		return -1;
	fflush(stdout);
	return (ssize_t)size;
}

/* Is the image file st backing a loop device that is mounted? */
static const char *loop_mounted(const struct stat *st, struct libmnt_table *tb,
				char *dev, size_t devlen)
{
	char file[PATH_MAX], back[PATH_MAX];
	struct libmnt_fs *fs;
	struct dirent *de;
	struct stat bst;
	const char *where = NULL;
	DIR *dir;
	FILE *in;

	dir = opendir("/sys/block");
	if (!dir)
		return NULL;
	while (!where && (de = readdir(dir))) {
		if (strncmp(de->d_name, "loop", 4))
			continue;
		snprintf(file, sizeof(file), "/sys/block/%s/loop/backing_file",
			 de->d_name);
		in = fopen(file, "re");
		if (!in)
			continue;
		if (!fgets(back, sizeof(back), in))
			back[0] = '\0';
		fclose(in);
		back[strcspn(back, "\n")] = '\0';
		if (stat(back, &bst) || bst.st_dev != st->st_dev ||
		    bst.st_ino != st->st_ino)
			continue;
		snprintf(dev, devlen, "/dev/%s", de->d_name);
		fs = mnt_table_find_srcpath(tb, dev, MNT_ITER_BACKWARD);
		if (fs)
			where = mnt_fs_get_target(fs);
	}
	closedir(dir);
	return where;
}

/* Rule 3, for what the exclusive open cannot see. */
static void refuse_mounted(const char *path)
{
	struct libmnt_table *tb;
	struct libmnt_fs *fs;
	struct stat st;
	char *real, dev[300];
	const char *where = NULL;

	real = realpath(path, NULL);
	if (!real)
		return;
	tb = mnt_new_table_from_file("/proc/self/mountinfo");
	if (tb) {
		fs = mnt_table_find_srcpath(tb, real, MNT_ITER_BACKWARD);
		if (!fs)
			fs = mnt_table_find_source(tb, real, MNT_ITER_BACKWARD);
		if (fs)
			where = mnt_fs_get_target(fs);
		else if (!stat(real, &st) && S_ISREG(st.st_mode))
			where = loop_mounted(&st, tb, dev, sizeof(dev));
		if (where) {
			fprintf(stderr, PROG ": %s is in use (mounted?): unmount it first (it is mounted on %s)\n",
				path, where);
			exit(EXIT_OPERROR);
		}
		mnt_unref_table(tb);
	}
	free(real);
}

int main(int argc, char **argv)
{
	struct fsck_opts opts = { 0 };
	struct progress prog = { .fd = -1 };
	struct fsck_result res;
	struct bdev *bdev;
	const char *path, *emsg = NULL;
	int c, mode = 0, force = 0, err, status = EXIT_CLEAN;
	char *end;
	long fd;

	opterr = 0;
	while ((c = getopt(argc, argv, ":nypafC:Vh")) != -1) {
		switch (c) {
		case 'n':
		case 'y':
		case 'p':
		case 'a':
			if (c == 'a')
				c = 'p';
			if (mode && mode != c)
				usage_error("-%c and -%c cannot be used together",
					    mode, c);
			mode = c;
			break;
		case 'f':
			force = 1;
			break;
		case 'C':
			errno = 0;
			fd = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || fd < 0 ||
			    fd > INT_MAX)
				usage_error("-C needs a file descriptor number, not '%s'",
					    optarg);
			if (fd > 0 && fcntl((int)fd, F_GETFL) < 0)
				usage_error("-C %ld: file descriptor %ld is not open",
					    fd, fd);
			prog.fd = (int)fd;
			break;
		case 'V':
			printf(PROG " (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return EXIT_CLEAN;
		case 'h':
			help();
			return EXIT_CLEAN;
		case ':':
			usage_error("option -%c needs an argument", optopt);
		default:
			usage_error("unknown option -%c", optopt);
		}
	}
	if (optind == argc)
		usage_error("no device or image given");
	if (optind + 1 < argc)
		usage_error("too many arguments ('%s'): give one device or image",
			    argv[optind + 1]);
	path = argv[optind];
	if (!mode)
		mode = 'n';
	opts.repair = mode != 'n';
	opts.skip_clean = mode == 'p' && !force;
	opts.out = stdout;
	prog.dev = path;
	if (prog.fd == 0)
		prog.line = stdout;
	else if (prog.fd < 0 && isatty(STDERR_FILENO))
		prog.line = stderr;
	if (prog.fd >= 0 || prog.line) {
		opts.progress = progress_step;
		opts.progress_arg = &prog;
		clock_gettime(CLOCK_MONOTONIC, &prog.start);
	}
	if (prog.line) {
		cookie_io_functions_t io = { .write = out_write };

		opts.out = fopencookie(&prog, "w", io);
		if (!opts.out)
			die("out of memory");
		setvbuf(opts.out, NULL, _IOLBF, 0);
	}

	refuse_mounted(path);
	err = bdev_open(path, opts.repair ? BDEV_RDWR : BDEV_RDONLY, &bdev,
			&emsg);
	if (err == -EBUSY)
		die("%s is in use (mounted?): unmount it first", path);
	if (err)
		die("cannot open %s: %s", path, emsg ? emsg : strerror(-err));

	err = fsck_run(bdev, &opts, &res);
	bdev_close(bdev);
	if (opts.out != stdout)
		fclose(opts.out);
	if (prog.line)
		progress_clear(&prog);
	fflush(stdout);
	if (err)
		die("%s: %s", path, res.msg);

	if (res.skipped) {
		printf("%s: clean, %" PRIu64 "/%" PRIu64 " inodes, %" PRIu64 "/%" PRIu64 " blocks\n",
		       path, res.inodes_used, res.inodes_count,
		       res.blocks_used, res.blocks_count);
		return EXIT_CLEAN;
	}
	if (res.fixed)
		status |= EXIT_FIXED;
	if (res.left)
		status |= EXIT_LEFT;
	printf("%s: %" PRIu64 "/%" PRIu64 " inodes, %" PRIu64 "/%" PRIu64 " blocks in use\n",
	       path, res.inodes_used, res.inodes_count, res.blocks_used,
	       res.blocks_count);
	if (!res.found)
		printf("%s: no errors found\n", path);
	else if (!opts.repair)
		printf("%s: %" PRIu64 " problem%s found; run " PROG " -y to repair\n",
		       path, res.found, res.found == 1 ? "" : "s");
	else if (!res.left)
		printf("%s: %" PRIu64 " problem%s repaired\n", path, res.fixed,
		       res.fixed == 1 ? "" : "s");
	else
		printf("%s: %" PRIu64 " problem%s repaired, %" PRIu64 " left uncorrected\n",
		       path, res.fixed, res.fixed == 1 ? "" : "s", res.left);
	return status;
}
