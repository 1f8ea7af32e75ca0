// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* growth.h: what a granule holds from its pagemap words (anonymous pages
 * only, swapped ones keeping it, a huge page counted whole once per 2 MiB),
 * which granules a round reads again, and the per-stack sums with their age
 * epochs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "kernel/growth.h"

#define PAGES 16 /* a 64 KiB granule */

/* growth__count then growth__tally, as a round does for a granule it reads */
static void tally_words(uint64_t addr, const uint64_t *words, bool huge, uint64_t *block,
			struct growth_tally *t)
{
	struct growth_pages pages;

	growth__count(words, PAGES, &pages);
	pages.huge = huge;
	growth__tally(addr, &pages, block, t);
}

static void test_counts_resident_anonymous_pages(void **state)
{
	uint64_t words[PAGES] = { 0 }, block = 0;
	struct growth_tally t;

	words[0] = PM_PRESENT | 1234;
	words[3] = PM_PRESENT | 99;
	words[4] = PM_PRESENT | PM_FILE | 7; /* a file's page sharing the granule */
	words[5] = PM_SWAPPED;
	tally_words(0x10000, words, false, &block, &t);
	assert_int_equal(t.bytes, 2 * GROWTH_PAGE);
	assert_false(t.empty);
}

static void test_swapped_keeps_a_granule_but_not_its_bytes(void **state)
{
	uint64_t words[PAGES] = { 0 }, block = 0;
	struct growth_tally t;

	words[7] = PM_SWAPPED;
	tally_words(0x10000, words, false, &block, &t);
	assert_int_equal(t.bytes, 0);
	assert_false(t.empty);
	memset(words, 0, sizeof(words));
	words[2] = PM_PRESENT | PM_FILE;
	tally_words(0x10000, words, false, &block, &t);
	assert_true(t.empty); /* only a file's page: nothing of the process's own */
}

static void test_huge_page_counted_once_per_block(void **state)
{
	uint64_t words[PAGES], block = 0;
	struct growth_tally t;

	for (int i = 0; i < PAGES; i++)
		words[i] = PM_PRESENT | (512 + i);
	/* two granules of one huge page at 0x40000000, then one of the next */
	tally_words(0x40000000, words, true, &block, &t);
	assert_int_equal(t.bytes, GROWTH_HUGE);
	tally_words(0x40010000, words, true, &block, &t);
	assert_int_equal(t.bytes, 0);
	assert_false(t.empty);
	tally_words(0x40200000, words, true, &block, &t);
	assert_int_equal(t.bytes, GROWTH_HUGE);
	/* a huge page at address 0's block is told apart from no block yet */
	block = 0;
	tally_words(0x0, words, true, &block, &t);
	assert_int_equal(t.bytes, GROWTH_HUGE);
	tally_words(0x1000, words, true, &block, &t);
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

/* growth__plan's question, answered from a list: who gave memory back */
static bool released(uint32_t tgid, uint64_t since_ns, void *ctx)
{
	const uint32_t *gave_back = ctx;

	for (; *gave_back; gave_back++)
		if (*gave_back == tgid)
			return true;
	return false;
}

#define G(pid, at, stack, first, touched) \
	{ .tgid = (pid), .addr = (at), .stack_id = (stack), .time_ns = (first), .touched_ns = (touched) }

static void test_plan_reads_only_what_changed(void **state)
{
	const struct growth_pages held = { .resident = 7, .swapped = 1 };
	struct growth_granule last[] = {
		G(10, 0x10000, 1, 100, 100),
		G(10, 0x20000, 1, 100, 150),
		G(10, 0x30000, 2, 100, 100),
		G(12, 0x10000, 3, 100, 100),
	};
	struct growth_granule v[] = {
		G(9, 0x10000, 1, 300, 300),   /* a process not seen before */
		G(10, 0x10000, 1, 100, 100),  /* unchanged */
		G(10, 0x20000, 1, 100, 250),  /* faulted in since */
		G(10, 0x30000, 2, 260, 260),  /* forgotten and touched again */
		G(10, 0x40000, 1, 270, 270),  /* new */
		G(12, 0x10000, 4, 100, 100),  /* (a stack told apart only now) */
	};
	uint32_t nobody[] = { 0 };

	for (size_t i = 0; i < sizeof(last) / sizeof(last[0]); i++)
		last[i].pages = held;
	/* round 1: no granule here is due for its refresh (4 MiB blocks 0) */
	assert_int_equal(growth__plan(v, 6, last, 4, 200, 1, released, nobody), 5);
	assert_true(v[0].read);
	assert_false(v[1].read);
	assert_int_equal(v[1].pages.resident, 7);
	assert_int_equal(v[1].pages.swapped, 1);
	for (int i = 2; i < 6; i++)
		assert_true(v[i].read);
	/* the round whose turn it is reads them all */
	assert_int_equal(growth__plan(v, 6, last, 4, 200, GROWTH_REFRESH_ROUNDS, released, nobody),
			 6);
	/* with nothing to compare with, everything is read */
	assert_int_equal(growth__plan(v, 6, NULL, 0, 200, 1, released, nobody), 6);
}

static void test_plan_huge_pages_read_after_a_release(void **state)
{
	struct growth_granule last[] = {
		G(10, 0x200000, 1, 100, 100),
		G(10, 0x400000, 1, 100, 100),
		G(11, 0x200000, 1, 100, 100),
	};
	struct growth_granule v[3];
	uint32_t ten[] = { 10, 0 }, nobody[] = { 0 };

	last[0].pages = (struct growth_pages){ .resident = 16, .huge = true };
	last[1].pages = (struct growth_pages){ .resident = 16 };
	last[2].pages = (struct growth_pages){ .resident = 16, .huge = true };
	memcpy(v, last, sizeof(v));
	/* process 10 gave something back: a huge page of its may be split */
	assert_int_equal(growth__plan(v, 3, last, 3, 200, 1, released, ten), 1);
	assert_true(v[0].read);
	assert_false(v[1].read);
	assert_false(v[2].read);
	assert_true(v[2].pages.huge);
	memcpy(v, last, sizeof(v));
	assert_int_equal(growth__plan(v, 3, last, 3, 200, 1, released, nobody), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_resident_anonymous_pages),
		cmocka_unit_test(test_swapped_keeps_a_granule_but_not_its_bytes),
		cmocka_unit_test(test_huge_page_counted_once_per_block),
		cmocka_unit_test(test_sums_and_age_epochs),
		cmocka_unit_test(test_plan_reads_only_what_changed),
		cmocka_unit_test(test_plan_huge_pages_read_after_a_release),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
