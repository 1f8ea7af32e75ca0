// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* python.h's parts without a process: version strings, the line tables of
 * CPython 3.10 to 3.13 (bytes taken from real code objects, the expected
 * lines from their co_lines()), and reading the machine code that says
 * where the thread-local state is (bytes from Debian 12's glibc and
 * python3.11 and from CPython builds with a shared libpython). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "stacks/python.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The function the tables describe, first line 2:
 *
 * def sample(a, b):
 *     x = a + b
 *     if x > 10:
 *         y = [i * 2
 *              for i in range(x)]
 *         return y
 *
 *     return (a,
 *             b)
 */
struct range {
	int start, end, line; /* bytes [start, end) are on line (-1: none) */
};

/* sample() above compiled by CPython 3.10 */
static const uint8_t table_310[] = {
	0x08, 0x01, 0x08, 0x01, 0x06, 0x01, 0x06, 0x01, 0x06, 0xff, 0x04, 0x02,
	0x02, 0x02, 0x02, 0x01, 0x04, 0xff,
};
static const struct range ranges_310[] = {
	{ 0, 8, 3 }, { 8, 16, 4 }, { 16, 22, 5 }, { 22, 28, 6 }, { 28, 34, 5 }, { 34, 38, 7 },
	{ 38, 40, 9 }, { 40, 42, 10 }, { 42, 46, 9 },
};
/* sample() above compiled by CPython 3.11 */
static const uint8_t table_311[] = {
	0x80, 0x00, 0xd8, 0x08, 0x09, 0x88, 0x41, 0x89, 0x05, 0x80, 0x41, 0xd8,
	0x07, 0x08, 0x88, 0x32, 0x82, 0x76, 0x80, 0x76, 0xf0, 0x02, 0x01, 0x0d,
	0x20, 0xf0, 0x00, 0x01, 0x0d, 0x20, 0xdd, 0x16, 0x1b, 0x98, 0x41, 0x91,
	0x68, 0x94, 0x68, 0xf0, 0x03, 0x01, 0x0d, 0x20, 0xf1, 0x00, 0x01, 0x0d,
	0x20, 0xf4, 0x00, 0x01, 0x0d, 0x20, 0x88, 0x01, 0xe0, 0x0f, 0x10, 0x88,
	0x08, 0xe0, 0x0c, 0x0d, 0xd8, 0x0c, 0x0d, 0xf0, 0x03, 0x01, 0x0c, 0x0f,
	0xf0, 0x00, 0x01, 0x05, 0x0f,
};
static const struct range ranges_311[] = {
	{ 0, 2, 2 }, { 2, 4, 3 }, { 4, 6, 3 }, { 6, 10, 3 }, { 10, 12, 3 }, { 12, 14, 4 },
	{ 14, 16, 4 }, { 16, 22, 4 }, { 22, 24, 4 }, { 24, 26, 5 }, { 26, 28, 5 }, { 28, 40, 6 },
	{ 40, 42, 6 }, { 42, 46, 6 }, { 46, 56, 6 }, { 56, 58, 5 }, { 58, 62, 5 }, { 62, 72, 5 },
	{ 72, 74, 5 }, { 74, 76, 7 }, { 76, 78, 7 }, { 78, 80, 9 }, { 80, 82, 10 }, { 82, 84, 9 },
	{ 84, 86, 9 },
};
/* sample() above compiled by CPython 3.12 */
static const uint8_t table_312[] = {
	0x80, 0x00, 0xd8, 0x08, 0x09, 0x88, 0x41, 0x89, 0x05, 0x80, 0x41, 0xd8,
	0x07, 0x08, 0x88, 0x32, 0x82, 0x76, 0xe4, 0x16, 0x1b, 0x98, 0x41, 0x93,
	0x68, 0xf6, 0x03, 0x01, 0x0d, 0x20, 0xd8, 0x11, 0x12, 0xf0, 0x03, 0x00,
	0x0e, 0x0f, 0x90, 0x11, 0x8b, 0x55, 0xf0, 0x00, 0x01, 0x0d, 0x20, 0x88,
	0x01, 0xf0, 0x00, 0x01, 0x0d, 0x20, 0xe0, 0x0f, 0x10, 0x88, 0x08, 0xe0,
	0x0c, 0x0d, 0xd8, 0x0c, 0x0d, 0xf0, 0x03, 0x01, 0x0c, 0x0f, 0xf0, 0x00,
	0x01, 0x05, 0x0f, 0xf9, 0xf2, 0x09, 0x01, 0x0d, 0x20,
};
static const struct range ranges_312[] = {
	{ 0, 2, 2 }, { 2, 12, 3 }, { 12, 22, 4 }, { 22, 42, 6 }, { 42, 56, 5 }, { 56, 58, 6 },
	{ 58, 76, 5 }, { 76, 80, 7 }, { 80, 82, 9 }, { 82, 84, 10 }, { 84, 88, 9 },
	{ 88, 92, -1 }, { 92, 98, 5 },
};
/* sample() above compiled by CPython 3.13 */
static const uint8_t table_313[] = {
	0x80, 0x00, 0xd8, 0x08, 0x09, 0x89, 0x05, 0x80, 0x41, 0xd8, 0x07, 0x08,
	0x88, 0x32, 0x83, 0x76, 0xe4, 0x16, 0x1b, 0x98, 0x41, 0x94, 0x68, 0xf3,
	0x03, 0x01, 0x0d, 0x20, 0xd9, 0x16, 0x1e, 0x90, 0x11, 0xf0, 0x03, 0x00,
	0x0e, 0x0f, 0x90, 0x11, 0x8c, 0x55, 0xd9, 0x16, 0x1e, 0xf0, 0x03, 0x00,
	0x09, 0x0a, 0xf0, 0x00, 0x01, 0x0d, 0x20, 0xe0, 0x0f, 0x10, 0x88, 0x08,
	0xe0, 0x0c, 0x0d, 0xd8, 0x0c, 0x0d, 0xf0, 0x03, 0x01, 0x0c, 0x0f, 0xf0,
	0x00, 0x01, 0x05, 0x0f, 0xf9, 0xf2, 0x09, 0x01, 0x0d, 0x20,
};
static const struct range ranges_313[] = {
	{ 0, 2, 2 }, { 2, 10, 3 }, { 10, 22, 4 }, { 22, 44, 6 }, { 44, 52, 5 }, { 52, 58, 6 },
	{ 58, 72, 5 }, { 72, 76, 6 }, { 76, 80, 5 }, { 80, 84, 7 }, { 84, 86, 9 }, { 86, 88, 10 },
	{ 88, 92, 9 }, { 92, 96, -1 }, { 96, 102, 5 },
};

