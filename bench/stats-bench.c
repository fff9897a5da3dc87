/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stats-bench: what one count costs, per kind of counter, in one run.
 *
 *   stats-bench [THREADS]
 *
 * Each of THREADS threads (default 2) bumps a counter N times in a loop,
 * all at once, four ways: a plain increment of a thread-local variable (the
 * floor), stats_add() into a shared struct stats (one shard per thread,
 * stats.h), stats_hist_add() (three words), and a relaxed atomic
 * fetch-and-add on one shared word (what the bdev counters were before).
 * It also times the pair of clock_gettime() calls that timing a request
 * takes.  It prints nanoseconds per operation.  On a shared machine only
 * the ratios within one run mean anything.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "diofs/stats.h"

#define N	20000000u

enum kind { PLAIN, STATS_ADD, STATS_HIST, SHARED_ATOMIC, CLOCK_PAIR, NKINDS };

static const char *const names[NKINDS] = {
	"plain thread-local increment",
	"stats_add (per-thread shard)",
	"stats_hist_add (3 words)",
	"shared relaxed atomic add",
	"two clock_gettime (a timed request)",
};

static struct stats *set;
static _Atomic uint64_t shared;
static pthread_barrier_t start;
static volatile uint64_t sink;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *run(void *arg)
{
	enum kind k = (enum kind)(intptr_t)arg;
	uint64_t local = 0;
	unsigned i, n = k == CLOCK_PAIR ? N / 10 : N;

	pthread_barrier_wait(&start);
	switch (k) {
	case PLAIN:
		for (i = 0; i < n; i++) {
			local++;
			__asm__ volatile("" : "+r"(local));
		}
		break;
	case STATS_ADD:
		for (i = 0; i < n; i++)
			stats_add(set, i & 7, 1);
		break;
	case STATS_HIST:
		for (i = 0; i < n; i++)
			stats_hist_add(set, 8, i & 1023);
		break;
	case SHARED_ATOMIC:
		for (i = 0; i < n; i++)
			atomic_fetch_add_explicit(&shared, 1,
						  memory_order_relaxed);
		break;
	case CLOCK_PAIR:
		for (i = 0; i < n; i++)
			local += now_ns() - now_ns();
		break;
	default:
		break;
	}
	sink = local;
	pthread_barrier_wait(&start);
	return NULL;
}

int main(int argc, char **argv)
{
	int nthreads = argc > 1 ? atoi(argv[1]) : 2;
	pthread_t *th;

	if (nthreads < 1 || nthreads > 64) {
		fprintf(stderr, "usage: stats-bench [THREADS (1-64)]\n");
		return 2;
	}
	th = calloc((size_t)nthreads, sizeof(*th));
	if (!th ||
	    stats_create(8 + STATS_WORDS(struct stats_hist), &set)) {
		fprintf(stderr, "stats-bench: out of memory\n");
		return 1;
	}
	printf("%d threads, %u operations each\n", nthreads, N);
	for (int k = 0; k < NKINDS; k++) {
		uint64_t t0, t1;
		unsigned n = k == CLOCK_PAIR ? N / 10 : N;

		pthread_barrier_init(&start, NULL, (unsigned)nthreads + 1);
		for (int t = 0; t < nthreads; t++)
			pthread_create(&th[t], NULL, run, (void *)(intptr_t)k);
		pthread_barrier_wait(&start);
		t0 = now_ns();
		pthread_barrier_wait(&start);
		t1 = now_ns();
		for (int t = 0; t < nthreads; t++)
			pthread_join(th[t], NULL);
		pthread_barrier_destroy(&start);
		/* wall time per operation of one thread: they run at once */
		printf("  %-36s %7.2f ns\n", names[k],
		       (double)(t1 - t0) / (double)n);
	}
	stats_destroy(set);
	free(th);
	return 0;
}
