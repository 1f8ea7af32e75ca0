// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* proc.h: parsing /proc/PID/maps lines and finding the mapping of an address. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>
#include "common/proc.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void test_parse_file_backed_with_spaces(void **state)
{
	const char *line = "55d4c8a00000-55d4c8a21000 r-xp 00001000 fd:01 1234567"
			   "                    /opt/my app/bin/my server\n";
	struct lw_map m;

	assert_int_equal(maps__parse_line(line, &m), 0);
	assert_int_equal(m.start, 0x55d4c8a00000ULL);
	assert_int_equal(m.end, 0x55d4c8a21000ULL);
	assert_int_equal(m.pgoff, 0x1000);
	assert_int_equal(m.dev_major, 0xfd);
	assert_int_equal(m.dev_minor, 0x01);
	assert_int_equal(m.inode, 1234567);
	assert_true(m.exec);
	assert_non_null(m.path);
	assert_string_equal(m.path, "/opt/my app/bin/my server");
	free(m.path);
}

static void test_parse_not_exec(void **state)
{
	const char *line = "7f3a1c200000-7f3a1c228000 r--p 00000000 08:02 918274"
			   "                     /usr/lib/x86_64-linux-gnu/libc.so.6\n";
	struct lw_map m;

	assert_int_equal(maps__parse_line(line, &m), 0);
	assert_false(m.exec);
	assert_int_equal(m.dev_major, 8);
	assert_int_equal(m.dev_minor, 2);
	assert_int_equal(m.inode, 918274);
	assert_string_equal(m.path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	free(m.path);
}

/* Short addresses (32-bit style), no newline at the end. */
static void test_parse_short_no_newline(void **state)
{
	const char *line = "00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon";
	struct lw_map m;

	assert_int_equal(maps__parse_line(line, &m), 0);
	assert_int_equal(m.start, 0x400000);
	assert_int_equal(m.end, 0x452000);
	assert_true(m.exec);
	assert_string_equal(m.path, "/usr/bin/dbus-daemon");
	free(m.path);
}

static void test_parse_anonymous(void **state)
{
	/* the kernel ends an unnamed mapping's line with a space */
	static const char *const lines[] = {
		"7f1c2a000000-7f1c2a021000 rw-p 00000000 00:00 0 \n",
		"7f1c2a000000-7f1c2a021000 rw-p 00000000 00:00 0\n",
		"7f1c2a000000-7f1c2a021000 rw-p 00000000 00:00 0",
	};
	struct lw_map m;

	for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
		assert_int_equal(maps__parse_line(lines[i], &m), 0);
		assert_int_equal(m.start, 0x7f1c2a000000ULL);
		assert_int_equal(m.end, 0x7f1c2a021000ULL);
		assert_int_equal(m.pgoff, 0);
		assert_int_equal(m.inode, 0);
		assert_false(m.exec);
		assert_null(m.path);
	}
}

static void test_parse_pseudo_paths(void **state)
{
	static const struct {
		const char *line;
		uint64_t start;
		bool exec;
	} cases[] = {
		{ "7ffd1a5f2000-7ffd1a5f4000 r-xp 00000000 00:00 0                          [vdso]\n",
		  0x7ffd1a5f2000ULL, true },
		{ "7ffd1a5ee000-7ffd1a5f2000 r--p 00000000 00:00 0                          [vvar]\n",
		  0x7ffd1a5ee000ULL, false },
		{ "7ffd1a4c1000-7ffd1a4e2000 rw-p 00000000 00:00 0                          [stack]\n",
		  0x7ffd1a4c1000ULL, false },
		{ "55d4c9b3c000-55d4c9b5d000 rw-p 00000000 00:00 0                          [heap]\n",
		  0x55d4c9b3c000ULL, false },
		{ "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n",
		  0xffffffffff600000ULL, true },
		{ "7f0000000000-7f0000001000 rw-p 00000000 00:00 0                          [anon:glibc]\n",
		  0x7f0000000000ULL, false },
	};
	struct lw_map m;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(maps__parse_line(cases[i].line, &m), 0);
		assert_int_equal(m.start, cases[i].start);
		assert_int_equal(m.exec, cases[i].exec);
		assert_null(m.path);
	}
	assert_int_equal(maps__parse_line(cases[4].line, &m), 0);
	assert_int_equal(m.end, 0xffffffffff601000ULL);
}

