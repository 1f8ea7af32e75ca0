// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* growth.h: what a granule holds from its pagemap words (anonymous pages
 * only, swapped ones keeping it, a huge page counted whole once per 2 MiB),
 * and the per-stack sums with their age epochs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "kernel/growth.h"

#define PAGES 16 /* a 64 KiB granule */

static void test_counts_resident_anonymous_pages(void **state)
{
	uint64_t words[PAGES] = { 0 }, block = 0;
	struct growth_tally t;

	words[0] = PM_PRESENT | 1234;
	words[3] = PM_PRESENT | 99;
	words[4] = PM_PRESENT | PM_FILE | 7; /* a file's page sharing the granule */
	words[5] = PM_SWAPPED;
	growth__tally(0x10000, words, PAGES, false, &block, &t);
	assert_int_equal(t.bytes, 2 * GROWTH_PAGE);
	assert_false(t.empty);
}

static void test_swapped_keeps_a_granule_but_not_its_bytes(void **state)
{
	uint64_t words[PAGES] = { 0 }, block = 0;
	struct growth_tally t;

	words[7] = PM_SWAPPED;
	growth__tally(0x10000, words, PAGES, false, &block, &t);
	assert_int_equal(t.bytes, 0);
	assert_false(t.empty);
	memset(words, 0, sizeof(words));
	words[2] = PM_PRESENT | PM_FILE;
	growth__tally(0x10000, words, PAGES, false, &block, &t);
	assert_true(t.empty); /* only a file's page: nothing of the process's own */
}

static void test_huge_page_counted_once_per_block(void **state)
{
	uint64_t words[PAGES], block = 0;
	struct growth_tally t;

	for (int i = 0; i < PAGES; i++)
		words[i] = PM_PRESENT | (512 + i);
	/* two granules of one huge page at 0x40000000, then one of the next */
	growth__tally(0x40000000, words, PAGES, true, &block, &t);
	assert_int_equal(t.bytes, GROWTH_HUGE);
	growth__tally(0x40010000, words, PAGES, true, &block, &t);
	assert_int_equal(t.bytes, 0);
	assert_false(t.empty);
	growth__tally(0x40200000, words, PAGES, true, &block, &t);
	assert_int_equal(t.bytes, GROWTH_HUGE);
	/* a huge page at address 0's block is told apart from no block yet */
	block = 0;
	growth__tally(0x0, words, PAGES, true, &block, &t);
	assert_int_equal(t.bytes, GROWTH_HUGE);
	growth__tally(0x1000, words, PAGES, true, &block, &t);
	assert_int_equal(t.bytes, 0);
}

static void test_sums_and_age_epochs(void **state)
{
	const uint64_t epoch = 1000000000ULL; /* 1 s */
	struct lw_stats s;

	memset(&s, 0, sizeof(s));
	growth__add(&s, 4096, 5 * epoch + 1, epoch);
	growth__add(&s, 8192, 5 * epoch + 2, epoch);
	growth__add(&s, 4096, 6 * epoch, epoch);
	assert_int_equal(s.outstanding_bytes, 16384);
	assert_int_equal(s.total_allocs, 3);
	assert_int_equal(s.age_epoch[5], 5);
	assert_int_equal(s.age_bytes[5], 12288);
	assert_int_equal(s.age_bytes[6], 4096);
	/* LW_AGE_SLOTS epochs later the slot is taken over: the old bytes are older */
	growth__add(&s, 4096, (5 + LW_AGE_SLOTS) * epoch, epoch);
	assert_int_equal(s.age_epoch[5], 5 + LW_AGE_SLOTS);
	assert_int_equal(s.age_bytes[5], 4096);
	assert_int_equal(s.older_bytes, 12288);
	/* and one older than the slot's epoch goes to the older bytes at once */
	growth__add(&s, 4096, 5 * epoch, epoch);
	assert_int_equal(s.older_bytes, 16384);
	/* an empty granule counts as one, with no bytes */
	growth__add(&s, 0, 9 * epoch, epoch);
	assert_int_equal(s.total_allocs, 6);
	assert_int_equal(s.outstanding_bytes, 24576);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_resident_anonymous_pages),
		cmocka_unit_test(test_swapped_keeps_a_granule_but_not_its_bytes),
		cmocka_unit_test(test_huge_page_counted_once_per_block),
		cmocka_unit_test(test_sums_and_age_epochs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