static void check_table(uint32_t version, const uint8_t *table, size_t len,
			const struct range *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (int addr = r[i].start; addr < r[i].end; addr += 2) {
			int got = py_linetable_line(version, table, len, 2, addr);

			if (got != r[i].line)
				fail_msg("%#x: byte %d: line %d, expected %d", version, addr, got,
					 r[i].line);
		}
	/* past the last instruction: no line; before the first: the def line */
	assert_int_equal(py_linetable_line(version, table, len, 2, r[n - 1].end), -1);
	assert_int_equal(py_linetable_line(version, table, len, 2, -2), 2);
}

static void test_lines_310(void **state)
{
	check_table(0x030a0df0, table_310, sizeof(table_310), ranges_310, ARRAY_SIZE(ranges_310));
}

static void test_locations_311(void **state)
{
	check_table(0x030b02f0, table_311, sizeof(table_311), ranges_311, ARRAY_SIZE(ranges_311));
}

static void test_locations_312(void **state)
{
	check_table(0x030c01f0, table_312, sizeof(table_312), ranges_312, ARRAY_SIZE(ranges_312));
}

static void test_locations_313(void **state)
{
	check_table(0x030d00f0, table_313, sizeof(table_313), ranges_313, ARRAY_SIZE(ranges_313));
}

/* Cut short, a table gives no line rather than reading past its end. */
static void test_truncated_tables(void **state)
{
	for (size_t len = 0; len < sizeof(table_311); len++)
		for (int addr = 0; addr < 90; addr += 2) {
			int got = py_linetable_line(0x030b02f0, table_311, len, 2, addr);

			assert_true(got == -1 || (got >= 2 && got <= 10));
		}
	/* a long-form entry (0xf0) whose varints stop mid-way */
	static const uint8_t cut[] = { 0xf0, 0x42 };
	assert_int_equal(py_linetable_line(0x030b02f0, cut, sizeof(cut), 2, 0), -1);
}

