// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* leakwatch diff (diff/diff.h, diff/records.h) on JSON files written here:
 * which record is picked, rows matched by stack id or group key and
 * ranked by growth, and one line with an exit status for bad input. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>
#include "common/exitcodes.h"
#include "diff/diff.h"

static char dir[] = "/tmp/lw-test-diff-XXXXXX";

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

/* Writes text to dir/name; returns the path (static storage, 4 slots). */
static const char *file(const char *name, const char *text)
{
	static char paths[4][256];
	static int next;
	char *path = paths[next++ % 4];
	FILE *f;

	snprintf(path, 256, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* One frame of a stack, as --json writes it. */
#define FRAME(fn, fl, ln) "{\"addr\":\"0x401000\",\"kind\":\"native\",\"module\":\"/srv/app\"," \
	"\"build_id\":null,\"module_offset\":4096,\"function\":\"" fn "\",\"offset\":4," \
	"\"file\":\"" fl "\",\"line\":" #ln ",\"inlined\":false}"
#define MALLOC "{\"addr\":\"0x7f00\",\"kind\":\"native\",\"module\":\"/lib/libc.so.6\"," \
	"\"module_offset\":1,\"function\":\"malloc\",\"file\":null,\"line\":null,\"inlined\":false}"
#define STACK(id, pid, bytes, allocs, frames) "{\"id\":\"" id "\",\"pid\":" #pid \
	",\"outstanding_bytes\":" #bytes ",\"outstanding_allocs\":" #allocs \
	",\"verdict\":\"growing\",\"frames\":[" frames "]}"
#define RECORD(type, elapsed, time, bytes, allocs, stacks) "{\"type\":\"" type "\"," \
	"\"schema\":1,\"time\":\"" time "\",\"elapsed_s\":" #elapsed ",\"processes\":[]," \
	"\"totals\":{\"outstanding_bytes\":" #bytes ",\"outstanding_allocs\":" #allocs "}," \
	"\"stacks\":[" stacks "]}\n"

/* leak_a at leak.c:10 reached from two call paths (stacks a1, a2); leak_b
 * at leak.c:20 (stack b); c only in the old report. */
#define OLD_STACKS STACK("a1", 7, 1000, 10, MALLOC "," FRAME("leak_a", "leak.c", 10) "," \
				FRAME("path_one", "leak.c", 30)) "," \
		   STACK("a2", 7, 2000, 20, MALLOC "," FRAME("leak_a", "leak.c", 10) "," \
				FRAME("path_two", "leak.c", 40)) "," \
		   STACK("b", 7, 5000, 5, FRAME("leak_b", "leak.c", 20)) "," \
		   STACK("c", 7, 300, 3, FRAME("gone", "leak.c", 50))
#define NEW_STACKS STACK("a1", 7, 4000, 40, MALLOC "," FRAME("leak_a", "leak.c", 10) "," \
				FRAME("path_one", "leak.c", 30)) "," \
		   STACK("a2", 7, 8000, 80, MALLOC "," FRAME("leak_a", "leak.c", 10) "," \
				FRAME("path_two", "leak.c", 40)) "," \
		   STACK("b", 7, 5500, 6, FRAME("leak_b", "leak.c", 20)) "," \
		   STACK("b", 8, 100, 1, FRAME("leak_b", "leak.c", 20)) "," \
		   STACK("d", 7, 64, 1, FRAME("fresh", "leak.c", 60))

static const struct diff_at last = { .kind = DIFF_AT_LAST, .text = "last" };

static const struct diff_row *row(const struct diff_row *rows, int nr, const char *key)
{
	for (int i = 0; i < nr; i++)
		if (!strcmp(rows[i].key, key))
			return &rows[i];
	fail_msg("no row %s", key);
	return NULL;
}

static void read_ok(const char *path, const struct diff_at *at, struct diff_record *r)
{
	assert_int_equal(diff_record__read(path, at, r), 0);
}

