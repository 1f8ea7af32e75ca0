// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* python_gc.h: counts since watching began, pauses (exact interval p99,
 * histogram p99 since the start), Prometheus buckets, collections that
 * collected nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "stacks/python_gc.h"

/* Statistics: generation g collected n more objects than in before. */
static void collection(struct py_gc *g, int64_t stats[LW_GC_STATS], int gen, int64_t collected,
		       int64_t uncollectable, uint64_t ns)
{
	struct lw_gc_event e = { .tgid = 1, .duration_ns = ns };

	memcpy(e.before, stats, sizeof(e.before));
	stats[3 * gen]++;
	stats[3 * gen + 1] += collected;
	stats[3 * gen + 2] += uncollectable;
	memcpy(e.after, stats, sizeof(e.after));
	py_gc__collection(g, &e);
}

static void test_counts_since_start(void **state)
{
	int64_t stats[LW_GC_STATS] = { 8, 24, 0, 1, 5, 0, 0, 0, 0 };
	struct py_gc *g = py_gc__new();
	struct py_gc_report r;

	py_gc__start(g, "usdt", "", stats);
	collection(g, stats, 0, 100, 0, 1000);
	collection(g, stats, 0, 50, 2, 2000);
	collection(g, stats, 2, 700, 1, 9000);
	py_gc__read(g, stats, 3, 0, 0);
	py_gc__report(g, &r);
	assert_true(r.available && r.timed);
	assert_string_equal(r.hook, "usdt");
	assert_int_equal(r.collections[0], 2);
	assert_int_equal(r.collections[1], 0);
	assert_int_equal(r.collections[2], 1);
	assert_int_equal(r.collected[0], 150);
	assert_int_equal(r.uncollectable[0], 2);
	assert_int_equal(r.uncollectable[2], 1);
	/* what gc.get_stats() says: from the process's start */
	assert_int_equal(r.process_collections[0], 10);
	assert_int_equal(r.process_collected[0], 174);
	assert_int_equal(r.process_collections[1], 1);
	assert_int_equal(r.pauses.n, 3);
	assert_int_equal(r.pauses.total_ns, 12000);
	assert_int_equal(r.pauses.max_ns, 9000);
	assert_int_equal(r.garbage, 3);
	py_gc__free(g);
}

static void test_a_call_that_collects_nothing_is_not_a_pause(void **state)
{
	int64_t stats[LW_GC_STATS] = { 0 };
	struct lw_gc_event e = { .duration_ns = 500 };
	struct py_gc *g = py_gc__new();
	struct py_gc_report r;

	py_gc__start(g, "function", "", stats);
	py_gc__collection(g, &e); /* 3.13 enters the collector to find nothing due */
	py_gc__report(g, &r);
	assert_int_equal(r.pauses.n, 0);
	assert_int_equal(r.interval.n, 0);
	py_gc__free(g);
}

static void test_interval_p99_is_exact_and_resets(void **state)
{
	int64_t stats[LW_GC_STATS] = { 0 };
	struct py_gc *g = py_gc__new();
	struct py_gc_report r;

	py_gc__start(g, "usdt", "", stats);
	/* 1..200 us, shuffled: the 99th percentile of 200 is the 198th */
	for (int i = 0; i < 200; i++)
		collection(g, stats, 0, 1, 0, (uint64_t)((i * 7919) % 200 + 1) * 1000);
	py_gc__report(g, &r);
	assert_int_equal(r.interval.n, 200);
	assert_int_equal(r.interval.max_ns, 200000);
	assert_int_equal(r.interval.p99_ns, 198000);
	assert_int_equal(r.interval.total_ns, 200 * 201 / 2 * 1000);
	/* since the start, from the histogram: within its 1/16 octave steps */
	assert_true(r.pauses.p99_ns >= 198000 && r.pauses.p99_ns <= 198000 + 198000 / 16);
	py_gc__report(g, &r);
	assert_int_equal(r.interval.n, 0);
	assert_int_equal(r.pauses.n, 200);
	py_gc__free(g);
}

static void test_buckets(void **state)
{
	int64_t stats[LW_GC_STATS] = { 0 };
	struct py_gc *g = py_gc__new();
	struct py_gc_report r;
	uint64_t n = 0;

	py_gc__start(g, "usdt", "", stats);
	collection(g, stats, 0, 1, 0, 100000);     /* 0.1 ms: the first bucket, le 0.0001 */
	collection(g, stats, 0, 1, 0, 100001);     /* just above: the next */
	collection(g, stats, 0, 1, 0, 2000000000); /* 2 s: +Inf */
	py_gc__report(g, &r);
	assert_int_equal(r.buckets[0], 1);
	assert_int_equal(r.buckets[1], 1);
	assert_int_equal(r.buckets[PY_GC_BUCKETS], 1);
	for (int b = 0; b <= PY_GC_BUCKETS; b++)
		n += r.buckets[b];
	assert_int_equal(n, r.pauses.n);
	py_gc__free(g);
}

static void test_unavailable_says_why_and_no_zeros(void **state)
{
	struct py_gc *g = py_gc__new();
	struct py_gc_report r;

	py_gc__unavailable(g, "its collector's layout is not understood");
	py_gc__report(g, &r);
	assert_false(r.available);
	assert_string_equal(r.reason, "its collector's layout is not understood");
	assert_int_equal(r.garbage, -1);
	py_gc__free(g);
}

static void test_untimed_keeps_counts(void **state)
{
	int64_t stats[LW_GC_STATS] = { 4, 10, 0 }, later[LW_GC_STATS] = { 9, 30, 1 };
	struct py_gc *g = py_gc__new();
	struct py_gc_report r;

	py_gc__start(g, NULL, "no USDT probes and no gc_collect_main", stats);
	py_gc__read(g, later, 0, 0, 0);
	py_gc__report(g, &r);
	assert_true(r.available);
	assert_false(r.timed);
	assert_string_equal(r.reason, "no USDT probes and no gc_collect_main");
	assert_int_equal(r.collections[0], 5);
	assert_int_equal(r.collected[0], 20);
	assert_int_equal(r.uncollectable[0], 1);
	py_gc__free(g);
}

/* After the interpreter began finalizing, reports add nothing to
 * gc.garbage's history: its growth stays its verdict. */
static void test_frozen_keeps_the_verdict_material(void **state)
{
	int64_t stats[LW_GC_STATS] = { 0 };
	struct py_gc *g = py_gc__new();
	struct py_gc_report r;

	py_gc__start(g, "usdt", "", stats);
	for (int i = 1; i <= 6; i++) {
		py_gc__read(g, stats, 10 * i, 0, 0);
		py_gc__report(g, &r);
	}
	assert_int_equal(r.garbage_series->n, 6);
	py_gc__freeze(g);
	for (int i = 0; i < 4; i++)
		py_gc__report(g, &r);
	assert_int_equal(r.garbage_series->n, 6);
	assert_int_equal(r.garbage, 60);
	py_gc__free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_since_start),
		cmocka_unit_test(test_a_call_that_collects_nothing_is_not_a_pause),
		cmocka_unit_test(test_interval_p99_is_exact_and_resets),
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_unavailable_says_why_and_no_zeros),
		cmocka_unit_test(test_untimed_keeps_counts),
		cmocka_unit_test(test_frozen_keeps_the_verdict_material),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
