/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the per-thread counters (stats.h): buckets, exact sums
 * from many threads, folds taken while threads count, shards that outlive
 * their threads, and two sets counted by the same threads.
 */
#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "diofs/stats.h"

#define NTHREADS	6
#define NBUMPS		200000
#define HIST_W		4	/* the histogram's first word in the test set */
#define NWORDS		(HIST_W + STATS_WORDS(struct stats_hist))

START_TEST(test_buckets)
{
	ck_assert_uint_eq(stats_bucket(0), 0);
	ck_assert_uint_eq(stats_bucket(1), 1);
	ck_assert_uint_eq(stats_bucket(2), 2);
	ck_assert_uint_eq(stats_bucket(3), 2);
	ck_assert_uint_eq(stats_bucket(4), 3);
	ck_assert_uint_eq(stats_bucket(1023), 10);
	ck_assert_uint_eq(stats_bucket(1024), 11);
	ck_assert_uint_eq(stats_bucket((1u << (STATS_BUCKETS - 2)) - 1),
			  STATS_BUCKETS - 2);
	ck_assert_uint_eq(stats_bucket(1u << (STATS_BUCKETS - 2)),
			  STATS_BUCKETS - 1);
	ck_assert_uint_eq(stats_bucket(UINT64_MAX), STATS_BUCKETS - 1);
}
END_TEST

START_TEST(test_one_thread)
{
	uint64_t out[NWORDS];
	struct stats_hist *h = (struct stats_hist *)&out[HIST_W];
	struct stats *s;

	ck_assert_int_eq(stats_create(NWORDS, &s), 0);
	ck_assert_uint_eq(stats_words(s), NWORDS);
	stats_fold(s, out);
	for (size_t i = 0; i < NWORDS; i++)
		ck_assert_uint_eq(out[i], 0);
	stats_add(s, 0, 5);
	stats_add(s, 0, 7);
	stats_add(s, 3, 1);
	stats_hist_add(s, HIST_W, 0);
	stats_hist_add(s, HIST_W, 3);
	stats_hist_add(s, HIST_W, 1000);
	stats_fold(s, out);
	ck_assert_uint_eq(out[0], 12);
	ck_assert_uint_eq(out[1], 0);
	ck_assert_uint_eq(out[3], 1);
	ck_assert_uint_eq(h->count, 3);
	ck_assert_uint_eq(h->sum, 1003);
	ck_assert_uint_eq(h->bucket[0], 1);
	ck_assert_uint_eq(h->bucket[2], 1);
	ck_assert_uint_eq(h->bucket[10], 1);
	/* no set: nothing counted, nothing broken */
	stats_add(NULL, 0, 1);
	stats_hist_add(NULL, HIST_W, 1);
	stats_destroy(NULL);
	stats_destroy(s);
}
END_TEST

START_TEST(test_engine_layout)
{
	struct stats_engine e;
	struct stats *s;

	ck_assert_int_eq(stats_create(STATS_WORDS(struct stats_engine), &s),
			 0);
	stats_count(s, STATS_DEV_FLUSHES, 2);
	stats_count(s, STATS_CHECKPOINTS, 1);
	stats_sample(s, STATS_H_MERGES, 5);
	stats_sample(s, STATS_H_BATCH, 1);
	stats_fold(s, (uint64_t *)&e);
	ck_assert_uint_eq(e.counter[STATS_DEV_FLUSHES], 2);
	ck_assert_uint_eq(e.counter[STATS_CHECKPOINTS], 1);
	ck_assert_uint_eq(e.counter[STATS_DEV_READS], 0);
	ck_assert_uint_eq(e.hist[STATS_H_MERGES].count, 1);
	ck_assert_uint_eq(e.hist[STATS_H_MERGES].sum, 5);
	ck_assert_uint_eq(e.hist[STATS_H_MERGES].bucket[3], 1);
	ck_assert_uint_eq(e.hist[STATS_H_BATCH].bucket[1], 1);
	ck_assert_uint_eq(e.hist[STATS_H_QUEUE_DEPTH].count, 0);
	stats_destroy(s);
}
END_TEST

struct worker {
	struct stats *s, *other;
	unsigned id;
	pthread_barrier_t *start;
};

/* Word 0: one per bump; word 1: the thread's id per bump; word 2: one per
 * bump into the other set, if any; the histogram: the id. */
static void *count(void *arg)
{
	struct worker *w = arg;

	if (w->start)
		pthread_barrier_wait(w->start);
	for (unsigned i = 0; i < NBUMPS; i++) {
		stats_add(w->s, 0, 1);
		stats_add(w->s, 1, w->id);
		if (w->other)
			stats_add(w->other, 2, 1);
		if (i % 16 == 0)
			stats_hist_add(w->s, HIST_W, w->id);
	}
	return NULL;
}

