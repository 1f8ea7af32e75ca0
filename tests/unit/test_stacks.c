// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* stacks.h: where a stack ends, and the stack id that must not depend on
 * where a process happened to map its code. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "stacks/stacks.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define LIBC_BUILD_ID "4d1e1a5f0c6a3f2b9e8d7c6b5a493827160f1e2d"

static struct lw_module libc = {
	.path = "/usr/lib/x86_64-linux-gnu/libc.so.6",
	.build_id = LIBC_BUILD_ID,
};
/* The same file as another process (another container) names it. */
static struct lw_module libc_elsewhere = {
	.path = "/proc/4242/root/usr/lib/x86_64-linux-gnu/libc.so.6",
	.build_id = LIBC_BUILD_ID,
};
/* Another build of libc at the same path. */
static struct lw_module libc_rebuilt = {
	.path = "/usr/lib/x86_64-linux-gnu/libc.so.6",
	.build_id = "00112233445566778899aabbccddeeff00112233",
};
static struct lw_module app = {
	.path = "/opt/app/bin/server",
	.build_id = "aa5500000000000000000000000000000000ee77",
};
/* No build-id: the path stands in for it. */
static struct lw_module plain = { .path = "/opt/app/lib/libplain.so" };
static struct lw_module plain_copy = { .path = "/opt/app/lib/libplain.so" };
static struct lw_module plain_other = { .path = "/opt/app/lib/libother.so" };

static struct lw_frame in(const struct lw_module *m, uint64_t addr, uint64_t off)
{
	return (struct lw_frame){ .addr = addr, .module = m, .module_offset = off,
				  .mapped_exec = true };
}

static struct lw_frame anon(uint64_t addr)
{
	return (struct lw_frame){ .addr = addr, .mapped_exec = true };
}

static void test_root_functions(void **state)
{
	static const char *const roots[] = {
		"_start", "__libc_start_main", "__libc_start_call_main", "start_thread",
		"clone", "__clone", "clone3", "__clone3",
	};
	static const char *const not_roots[] = {
		"main", "", "start_thread2", "_start_", "start_threa", "Start_thread",
		"__libc_start_call_main ", "malloc", "pthread_create", "thread_start",
	};

	for (size_t i = 0; i < ARRAY_SIZE(roots); i++)
		if (!stack_root_function(roots[i]))
			fail_msg("stack_root_function(\"%s\") is false, expected true", roots[i]);
	for (size_t i = 0; i < ARRAY_SIZE(not_roots); i++)
		if (stack_root_function(not_roots[i]))
			fail_msg("stack_root_function(\"%s\") is true, expected false", not_roots[i]);
	assert_false(stack_root_function(NULL));
}

static void test_id_same_frames(void **state)
{
	struct lw_frame a[] = {
		in(&app, 0x55d4c8a01234, 0x1234),
		in(&libc, 0x7f3a1c229d90, 0x29d90),
		in(&plain, 0x7f3a1d001000, 0x1000),
		anon(0x7f3a1e000010),
	};
	struct lw_frame b[ARRAY_SIZE(a)];

	for (size_t i = 0; i < ARRAY_SIZE(a); i++)
		b[i] = a[i];
	assert_int_equal(stack_id_of(a, ARRAY_SIZE(a)), stack_id_of(b, ARRAY_SIZE(b)));
	assert_int_equal(stack_id_of(a, ARRAY_SIZE(a)), stack_id_of(a, ARRAY_SIZE(a)));
}

static void test_id_module_offset(void **state)
{
	struct lw_frame a[] = { in(&app, 0x1000, 0x1234), in(&libc, 0x2000, 0x29d90) };
	struct lw_frame b[] = { in(&app, 0x1000, 0x1238), in(&libc, 0x2000, 0x29d90) };
	struct lw_frame c[] = { in(&app, 0x1000, 0x1234), in(&libc, 0x2000, 0x29d91) };

	assert_int_not_equal(stack_id_of(a, 2), stack_id_of(b, 2));
	assert_int_not_equal(stack_id_of(a, 2), stack_id_of(c, 2));
	assert_int_not_equal(stack_id_of(b, 2), stack_id_of(c, 2));
}

static void test_id_build_id(void **state)
{
	struct lw_frame a[] = { in(&app, 0x1000, 0x1234), in(&libc, 0x2000, 0x29d90) };
	struct lw_frame b[] = { in(&app, 0x1000, 0x1234), in(&libc_rebuilt, 0x2000, 0x29d90) };
	struct lw_frame c[] = { in(&app, 0x1000, 0x1234), in(&libc_elsewhere, 0x2000, 0x29d90) };

	/* same path and offsets, another build: another stack */
	assert_int_not_equal(stack_id_of(a, 2), stack_id_of(b, 2));
	/* same build under another path: the same stack */
	assert_int_equal(stack_id_of(a, 2), stack_id_of(c, 2));
}

