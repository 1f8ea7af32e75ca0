// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* groups.h: the frame a key is taken from (the innermost Python frame; the
 * innermost native frame outside the allocator and the runtime), the keys
 * themselves, and the sums and verdicts of a group table over reports. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "judge/groups.h"
#include "judge/trend.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))


/* A native frame: module path, function (or NULL), file (or NULL), line. */
#define NATIVE(mod, fn, fl, ln) { .module = (mod), .module_offset = 0x1000, .function = (fn), \
				 .file = (fl), .line = (ln) }
#define PY(fn, fl, ln) { .python = true, .function = (fn), .file = (fl), .line = (ln) }

#define LIBC "/usr/lib/x86_64-linux-gnu/libc.so.6"
#define LIBSTDCXX "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"
#define PYTHON "/usr/bin/python3.11"
#define APP "/srv/bin/app"

static void check_key(enum group_by by, const struct group_frame *f, int nr, const char *want,
		      int want_index)
{
	char buf[LW_GROUP_KEY_MAX];

	assert_int_equal(group_key(by, f, nr, buf, sizeof(buf)), want_index);
	assert_string_equal(buf, want);
}

static void test_names(void **state)
{
	enum group_by by = GROUP_BY_STACK;

	assert_int_equal(group_by__parse("line", &by), 0);
	assert_int_equal(by, GROUP_BY_LINE);
	assert_int_equal(group_by__parse("module", &by), 0);
	assert_int_equal(by, GROUP_BY_MODULE);
	assert_int_equal(group_by__parse("stack", &by), 0);
	assert_int_equal(by, GROUP_BY_STACK);
	assert_int_equal(group_by__parse("lines", &by), -EINVAL);
	assert_int_equal(group_by__parse("", &by), -EINVAL);
	assert_int_equal(group_by__parse("Line", &by), -EINVAL);
	assert_string_equal(group_by__name(GROUP_BY_FUNCTION), "function");
	assert_string_equal(group_by__name(GROUP_BY_FILE), "file");
}

/* A Python leak: the interpreter's C frames (bytes(n) -> calloc) come
 * first; the innermost Python frame is the key, whatever native frames. */
static void test_python_innermost_line(void **state)
{
	const struct group_frame f[] = {
		NATIVE(PYTHON, "_PyBytes_FromSize", "Objects/bytesobject.c", 104),
		NATIVE(PYTHON, "PyBytes_FromStringAndSize", "Objects/bytesobject.c", 160),
		NATIVE(APP, "helper_in_c", "helper.c", 9), /* not Python: not the key */
		PY("make_record", "/srv/app/leaks.py", 47),
		PY("handle_request", "/srv/app/leaks.py", 51),
		PY("<module>", "/srv/app/leaks.py", 120),
	};

	assert_int_equal(group_key_frame(f, ARRAY_SIZE(f)), 3);
	check_key(GROUP_BY_LINE, f, ARRAY_SIZE(f), "/srv/app/leaks.py:47", 3);
	check_key(GROUP_BY_FUNCTION, f, ARRAY_SIZE(f), "leaks.make_record", 3);
	check_key(GROUP_BY_FILE, f, ARRAY_SIZE(f), "/srv/app/leaks.py", 3);
	check_key(GROUP_BY_MODULE, f, ARRAY_SIZE(f), "leaks", 3);
}

/* Python module names from the file's path. */
static void test_python_modules(void **state)
{
	const struct group_frame stdlib[] = { PY("JSONDecoder.raw_decode",
					       "/usr/lib/python3.11/json/decoder.py", 353) };
	const struct group_frame pkg[] = { PY("zeros_like",
		"/usr/lib/python3/dist-packages/numpy/core/__init__.py", 10) };
	const struct group_frame venv[] = { PY("Session.request",
		"/opt/venv/lib/python3.11/site-packages/requests/sessions.py", 575) };
	const struct group_frame nofile[] = { PY("f", NULL, 0) };

	check_key(GROUP_BY_MODULE, stdlib, 1, "json.decoder", 0);
	check_key(GROUP_BY_FUNCTION, stdlib, 1, "json.decoder.JSONDecoder.raw_decode", 0);
	check_key(GROUP_BY_MODULE, pkg, 1, "numpy.core", 0);
	check_key(GROUP_BY_MODULE, venv, 1, "requests.sessions", 0);
	check_key(GROUP_BY_LINE, venv, 1,
		  "/opt/venv/lib/python3.11/site-packages/requests/sessions.py:575", 0);
	check_key(GROUP_BY_MODULE, nofile, 1, "[python]", 0);
	check_key(GROUP_BY_LINE, nofile, 1, "[python]+0x0", 0);
}

