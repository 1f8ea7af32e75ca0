// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* trend.h: the per-stack sample window, Theil-Sen, Mann-Kendall, verdicts. */
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "judge/trend.h"

/* Exact double comparison that says what differed. */
#define assert_double_exact(got, want) do {					\
	double got_ = (got), want_ = (want);					\
	if (!(got_ == want_))							\
		fail_msg("%s is %.17g, expected %.17g", #got, got_, want_);	\
} while (0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* One sample per second, starting at t = 0. */
static void fill(struct series *s, const int64_t *v, unsigned int n)
{
	memset(s, 0, sizeof(*s));
	for (unsigned int i = 0; i < n; i++)
		series__add(s, i, v[i]);
}

static void test_add_before_wrap(void **state)
{
	struct series s = {};

	series__add(&s, 0.5, 100);
	series__add(&s, 1.5, 200);
	series__add(&s, 2.5, 150);
	assert_int_equal(s.n, 3);
	assert_int_equal(series__bytes(&s, 0), 100);
	assert_int_equal(series__bytes(&s, 1), 200);
	assert_int_equal(series__bytes(&s, 2), 150);
	assert_double_exact(series__time(&s, 0), 0.5);
	assert_double_exact(series__time(&s, 2), 2.5);
}

static void test_add_exactly_full(void **state)
{
	struct series s = {};

	for (unsigned int i = 0; i < LW_SERIES_LEN; i++)
		series__add(&s, i, 10 * (int64_t)i);
	assert_int_equal(s.n, LW_SERIES_LEN);
	for (unsigned int i = 0; i < LW_SERIES_LEN; i++) {
		assert_int_equal(series__bytes(&s, i), 10 * (int64_t)i);
		assert_double_exact(series__time(&s, i), i);
	}
}

static void test_wrap_keeps_newest_in_order(void **state)
{
	const unsigned int total = 2 * LW_SERIES_LEN + 37;
	const unsigned int first = total - LW_SERIES_LEN;
	struct series s = {};

	for (unsigned int i = 0; i < total; i++)
		series__add(&s, i, -1000 + 10 * (int64_t)i);
	assert_int_equal(s.n, LW_SERIES_LEN);
	for (unsigned int i = 0; i < LW_SERIES_LEN; i++) {
		assert_int_equal(series__bytes(&s, i), -1000 + 10 * (int64_t)(first + i));
		assert_double_exact(series__time(&s, i), first + i);
	}
}

/* Deterministic noise in [-amp, amp]. */
static int64_t noise(uint64_t *rng, int64_t amp)
{
	*rng ^= *rng << 13;
	*rng ^= *rng >> 7;
	*rng ^= *rng << 17;
	return (int64_t)(*rng % (2 * (uint64_t)amp + 1)) - amp;
}

static void assert_near(double got, double want, double rel)
{
	if (!(fabs(got - want) <= rel * fabs(want)))
		fail_msg("%.17g is not within %.0f%% of %.17g", got, rel * 100, want);
}

static enum verdict verdict_of(const struct series *s, struct trend *t)
{
	series__trend(s, t);
	return t->verdict;
}

static void test_mann_kendall_small_cases(void **state)
{
	int64_t rising[] = { 1, 2, 3, 4, 5 }, falling[] = { 5, 4, 3, 2, 1 }, flat[] = { 7, 7, 7, 7 };
	struct series s;

	/* S = 10, var = 5 * 4 * 15 / 18, z = (S - 1) / sqrt(var) */
	fill(&s, rising, 5);
	assert_double_exact(series__mann_kendall(&s, 0), 9 / sqrt(5 * 4 * 15 / 18.0));
	fill(&s, falling, 5);
	assert_double_exact(series__mann_kendall(&s, 0), -9 / sqrt(5 * 4 * 15 / 18.0));
	fill(&s, flat, 4);
	assert_double_exact(series__mann_kendall(&s, 0), 0);
	/* fewer than 3 samples: no test */
	fill(&s, rising, 2);
	assert_double_exact(series__mann_kendall(&s, 0), 0);
	/* from = 2: the last three of 1..5, S = 3, var = 3 * 2 * 11 / 18 */
	fill(&s, rising, 5);
	assert_double_exact(series__mann_kendall(&s, 2), 2 / sqrt(3 * 2 * 11 / 18.0));
}

static void test_mann_kendall_ties(void **state)
{
	/* 1 1 2 2: S = 4; ties remove 2 * (2 * 1 * 9 / 18) from 4 * 3 * 13 / 18 */
	int64_t v[] = { 1, 1, 2, 2 };
	struct series s;

	fill(&s, v, 4);
	assert_double_exact(series__mann_kendall(&s, 0), 3 / sqrt(4 * 3 * 13 / 18.0 - 2.0));
}

static void test_theil_sen(void **state)
{
	int64_t line[] = { 0, 100, 200, 300, 400 }, outlier[] = { 0, 100, 99999, 300, 400 };
	int64_t even[] = { 0, 10, 10, 40 };
	struct series s;

	fill(&s, line, 5);
	assert_double_exact(series__theil_sen(&s, 0), 100);
	/* one wild sample does not move the median slope */
	fill(&s, outlier, 5);
	assert_double_exact(series__theil_sen(&s, 0), 100);
	/* 6 slopes: 10 5 13.33 0 15 30; the middle two are 10 and 13.33 */
	fill(&s, even, 4);
	assert_double_exact(series__theil_sen(&s, 0), (10 + 40.0 / 3) / 2);
	fill(&s, line, 1);
	assert_double_exact(series__theil_sen(&s, 0), 0);
	/* from the recent half: 200 300 400 */
	fill(&s, line, 5);
	assert_double_exact(series__theil_sen(&s, 2), 100);
}

static void test_theil_sen_uneven_time(void **state)
{
	struct series s = {};

	/* 50 B/s sampled at irregular times */
	series__add(&s, 0, 0);
	series__add(&s, 0.5, 25);
	series__add(&s, 3, 150);
	series__add(&s, 3.2, 160);
	assert_double_exact(series__theil_sen(&s, 0), 50);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median slope against sorting every slope: random series with many
 * ties (a steady stack's slopes are nearly all 0), full and half windows. */
static void test_theil_sen_against_sorting(void **state)
{
	static double slopes[LW_SERIES_LEN * LW_SERIES_LEN];
	struct series s;

	srand(7);
	for (int round = 0; round < 200; round++) {
		int n = 2 + rand() % (LW_SERIES_LEN - 1), levels = 1 + rand() % 4;
		unsigned int from = round % 2 ? 0 : (unsigned int)n / 2;
		int m = 0;
		double want;

		memset(&s, 0, sizeof(s));
		for (int i = 0; i < n; i++)
			series__add(&s, i * 0.5, 4096 * (rand() % levels));
		for (unsigned int i = from; i < s.n; i++)
			for (unsigned int j = i + 1; j < s.n; j++)
				slopes[m++] = (series__bytes(&s, j) - series__bytes(&s, i)) /
					      (series__time(&s, j) - series__time(&s, i));
		qsort(slopes, m, sizeof(slopes[0]), cmp_double);
		want = m % 2 ? slopes[m / 2] : (slopes[m / 2 - 1] + slopes[m / 2]) / 2;
		assert_double_exact(series__theil_sen(&s, from), m ? want : 0);
	}
}

static void test_new_below_min_samples(void **state)
{
	int64_t v[] = { 0, 1000, 2000, 3000 };
	struct series s;
	struct trend t;

	fill(&s, v, LW_MIN_SAMPLES - 1);
	assert_int_equal(verdict_of(&s, &t), VERDICT_NEW);
	fill(&s, v, LW_MIN_SAMPLES);
	assert_int_not_equal(verdict_of(&s, &t), VERDICT_NEW);
}

/* A leak of 4 KiB a second over a full window: growing, exact rate. */
static void test_linear_leak(void **state)
{
	struct series s = {};
	struct trend t;

	for (int i = 0; i < LW_SERIES_LEN; i++)
		series__add(&s, i, 100000 + 4096 * (int64_t)i);
	assert_int_equal(verdict_of(&s, &t), VERDICT_GROWING);
	assert_double_exact(t.slope, 4096);
	assert_double_exact(t.rate, 4096);
}

/* 100 B/s under churn of +-5000 B per sample: the rise over the window
 * (6300 B) is smaller than one sample's noise. Growing, rate within 25%. */
static void test_leak_under_heavy_noise(void **state)
{
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	struct series s = {};
	struct trend t;

	for (int i = 0; i < LW_SERIES_LEN; i++)
		series__add(&s, i, 50000 + 100 * (int64_t)i + noise(&rng, 5000));
	assert_int_equal(verdict_of(&s, &t), VERDICT_GROWING);
	assert_near(t.slope, 100, 0.25);
}

/* A cache filled over 20 reports, then full for the rest of the window. */
static void test_plateau_after_warm_up(void **state)
{
	struct series s = {};
	struct trend t;

	for (int i = 0; i < LW_SERIES_LEN; i++)
		series__add(&s, i, 8192 * (int64_t)(i < 20 ? i : 20));
	assert_int_equal(verdict_of(&s, &t), VERDICT_STEADY);
	/* the growth shown is today's, none, not the warm-up's */
	assert_double_exact(t.rate, 0);
	assert_true(t.slope > 0);
	/* while it still fills, it is growing: nothing tells them apart yet */
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 16; i++)
		series__add(&s, i, 8192 * (int64_t)i);
	assert_int_equal(verdict_of(&s, &t), VERDICT_GROWING);
}

/* Batches of 8 reports filled and released, over the whole window. */
static void test_sawtooth(void **state)
{
	struct series s = {};
	struct trend t;

	for (int i = 0; i < LW_SERIES_LEN; i++)
		series__add(&s, i, 65536 * (int64_t)(i % 8));
	assert_int_equal(verdict_of(&s, &t), VERDICT_STEADY);
}

/* Churn around a constant level. */
static void test_pure_churn(void **state)
{
	uint64_t rng = 12345;
	struct series s = {};
	struct trend t;

	for (int i = 0; i < LW_SERIES_LEN; i++)
		series__add(&s, i, 1 << 20 | noise(&rng, 30000));
	assert_int_equal(verdict_of(&s, &t), VERDICT_STEADY);
}

/* One jump early in the window, flat before and after. */
static void test_single_step(void **state)
{
	struct series s = {};
	struct trend t;

	for (int i = 0; i < LW_SERIES_LEN; i++)
		series__add(&s, i, i < 12 ? 1000 : 500000);
	assert_int_equal(verdict_of(&s, &t), VERDICT_STEADY);
}

static void test_shrinking(void **state)
{
	struct series s = {};
	struct trend t;

	for (int i = 0; i < LW_SERIES_LEN; i++)
		series__add(&s, i, 1000000 - 2048 * (int64_t)i);
	assert_int_equal(verdict_of(&s, &t), VERDICT_SHRINKING);
	assert_double_exact(t.slope, -2048);
}

/* A leak that goes on past the window keeps being judged on the newest
 * samples, after the ring wraps. */
static void test_leak_after_wrap(void **state)
{
	struct series s = {};
	struct trend t;

	for (int i = 0; i < 3 * LW_SERIES_LEN; i++)
		series__add(&s, i * 0.5, 300 * (int64_t)i);
	assert_int_equal(verdict_of(&s, &t), VERDICT_GROWING);
	assert_double_exact(t.slope, 600);
}

/* The summary right after the last report: its bytes in that report's
 * place, not a second point that would flatten the trend's tail. */
static void test_summary_right_after_a_report(void **state)
{
	struct series s = {};
	struct trend t;

	for (int i = 0; i < 8; i++)
		series__add_spaced(&s, i, 4096 * (int64_t)i, 0.5);
	series__add_spaced(&s, 7.01, 4096 * 7 + 100, 0.5);
	assert_int_equal(s.n, 8);
	assert_double_exact(series__time(&s, 7), 7.01);
	assert_int_equal(series__bytes(&s, 7), 4096 * 7 + 100);
	series__trend(&s, &t);
	assert_int_equal(t.verdict, VERDICT_GROWING);
	series__add_spaced(&s, 7.6, 4096 * 8, 0.5);
	assert_int_equal(s.n, 9);
}

static void test_verdict_names(void **state)
{
	assert_string_equal(verdict__name(VERDICT_NEW), "new");
	assert_string_equal(verdict__name(VERDICT_GROWING), "growing");
	assert_string_equal(verdict__name(VERDICT_STEADY), "steady");
	assert_string_equal(verdict__name(VERDICT_SHRINKING), "shrinking");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_before_wrap),
		cmocka_unit_test(test_add_exactly_full),
		cmocka_unit_test(test_wrap_keeps_newest_in_order),
		cmocka_unit_test(test_mann_kendall_small_cases),
		cmocka_unit_test(test_mann_kendall_ties),
		cmocka_unit_test(test_theil_sen),
		cmocka_unit_test(test_theil_sen_uneven_time),
		cmocka_unit_test(test_new_below_min_samples),
		cmocka_unit_test(test_linear_leak),
		cmocka_unit_test(test_leak_under_heavy_noise),
		cmocka_unit_test(test_plateau_after_warm_up),
		cmocka_unit_test(test_sawtooth),
		cmocka_unit_test(test_pure_churn),
		cmocka_unit_test(test_single_step),
		cmocka_unit_test(test_shrinking),
		cmocka_unit_test(test_leak_after_wrap),
		cmocka_unit_test(test_summary_right_after_a_report),
		cmocka_unit_test(test_theil_sen_against_sorting),
		cmocka_unit_test(test_verdict_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