/* A file deleted (or replaced) since it was mapped: the kernel's suffix is
 * part of the path string the target shows. */
static void test_parse_deleted(void **state)
{
	const char *line = "7f3a1c000000-7f3a1c010000 r-xp 00002000 08:02 42"
			   "                         /usr/lib/libfoo.so.1 (deleted)\n";
	struct lw_map m;

	assert_int_equal(maps__parse_line(line, &m), 0);
	assert_true(m.exec);
	assert_int_equal(m.pgoff, 0x2000);
	assert_int_equal(m.inode, 42);
	assert_string_equal(m.path, "/usr/lib/libfoo.so.1 (deleted)");
	free(m.path);

	line = "7f3a1c000000-7f3a1c010000 r-xs 00000000 00:01 2049 /memfd:jit (deleted)\n";
	assert_int_equal(maps__parse_line(line, &m), 0);
	assert_true(m.exec);
	assert_string_equal(m.path, "/memfd:jit (deleted)");
	free(m.path);
}

static void test_parse_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"garbage\n",
		"00400000-00452000\n",
		"00400000 00452000 r-xp 00000000 08:02 173521 /bin/x\n",     /* no dash */
		"00400000-00452000 r-xp 00000000 08:02\n",                   /* no inode */
		"00400000-00452000 r-xp 00000000 0802 173521 /bin/x\n",      /* no dev colon */
		"00400000-00452000 r-xp zzzz 08:02 173521 /bin/x\n",         /* bad offset */
		"zz400000-00452000 r-xp 00000000 08:02 173521 /bin/x\n",     /* bad start */
		"00452000-00400000 r-xp 00000000 08:02 173521 /bin/x\n",     /* end < start */
		"00400000-00400000 r-xp 00000000 08:02 173521 /bin/x\n",     /* empty */
	};
	struct lw_map m;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int err = maps__parse_line(bad[i], &m);

		if (err != -EINVAL)
			fail_msg("maps__parse_line(\"%s\") returned %d, expected -EINVAL", bad[i], err);
		assert_null(m.path);
	}
}

/* Mappings: two adjacent, a gap, one far up. */
static struct lw_map fixture[] = {
	{ .start = 0x1000, .end = 0x2000 },
	{ .start = 0x2000, .end = 0x3000 },
	{ .start = 0x5000, .end = 0x6000 },
	{ .start = 0x10000, .end = 0x20000 },
};

static void test_find_hits(void **state)
{
	struct lw_maps maps = { .v = fixture, .n = ARRAY_SIZE(fixture) };

	for (size_t i = 0; i < ARRAY_SIZE(fixture); i++) {
		const struct lw_map *m = &fixture[i];

		assert_ptr_equal(maps__find(&maps, m->start), m);
		assert_ptr_equal(maps__find(&maps, m->end - 1), m);
		assert_ptr_equal(maps__find(&maps, m->start + (m->end - m->start) / 2), m);
	}
	/* the end of one is the start of the next */
	assert_ptr_equal(maps__find(&maps, 0x2000), &fixture[1]);
}

static void test_find_misses(void **state)
{
	struct lw_maps maps = { .v = fixture, .n = ARRAY_SIZE(fixture) };
	static const uint64_t misses[] = {
		0, 0xfff,             /* before the first */
		0x3000, 0x4000, 0x4fff, /* the end, and the gap after it */
		0x6000, 0xffff,       /* the next gap */
		0x20000, 0x7fffffffffffULL, UINT64_MAX, /* after the last */
	};

	for (size_t i = 0; i < ARRAY_SIZE(misses); i++)
		if (maps__find(&maps, misses[i]))
			fail_msg("maps__find(0x%llx) found a mapping, expected none",
				 (unsigned long long)misses[i]);
}

