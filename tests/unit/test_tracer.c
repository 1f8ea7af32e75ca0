// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tracer.h without a target: the BPF object loaded into the running kernel
 * as leakwatch loads it, the verifier's figures kept within the budget, a
 * part the verifier refuses left out with its reason (the hidden --refuse:
 * the real verifier refusing), its maps read and written. Needs root (or
 * CAP_BPF and CAP_PERFMON): skipped otherwise. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>
#include "kernel/kernel.h"
#include "kernel/tracer.h"

/* The deepest stack chain a program may have, of the verifier's 512 bytes:
 * the budget the kernel matrix holds every kernel to (docs/kernels.md). */
#define STACK_BUDGET 384

static struct tracer *load(struct kernel_info *k, const struct tracer_opts *extra)
{
	struct tracer_opts o = {
		.max_allocs = 4096,
		.max_stacks = 1024,
		.mode = TRACER_TRACK,
		.age_epoch_ns = 2500000000ULL,
		.unwind_cfi = true,
		.walk_python = true,
		.unwind_rows = 4096,
		.kernel = k,
	};
	struct tracer *t = NULL;
	char why[1024] = "";

	if (extra)
		o.refuse_part = extra->refuse_part;
	kernel__probe(k);
	if (tracer__new(&t, &o, why, sizeof(why)))
		fail_msg("tracer__new: %s", why);
	return t;
}

static int need_root(void **state)
{
	if (geteuid() != 0) {
		skip();
		return -1;
	}
	return 0;
}

static void test_loads_within_budget(void **state)
{
	struct kernel_info k = { 0 };
	struct tracer *t = load(&k, NULL);
	const struct tracer_prog_stats *st;
	bool enter = false, exit_ = false;
	int n;

	assert_true(tracer__age_epoch_s(t) == 2.5);
	for (int p = 0; p < LW_PART_NR; p++)
		assert_false(tracer__dropped(t, p));
	st = tracer__prog_stats(t, &n);
	assert_true(n >= 2);
	for (int i = 0; i < n; i++) {
		assert_true(st[i].verified_insns > 0 && st[i].verified_insns < 1000000 / 10);
		assert_in_range(st[i].stack_bytes, 1, STACK_BUDGET);
		enter |= !strcmp(st[i].name, "alloc_enter");
		exit_ |= !strcmp(st[i].name, "alloc_exit");
	}
	assert_true(enter && exit_);
	tracer__free(t);
}

static void test_refused_part_left_out(void **state)
{
	struct kernel_info k = { 0 };
	struct tracer_opts refuse = { .refuse_part = LW_PART_PYTHON_WALK + 1 };
	struct tracer *t = load(&k, &refuse);

	assert_true(tracer__dropped(t, LW_PART_PYTHON_WALK));
	assert_false(tracer__dropped(t, LW_PART_CFI_UNWIND));
	/* the reason is the verifier's own words, kept for JSON and --check */
	assert_true(k.dropped[LW_PART_PYTHON_WALK]);
	assert_true(strlen(k.reason[LW_PART_PYTHON_WALK]) > 0);
	assert_string_equal(kernel__tier(&k), "reduced");
	tracer__free(t);
}

static void test_maps_without_a_target(void **state)
{
	struct kernel_info k = { 0 };
	struct tracer *t = load(&k, NULL);
	struct lw_proc_counters c;
	struct lw_py_gc g;
	pid_t pid = getpid();

	/* nothing recorded for a process not attached */
	assert_int_equal(tracer__read_proc(t, pid, &c), 0);
	assert_int_equal(c.alloc_calls, 0);
	/* the collector's map: written, read back, removed */
	assert_int_equal(tracer__py_gc(t, pid, 0x7f0000001000ULL), 0);
	assert_int_equal(tracer__read_py_gc(t, pid, &g), 0);
	assert_true(g.stats_addr == 0x7f0000001000ULL && g.dropped == 0 && g.unreadable == 0);
	assert_int_equal(tracer__py_gc(t, pid, 0), 0);
	assert_int_not_equal(tracer__read_py_gc(t, pid, &g), 0);
	tracer__free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_loads_within_budget, need_root),
		cmocka_unit_test_setup(test_refused_part_left_out, need_root),
		cmocka_unit_test_setup(test_maps_without_a_target, need_root),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