/* A C++ leak: malloc (libc), operator new (libstdc++), an inlined
 * std::allocator in the program and PyMem_Malloc of an embedded
 * interpreter never top the list; the program's own frame does. */
static void test_native_skips_allocator_and_runtime(void **state)
{
	const struct group_frame f[] = {
		NATIVE(LIBC, "malloc", "malloc.c", 3287),
		NATIVE(LIBSTDCXX, "operator new(unsigned long)", NULL, 0),
		NATIVE(APP, "PyMem_Malloc", "Objects/obmalloc.c", 590),
		NATIVE(APP, "_PyObject_Malloc", "Objects/obmalloc.c", 1966),
		NATIVE(APP, "std::__new_allocator<char>::allocate(unsigned long, void const*)",
		       "/usr/include/c++/12/bits/new_allocator.h", 137),
		NATIVE(APP, "Cache::insert(std::string const&)", "src/cache.cc", 42),
		NATIVE(APP, "main", "src/main.cc", 7),
		NATIVE(LIBC, "__libc_start_main", "libc-start.c", 360),
	};

	assert_int_equal(group_key_frame(f, ARRAY_SIZE(f)), 5);
	check_key(GROUP_BY_LINE, f, ARRAY_SIZE(f), "src/cache.cc:42", 5);
	check_key(GROUP_BY_FUNCTION, f, ARRAY_SIZE(f), "Cache::insert(std::string const&)", 5);
	check_key(GROUP_BY_FILE, f, ARRAY_SIZE(f), "src/cache.cc", 5);
	check_key(GROUP_BY_MODULE, f, ARRAY_SIZE(f), "app", 5);
}