/* Stacks by id, summed over processes, most growth first. */
static void test_stacks_ranked_by_growth(void **state)
{
	const char *o = file("old.json", RECORD("summary", 10.0, "2026-01-01T00:00:10.000Z", 8300,
						38, OLD_STACKS));
	const char *n = file("new.json", RECORD("summary", 20.5, "2026-01-01T00:00:20.500Z", 17664,
						128, NEW_STACKS));
	struct diff_record old, new;
	struct diff_row *rows;
	bool from_stacks = true;
	int nr;

	read_ok(o, &last, &old);
	read_ok(n, &last, &new);
	assert_string_equal(new.type, "summary");
	assert_true(new.elapsed_s == 20.5);
	assert_int_equal(new.bytes, 17664);
	assert_int_equal(new.nr_stacks, 5);
	assert_int_equal(new.group_by, GROUP_BY_STACK);
	nr = diff__rows(&old, &new, GROUP_BY_STACK, &rows, &from_stacks);
	assert_false(from_stacks);
	assert_int_equal(nr, 5);
	/* a2 +6000, a1 +3000, b +600 (two processes), d +64, c -300 */
	assert_string_equal(rows[0].key, "a2");
	assert_int_equal(rows[0].new_bytes - rows[0].old_bytes, 6000);
	assert_int_equal(rows[0].new_allocs - rows[0].old_allocs, 60);
	assert_string_equal(rows[1].key, "a1");
	assert_string_equal(rows[2].key, "b");
	assert_int_equal(rows[2].new_bytes, 5600);
	assert_int_equal(rows[2].old_bytes, 5000);
	assert_int_equal(rows[2].new_allocs, 7);
	assert_string_equal(rows[3].key, "d");
	assert_int_equal(rows[3].old_bytes, 0);
	assert_string_equal(rows[4].key, "c");
	assert_int_equal(rows[4].new_bytes, 0);
	assert_int_equal(rows[4].new_bytes - rows[4].old_bytes, -300);
	/* frames come along: NEW's, else OLD's */
	assert_string_equal(rows[4].stack->frames[0].function, "gone");
	assert_int_equal(rows[0].stack->nr_frames, 3);
	assert_string_equal(rows[0].stack->frames[1].function, "leak_a");
	assert_int_equal(rows[0].stack->frames[1].line, 10);
	assert_int_equal(rows[0].stack->frames[1].module_offset, 4096);
	free(rows);
	diff_record__free(&old);
	diff_record__free(&new);
}

/* Groups from the stacks' frames: one line per leak, whatever the path. */
static void test_groups_from_stacks(void **state)
{
	const char *o = file("old.json", RECORD("summary", 10, "2026-01-01T00:00:10.000Z", 8300, 38,
						OLD_STACKS));
	const char *n = file("new.json", RECORD("summary", 20, "2026-01-01T00:00:20.000Z", 17664,
						128, NEW_STACKS));
	struct diff_record old, new;
	struct diff_row *rows;
	bool from_stacks = false;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int nr;

	read_ok(o, &last, &old);
	read_ok(n, &last, &new);
	nr = diff__rows(&old, &new, GROUP_BY_LINE, &rows, &from_stacks);
	assert_true(from_stacks);
	assert_int_equal(nr, 4);
	assert_string_equal(rows[0].key, "leak.c:10");
	assert_int_equal(rows[0].new_bytes, 12000);
	assert_int_equal(rows[0].old_bytes, 3000);
	assert_int_equal(rows[0].new_allocs, 120);
	assert_null(rows[0].stack);
	assert_int_equal(row(rows, nr, "leak.c:20")->new_bytes, 5600);
	assert_int_equal(row(rows, nr, "leak.c:50")->new_bytes, 0);

	/* the JSON object: exact numbers, -T rows */
	f = open_memstream(&text, &len);
	diff__print_json(f, &old, &new, GROUP_BY_LINE, rows, nr, 2, from_stacks);
	fclose(f);
	assert_non_null(strstr(text, "\"type\":\"diff\",\"schema\":1,\"group_by\":\"line\""));
	assert_non_null(strstr(text, "\"outstanding_bytes_diff\":9364,"));
	assert_non_null(strstr(text, "\"groups\":[{\"key\":\"leak.c:10\",\"outstanding_bytes\":12000,"
			       "\"outstanding_bytes_diff\":9000,\"outstanding_allocs\":120,"
			       "\"outstanding_allocs_diff\":90}"));
	assert_null(strstr(text, "leak.c:50"));
	assert_non_null(strstr(text, "\"groups_from_stacks\":true"));
	free(text);

	/* the table: a row per key, +/- differences */
	f = open_memstream(&text, &len);
	diff__print_text(f, &old, &new, GROUP_BY_LINE, rows, nr, 10, from_stacks);
	fclose(f);
	assert_non_null(strstr(text, "11.7 KiB    +8.8 KiB      120      +90  leak.c:10\n"));
	assert_non_null(strstr(text, "0 B      -300 B        0       -3  leak.c:50\n"));
	free(text);
	for (int i = 0; i < nr; i++)
		free((char *)rows[i].key);
	free(rows);
	diff_record__free(&old);
	diff_record__free(&new);
}