static void test_version_parse(void **state)
{
	uint32_t hex = 0;

	assert_int_equal(py_version_parse("3.11.2", &hex), 0);
	assert_int_equal(hex, 0x030b02f0);
	assert_int_equal(py_version_parse("3.10.13 (main, Jan  1 2024, 00:00:00) [GCC 12.2.0]", &hex), 0);
	assert_int_equal(hex, 0x030a0df0);
	assert_int_equal(py_version_parse("3.13", &hex), 0);
	assert_int_equal(hex, 0x030d00f0);
	assert_int_equal(py_version_parse("3.12.1+", &hex), 0);
	assert_int_equal(hex, 0x030c01f0);
	assert_int_equal(py_version_parse("python", &hex), -EINVAL);
	assert_int_equal(py_version_parse("3", &hex), -EINVAL);
	assert_int_equal(py_version_parse("3.x", &hex), -EINVAL);
	assert_int_equal(py_version_parse("3.300.1", &hex), -EINVAL);
}

/* glibc 2.36 (Debian 12) pthread_getspecific, at its address in libc.so.6 */
static const uint8_t getspecific_236[] = {
	0x83, 0xff, 0x1f,			/* cmp $0x1f,%edi */
	0x77, 0x3b,				/* ja 2nd level */
	0x89, 0xf8,				/* mov %edi,%eax */
	0x48, 0x83, 0xc0, 0x31,			/* add $0x31,%rax */
	0x48, 0xc1, 0xe0, 0x04,			/* shl $0x4,%rax */
	0x64, 0x48, 0x03, 0x04, 0x25, 0x10, 0x00, 0x00, 0x00, /* add %fs:0x10,%rax */
	0x48, 0x8b, 0x50, 0x08,			/* mov 0x8(%rax),%rdx */
	0x48, 0x85, 0xd2,			/* test %rdx,%rdx */
};

static void test_tsd_slot(void **state)
{
	uint32_t off = 0;

	assert_int_equal(py_tsd_slot_from_code(getspecific_236, sizeof(getspecific_236), 0x8ab00, &off), 0);
	assert_int_equal(off, 0x318);
	/* the same through lea and %fs:0 */
	static const uint8_t other[] = {
		0x89, 0xf8,				/* mov %edi,%eax */
		0x48, 0xc1, 0xe0, 0x04,			/* shl $0x4,%rax */
		0x64, 0x48, 0x8b, 0x14, 0x25, 0x00, 0x00, 0x00, 0x00, /* mov %fs:0,%rdx */
		0x48, 0x8b, 0x84, 0x02, 0x18, 0x03, 0x00, 0x00, /* mov 0x318(%rdx,%rax),%rax */
	};
	off = 0;
	assert_int_equal(py_tsd_slot_from_code(other, sizeof(other), 0x1000, &off), 0);
	assert_int_equal(off, 0x318);
	/* code that does not index by the key */
	static const uint8_t ret[] = { 0x31, 0xc0, 0xc3 };
	assert_int_equal(py_tsd_slot_from_code(ret, sizeof(ret), 0x1000, &off), -ENOENT);
}

/* Target memory for the evaluator: one GOT word. */
struct fake_mem {
	uint64_t addr;
	uint64_t words[2];
};

static int fake_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct fake_mem *m = ctx;

	if (addr < m->addr || addr + len > m->addr + sizeof(m->words))
		return -1;
	memcpy(buf, (uint8_t *)m->words + (addr - m->addr), len);
	return 0;
}

static void test_tss_key_inlined(void **state)
{
	/* Debian's python3.11 (non-PIE, LTO): the key is loaded into %edi */
	static const uint8_t code[] = {
		0x48, 0x83, 0x3d, 0x50, 0x3d, 0x56, 0x00, 0x00, /* cmpq $0,0x563d50(%rip) */
		0x0f, 0x84, 0x1f, 0xc8, 0xf2, 0xff,		/* je ... */
		0x8b, 0x3d, 0x50, 0x3d, 0x56, 0x00,		/* mov 0x563d50(%rip),%edi */
		0xe9, 0xa7, 0x8a, 0xf2, 0xff,			/* jmp pthread_getspecific@plt */
	};
	uint64_t key = 0;

	assert_int_equal(py_tss_key_addr_from_code(code, sizeof(code), 0x4f7c30, NULL, NULL, &key), 0);
	assert_int_equal(key, 0xa5b994); /* _PyRuntime + 596 */
}

