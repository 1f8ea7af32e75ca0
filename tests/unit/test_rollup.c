// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* rollup.h: one stack held by several processes of one program, summed
 * into one line; what is not shared, or shared across programs, is not. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "judge/report.h"
#include "judge/rollup.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Sites are large (they carry their series): keep them out of the stack. */
static struct lw_site sites[8];
static struct report_process procs[4];

/* A site with one sample per report, growing by step bytes each. */
static struct lw_site *site(int i, pid_t pid, uint64_t id, int64_t step, int reports)
{
	struct lw_site *s = &sites[i];

	memset(s, 0, sizeof(*s));
	s->pid = pid;
	s->id = id;
	for (int k = 1; k <= reports; k++)
		series__add(&s->series, k, step * k);
	s->bytes = step * reports;
	s->allocs = reports;
	return s;
}

static void proc(int i, pid_t pid, const char *exe)
{
	memset(&procs[i], 0, sizeof(procs[i]));
	procs[i].pid = pid;
	procs[i].exe = exe;
}

static void test_workers_of_one_program_roll_up(void **state)
{
	struct lw_site *v[] = {
		site(0, 101, 7, 1000, 10), /* the leak, in both workers */
		site(1, 102, 7, 3000, 10),
		site(2, 101, 8, 500, 10),  /* only in one of them: no rollup */
	};
	struct rollup *u = NULL;
	int n;

	proc(0, 101, "/srv/worker");
	proc(1, 102, "/srv/worker");
	n = rollup__build(v, ARRAY_SIZE(v), procs, 2, 10, true, &u);
	assert_int_equal(n, 1);
	assert_int_equal(u[0].id, 7);
	assert_string_equal(u[0].exe, "/srv/worker");
	assert_int_equal(u[0].nr_procs, 2);
	assert_int_equal(u[0].bytes, 40000);
	assert_int_equal(u[0].allocs, 20);
	/* the sum grows 4000 B a report (a second here), 2000 B per process */
	assert_int_equal(u[0].series.n, 10);
	assert_int_equal(series__bytes(&u[0].series, 9), 40000);
	assert_int_equal(u[0].trend.verdict, VERDICT_GROWING);
	assert_true(u[0].trend.rate > 3999 && u[0].trend.rate < 4001);
	assert_true(u[0].rate_per_process > 1999 && u[0].rate_per_process < 2001);
	assert_true((u[0].pids[0] == 101 && u[0].pids[1] == 102) ||
		    (u[0].pids[0] == 102 && u[0].pids[1] == 101));
	free(u);
}

static void test_other_programs_do_not_roll_up(void **state)
{
	struct lw_site *v[] = {
		site(0, 101, 7, 1000, 5),
		site(1, 102, 7, 1000, 5),
	};
	struct rollup *u = NULL;

	/* the same code path in two different executables */
	proc(0, 101, "/srv/a");
	proc(1, 102, "/srv/b");
	assert_int_equal(rollup__build(v, ARRAY_SIZE(v), procs, 2, 10, false, &u), 0);
	free(u);
	/* one process: nothing to roll up */
	assert_int_equal(rollup__build(v, 1, procs, 1, 10, false, &u), 0);
	free(u);
}

static void test_most_bytes_first_at_most_top(void **state)
{
	struct lw_site *v[] = {
		site(0, 101, 1, 100, 4), site(1, 102, 1, 100, 4), /* 800 B */
		site(2, 101, 2, 900, 4), site(3, 102, 2, 900, 4), /* 7200 B */
		site(4, 101, 3, 300, 4), site(5, 102, 3, 300, 4), /* 2400 B */
	};
	struct rollup *u = NULL;
	int n;

	proc(0, 101, "/srv/worker");
	proc(1, 102, "/srv/worker");
	n = rollup__build(v, ARRAY_SIZE(v), procs, 2, 2, false, &u);
	assert_int_equal(n, 2);
	assert_int_equal(u[0].id, 2);
	assert_int_equal(u[0].bytes, 7200);
	assert_int_equal(u[1].id, 3);
	free(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_workers_of_one_program_roll_up),
		cmocka_unit_test(test_other_programs_do_not_roll_up),
		cmocka_unit_test(test_most_bytes_first_at_most_top),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