/* Records that carry their own groups (watched with --group-by) are used
 * as they are when grouped by what is asked. */
static void test_own_groups(void **state)
{
	const char *o = file("old.json", "{\"type\":\"interval\",\"elapsed_s\":1,\"totals\":"
			     "{\"outstanding_bytes\":10,\"outstanding_allocs\":1},\"stacks\":[],"
			     "\"group_by\":\"line\",\"groups\":[{\"key\":\"x.py:3\","
			     "\"outstanding_bytes\":10,\"outstanding_allocs\":1}]}\n");
	const char *n = file("new.json", "{\"type\":\"interval\",\"elapsed_s\":2,\"totals\":"
			     "{\"outstanding_bytes\":30,\"outstanding_allocs\":3},\"stacks\":[],"
			     "\"group_by\":\"line\",\"groups\":[{\"key\":\"x.py:3\","
			     "\"outstanding_bytes\":30,\"outstanding_allocs\":3}]}\n");
	struct diff_record old, new;
	struct diff_row *rows;
	bool from_stacks = true;
	int nr;

	read_ok(o, &last, &old);
	read_ok(n, &last, &new);
	assert_int_equal(old.group_by, GROUP_BY_LINE);
	nr = diff__rows(&old, &new, GROUP_BY_LINE, &rows, &from_stacks);
	assert_false(from_stacks);
	assert_int_equal(nr, 1);
	assert_string_equal(rows[0].key, "x.py:3");
	assert_int_equal(rows[0].new_bytes - rows[0].old_bytes, 20);
	free(rows);
	/* by another key: from the stacks (none here) */
	nr = diff__rows(&old, &new, GROUP_BY_FILE, &rows, &from_stacks);
	assert_true(from_stacks);
	assert_int_equal(nr, 0);
	free(rows);
	diff_record__free(&old);
	diff_record__free(&new);
}

/* JSON lines: the last record, or the last at or before --at (elapsed
 * seconds or UTC); a command's lines and other objects are skipped. */