static void test_tss_key_through_got(void **state)
{
	/* pyenv 3.12.1's libpython: &_PyRuntime from the GOT, then a Py_tss_t */
	static const uint8_t code[] = {
		0x48, 0x8b, 0x05, 0xc9, 0xc0, 0x26, 0x00,	/* mov 0x26c0c9(%rip),%rax */
		0x53,						/* push %rbx */
		0x48, 0x8d, 0x98, 0x08, 0x06, 0x00, 0x00,	/* lea 0x608(%rax),%rbx */
		0x48, 0x89, 0xdf,				/* mov %rbx,%rdi */
		0xe8, 0xd9, 0x21, 0xe3, 0xff,			/* call PyThread_tss_is_created */
	};
	struct fake_mem got = { 0x543d00 + 0x7f0000000000, { 0x7f0000643340 } };
	uint64_t key = 0;

	assert_int_equal(py_tss_key_addr_from_code(code, sizeof(code), 0x7f00002d7c30, fake_read,
						   &got, &key), 0);
	assert_int_equal(key, 0x7f0000643340 + 0x608 + 4);
	/* without the GOT the address is unknown */
	assert_int_equal(py_tss_key_addr_from_code(code, sizeof(code), 0x7f00002d7c30, NULL, NULL,
						   &key), -ENOENT);
}

static void test_tls_general_dynamic(void **state)
{
	/* pyenv 3.13.0's _PyThreadState_GetCurrent */
	static const uint8_t code[] = {
		0x48, 0x83, 0xec, 0x08,				/* sub $0x8,%rsp */
		0x66, 0x48, 0x8d, 0x3d, 0x74, 0xa4, 0x25, 0x00, /* data16 lea 0x25a474(%rip),%rdi */
		0x66, 0x66, 0x48, 0xe8, 0xdb, 0x78, 0xdf, 0xff, /* data16 data16 rex.W call __tls_get_addr */
		0x48, 0x8b, 0x00,				/* mov (%rax),%rax */
	};
	struct fake_mem ti = { 0x4eaec0, { 1, 24 } };
	uint32_t kind = 0, module = 0;
	int64_t offset = 0;

	assert_int_equal(py_tls_from_code(code, sizeof(code), 0x290a40, fake_read, &ti, &kind,
					  &module, &offset), 0);
	assert_int_equal(kind, PY_TLS_DTV);
	assert_int_equal(module, 1);
	assert_int_equal(offset, 24);
}

static void test_tls_static(void **state)
{
	/* local exec, as in an executable: mov %fs:-0x10,%rax */
	static const uint8_t le[] = { 0x64, 0x48, 0x8b, 0x04, 0x25, 0xf0, 0xff, 0xff, 0xff, 0xc3 };
	/* initial exec: mov GOT(%rip),%rax; mov %fs:(%rax),%rax */
	static const uint8_t ie[] = {
		0x48, 0x8b, 0x05, 0xf9, 0x0f, 0x00, 0x00,	/* mov 0xff9(%rip),%rax */
		0x64, 0x48, 0x8b, 0x00,				/* mov %fs:(%rax),%rax */
		0xc3,
	};
	struct fake_mem got = { 0x2000, { (uint64_t)-0x40 } };
	uint32_t kind = 0, module = 9;
	int64_t offset = 0;

	assert_int_equal(py_tls_from_code(le, sizeof(le), 0x1000, NULL, NULL, &kind, &module,
					  &offset), 0);
	assert_int_equal(kind, PY_TLS_FS_OFFSET);
	assert_int_equal(offset, -0x10);
	assert_int_equal(py_tls_from_code(ie, sizeof(ie), 0x1000, fake_read, &got, &kind, &module,
					  &offset), 0);
	assert_int_equal(kind, PY_TLS_FS_OFFSET);
	assert_int_equal(offset, -0x40);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_310),
		cmocka_unit_test(test_locations_311),
		cmocka_unit_test(test_locations_312),
		cmocka_unit_test(test_locations_313),
		cmocka_unit_test(test_truncated_tables),
		cmocka_unit_test(test_version_parse),
		cmocka_unit_test(test_tsd_slot),
		cmocka_unit_test(test_tss_key_inlined),
		cmocka_unit_test(test_tss_key_through_got),
		cmocka_unit_test(test_tls_general_dynamic),
		cmocka_unit_test(test_tls_static),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
