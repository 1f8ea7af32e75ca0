// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* trend.h: the per-stack sample window, Kendall's tau and the verdict. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "trend.h"

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

/* A page a second for k samples (1..k pages), then k pages for m more. */
static void rise_then_plateau(struct series *s, unsigned int k, unsigned int m)
{
	memset(s, 0, sizeof(*s));
	for (unsigned int i = 0; i < k + m; i++)
		series__add(s, i, 4096 * (int64_t)(i < k ? i + 1 : k));
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

static void test_tau_degenerate(void **state)
{
	struct series s = {};

	assert_double_exact(series__tau(&s), 0);
	series__add(&s, 0, 5);
	assert_double_exact(series__tau(&s), 0);
}

static void test_tau_small_cases(void **state)
{
	static const int64_t rising[] = { 1, 2, 3, 4, 5 };
	static const int64_t falling[] = { 5, 4, 3, 2, 1 };
	static const int64_t flat[] = { 7, 7, 7, 7, 7 };
	static const int64_t alternating[] = { 0, 1, 0, 1, 0, 1 };
	static const int64_t alternating_down[] = { 1, 0, 1, 0, 1, 0 };
	static const int64_t one_swap[] = { 1, 3, 2, 4, 5 };
	static const int64_t two[] = { 3, 9 };
	struct series s;

	fill(&s, rising, ARRAY_SIZE(rising));
	assert_double_exact(series__tau(&s), 1.0);
	fill(&s, falling, ARRAY_SIZE(falling));
	assert_double_exact(series__tau(&s), -1.0);
	fill(&s, flat, ARRAY_SIZE(flat));
	assert_double_exact(series__tau(&s), 0.0);
	/* 15 pairs: 6 up, 3 down, 6 ties */
	fill(&s, alternating, ARRAY_SIZE(alternating));
	assert_double_exact(series__tau(&s), 3.0 / 15);
	fill(&s, alternating_down, ARRAY_SIZE(alternating_down));
	assert_double_exact(series__tau(&s), -3.0 / 15);
	/* 10 pairs, one discordant: (9 - 1) / 10 */
	fill(&s, one_swap, ARRAY_SIZE(one_swap));
	assert_double_exact(series__tau(&s), 8.0 / 10);
	fill(&s, two, ARRAY_SIZE(two));
	assert_double_exact(series__tau(&s), 1.0);
}

/* Ties count as neither direction but stay in the denominator (tau-a). */
static void test_tau_with_ties(void **state)
{
	struct series s;

	rise_then_plateau(&s, 2, 2); /* 1 2 2 2: 3 up of 6 pairs */
	assert_double_exact(series__tau(&s), 3.0 / 6);
	rise_then_plateau(&s, 10, 21);
	assert_double_exact(series__tau(&s), 234.0 / 465);
}

/* Only the window counts: a long rise followed by a full window's fall. */
static void test_tau_over_wrapped_window(void **state)
{
	struct series s = {};

	for (int i = 0; i < LW_SERIES_LEN; i++)
		series__add(&s, i, i);
	assert_double_exact(series__tau(&s), 1.0);
	for (int i = 0; i < LW_SERIES_LEN; i++)
		series__add(&s, LW_SERIES_LEN + i, LW_SERIES_LEN - i);
	assert_double_exact(series__tau(&s), -1.0);
}

static void test_rate(void **state)
{
	static const int64_t rising[] = { 1000, 1100, 1200, 1300 };
	static const int64_t noisy_fall[] = { 500, 800, 100, 300 };
	struct series s = {};

	assert_double_exact(series__rate(&s), 0);
	series__add(&s, 3, 4096);
	assert_double_exact(series__rate(&s), 0);

	fill(&s, rising, ARRAY_SIZE(rising));
	assert_double_exact(series__rate(&s), 100);
	/* oldest to newest only, whatever lies between: (300 - 500) / 3 */
	fill(&s, noisy_fall, ARRAY_SIZE(noisy_fall));
	assert_double_exact(series__rate(&s), -200.0 / 3);

	/* fractional intervals */
	memset(&s, 0, sizeof(s));
	series__add(&s, 0.5, 0);
	series__add(&s, 0.75, 64);
	assert_double_exact(series__rate(&s), 256);
}

static void test_rate_no_time_passed(void **state)
{
	struct series s = {};

	series__add(&s, 2, 0);
	series__add(&s, 2, 1000);
	assert_double_exact(series__rate(&s), 0);
	/* and time going backwards is no rate either */
	memset(&s, 0, sizeof(s));
	series__add(&s, 3, 0);
	series__add(&s, 2, 1000);
	assert_double_exact(series__rate(&s), 0);
}

static void test_rate_after_wrap(void **state)
{
	struct series s = {};

	/* 2 bytes a second, sampled every 0.5 s; the window holds t = 50..81.5 */
	for (int i = 0; i < 100 + LW_SERIES_LEN; i++)
		series__add(&s, 0.5 * i, i);
	assert_double_exact(series__time(&s, 0), 50);
	assert_double_exact(series__rate(&s), 2);
}

static void test_verdict_new_below_min_samples(void **state)
{
	struct series s = {};

	assert_int_equal(LW_MIN_SAMPLES, 3);
	assert_int_equal(series__verdict(&s), VERDICT_NEW);
	series__add(&s, 0, 100);
	assert_int_equal(series__verdict(&s), VERDICT_NEW);
	series__add(&s, 1, 1 << 20);
	assert_int_equal(series__verdict(&s), VERDICT_NEW);
	series__add(&s, 2, 1 << 21);
	assert_int_equal(series__verdict(&s), VERDICT_GROWING);
}

static void test_verdict_steady_rise(void **state)
{
	struct series s = {};

	for (int i = 0; i < 3 * LW_SERIES_LEN; i++) {
		series__add(&s, i, 4096 * (int64_t)i);
		if (s.n >= LW_MIN_SAMPLES)
			assert_int_equal(series__verdict(&s), VERDICT_GROWING);
	}
}

/* One step down in a rise does not break it: tau 0.8. */
static void test_verdict_noisy_rise(void **state)
{
	static const int64_t v[] = { 100, 300, 200, 400, 500 };
	struct series s;

	fill(&s, v, ARRAY_SIZE(v));
	assert_int_equal(series__verdict(&s), VERDICT_GROWING);
}

static void test_verdict_flat(void **state)
{
	static const int64_t v[] = { 4096, 4096, 4096 };
	struct series s;

	fill(&s, v, ARRAY_SIZE(v));
	assert_int_equal(series__verdict(&s), VERDICT_STEADY);
}

/*
 * A rise of k samples (1..k) then m samples at k: with ties counted as
 * neither direction, tau = (k(k-1)/2 + (k-1)m) / ((k+m)(k+m-1)/2), and the
 * verdict stays "growing" while tau > 0.5, i.e. while
 * 2k(k-1) + 4(k-1)m > (k+m)(k+m-1).
 */
static void test_verdict_plateau_k2(void **state)
{
	struct series s;

	rise_then_plateau(&s, 2, 1); /* tau 2/3 */
	assert_int_equal(series__verdict(&s), VERDICT_GROWING);
	rise_then_plateau(&s, 2, 2); /* tau exactly 1/2: not above the bar */
	assert_int_equal(series__verdict(&s), VERDICT_STEADY);
}

static void test_verdict_plateau_k5(void **state)
{
	struct series s;

	rise_then_plateau(&s, 5, 9); /* tau 46/91 */
	assert_double_exact(series__tau(&s), 46.0 / 91);
	assert_int_equal(series__verdict(&s), VERDICT_GROWING);
	rise_then_plateau(&s, 5, 10); /* tau 50/105 */
	assert_double_exact(series__tau(&s), 50.0 / 105);
	assert_int_equal(series__verdict(&s), VERDICT_STEADY);
}

static void test_verdict_plateau_k10(void **state)
{
	struct series s;

	rise_then_plateau(&s, 10, 21); /* tau 234/465 */
	assert_int_equal(series__verdict(&s), VERDICT_GROWING);
	rise_then_plateau(&s, 10, 22); /* tau 243/496 */
	assert_double_exact(series__tau(&s), 243.0 / 496);
	assert_int_equal(series__verdict(&s), VERDICT_STEADY);
}

/* Once the rise has left the window entirely, the plateau is all there is. */
static void test_verdict_plateau_fills_window(void **state)
{
	struct series s;

	rise_then_plateau(&s, 40, LW_SERIES_LEN);
	assert_double_exact(series__tau(&s), 0);
	assert_int_equal(series__verdict(&s), VERDICT_STEADY);
}

/* A cache that fills and is flushed: ups and downs, no direction. */
static void test_verdict_sawtooth(void **state)
{
	struct series s = {};

	for (int i = 0; i < LW_SERIES_LEN; i++)
		series__add(&s, i, 4096 * (int64_t)(1 + i % 4));
	/* 2016 pairs: 96 more up than down */
	assert_double_exact(series__tau(&s), 96.0 / 2016);
	assert_int_equal(series__verdict(&s), VERDICT_STEADY);

	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 6; i++)
		series__add(&s, i, i % 2 ? 1 << 20 : 0);
	assert_int_equal(series__verdict(&s), VERDICT_STEADY);
}

