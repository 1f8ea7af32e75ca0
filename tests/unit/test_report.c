// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* report.h: which stacks a report shows and in what order, the loss sums
 * and the loss names. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "judge/report.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Sites are large (they carry their series): keep them out of the stack. */
static struct lw_site sites[16];

static struct lw_site *site(int i, pid_t pid, uint64_t id, int64_t bytes, int64_t allocs)
{
	struct lw_site *s = &sites[i];

	memset(s, 0, sizeof(*s));
	s->pid = pid;
	s->id = id;
	s->bytes = bytes;
	s->allocs = allocs;
	return s;
}

/* Asserts that v[0..nr) are exactly want[0..nr), by site. */
static void check_order(struct lw_site **v, int nr, const int *want, int nr_want)
{
	assert_int_equal(nr, nr_want);
	for (int i = 0; i < nr; i++)
		if (v[i] != &sites[want[i]])
			fail_msg("position %d holds site %d (pid %d id %llu bytes %lld allocs %lld), "
				 "expected site %d", i, (int)(v[i] - sites), v[i]->pid,
				 (unsigned long long)v[i]->id, (long long)v[i]->bytes,
				 (long long)v[i]->allocs, want[i]);
}

static void test_pick_keeps_only_holding(void **state)
{
	struct lw_site *v[] = {
		site(0, 10, 1, 0, 0),      /* all freed: out */
		site(1, 10, 2, 4096, 1),
		site(2, 10, 3, 0, 2),      /* zero-byte allocations still held: in */
		site(3, 10, 4, 16, 0),     /* bytes without a count (racing free): in */
		site(4, 10, 5, -64, 0),    /* transient negative: out */
		site(5, 10, 6, -64, 1),    /* negative bytes, one held: in */
		site(6, 10, 7, 0, -1),     /* out */
	};
	static const int want[] = { 1, 3, 2, 5 };

	check_order(v, report__pick_stacks(v, ARRAY_SIZE(v), 100, false), want, ARRAY_SIZE(want));
}

static void test_pick_order(void **state)
{
	struct lw_site *v[] = {
		site(0, 20, 9, 100, 1),
		site(1, 10, 9, 100, 1),    /* same bytes and allocs: lower pid first */
		site(2, 10, 3, 100, 1),    /* same pid too: lower id first */
		site(3, 30, 1, 100, 5),    /* same bytes, more allocations: first */
		site(4, 40, 1, 1 << 20, 1),
		site(5, 40, 2, 1, 1000),
		site(6, 10, UINT64_MAX, 100, 1), /* ids compare unsigned */
		site(7, 10, 1ULL << 63, 100, 1),
	};
	static const int want[] = { 4, 3, 2, 1, 7, 6, 0, 5 };

	check_order(v, report__pick_stacks(v, ARRAY_SIZE(v), 100, false), want, ARRAY_SIZE(want));
}

static void test_pick_caps_at_top(void **state)
{
	struct lw_site *v[] = {
		site(0, 1, 1, 10, 1),
		site(1, 1, 2, 50, 1),
		site(2, 1, 3, 0, 0),
		site(3, 1, 4, 30, 1),
		site(4, 1, 5, 40, 1),
		site(5, 1, 6, 20, 1),
	};
	static const int want3[] = { 1, 4, 3 };
	static const int want5[] = { 1, 4, 3, 5, 0 };

	check_order(v, report__pick_stacks(v, ARRAY_SIZE(v), 3, false), want3, ARRAY_SIZE(want3));

	/* top exactly the number kept, and above it */
	v[0] = &sites[0]; v[1] = &sites[1]; v[2] = &sites[2];
	v[3] = &sites[3]; v[4] = &sites[4]; v[5] = &sites[5];
	check_order(v, report__pick_stacks(v, ARRAY_SIZE(v), 5, false), want5, ARRAY_SIZE(want5));
	v[0] = &sites[0]; v[1] = &sites[1]; v[2] = &sites[2];
	v[3] = &sites[3]; v[4] = &sites[4]; v[5] = &sites[5];
	check_order(v, report__pick_stacks(v, ARRAY_SIZE(v), 6, false), want5, ARRAY_SIZE(want5));
	v[0] = &sites[0]; v[1] = &sites[1]; v[2] = &sites[2];
	v[3] = &sites[3]; v[4] = &sites[4]; v[5] = &sites[5];
	check_order(v, report__pick_stacks(v, ARRAY_SIZE(v), 1, false), want5, 1);
}

