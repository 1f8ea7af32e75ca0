// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* kernel.h: a kernel's tier from what it offers and what its verifier
 * refused, the reason kept, and the names JSON and --check use. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "kernel/kernel.h"

static struct kernel_info everything(void)
{
	struct kernel_info k = { .release = "6.18.0" };

	for (int f = 0; f < KF_NR; f++)
		k.has[f] = true;
	return k;
}

static void test_tiers(void **state)
{
	struct kernel_info k = everything();

	assert_string_equal(kernel__tier(&k), "full");
	/* Linux 6.1 and 6.12: fallbacks, so reduced */
	k.has[KF_UPROBE_MULTI] = false;
	assert_string_equal(kernel__tier(&k), "reduced");
	k = everything();
	k.has[KF_SEND_SIGNAL_TASK] = false;
	assert_string_equal(kernel__tier(&k), "reduced");
	/* a part left out */
	k = everything();
	kernel__drop(&k, LW_PART_PYTHON_WALK, "R1 invalid mem access 'scalar'");
	assert_string_equal(kernel__tier(&k), "reduced");
	/* both walkers gone: frame-pointer stacks, the core alone */
	kernel__drop(&k, LW_PART_CFI_UNWIND, "too large");
	assert_string_equal(kernel__tier(&k), "core");
}

static void test_reason_is_its_first_line(void **state)
{
	struct kernel_info k = everything();
	char longer[400];

	kernel__drop(&k, LW_PART_FOLLOW, "R8 invalid mem access 'scalar'\nprocessed 96473 insns");
	assert_true(k.dropped[LW_PART_FOLLOW]);
	assert_string_equal(k.reason[LW_PART_FOLLOW], "R8 invalid mem access 'scalar'");
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	kernel__drop(&k, LW_PART_COMMAND_HOLD, longer);
	assert_int_equal(strlen(k.reason[LW_PART_COMMAND_HOLD]), sizeof(k.reason[0]) - 1);
	/* out of range: nothing happens */
	kernel__drop(&k, LW_PART_NR, "no");
}

static void test_names_round_trip(void **state)
{
	for (int f = 0; f < KF_NR; f++)
		assert_int_equal(kernel__feature_by_name(kernel__feature_name(f)), f);
	for (int p = 0; p < LW_PART_NR; p++)
		assert_int_equal(kernel__part_by_name(kernel__part_name(p)), p);
	assert_int_equal(kernel__feature_by_name("uprobe_multi"), KF_UPROBE_MULTI);
	assert_int_equal(kernel__part_by_name("python_walk"), LW_PART_PYTHON_WALK);
	assert_int_equal(kernel__feature_by_name("bogus"), -1);
	assert_int_equal(kernel__part_by_name(""), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tiers),
		cmocka_unit_test(test_reason_is_its_first_line),
		cmocka_unit_test(test_names_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