static void check_totals(const uint64_t *out, unsigned nthreads,
			 unsigned first_id)
{
	const struct stats_hist *h = (const struct stats_hist *)&out[HIST_W];
	uint64_t ids = 0, per_thread = (NBUMPS + 15) / 16, n = 0;

	for (unsigned t = 0; t < nthreads; t++)
		ids += first_id + t;
	ck_assert_uint_eq(out[0], (uint64_t)nthreads * NBUMPS);
	ck_assert_uint_eq(out[1], ids * NBUMPS);
	ck_assert_uint_eq(h->count, nthreads * per_thread);
	ck_assert_uint_eq(h->sum, ids * per_thread);
	for (unsigned k = 0; k < STATS_BUCKETS; k++)
		n += h->bucket[k];
	ck_assert_uint_eq(n, h->count);
}

/* Exact sums after the threads end; folds taken meanwhile never go back. */
START_TEST(test_threads_fold)
{
	pthread_t th[NTHREADS];
	struct worker w[NTHREADS];
	pthread_barrier_t start;
	uint64_t prev[NWORDS] = { 0 }, out[NWORDS];
	struct stats *s;
	unsigned folds = 0;
	bool done = false;

	ck_assert_int_eq(stats_create(NWORDS, &s), 0);
	pthread_barrier_init(&start, NULL, NTHREADS + 1);
	for (unsigned t = 0; t < NTHREADS; t++) {
		w[t] = (struct worker){ .s = s, .id = t + 1, .start = &start };
		ck_assert_int_eq(pthread_create(&th[t], NULL, count, &w[t]), 0);
	}
	pthread_barrier_wait(&start);
	while (!done) {
		stats_fold(s, out);
		for (size_t i = 0; i < NWORDS; i++)
			ck_assert_uint_ge(out[i], prev[i]);
		ck_assert_uint_le(out[0], (uint64_t)NTHREADS * NBUMPS);
		done = out[0] == (uint64_t)NTHREADS * NBUMPS;
		for (size_t i = 0; i < NWORDS; i++)
			prev[i] = out[i];
		folds++;
	}
	for (unsigned t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	stats_fold(s, out);
	check_totals(out, NTHREADS, 1);
	ck_assert_uint_gt(folds, 0);
	pthread_barrier_destroy(&start);
	stats_destroy(s);
}
END_TEST

/* Counts of ended threads stay; their shards serve the next threads. */
START_TEST(test_generations)
{
	pthread_t th[NTHREADS];
	struct worker w[NTHREADS];
	uint64_t out[NWORDS];
	struct stats *s;

	ck_assert_int_eq(stats_create(NWORDS, &s), 0);
	for (unsigned gen = 1; gen <= 4; gen++) {
		for (unsigned t = 0; t < NTHREADS; t++) {
			w[t] = (struct worker){ .s = s, .id = 1 };
			ck_assert_int_eq(pthread_create(&th[t], NULL, count,
							&w[t]), 0);
		}
		for (unsigned t = 0; t < NTHREADS; t++)
			pthread_join(th[t], NULL);
		stats_fold(s, out);
		ck_assert_uint_eq(out[0], (uint64_t)gen * NTHREADS * NBUMPS);
		ck_assert_uint_eq(out[1], (uint64_t)gen * NTHREADS * NBUMPS);
	}
	stats_destroy(s);
}
END_TEST

/* The same threads count into two sets (two mounts): they stay apart. */
START_TEST(test_two_sets)
{
	pthread_t th[NTHREADS];
	struct worker w[NTHREADS];
	uint64_t a[NWORDS], b[NWORDS];
	struct stats *s1, *s2;

	ck_assert_int_eq(stats_create(NWORDS, &s1), 0);
	ck_assert_int_eq(stats_create(NWORDS, &s2), 0);
	for (unsigned t = 0; t < NTHREADS; t++) {
		w[t] = (struct worker){ .s = s1, .other = s2, .id = t + 1 };
		ck_assert_int_eq(pthread_create(&th[t], NULL, count, &w[t]), 0);
	}
	for (unsigned t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	stats_fold(s1, a);
	stats_fold(s2, b);
	check_totals(a, NTHREADS, 1);
	ck_assert_uint_eq(a[2], 0);
	ck_assert_uint_eq(b[0], 0);
	ck_assert_uint_eq(b[2], (uint64_t)NTHREADS * NBUMPS);
	/* A set destroyed while a thread that counted into it lives on
	 * (this one): a new set, which may get the same key, starts from
	 * zero, and the other set is unharmed. */
	stats_add(s1, 0, 1);
	stats_destroy(s1);
	ck_assert_int_eq(stats_create(NWORDS, &s1), 0);
	stats_add(s1, 0, 3);
	stats_add(s2, 0, 4);
	stats_fold(s1, a);
	stats_fold(s2, b);
	ck_assert_uint_eq(a[0], 3);
	ck_assert_uint_eq(b[0], 4);
	stats_destroy(s1);
	stats_destroy(s2);
}
END_TEST

static Suite *stats_suite(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("stats");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_buckets);
	tcase_add_test(tc, test_one_thread);
	tcase_add_test(tc, test_engine_layout);
	tcase_add_test(tc, test_threads_fold);
	tcase_add_test(tc, test_generations);
	tcase_add_test(tc, test_two_sets);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(stats_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
