// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* json_writer.h: exact output, written to a memory stream. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "outputs/json_writer.h"

struct out {
	char *buf;
	size_t len;
	FILE *f;
	struct jw w;
};

static int setup(void **state)
{
	struct out *o = calloc(1, sizeof(*o));

	if (!o)
		return -1;
	o->f = open_memstream(&o->buf, &o->len);
	if (!o->f) {
		free(o);
		return -1;
	}
	jw_init(&o->w, o->f);
	*state = o;
	return 0;
}

static int teardown(void **state)
{
	struct out *o = *state;

	if (o->f)
		fclose(o->f);
	free(o->buf);
	free(o);
	return 0;
}

/* What has been written so far. */
static const char *text(struct out *o)
{
	assert_int_equal(fflush(o->f), 0);
	return o->buf;
}

/* The writer for this test, restarted on a new, empty stream. */
static struct jw *fresh(struct out *o)
{
	assert_int_equal(fclose(o->f), 0);
	free(o->buf);
	o->buf = NULL;
	o->f = open_memstream(&o->buf, &o->len);
	assert_non_null(o->f);
	jw_init(&o->w, o->f);
	return &o->w;
}

static void test_empty_containers(void **state)
{
	struct out *o = *state;
	struct jw *w = &o->w;

	jw_object(w, NULL);
	jw_object_end(w);
	assert_string_equal(text(o), "{}");

	w = fresh(o);
	jw_array(w, NULL);
	jw_array_end(w);
	assert_string_equal(text(o), "[]");

	w = fresh(o);
	jw_object(w, NULL);
	jw_array(w, "a");
	jw_array_end(w);
	jw_object(w, "o");
	jw_object_end(w);
	jw_object_end(w);
	assert_string_equal(text(o), "{\"a\":[],\"o\":{}}");
}

static void test_every_type(void **state)
{
	struct out *o = *state;
	struct jw *w = &o->w;

	jw_object(w, NULL);
	jw_string(w, "s", "x");
	jw_int(w, "i", -5);
	jw_int(w, "imin", INT64_MIN);
	jw_uint(w, "u", UINT64_MAX);
	jw_double(w, "d", 1.5);
	jw_bool(w, "t", true);
	jw_bool(w, "f", false);
	jw_null(w, "n");
	jw_object_end(w);
	assert_string_equal(text(o),
		"{\"s\":\"x\",\"i\":-5,\"imin\":-9223372036854775808,"
		"\"u\":18446744073709551615,\"d\":1.5,\"t\":true,\"f\":false,\"n\":null}");
}

static void test_nested(void **state)
{
	struct out *o = *state;
	struct jw *w = &o->w;

	jw_object(w, NULL);
	jw_array(w, "a");
	jw_int(w, NULL, 1);
	jw_int(w, NULL, 2);
	jw_object(w, NULL);
	jw_array(w, "b");
	jw_array_end(w);
	jw_uint(w, "c", 3);
	jw_object_end(w);
	jw_array(w, NULL);
	jw_string(w, NULL, "x");
	jw_string(w, NULL, "y");
	jw_array_end(w);
	jw_array_end(w);
	jw_object(w, "d");
	jw_object(w, "e");
	jw_object_end(w);
	jw_bool(w, "f", false);
	jw_object_end(w);
	jw_int(w, "g", 7);
	jw_object_end(w);
	assert_string_equal(text(o),
		"{\"a\":[1,2,{\"b\":[],\"c\":3},[\"x\",\"y\"]],\"d\":{\"e\":{},\"f\":false},\"g\":7}");
}

/* JW_MAX_DEPTH - 1 containers deep, a sibling after each close. */
static void test_deepest_nesting(void **state)
{
	struct out *o = *state;
	struct jw *w = &o->w;
	char want[256], *p = want;
	const int deep = JW_MAX_DEPTH - 1;

	for (int i = 0; i < deep; i++) {
		jw_array(w, NULL);
		*p++ = '[';
	}
	jw_int(w, NULL, 0);
	*p++ = '0';
	for (int i = 0; i < deep; i++) {
		jw_array_end(w);
		jw_int(w, NULL, i + 1);
		p += sprintf(p, "],%d", i + 1);
	}
	*p = 0;
	assert_string_equal(text(o), want);
}

/* Each report is one top-level object on its own line, writer restarted. */
static void test_json_lines(void **state)
{
	struct out *o = *state;

	for (int i = 0; i < 2; i++) {
		jw_init(&o->w, o->f);
		jw_object(&o->w, NULL);
		jw_int(&o->w, "n", i);
		jw_object_end(&o->w);
		fputc('\n', o->f);
	}
	assert_string_equal(text(o), "{\"n\":0}\n{\"n\":1}\n");
}