static void test_pick_a_record(void **state)
{
	const char *p = file("run.json",
		"the command's own output\n"
		RECORD("interval", 1.0, "2026-01-01T00:00:01.000Z", 100, 1, "")
		"{\"type\":\"other\"}\n"
		RECORD("interval", 2.0, "2026-01-01T00:00:02.000Z", 200, 2, "")
		"\n"
		RECORD("summary", 3.0, "2026-01-01T00:00:03.000Z", 300, 3, ""));
	struct diff_record r;
	struct diff_at at;

	read_ok(p, &last, &r);
	assert_int_equal(r.bytes, 300);
	assert_int_equal(r.line, 6);
	assert_string_equal(r.time, "2026-01-01T00:00:03.000Z");
	diff_record__free(&r);

	assert_int_equal(diff_at__parse("2", &at), 0);
	assert_int_equal(at.kind, DIFF_AT_ELAPSED);
	read_ok(p, &at, &r);
	assert_int_equal(r.bytes, 200);
	assert_int_equal(r.line, 4);
	diff_record__free(&r);
	assert_int_equal(diff_at__parse("2500ms", &at), 0);
	read_ok(p, &at, &r);
	assert_int_equal(r.bytes, 200);
	diff_record__free(&r);
	assert_int_equal(diff_at__parse("1m", &at), 0);
	read_ok(p, &at, &r);
	assert_int_equal(r.bytes, 300);
	diff_record__free(&r);

	assert_int_equal(diff_at__parse("2026-01-01T00:00:01.5Z", &at), 0);
	assert_int_equal(at.kind, DIFF_AT_UTC);
	read_ok(p, &at, &r);
	assert_int_equal(r.bytes, 100);
	diff_record__free(&r);
	assert_int_equal(diff_at__parse("2026-01-01T00:00:02", &at), 0);
	read_ok(p, &at, &r);
	assert_int_equal(r.bytes, 200);
	diff_record__free(&r);

	/* before the first record */
	assert_int_equal(diff_at__parse("0.5", &at), 0);
	assert_int_equal(diff_record__read(p, &at, &r), LW_EXIT_FAILURE);
	assert_int_equal(diff_at__parse("last", &at), 0);
	assert_int_equal(at.kind, DIFF_AT_LAST);
	assert_int_equal(diff_at__parse("soon", &at), -EINVAL);
	assert_int_equal(diff_at__parse("-5", &at), -EINVAL);
	assert_int_equal(diff_at__parse("2026-13-01T00:00:00Z", &at), -EINVAL);
	assert_int_equal(diff_at__parse("2026-01-01T00:00:00Zx", &at), -EINVAL);
}

/* A pretty-printed summary (jq .) reads as well. */
static void test_pretty_printed(void **state)
{
	const char *p = file("pretty.json", "{\n  \"type\": \"summary\",\n  \"elapsed_s\": 4,\n"
			     "  \"totals\": {\"outstanding_bytes\": 7, \"outstanding_allocs\": 1},\n"
			     "  \"stacks\": []\n}\n");
	struct diff_record r;

	read_ok(p, &last, &r);
	assert_int_equal(r.bytes, 7);
	assert_int_equal(r.line, 1);
	diff_record__free(&r);
}

/* Bad input: an exit status (and one line on stderr). */
static void test_bad_input(void **state)
{
	char missing[300];
	struct diff_record r;

	snprintf(missing, sizeof(missing), "%s/missing.json", dir);
	assert_int_equal(diff_record__read(missing, &last, &r), LW_EXIT_USAGE);
	assert_int_equal(diff_record__read(file("empty.json", ""), &last, &r), LW_EXIT_FAILURE);
	assert_int_equal(diff_record__read(file("text.json", "hello\nworld\n"), &last, &r),
			 LW_EXIT_FAILURE);
	assert_int_equal(diff_record__read(file("others.json", "{\"type\":\"diff\"}\n"), &last, &r),
			 LW_EXIT_FAILURE);
	assert_int_equal(diff_record__read(file("bad.json", RECORD("interval", 1, "t", 1, 1, "")
						"{\"type\":\"summary\",}\n"), &last, &r),
			 LW_EXIT_FAILURE);
	assert_int_equal(diff_record__read(file("cut.json", "{\"type\":\"summary\",\"stacks\":[\n"),
					   &last, &r), LW_EXIT_FAILURE);
	assert_int_equal(diff_record__read(file("trail.json", "{\"type\":\"summary\"} x\n"), &last,
					   &r), LW_EXIT_FAILURE);
	/* well-formed JSON, but not a report's shape */
	assert_int_equal(diff_record__read(file("shape.json", "{\"type\":\"summary\",\"totals\":"
						"{\"outstanding_bytes\":1,\"outstanding_allocs\":1},"
						"\"stacks\":{}}\n"), &last, &r), LW_EXIT_FAILURE);
	assert_null(r.json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stacks_ranked_by_growth),
		cmocka_unit_test(test_groups_from_stacks),
		cmocka_unit_test(test_own_groups),
		cmocka_unit_test(test_pick_a_record),
		cmocka_unit_test(test_pretty_printed),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