static void test_find_empty_and_single(void **state)
{
	struct lw_maps none = { .v = NULL, .n = 0 };
	struct lw_maps one = { .v = &fixture[2], .n = 1 };

	assert_null(maps__find(&none, 0));
	assert_null(maps__find(&none, 0x1000));
	assert_null(maps__find(&one, 0x4fff));
	assert_ptr_equal(maps__find(&one, 0x5000), &fixture[2]);
	assert_ptr_equal(maps__find(&one, 0x5fff), &fixture[2]);
	assert_null(maps__find(&one, 0x6000));
}

/* Every position of a binary search: 1000 mappings of a page, a page apart. */
static void test_find_many(void **state)
{
	enum { NR = 1000, PAGE = 0x1000 };
	static struct lw_map v[NR];
	struct lw_maps maps = { .v = v, .n = NR };

	for (size_t i = 0; i < NR; i++) {
		v[i].start = 0x400000 + 2 * PAGE * i;
		v[i].end = v[i].start + PAGE;
	}
	for (size_t i = 0; i < NR; i++) {
		assert_ptr_equal(maps__find(&maps, v[i].start), &v[i]);
		assert_ptr_equal(maps__find(&maps, v[i].end - 1), &v[i]);
		assert_null(maps__find(&maps, v[i].end));
		assert_null(maps__find(&maps, v[i].start - 1));
	}
}

/* This process's own maps: readable without privilege. */
static void test_read_self(void **state)
{
	struct lw_maps maps;
	const struct lw_map *m;
	char exe[PATH_MAX];
	ssize_t n;

	assert_int_equal(maps__read(getpid(), &maps), 0);
	assert_true(maps.n > 0);
	for (size_t i = 1; i < maps.n; i++)
		assert_true(maps.v[i - 1].end <= maps.v[i].start);

	/* the code of this test lies in an executable mapping of this binary */
	m = maps__find(&maps, (uint64_t)(uintptr_t)&test_read_self);
	assert_non_null(m);
	assert_true(m->exec);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = 0;
	assert_non_null(m->path);
	assert_string_equal(m->path, exe);

	/* and the stack variable in anonymous, non-executable memory */
	m = maps__find(&maps, (uint64_t)(uintptr_t)&n);
	assert_non_null(m);
	assert_false(m->exec);
	assert_null(m->path);
	maps__free(&maps);
	assert_null(maps.v);
	assert_int_equal(maps.n, 0);
}

static void test_read_no_such_process(void **state)
{
	struct lw_maps maps;

	/* above any pid_max the kernel allows (4194304) */
	assert_int_equal(maps__read(INT_MAX, &maps), -ENOENT);
	assert_null(maps.v);
	assert_int_equal(maps.n, 0);
}

static void *thread_tgid(void *arg)
{
	*(pid_t *)arg = proc__tgid(gettid());
	return NULL;
}

static void test_tgid(void **state)
{
	pthread_t th;
	pid_t from_thread = 0;

	assert_int_equal(proc__tgid(getpid()), getpid());
	/* a thread's id maps to the process it belongs to */
	assert_int_equal(pthread_create(&th, NULL, thread_tgid, &from_thread), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(from_thread, getpid());
	assert_int_equal(proc__tgid(INT_MAX), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_file_backed_with_spaces),
		cmocka_unit_test(test_parse_not_exec),
		cmocka_unit_test(test_parse_short_no_newline),
		cmocka_unit_test(test_parse_anonymous),
		cmocka_unit_test(test_parse_pseudo_paths),
		cmocka_unit_test(test_parse_deleted),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_find_hits),
		cmocka_unit_test(test_find_misses),
		cmocka_unit_test(test_find_empty_and_single),
		cmocka_unit_test(test_find_many),
		cmocka_unit_test(test_read_self),
		cmocka_unit_test(test_read_no_such_process),
		cmocka_unit_test(test_tgid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
