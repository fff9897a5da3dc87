/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * diofs-stat: what a mounted diofs is doing, from its own counters.
 *
 *   diofs-stat [-j] [-H] MOUNTPOINT [INTERVAL [COUNT]]
 *
 * Asks the daemon behind MOUNTPOINT for its counters with the
 * DIOFS_IOC_GET_STATS ioctl on the mount's root directory (statctl.h) and
 * prints them: once, the totals since the mount; or, given INTERVAL, like
 * iostat: the totals first, then every INTERVAL seconds what happened
 * during the interval, COUNT reports in all (forever without COUNT).
 * diofs-stat(8) says what every field means.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <config.h>

#include "statctl.h"

#define PROG "diofs-stat"

enum { EXIT_USAGE = 2 };

struct opts {
	bool json;
	bool hist;		/* -H: every histogram bucket */
};

static void help(void)
{
	printf("Usage: " PROG " [options] MOUNTPOINT [INTERVAL [COUNT]]\n"
	       "Print the I/O statistics of a mounted diofs: the totals since it was\n"
	       "mounted, then, given INTERVAL (seconds), what happened in each interval.\n"
	       "\n"
	       "Options:\n"
	       "  -j, --json        one JSON object per report, one a line\n"
	       "  -H, --histograms  print every bucket of the histograms\n"
	       "  -h, --help        print this help and exit\n"
	       "  -V, --version     print the version and exit\n");
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry '" PROG " --help' for more information.\n", stderr);
	exit(EXIT_USAGE);
}

static int get_stats(int fd, const char *mnt, struct statctl_reply *r)
{
	if (ioctl(fd, DIOFS_IOC_GET_STATS, r) < 0) {
		int err = errno;

		if (err == ENOTTY || err == EINVAL || err == ENOSYS)
			fprintf(stderr, PROG ": %s: not the mountpoint of a diofs filesystem that reports statistics\n",
				mnt);
		else if (err == EPERM)
			fprintf(stderr, PROG ": %s: only root and the user who mounted it may read its statistics\n",
				mnt);
		else
			fprintf(stderr, PROG ": %s: %s\n", mnt, strerror(err));
		return -1;
	}
	if (r->version != STATCTL_VERSION) {
		fprintf(stderr, PROG ": %s: the daemon reports statistics version %llu, this program reads version %d\n",
			mnt, (unsigned long long)r->version, STATCTL_VERSION);
		return -1;
	}
	return 0;
}

/* now - before, word by word: every word of the reply is a sum. */
static void delta(struct statctl_reply *out, const struct statctl_reply *now,
		  const struct statctl_reply *before)
{
	const uint64_t *a = (const uint64_t *)&now->engine;
	const uint64_t *b = (const uint64_t *)&before->engine;
	uint64_t *o = (uint64_t *)&out->engine;
	size_t n = (sizeof(*now) - offsetof(struct statctl_reply, engine)) /
		   sizeof(uint64_t);

	out->version = now->version;
	out->uptime_ns = now->uptime_ns - before->uptime_ns;
	for (size_t i = 0; i < n; i++)
		o[i] = a[i] - b[i];
}

/* The upper end of the bucket that holds quantile q (stats.h rule 5). */
static uint64_t quantile(const struct stats_hist *h, double q)
{
	uint64_t want, seen = 0;
	unsigned k;

	if (!h->count)
		return 0;
	want = (uint64_t)ceil(q * (double)h->count);
	for (k = 0; k < STATS_BUCKETS; k++) {
		seen += h->bucket[k];
		if (seen >= want)
			break;
	}
	if (k >= STATS_BUCKETS)
		k = STATS_BUCKETS - 1;
	return k ? (1ull << k) - 1 : 0;
}

static double mean(const struct stats_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}

static double per_sec(uint64_t v, double secs)
{
	return secs > 0 ? (double)v / secs : 0.0;
}

static void print_buckets(const struct stats_hist *h, const char *unit)
{
	for (unsigned k = 0; k < STATS_BUCKETS; k++) {
		unsigned long long lo = k ? 1ull << (k - 1) : 0;
		unsigned long long hi = k ? (1ull << k) - 1 : 0;

		if (!h->bucket[k])
			continue;
		if (k == STATS_BUCKETS - 1)
			printf("      %10llu+ %-3s %12llu\n", lo, unit,
			       (unsigned long long)h->bucket[k]);
		else
			printf("      %5llu-%-5llu %-3s %11llu\n", lo, hi, unit,
			       (unsigned long long)h->bucket[k]);
	}
}

