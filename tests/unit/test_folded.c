// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* folded.h: the text of frames and lines, exactly as flame graph tools
 * read them (root first, ';' between frames, a space, the bytes). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <setjmp.h>
#include <cmocka.h>
#include "outputs/folded.h"

static struct lw_module app = { .path = "/opt/app/bin/server" };
static struct lw_module libfoo = { .path = "/usr/lib/libfoo.so.1" };
static struct lw_module bare = { .path = "server" };

/* main calls handle, into which parse and then grow were inlined */
static const struct lw_sym main_sym = { .function = "main", .file = "server.c", .line = 9 };
static const struct lw_sym handle = { .function = "handle", .file = "server.c", .line = 40 };
static const struct lw_sym parse = { .function = "parse", .file = "parse.h", .line = 12,
				     .caller = &handle };
static const struct lw_sym grow = { .function = "grow", .file = "buf.h", .line = 3,
				    .caller = &parse };
static const struct lw_sym nameless = { .function = NULL };
static const struct lw_sym odd = { .function = "op;er\nator\t<x>" };

static struct lw_frame frame(const struct lw_module *m, uint64_t off, const struct lw_sym *sym)
{
	return (struct lw_frame){ .addr = 0x550000000000 + off, .module = m, .module_offset = off,
				  .sym = sym, .mapped_exec = true };
}

static char *line_of(const struct lw_site *s, const char *comm)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	folded__line(f, s, comm);
	fclose(f);
	return buf;
}

static void test_frames(void **state)
{
	struct lw_frame f;
	char text[64];

	f = frame(&app, 0x1234, &handle);
	folded__frame(text, sizeof(text), &f);
	assert_string_equal(text, "handle");
	/* no symbol: the module's file name and the file offset */
	f = frame(&libfoo, 0x1234, NULL);
	folded__frame(text, sizeof(text), &f);
	assert_string_equal(text, "libfoo.so.1+0x1234");
	f = frame(&bare, 0xabc, &nameless);
	folded__frame(text, sizeof(text), &f);
	assert_string_equal(text, "server+0xabc");
	/* anonymous executable memory, named or not */
	f = (struct lw_frame){ .addr = 0x7f0000001000, .mapped_exec = true };
	folded__frame(text, sizeof(text), &f);
	assert_string_equal(text, "[jit]");
	f.sym = &handle;
	folded__frame(text, sizeof(text), &f);
	assert_string_equal(text, "handle");
	f = (struct lw_frame){ .addr = 0x10 };
	folded__frame(text, sizeof(text), &f);
	assert_string_equal(text, "[unknown]");
	/* what would split a frame or a line cannot be in one */
	f = frame(&app, 0x10, &odd);
	folded__frame(text, sizeof(text), &f);
	assert_string_equal(text, "op_er_ator_<x>");
}

static void test_line(void **state)
{
	/* innermost first, as sites keep them: grow and parse inlined at one
	 * address in handle, then handle's caller main, then an unnamed frame */
	struct lw_frame frames[] = {
		frame(&app, 0x1200, &grow),
		frame(&app, 0x1200, &parse),
		frame(&app, 0x1200, &handle),
		frame(&app, 0x1100, &main_sym),
		frame(&libfoo, 0x2a, NULL),
	};
	struct lw_site s = { .pid = 4242, .frames = frames, .nr_frames = 5, .bytes = 409600 };
	char *line;

	line = line_of(&s, "server");
	assert_string_equal(line, "server-4242;libfoo.so.1+0x2a;main;handle;parse;grow 409600\n");
	free(line);
	/* an unknown process: the PID alone */
	line = line_of(&s, NULL);
	assert_string_equal(line, "4242;libfoo.so.1+0x2a;main;handle;parse;grow 409600\n");
	free(line);
	/* a comm with the separator in it */
	line = line_of(&s, "a;b c");
	assert_string_equal(line, "a_b c-4242;libfoo.so.1+0x2a;main;handle;parse;grow 409600\n");
	free(line);
	/* no frames at all (a stack that could not be read) */
	s.nr_frames = 0;
	s.bytes = 0;
	line = line_of(&s, "server");
	assert_string_equal(line, "server-4242 0\n");
	free(line);
}

static void test_write_every_stack(void **state)
{
	struct lw_frame a[] = { frame(&app, 0x1200, &handle), frame(&app, 0x1100, &main_sym) };
	struct lw_frame b[] = { frame(&app, 0x1100, &main_sym) };
	struct lw_site sa = { .pid = 10, .frames = a, .nr_frames = 2, .bytes = 100 };
	struct lw_site sb = { .pid = 11, .frames = b, .nr_frames = 1, .bytes = 7 };
	struct lw_site *all[] = { &sa, &sb };
	struct report_process procs[] = { { .pid = 10, .comm = "server" } };
	/* top 1 shown; the file holds both */
	struct report r = { .procs = procs, .nr_procs = 1, .stacks = all, .nr_stacks = 1,
			    .all_stacks = all, .nr_all_stacks = 2 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(folded__write(f, &r), 0);
	fclose(f);
	assert_string_equal(buf, "server-10;main;handle 100\n11;main 7\n");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frames),
		cmocka_unit_test(test_line),
		cmocka_unit_test(test_write_every_stack),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
