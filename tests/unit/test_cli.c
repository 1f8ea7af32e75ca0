// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* cli.h: the strict number parsers, and env__parse on valid command lines
 * (a bad one exits the process, so it is left to end-to-end tests). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "options/cli.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Exact double comparison that says what differed. */
#define assert_double_exact(got, want) do {					\
	double got_ = (got), want_ = (want);					\
	if (!(got_ == want_))							\
		fail_msg("%s is %.17g, expected %.17g", #got, got_, want_);	\
} while (0)

/* Untouched by a rejected parse. */
#define SENTINEL_D 12345.5
#define SENTINEL_L 777L

static void check_seconds_ok(const char *s, double want)
{
	double v = SENTINEL_D;

	if (parse_seconds(s, &v))
		fail_msg("parse_seconds(\"%s\") rejected, expected %.17g", s, want);
	if (v != want)
		fail_msg("parse_seconds(\"%s\") gave %.17g, expected %.17g", s, v, want);
}

static void check_seconds_bad(const char *s)
{
	double v = SENTINEL_D;
	int err = parse_seconds(s, &v);

	if (err != -EINVAL)
		fail_msg("parse_seconds(\"%s\") returned %d (value %.17g), expected -EINVAL",
			 s, err, v);
	assert_double_exact(v, SENTINEL_D);
}

static void check_long_ok(const char *s, long min, long max, long want)
{
	long v = SENTINEL_L;

	if (parse_long(s, min, max, &v))
		fail_msg("parse_long(\"%s\", %ld, %ld) rejected, expected %ld", s, min, max, want);
	if (v != want)
		fail_msg("parse_long(\"%s\") gave %ld, expected %ld", s, v, want);
}

static void check_long_bad(const char *s, long min, long max)
{
	long v = SENTINEL_L;
	int err = parse_long(s, min, max, &v);

	if (err != -EINVAL)
		fail_msg("parse_long(\"%s\", %ld, %ld) returned %d (value %ld), expected -EINVAL",
			 s, min, max, err, v);
	assert_int_equal(v, SENTINEL_L);
}

static void test_seconds_accepted(void **state)
{
	check_seconds_ok("5", 5.0);
	check_seconds_ok("0.5", 0.5);
	check_seconds_ok("1e-1", 0.1);
	check_seconds_ok("2.25", 2.25);
	check_seconds_ok("60", 60.0);
	check_seconds_ok("86400", 86400.0); /* a day: the largest interval */
}

static void test_seconds_rejected(void **state)
{
	static const char *const bad[] = {
		"", "abc", "0", "0.0", "-0", "-1", "-0.5", "nan", "NaN", "inf", "-inf",
		"infinity", "5s", "5 ", "1.5.2", "1e9", "86400.5", "1e400", ".",
		/* plain decimals only, and not below a millisecond */
		" 5", "+5", "0x10", "0x1p-3", "1e-300", "0.0009",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		check_seconds_bad(bad[i]);
}

static void test_long_accepted(void **state)
{
	check_long_ok("1", 1, 10, 1);          /* min is inclusive */
	check_long_ok("10", 1, 10, 10);        /* max is inclusive */
	check_long_ok("5", 1, 10, 5);
	check_long_ok("-3", -5, 5, -3);
	check_long_ok("0", -5, 5, 0);
	check_long_ok("1024", 1024, 1L << 26, 1024);
	check_long_ok("67108864", 1024, 1L << 26, 1L << 26);
	check_long_ok("2147483647", 1, 0x7fffffff, 0x7fffffff);
	check_long_ok("9223372036854775807", LONG_MIN, LONG_MAX, LONG_MAX);
	check_long_ok("-9223372036854775808", LONG_MIN, LONG_MAX, LONG_MIN);
	check_long_ok("010", 0, 100, 10);      /* decimal, not octal */
}

static void test_long_rejected(void **state)
{
	check_long_bad("0", 1, 10);            /* below min */
	check_long_bad("11", 1, 10);           /* above max */
	check_long_bad("-6", -5, 5);
	check_long_bad("1023", 1024, 1L << 26);
	check_long_bad("67108865", 1024, 1L << 26);
	check_long_bad("2147483648", 1, 0x7fffffff);
	check_long_bad("", 1, 10);
	check_long_bad("abc", 1, 10);
	check_long_bad("5x", 1, 10);
	check_long_bad("5 ", 1, 10);
	check_long_bad("1.5", 1, 10);
	check_long_bad("1e3", 1, 10000);
	check_long_bad("0x10", 0, 100);
	check_long_bad("-", -5, 5);
	check_long_bad(" 7", 1, 10);           /* no blanks or sign */
	check_long_bad("+7", 1, 10);
	check_long_bad("-3", 0, 10);           /* a '-' only where negatives are allowed */
	/* out of long's range: ERANGE, not a clamped LONG_MAX/LONG_MIN */
	check_long_bad("9223372036854775808", LONG_MIN, LONG_MAX);
	check_long_bad("-9223372036854775809", LONG_MIN, LONG_MAX);
	check_long_bad("99999999999999999999999", 1, LONG_MAX);
}

static void test_env_defaults(void **state)
{
	char *argv[] = { "leakwatch", "-p", "1234", NULL };
	struct env env;

	env__parse(&env, ARRAY_SIZE(argv) - 1, argv);
	assert_int_equal(env.nr_pids, 1);
	assert_int_equal(env.pids[0], 1234);
	assert_double_exact(env.interval_s, 5);
	assert_int_equal(env.count, 0);
	assert_int_equal(env.out.top, 10);
	assert_null(env.json_path);
	assert_int_equal(env.verbose, 0);
	assert_int_equal(env.max_allocs, 1 << 20);
	assert_int_equal(env.max_stacks, 1 << 15);
}

static void test_env_everything(void **state)
{
	char *argv[] = {
		"leakwatch", "-p", "12,34", "-p", "56", "-T", "20", "--json", "-", "-vv",
		"--max-allocs", "4096", "--max-stacks", "2048", "0.5", "3", NULL,
	};
	struct env env;

	env__parse(&env, ARRAY_SIZE(argv) - 1, argv);
	assert_int_equal(env.nr_pids, 3);
	assert_int_equal(env.pids[0], 12);
	assert_int_equal(env.pids[1], 34);
	assert_int_equal(env.pids[2], 56);
	assert_int_equal(env.out.top, 20);
	assert_non_null(env.json_path);
	assert_string_equal(env.json_path, "-");
	assert_int_equal(env.verbose, 2);
	assert_int_equal(env.max_allocs, 4096);
	assert_int_equal(env.max_stacks, 2048);
	assert_double_exact(env.interval_s, 0.5);
	assert_int_equal(env.count, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seconds_accepted),
		cmocka_unit_test(test_seconds_rejected),
		cmocka_unit_test(test_long_accepted),
		cmocka_unit_test(test_long_rejected),
		cmocka_unit_test(test_env_defaults),
		cmocka_unit_test(test_env_everything),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