static void print_text(const struct statctl_reply *r, const char *mnt,
		       bool since_mount, const struct opts *o)
{
	const uint64_t *c = r->engine.counter;
	const struct stats_hist *eh = r->engine.hist;
	double secs = (double)r->uptime_ns / 1e9;
	uint64_t lookups = c[STATS_CACHE_HITS] + c[STATS_CACHE_MISSES];
	bool any = false;

	printf("%s: %s %.2f s\n", mnt,
	       since_mount ? "since mount," : "interval,", secs);
	printf("  %-16s %12s %10s %10s %8s %8s\n", "request", "count",
	       "per s", "mean us", "p50 us", "p99 us");
	for (unsigned i = 0; i < OPS_REQ_NR; i++) {
		const struct stats_hist *h = &r->req[i];

		if (!h->count)
			continue;
		any = true;
		printf("  %-16s %12llu %10.1f %10.1f %8llu %8llu\n",
		       statctl_req_names[i], (unsigned long long)h->count,
		       per_sec(h->count, secs), mean(h),
		       (unsigned long long)quantile(h, 0.5),
		       (unsigned long long)quantile(h, 0.99));
		if (o->hist)
			print_buckets(h, "us");
	}
	if (!any)
		printf("  (no requests)\n");

	printf("  device:    reads %llu (%llu bytes), writes %llu (%llu bytes)\n",
	       (unsigned long long)c[STATS_DEV_READS],
	       (unsigned long long)c[STATS_DEV_READ_BYTES],
	       (unsigned long long)c[STATS_DEV_WRITES],
	       (unsigned long long)c[STATS_DEV_WRITE_BYTES]);
	printf("             flushes %llu, io_submit calls %llu, eagain %llu, short completions %llu\n",
	       (unsigned long long)c[STATS_DEV_FLUSHES],
	       (unsigned long long)c[STATS_DEV_SUBMIT_CALLS],
	       (unsigned long long)c[STATS_DEV_EAGAIN],
	       (unsigned long long)c[STATS_DEV_SHORT]);
	for (unsigned i = 0; i < STATS_NR_HISTS; i++) {
		printf("             %s: mean %.2f, p50 %llu, p99 %llu (%llu samples)\n",
		       statctl_hist_names[i], mean(&eh[i]),
		       (unsigned long long)quantile(&eh[i], 0.5),
		       (unsigned long long)quantile(&eh[i], 0.99),
		       (unsigned long long)eh[i].count);
		if (o->hist)
			print_buckets(&eh[i], "");
	}
	printf("  direct I/O: reads %llu (%llu bytes), writes %llu (%llu bytes)\n",
	       (unsigned long long)c[STATS_DIO_READS],
	       (unsigned long long)c[STATS_DIO_READ_BYTES],
	       (unsigned long long)c[STATS_DIO_WRITES],
	       (unsigned long long)c[STATS_DIO_WRITE_BYTES]);
	printf("             read as zeros without I/O %llu bytes\n"
	       "             zeros written in new blocks %llu bytes\n"
	       "             read-modify-write reads %llu\n"
	       "             writes answered before the device %llu\n",
	       (unsigned long long)c[STATS_DIO_ZERO_READ_BYTES],
	       (unsigned long long)c[STATS_DIO_ZEROED_BYTES],
	       (unsigned long long)c[STATS_DIO_RMW],
	       (unsigned long long)c[STATS_WRITES_BEHIND]);
	printf("  metadata:  cache hits %llu, misses %llu (%.1f%% hits)\n",
	       (unsigned long long)c[STATS_CACHE_HITS],
	       (unsigned long long)c[STATS_CACHE_MISSES],
	       lookups ? 100.0 * (double)c[STATS_CACHE_HITS] /
				 (double)lookups : 0.0);
	printf("             transactions started %llu, committed %llu, aborted %llu\n",
	       (unsigned long long)c[STATS_TXN_STARTED],
	       (unsigned long long)c[STATS_TXN_COMMITTED],
	       (unsigned long long)c[STATS_TXN_ABORTED]);
	printf("             commits %llu, journal records %llu (%llu blocks), checkpoints %llu\n",
	       (unsigned long long)c[STATS_COMMITS],
	       (unsigned long long)c[STATS_JOURNAL_COMMITS],
	       (unsigned long long)c[STATS_JOURNAL_BLOCKS],
	       (unsigned long long)c[STATS_CHECKPOINTS]);
	printf("\n");
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void json_hist(const struct stats_hist *h)
{
	printf("{\"count\":%llu,\"sum\":%llu,\"buckets\":[",
	       (unsigned long long)h->count, (unsigned long long)h->sum);
	for (unsigned k = 0; k < STATS_BUCKETS; k++)
		printf("%s%llu", k ? "," : "",
		       (unsigned long long)h->bucket[k]);
	printf("]}");
}

static void print_json(const struct statctl_reply *r, const char *mnt,
		       bool since_mount)
{
	printf("{\"mountpoint\":");
	json_string(mnt);
	printf(",\"since_mount\":%s,\"seconds\":%.6f,\"requests\":{",
	       since_mount ? "true" : "false", (double)r->uptime_ns / 1e9);
	for (unsigned i = 0; i < OPS_REQ_NR; i++) {
		printf("%s\"%s\":", i ? "," : "", statctl_req_names[i]);
		json_hist(&r->req[i]);
	}
	printf("},\"counters\":{");
	for (unsigned i = 0; i < STATS_NR_COUNTERS; i++)
		printf("%s\"%s\":%llu", i ? "," : "", statctl_counter_names[i],
		       (unsigned long long)r->engine.counter[i]);
	printf("},\"histograms\":{");
	for (unsigned i = 0; i < STATS_NR_HISTS; i++) {
		printf("%s\"%s\":", i ? "," : "", statctl_hist_names[i]);
		json_hist(&r->engine.hist[i]);
	}
	printf("}}\n");
}

static void report(const struct statctl_reply *r, const char *mnt,
		   bool since_mount, const struct opts *o)
{
	if (o->json)
		print_json(r, mnt, since_mount);
	else
		print_text(r, mnt, since_mount, o);
	fflush(stdout);
}

static double parse_interval(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 86400)
		usage_error("INTERVAL must be a number of seconds above 0, not '%s'",
			    s);
	return v;
}