static void test_escaping(void **state)
{
	struct out *o = *state;
	struct jw *w = &o->w;

	jw_array(w, NULL);
	jw_string(w, NULL, "say \"hi\"");
	jw_string(w, NULL, "C:\\dir\\");
	jw_string(w, NULL, "line1\nline2");
	jw_string(w, NULL, "tab\tcr\r");
	jw_string(w, NULL, "\x01");
	jw_string(w, NULL, "a\x1f" "b\x7f" "c\b\f");
	jw_string(w, NULL, "/usr/lib/caf\xc3\xa9.so"); /* UTF-8 as is */
	jw_string(w, NULL, "");
	jw_array_end(w);
	assert_string_equal(text(o),
		"[\"say \\\"hi\\\"\","
		"\"C:\\\\dir\\\\\","
		"\"line1\\nline2\","
		"\"tab\\tcr\\r\","
		"\"\\u0001\","
		"\"a\\u001fb\\u007fc\\u0008\\u000c\","
		"\"/usr/lib/caf\xc3\xa9.so\","
		"\"\"]");
}

static void test_key_escaping(void **state)
{
	struct out *o = *state;
	struct jw *w = &o->w;

	jw_object(w, NULL);
	jw_int(w, "a\"b\\c\n", 1);
	jw_object_end(w);
	assert_string_equal(text(o), "{\"a\\\"b\\\\c\\n\":1}");
}

static void test_null_strings(void **state)
{
	struct out *o = *state;
	struct jw *w = &o->w;

	jw_object(w, NULL);
	jw_string(w, "function", NULL);
	jw_array(w, "v");
	jw_string(w, NULL, NULL);
	jw_null(w, NULL);
	jw_array_end(w);
	jw_object_end(w);
	assert_string_equal(text(o), "{\"function\":null,\"v\":[null,null]}");
}

static void check_double(struct out *o, double v, const char *want)
{
	const char *got;

	jw_double(fresh(o), NULL, v);
	got = text(o);
	if (strcmp(got, want))
		fail_msg("jw_double(%.17g) wrote \"%s\", expected \"%s\"", v, got, want);
}

static void test_double_format(void **state)
{
	struct out *o = *state;

	check_double(o, 1.5, "1.5");
	check_double(o, 2.0, "2");
	check_double(o, 0.1234567, "0.123");
	check_double(o, -0.0001, "0");
	check_double(o, 0.0001, "0");
	check_double(o, 0.0, "0");
	check_double(o, -0.0, "0");
	check_double(o, 10.0, "10");
	check_double(o, 100.0, "100");
	check_double(o, 0.1, "0.1");
	check_double(o, 0.25, "0.25");
	check_double(o, -2.5, "-2.5");
	check_double(o, 1234567.891, "1234567.891");
	check_double(o, 0.9999, "1");
	check_double(o, 4096.0, "4096");
	check_double(o, -1048576.0, "-1048576");
	check_double(o, 1e15, "1000000000000000");
}

static void test_double_non_finite(void **state)
{
	struct out *o = *state;

	check_double(o, NAN, "null");
	check_double(o, INFINITY, "null");
	check_double(o, -INFINITY, "null");

	/* as a member, too */
	jw_object(fresh(o), NULL);
	jw_double(&o->w, "rate", NAN);
	jw_double(&o->w, "t", 0.5);
	jw_object_end(&o->w);
	assert_string_equal(text(o), "{\"rate\":null,\"t\":0.5}");
}

/*
 * A finite double must come out as a JSON number of the same value (to
 * the writer's 3 decimals), however large. jw_double formats "%.3f" into
 * char buf[64] and then indexes buf with snprintf's return value, which is
 * the untruncated length: from 65 characters on (|val| >= 1e61) it reads
 * buf[n - 1] past the end (AddressSanitizer: stack-buffer-overflow in
 * jw_double), and could write a 0 there should that byte be '0'; it then
 * prints the truncated prefix. 1e100 comes out as the 63-digit
 * "100000000000000001590289110975991804683608085639452813897813275",
 * i.e. 1e62. 1e59 (63 characters) still fits, and 1e60 (64) stays in
 * bounds, if as "...904.00".
 */
static void test_double_huge(void **state)
{
	static const double values[] = { 1e59, 1e60, 1e100, -1e300, 1e300, 1.7976931348623157e308 };
	struct out *o = *state;

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		const char *got;
		char *end;
		double back;

		jw_double(fresh(o), NULL, values[i]);
		got = text(o);
		back = strtod(got, &end);
		if (*end || back != values[i])
			fail_msg("jw_double(%.17g) wrote \"%s\" (%zu chars), which reads back as %.17g",
				 values[i], got, strlen(got), back);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_containers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deepest_nesting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_strings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_double_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_double_non_finite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_double_huge, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