static void test_pick_nothing(void **state)
{
	struct lw_site *v[] = { site(0, 1, 1, 0, 0), site(1, 2, 2, -5, 0) };

	assert_int_equal(report__pick_stacks(v, ARRAY_SIZE(v), 10, false), 0);
	assert_int_equal(report__pick_stacks(v, 0, 10, false), 0);
	assert_int_equal(report__pick_stacks(NULL, 0, 10, false), 0);
}

/* Gives site i a history: rising by slope bytes a second, or flat. */
static void history(int i, int64_t slope)
{
	for (int t = 0; t < 20; t++)
		series__add(&sites[i].series, t, 1000000 + slope * t);
}

/* The summary puts growing stacks first, fastest first, whatever their
 * size; the others follow by outstanding bytes. */
static void test_summary_ranks_leaks_first(void **state)
{
	struct lw_site *v[] = {
		site(0, 1, 1, 9000000, 10),  /* big, flat */
		site(1, 1, 2, 1000, 1),      /* small, growing slowly */
		site(2, 1, 3, 5000, 2),      /* growing fast */
		site(3, 1, 4, 200000, 3),    /* flat */
	};
	const int want[] = { 2, 1, 0, 3 };

	history(0, 0);
	history(1, 10);
	history(2, 500);
	history(3, 0);
	check_order(v, report__pick_stacks(v, ARRAY_SIZE(v), 10, true), want, ARRAY_SIZE(want));
	assert_int_equal(sites[2].trend.verdict, VERDICT_GROWING);
	assert_int_equal(sites[0].trend.verdict, VERDICT_STEADY);
	assert_true(sites[2].trend.slope == 500);
}

static void test_lost_sum(void **state)
{
	struct report_counts c = {};

	assert_int_equal(report_counts__lost(&c), 0);
	for (int i = 0; i < LW_LOST_NR; i++)
		c.lost[i] = 1ULL << (4 * i);
	assert_int_equal(report_counts__lost(&c), 0x11111111ULL & ((1ULL << (4 * LW_LOST_NR)) - 1));
	/* other counters are not losses */
	c.alloc_calls = 1000;
	c.free_calls = 999;
	c.outstanding_bytes = 4096;
	c.outstanding_allocs = 1;
	assert_int_equal(report_counts__lost(&c), 0x11111111ULL & ((1ULL << (4 * LW_LOST_NR)) - 1));
	memset(c.lost, 0, sizeof(c.lost));
	c.lost[LW_LOST_NR - 1] = 7;
	assert_int_equal(report_counts__lost(&c), 7);
}

static void test_lost_names(void **state)
{
	for (int i = 0; i < LW_LOST_NR; i++) {
		const char *n = lw_lost_names[i];

		if (!n)
			fail_msg("lw_lost_names[%d] is NULL", i);
		assert_true(n[0] != 0);
		/* a JSON member name as is: lower case and underscores */
		for (const char *p = n; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
				fail_msg("lw_lost_names[%d] = \"%s\" has '%c'", i, n, *p);
		for (int j = 0; j < i; j++)
			if (!strcmp(lw_lost_names[j], n))
				fail_msg("lw_lost_names[%d] and [%d] are both \"%s\"", j, i, n);
	}
	assert_string_equal(lw_lost_names[LW_LOST_ALLOCS_MAP_FULL], "allocs_map_full");
	assert_string_equal(lw_lost_names[LW_LOST_UNKNOWN_FREES], "unknown_frees");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pick_keeps_only_holding),
		cmocka_unit_test(test_pick_order),
		cmocka_unit_test(test_pick_caps_at_top),
		cmocka_unit_test(test_pick_nothing),
		cmocka_unit_test(test_summary_ranks_leaks_first),
		cmocka_unit_test(test_lost_sum),
		cmocka_unit_test(test_lost_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