static void test_id_path_without_build_id(void **state)
{
	struct lw_frame a[] = { in(&plain, 0x1000, 0x400) };
	struct lw_frame b[] = { in(&plain_copy, 0x9000, 0x400) };
	struct lw_frame c[] = { in(&plain_other, 0x1000, 0x400) };

	/* the path's contents count, not which struct holds it */
	assert_int_equal(stack_id_of(a, 1), stack_id_of(b, 1));
	assert_int_not_equal(stack_id_of(a, 1), stack_id_of(c, 1));
}

static void test_id_without_module(void **state)
{
	struct lw_frame a[] = { anon(0x7f0000001000) };
	struct lw_frame b[] = { anon(0x7f0000001008) };
	struct lw_frame c[] = { anon(0x7f0000001000) };

	assert_int_not_equal(stack_id_of(a, 1), stack_id_of(b, 1));
	assert_int_equal(stack_id_of(a, 1), stack_id_of(c, 1));
	/* module_offset means nothing without a module */
	c[0].module_offset = 0x1234;
	assert_int_equal(stack_id_of(a, 1), stack_id_of(c, 1));
}

/* The same code loaded at other addresses (ASLR, another process). */
static void test_id_ignores_addr_in_module(void **state)
{
	struct lw_frame a[] = {
		in(&app, 0x55d4c8a01234, 0x1234),
		in(&libc, 0x7f3a1c229d90, 0x29d90),
	};
	struct lw_frame b[] = {
		in(&app, 0x5612aa201234, 0x1234),
		in(&libc, 0x7fe0b0029d90, 0x29d90),
	};

	assert_int_equal(stack_id_of(a, 2), stack_id_of(b, 2));
}

/* Symbols and flags are what a frame means, not what identifies it. */
static void test_id_ignores_sym(void **state)
{
	static const struct lw_sym sym = { .function = "leak", .return_site = true };
	struct lw_frame a[] = { in(&app, 0x1000, 0x1234) };
	struct lw_frame b[] = { in(&app, 0x1000, 0x1234) };

	b[0].sym = &sym;
	b[0].mapped_exec = false;
	assert_int_equal(stack_id_of(a, 1), stack_id_of(b, 1));
}

static void test_id_order_and_depth(void **state)
{
	struct lw_frame ab[] = { in(&app, 0x1000, 0x1234), in(&libc, 0x2000, 0x29d90) };
	struct lw_frame ba[] = { in(&libc, 0x2000, 0x29d90), in(&app, 0x1000, 0x1234) };
	struct lw_frame aa[] = { in(&app, 0x1000, 0x1234), in(&app, 0x1000, 0x1234) };

	assert_int_not_equal(stack_id_of(ab, 2), stack_id_of(ba, 2));
	/* a prefix is another stack */
	assert_int_not_equal(stack_id_of(ab, 1), stack_id_of(ab, 2));
	assert_int_not_equal(stack_id_of(aa, 1), stack_id_of(aa, 2));
	/* a module frame is not its no-module twin at the same number */
	ab[1] = anon(0x29d90);
	ba[0] = in(&libc, 0x29d90, 0x29d90);
	assert_int_not_equal(stack_id_of(&ab[1], 1), stack_id_of(&ba[0], 1));
}

/*
 * Ids must stay the same across leakwatch versions and runs, so pin the
 * documented hash: 64-bit FNV-1a over the build-id (or path) then the
 * 8-byte offset (or address) as stored on this little-endian host.
 */
static void test_id_known_values(void **state)
{
	static struct lw_module m = { .path = "/x", .build_id = "abcd" };
	struct lw_frame f[] = { in(&m, 0x7f0000001234, 0x1234), anon(0x401000) };

	assert_int_equal(stack_id_of(f, 0), 0xcbf29ce484222325ULL);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	assert_int_equal(stack_id_of(f, 1), 0x769d5fadc8b3a403ULL);
	assert_int_equal(stack_id_of(f, 2), 0xa20349436faf4673ULL);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_functions),
		cmocka_unit_test(test_id_same_frames),
		cmocka_unit_test(test_id_module_offset),
		cmocka_unit_test(test_id_build_id),
		cmocka_unit_test(test_id_path_without_build_id),
		cmocka_unit_test(test_id_without_module),
		cmocka_unit_test(test_id_ignores_addr_in_module),
		cmocka_unit_test(test_id_ignores_sym),
		cmocka_unit_test(test_id_order_and_depth),
		cmocka_unit_test(test_id_known_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