static long parse_count(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1)
		usage_error("COUNT must be a whole number above 0, not '%s'", s);
	return v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "histograms", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct statctl_reply *prev, *cur, *diff;
	struct opts o = { 0 };
	const char *mnt;
	double interval = 0;
	long count = -1;
	int c, fd, status = 1;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "jHhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o.json = true;
			break;
		case 'H':
			o.hist = true;
			break;
		case 'h':
			help();
			return 0;
		case 'V':
			printf(PROG " (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return 0;
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		usage_error("no mountpoint given");
	if (argc - optind > 3)
		usage_error("too many arguments");
	mnt = argv[optind];
	if (argc - optind >= 2)
		interval = parse_interval(argv[optind + 1]);
	if (argc - optind == 3)
		count = parse_count(argv[optind + 2]);

	fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, PROG ": %s: %s\n", mnt, strerror(errno));
		return 1;
	}
	prev = calloc(1, sizeof(*prev));
	cur = calloc(1, sizeof(*cur));
	diff = calloc(1, sizeof(*diff));
	if (!prev || !cur || !diff) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	if (get_stats(fd, mnt, prev) < 0)
		goto out;
	report(prev, mnt, true, &o);
	/* Without INTERVAL, one report; with it, COUNT in all. */
	while (interval > 0 && (count < 0 || --count > 0)) {
		struct timespec ts = {
			.tv_sec = (time_t)interval,
			.tv_nsec = (long)((interval - floor(interval)) * 1e9),
		};
		struct statctl_reply *t;

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		if (get_stats(fd, mnt, cur) < 0)
			goto out;
		delta(diff, cur, prev);
		report(diff, mnt, false, &o);
		t = prev;
		prev = cur;
		cur = t;
	}
	status = 0;
out:
	free(diff);
	free(cur);
	free(prev);
	close(fd);
	return status;
}