/* By module alone: any function of libc, ld.so, libgcc_s or libpython. */
static void test_native_skips_runtime_modules(void **state)
{
	const struct group_frame f[] = {
		NATIVE(LIBC, "__GI___libc_malloc", NULL, 0),
		NATIVE(LIBC, "g_strdup_like_thing", NULL, 0),
		NATIVE("/lib64/ld-linux-x86-64.so.2", "_dl_allocate_tls", NULL, 0),
		NATIVE("/usr/lib/x86_64-linux-gnu/libgcc_s.so.1", "_Unwind_Find_FDE", NULL, 0),
		NATIVE("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0", "PyList_New", NULL, 0),
		NATIVE("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "je_malloc_default", NULL, 0),
		NATIVE("/opt/lib/libplugin.so", "plugin_alloc", "plugin.c", 12),
	};

	check_key(GROUP_BY_LINE, f, ARRAY_SIZE(f), "plugin.c:12", 6);
	check_key(GROUP_BY_MODULE, f, ARRAY_SIZE(f), "libplugin.so", 6);
}

/* No symbol: module+0xoffset; no line: module+0xoffset for a line, the
 * module for a file; in no file at all: [anon]+0xaddress. */
static void test_unknown_frames(void **state)
{
	const struct group_frame nosym[] = {
		NATIVE(LIBC, "calloc", NULL, 0),
		{ .module = "/opt/lib/libfoo.so.1", .module_offset = 0x1234 },
	};
	const struct group_frame noline[] = {
		NATIVE(LIBC, "realloc", NULL, 0),
		NATIVE("/opt/lib/libbar.so", "bar_grow", NULL, 0),
	};
	const struct group_frame anon[] = {
		NATIVE(LIBC, "malloc", NULL, 0),
		{ .addr = 0x7f0012345678 },
	};

	check_key(GROUP_BY_LINE, nosym, 2, "libfoo.so.1+0x1234", 1);
	check_key(GROUP_BY_FUNCTION, nosym, 2, "libfoo.so.1+0x1234", 1);
	check_key(GROUP_BY_FILE, nosym, 2, "libfoo.so.1", 1);
	check_key(GROUP_BY_MODULE, nosym, 2, "libfoo.so.1", 1);
	check_key(GROUP_BY_LINE, noline, 2, "libbar.so+0x1000", 1);
	check_key(GROUP_BY_FUNCTION, noline, 2, "bar_grow", 1);
	check_key(GROUP_BY_FILE, noline, 2, "libbar.so", 1);
	check_key(GROUP_BY_LINE, anon, 2, "[anon]+0x7f0012345678", 1);
	check_key(GROUP_BY_MODULE, anon, 2, "[anon]", 1);
}

/* Every frame in the allocator (a truncated stack): the innermost; none. */
static void test_only_runtime_and_none(void **state)
{
	const struct group_frame f[] = {
		NATIVE(LIBC, "malloc", "malloc.c", 3287),
		NATIVE(LIBC, "__libc_start_main", "libc-start.c", 360),
	};
	char buf[8];

	check_key(GROUP_BY_LINE, f, ARRAY_SIZE(f), "malloc.c:3287", 0);
	check_key(GROUP_BY_LINE, f, 0, "[no frames]", -1);
	/* cut to the buffer, always terminated */
	assert_int_equal(group_key(GROUP_BY_LINE, f, 1, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "malloc.");
}

/* Sites built as the stack table makes them: modules, symbols, frames. */
static struct lw_module mod_libc = { .path = LIBC };
static struct lw_module mod_app = { .path = APP };
static const struct lw_sym sym_malloc = { .function = "malloc" };
static const struct lw_sym sym_leak_a = { .function = "leak_a", .file = "leak.c", .line = 10 };
static const struct lw_sym sym_leak_b = { .function = "leak_b", .file = "leak.c", .line = 20 };
static const struct lw_sym sym_path1 = { .function = "path_one", .file = "leak.c", .line = 30 };
static const struct lw_sym sym_path2 = { .function = "path_two", .file = "leak.c", .line = 40 };
static struct lw_site sites[4];
static struct lw_frame frames[4][3];

static struct lw_site *make_site(int i, uint64_t id, const struct lw_sym *leak,
				 const struct lw_sym *caller)
{
	struct lw_frame *f = frames[i];

	f[0] = (struct lw_frame){ .addr = 0x100, .module = &mod_libc, .sym = &sym_malloc };
	f[1] = (struct lw_frame){ .addr = 0x200, .module = &mod_app, .sym = leak };
	f[2] = (struct lw_frame){ .addr = 0x300, .module = &mod_app, .sym = caller };
	memset(&sites[i], 0, sizeof(sites[i]));
	sites[i].pid = 100 + i;
	sites[i].id = id;
	sites[i].frames = f;
	sites[i].nr_frames = 3;
	return &sites[i];
}

static struct group *find(struct group **v, int nr, const char *key)
{
	for (int i = 0; i < nr; i++)
		if (!strcmp(v[i]->key, key))
			return v[i];
	return NULL;
}

/* leak_a reached by two call paths (two stacks, one line), leak_b by one:
 * two groups, leak_a's the sum of its stacks, each judged over reports. */
static void test_aggregation_and_verdicts(void **state)
{
	struct group_table *t = group_table__new(GROUP_BY_LINE);
	struct lw_site *v[] = {
		make_site(0, 1, &sym_leak_a, &sym_path1),
		make_site(1, 2, &sym_leak_a, &sym_path2),
		make_site(2, 3, &sym_leak_b, &sym_path1),
	};
	struct group **out = NULL, *a, *b;
	int n = 0;

	assert_non_null(t);
	for (int k = 1; k <= 10; k++) {
		/* leak_a grows 1000 + 3000 B a report, leak_b stays at 500 B */
		v[0]->bytes = 1000 * k, v[0]->allocs = k;
		v[1]->bytes = 3000 * k, v[1]->allocs = 2 * k;
		v[2]->bytes = 500, v[2]->allocs = 1;
		free(out);
		n = group_table__report(t, v, ARRAY_SIZE(v), k, 0.5, 10, k == 10, &out);
	}
	assert_int_equal(n, 2);
	a = find(out, n, "leak.c:10");
	b = find(out, n, "leak.c:20");
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_equal(out[0], a); /* growing first */
	assert_int_equal(a->bytes, 40000);
	assert_int_equal(a->allocs, 30);
	assert_int_equal(a->nr_stacks, 2);
	assert_int_equal(a->series.n, 10);
	assert_int_equal(series__bytes(&a->series, 0), 4000);
	assert_int_equal(a->trend.verdict, VERDICT_GROWING);
	assert_true(a->trend.rate > 3999 && a->trend.rate < 4001);
	assert_int_equal(b->bytes, 500);
	assert_int_equal(b->nr_stacks, 1);
	assert_int_equal(b->trend.verdict, VERDICT_STEADY);
	free(out);

	/* by function: the same two; by module: one */
	group_table__free(t);
	t = group_table__new(GROUP_BY_MODULE);
	n = group_table__report(t, v, ARRAY_SIZE(v), 1, 0.5, 10, false, &out);
	assert_int_equal(n, 1);
	assert_string_equal(out[0]->key, "app");
	assert_int_equal(out[0]->bytes, 40500);
	assert_int_equal(out[0]->allocs, 31);
	assert_int_equal(out[0]->trend.verdict, VERDICT_NEW);
	free(out);
	group_table__free(t);
}

/* A group whose stacks freed everything keeps its history (a 0 sample),
 * leaves the report, and comes back with it; -T limits; intervals rank by
 * outstanding bytes. */
static void test_history_and_top(void **state)
{
	struct group_table *t = group_table__new(GROUP_BY_FUNCTION);
	struct lw_site *v[] = {
		make_site(0, 1, &sym_leak_a, &sym_path1),
		make_site(1, 2, &sym_leak_b, &sym_path1),
	};
	struct group **out = NULL;
	int n;

	v[0]->bytes = 100, v[0]->allocs = 1;
	v[1]->bytes = 200, v[1]->allocs = 1;
	n = group_table__report(t, v, 2, 1, 0.5, 1, false, &out);
	assert_int_equal(n, 1);
	assert_string_equal(out[0]->key, "leak_b");
	assert_int_equal(out[0]->reported_bytes, 0);
	free(out);

	v[1]->bytes = 0, v[1]->allocs = 0;
	n = group_table__report(t, v, 2, 2, 0.5, 10, false, &out);
	assert_int_equal(n, 1);
	assert_string_equal(out[0]->key, "leak_a");
	free(out);

	v[1]->bytes = 700, v[1]->allocs = 3;
	n = group_table__report(t, v, 2, 3, 0.5, 10, false, &out);
	assert_int_equal(n, 2);
	assert_string_equal(out[0]->key, "leak_b");
	assert_int_equal(out[0]->series.n, 3);
	assert_int_equal(series__bytes(&out[0]->series, 1), 0);
	assert_int_equal(out[0]->reported_bytes, 0);
	assert_string_equal(out[1]->key, "leak_a");
	free(out);
	group_table__free(t);
	group_table__free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_python_innermost_line),
		cmocka_unit_test(test_python_modules),
		cmocka_unit_test(test_native_skips_allocator_and_runtime),
		cmocka_unit_test(test_native_skips_runtime_modules),
		cmocka_unit_test(test_unknown_frames),
		cmocka_unit_test(test_only_runtime_and_none),
		cmocka_unit_test(test_aggregation_and_verdicts),
		cmocka_unit_test(test_history_and_top),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
