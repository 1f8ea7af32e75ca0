// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* summary_files.h: --summary-every's DURATION, and the file names that
 * must sort by time and that pruning alone may remove. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "outputs/summary_files.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SENTINEL 12345.5

static void test_duration_accepted(void **state)
{
	static const struct {
		const char *text;
		double seconds;
	} ok[] = {
		{ "30s", 30 }, { "5m", 300 }, { "1h", 3600 }, { "1d", 86400 }, { "90", 90 },
		{ "0.5", 0.5 }, { ".25", 0.25 }, { "1.5h", 5400 }, { "250ms", 0.25 },
		{ "1ms", 0.001 }, { "0.001", 0.001 }, { "365d", 365 * 86400.0 }, { "007s", 7 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		double v = SENTINEL;

		if (parse_duration(ok[i].text, &v))
			fail_msg("parse_duration(\"%s\") rejected, expected %g", ok[i].text,
				 ok[i].seconds);
		if (v != ok[i].seconds)
			fail_msg("parse_duration(\"%s\") gave %.17g, expected %.17g", ok[i].text, v,
				 ok[i].seconds);
	}
}

static void test_duration_rejected(void **state)
{
	static const char *const bad[] = {
		"", "s", "m", ".", "0", "0s", "0.0005", "0.5ms", "-5", "-5s", "+5", " 5", "5 ",
		"5 s", "5x", "5S", "5sec", "5min", "5mm", "5hh", "1e3", "1E3", "0x10", "inf", "nan",
		"366d", "1000000h", "5s5", "5.5.5", "ms", "5,5",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		double v = SENTINEL;
		int err = parse_duration(bad[i], &v);

		if (err != -EINVAL)
			fail_msg("parse_duration(\"%s\") returned %d (%g), expected -EINVAL", bad[i],
				 err, v);
		if (v != SENTINEL)
			fail_msg("parse_duration(\"%s\") changed its output on failure", bad[i]);
	}
}

static void test_names(void **state)
{
	/* 2026-11-27T04:30:00.123Z, then a later one the same second */
	struct timespec a = { .tv_sec = 1795753800, .tv_nsec = 123456789 };
	struct timespec b = { .tv_sec = 1795753800, .tv_nsec = 987000000 };
	struct timespec c = { .tv_sec = 1795753801, .tv_nsec = 5000000 };
	char na[96], nb[96], nc[96];

	summary_files__name(na, sizeof(na), &a, 4242);
	summary_files__name(nb, sizeof(nb), &b, 4242);
	summary_files__name(nc, sizeof(nc), &c, 4242);
	assert_string_equal(na, "leakwatch-20261127T043000.123Z-4242.json");
	assert_string_equal(nc, "leakwatch-20261127T043001.005Z-4242.json");
	assert_true(summary_files__is_name(na));
	assert_true(summary_files__is_name(nb));
	assert_true(summary_files__is_name(nc));
	/* later reports sort later */
	assert_true(strcmp(na, nb) < 0);
	assert_true(strcmp(nb, nc) < 0);
}

static void test_other_names_left_alone(void **state)
{
	static const char *const others[] = {
		"leakwatch-20261127T043000.123Z-4242.json.tmp",
		".leakwatch-20261127T043000.123Z-4242.json.4242.AbC123",
		"leakwatch-20261127T043000.123Z-.json",
		"leakwatch-20261127T043000Z-4242.json",
		"leakwatch-20261127T043000.12Z-4242.json",
		"leakwatch-2026112XT043000.123Z-4242.json",
		"leakwatch-20261127T043000.123Z-4242.jsonl",
		"leakwatch-20261127T043000.123Z-42a2.json",
		"leakwatch-20261127T043000.123Z-12345678901.json",
		"Leakwatch-20261127T043000.123Z-4242.json",
		"leakwatch-probe",
		"notes.json",
		"leakwatch-",
		"",
	};

	for (size_t i = 0; i < ARRAY_SIZE(others); i++)
		if (summary_files__is_name(others[i]))
			fail_msg("\"%s\" taken for a summary file", others[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_accepted),
		cmocka_unit_test(test_duration_rejected),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_other_names_left_alone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