/* Mostly rising (tau 153/190) but back where it began: not growing. */
static void test_verdict_rise_and_fall_back(void **state)
{
	struct series s = {};

	for (int i = 0; i < 19; i++)
		series__add(&s, i, 2 + i);
	series__add(&s, 19, 2);
	assert_double_exact(series__tau(&s), 153.0 / 190);
	assert_int_equal(series__verdict(&s), VERDICT_STEADY);
}

static void test_verdict_falling(void **state)
{
	static const int64_t v[] = { 5 << 20, 4 << 20, 3 << 20 };
	struct series s = {};

	fill(&s, v, ARRAY_SIZE(v));
	assert_int_equal(series__verdict(&s), VERDICT_SHRINKING);

	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 2 * LW_SERIES_LEN; i++)
		series__add(&s, i, 1000000 - 100 * (int64_t)i);
	assert_int_equal(series__verdict(&s), VERDICT_SHRINKING);
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
		cmocka_unit_test(test_tau_degenerate),
		cmocka_unit_test(test_tau_small_cases),
		cmocka_unit_test(test_tau_with_ties),
		cmocka_unit_test(test_tau_over_wrapped_window),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_rate_no_time_passed),
		cmocka_unit_test(test_rate_after_wrap),
		cmocka_unit_test(test_verdict_new_below_min_samples),
		cmocka_unit_test(test_verdict_steady_rise),
		cmocka_unit_test(test_verdict_noisy_rise),
		cmocka_unit_test(test_verdict_flat),
		cmocka_unit_test(test_verdict_plateau_k2),
		cmocka_unit_test(test_verdict_plateau_k5),
		cmocka_unit_test(test_verdict_plateau_k10),
		cmocka_unit_test(test_verdict_plateau_fills_window),
		cmocka_unit_test(test_verdict_sawtooth),
		cmocka_unit_test(test_verdict_rise_and_fall_back),
		cmocka_unit_test(test_verdict_falling),
		cmocka_unit_test(test_verdict_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
