// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* insn.h: where a probe may sit in a function's prologue, which instructions
 * the kernel emulates, thunks, and "is there a call right before this return
 * address", on hand-written x86-64 bytes (decoded by capstone). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "probes/insn.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A why/text buffer no call leaves unwritten. */
#define UNSET "(unset)"

/* insn_probe_point on code, which must give want, with why containing each
 * of the strings in the NULL-terminated list after it. */
static void check_point(const char *what, const uint8_t *code, size_t len, size_t want, ...)
{
	char why[256] = UNSET;
	size_t got = insn_probe_point(code, len, 6, why, sizeof(why));
	const char *part;
	va_list ap;

	if (got != want)
		fail_msg("%s: probe point +%zu, expected +%zu (why: \"%s\")", what, got, want, why);
	va_start(ap, want);
	while ((part = va_arg(ap, const char *)))
		if (!strstr(why, part))
			fail_msg("%s: why \"%s\" does not say \"%s\"", what, why, part);
	va_end(ap);
}

/* insn_emulated on code, which must give want and name the instruction. */
static void check_emulated(const uint8_t *code, size_t len, bool want, const char *text_want)
{
	char text[64] = UNSET;
	bool got = insn_emulated(code, len, text, sizeof(text));

	if (got != want)
		fail_msg("insn_emulated(\"%s\") is %d, expected %d", text, got, want);
	if (strcmp(text, text_want))
		fail_msg("insn_emulated: text \"%s\", expected \"%s\"", text, text_want);
}

/*
 * Debian 12's glibc free(), with the NULL check's target in the buffer:
 *    0: 48 85 ff           test rdi, rdi
 *    3: 0f 84 0f 00 00 00  je +24            (9 + 0x0f)
 *    9: 55                 push rbp          <- the first emulated instruction
 *   10: 48 8d 77 f0        lea rsi, [rdi - 0x10]
 *   14: 53                 push rbx
 *   15: 48 83 ec 18        sub rsp, 0x18
 *   19: 48 8b 47 f8        mov rax, [rdi - 8]
 *   23: 90                 nop
 *   24: c3                 ret               <- free(NULL) returns here
 */
static const uint8_t glibc_free[] = {
	0x48, 0x85, 0xff,
	0x0f, 0x84, 0x0f, 0x00, 0x00, 0x00,
	0x55,
	0x48, 0x8d, 0x77, 0xf0,
	0x53,
	0x48, 0x83, 0xec, 0x18,
	0x48, 0x8b, 0x47, 0xf8,
	0x90,
	0xc3,
};

static void test_point_glibc_free(void **state)
{
	check_point("glibc free", glibc_free, sizeof(glibc_free), 9,
		    "moved to +9", "push rbp", "test", NULL);
}

/*
 * pymalloc's free (pyenv's CPython 3.11, _PyObject_Free(ctx, p)), its
 * early return moved in reach:
 *    0: 48 85 f6              test rsi, rsi
 *    3: 74 0f                 je +20
 *    5: 48 89 f1              mov rcx, rsi
 *    8: 48 8d 15 00 00 00 00  lea rdx, [rip]
 *   15: 53                    push rbx     <- emulated; rcx and rdx are no
 *   16..19: nop                               arguments of a 2-argument call
 *   20: c3                    ret
 * With two arguments the probe moves to the push; counting six, the mov
 * writes an argument register and it stays at the entry.
 */
static void test_point_two_arguments(void **state)
{
	static const uint8_t code[] = {
		0x48, 0x85, 0xf6,
		0x74, 0x0f,
		0x48, 0x89, 0xf1,
		0x48, 0x8d, 0x15, 0x00, 0x00, 0x00, 0x00,
		0x53,
		0x90, 0x90, 0x90, 0x90,
		0xc3,
	};
	char why[256] = UNSET;

	assert_int_equal(insn_probe_point(code, sizeof(code), 2, why, sizeof(why)), 15);
	assert_non_null(strstr(why, "push rbx"));
	assert_int_equal(insn_probe_point(code, sizeof(code), 6, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "mov rcx, rsi"));
}

/* The same prologue, the early return setting the result first (what a
 * function returning a value does for NULL): still a plain return. */
static void test_point_early_return_sets_result(void **state)
{
	static const uint8_t code[] = {
		0x48, 0x85, 0xff,                         /*  0: test rdi, rdi */
		0x74, 0x05,                               /*  3: je +10 */
		0x55,                                     /*  5: push rbp */
		0x48, 0x89, 0xe5,                         /*  6: mov rbp, rsp */
		0x90,                                     /*  9: nop */
		0x31, 0xc0,                               /* 10: xor eax, eax */
		0xc3,                                     /* 12: ret */
	};

	check_point("je to xor eax,eax; ret", code, sizeof(code), 5, "moved to +5", "push rbp",
		    NULL);
}

/* The je leads to code that works (a store, then ret): the probe cannot
 * skip it, so it stays at the entry. */
static void test_point_je_to_work(void **state)
{
	static const uint8_t code[] = {
		0x48, 0x85, 0xff,                         /*  0: test rdi, rdi */
		0x0f, 0x84, 0x01, 0x00, 0x00, 0x00,       /*  3: je +10 */
		0x55,                                     /*  9: push rbp */
		0x48, 0x89, 0x07,                         /* 10: mov [rdi], rax */
		0xc3,                                     /* 13: ret */
	};

	check_point("je to a store", code, sizeof(code), 0, "entry", NULL);
}

/* The je leads to a call: not a plain return either. */
static void test_point_je_to_call(void **state)
{
	static const uint8_t code[] = {
		0x48, 0x85, 0xff,                         /*  0: test rdi, rdi */
		0x74, 0x01,                               /*  3: je +6 */
		0x55,                                     /*  5: push rbp */
		0xe8, 0x00, 0x00, 0x00, 0x00,             /*  6: call +11 */
		0xc3,                                     /* 11: ret */
	};

	check_point("je to a call", code, sizeof(code), 0, "entry", NULL);
}

/* glibc's real free jumps 0xc8 bytes on: with fewer bytes than that, where
 * the je goes is unknown, so nothing is assumed. */
static void test_point_je_target_outside(void **state)
{
	check_point("je target past the bytes", glibc_free, 10, 0, "entry", NULL);
}

/* endbr64 (not emulated, touches nothing), then push rbx. */
static void test_point_endbr64_push(void **state)
{
	static const uint8_t code[] = {
		0xf3, 0x0f, 0x1e, 0xfa,                   /* 0: endbr64 */
		0x53,                                     /* 4: push rbx */
		0x48, 0x89, 0xfb,                         /* 5: mov rbx, rdi */
		0xc3,                                     /* 8: ret */
	};

	check_point("endbr64; push rbx", code, sizeof(code), 4, "moved to +4", "push rbx",
		    "endbr64", NULL);
}

/* glibc's posix_memalign: a compare with memory (a read), then push r12. */
static void test_point_cmp_memory_push_r12(void **state)
{
	static const uint8_t code[] = {
		0x80, 0x3d, 0x01, 0x02, 0x14, 0x00, 0x00, /* 0: cmp byte [rip + 0x140201], 0 */
		0x41, 0x54,                               /* 7: push r12 */
		0x49, 0x89, 0xd4,                         /* 9: mov r12, rdx */
	};

	check_point("cmp [mem]; push r12", code, sizeof(code), 7, "moved to +7", "push r12",
		    "cmp", NULL);
}

/* A copy into a scratch register changes nothing the probe reads. */
static void test_point_mov_to_scratch(void **state)
{
	static const uint8_t code[] = {
		0x48, 0x89, 0xf8,                         /* 0: mov rax, rdi */
		0x55,                                     /* 3: push rbp */
		0xc3,                                     /* 4: ret */
	};

	check_point("mov rax, rdi; push rbp", code, sizeof(code), 3, "moved to +3", NULL);
}

/* Writing rdi (the first argument) before the push: the probe would read
 * the wrong argument there. */
static void test_point_writes_rdi(void **state)
{
	static const uint8_t code[] = {
		0x48, 0x89, 0xc7,                         /* 0: mov rdi, rax */
		0x55,                                     /* 3: push rbp */
		0xc3,                                     /* 4: ret */
	};

	check_point("mov rdi, rax; push rbp", code, sizeof(code), 0, "entry", "mov", NULL);
}

/* The other argument registers, by a part of them. */
static void test_point_writes_part_of_argument(void **state)
{
	static const uint8_t esi[] = { 0x31, 0xf6, 0x55, 0xc3 };       /* xor esi, esi */
	static const uint8_t dl[] = { 0xb2, 0x01, 0x55, 0xc3 };        /* mov dl, 1 */
	static const uint8_t r9d[] = { 0x45, 0x31, 0xc9, 0x55, 0xc3 }; /* xor r9d, r9d */

	check_point("xor esi, esi", esi, sizeof(esi), 0, "entry", NULL);
	check_point("mov dl, 1", dl, sizeof(dl), 0, "entry", NULL);
	check_point("xor r9d, r9d", r9d, sizeof(r9d), 0, "entry", NULL);
}

/* A store to memory before the push. */
static void test_point_memory_write(void **state)
{
	static const uint8_t to_rdi[] = {
		0x48, 0x89, 0x07,                         /* 0: mov [rdi], rax */
		0x55,                                     /* 3: push rbp */
		0xc3,
	};
	static const uint8_t to_global[] = {
		0xc6, 0x05, 0x10, 0x00, 0x00, 0x00, 0x01, /* 0: mov byte [rip + 0x10], 1 */
		0x53,                                     /* 7: push rbx */
		0xc3,
	};

	check_point("mov [rdi], rax; push rbp", to_rdi, sizeof(to_rdi), 0, "entry", NULL);
	check_point("mov byte [rip+x], 1; push rbx", to_global, sizeof(to_global), 0, "entry",
		    NULL);
}

/* Already emulated at the entry: nothing to move. */
static void test_point_push_at_entry(void **state)
{
	static const uint8_t code[] = { 0x55, 0x48, 0x89, 0xe5, 0xc3 }; /* push rbp; mov rbp, rsp */
	static const uint8_t r12[] = { 0x41, 0x54, 0x55, 0xc3 };      /* push r12 */

	check_point("push rbp at entry", code, sizeof(code), 0, "entry", "push rbp", NULL);
	check_point("push r12 at entry", r12, sizeof(r12), 0, "entry", "push r12", NULL);
}

/* The stack pointer moves before the push: the stack walk would start
 * from the wrong place. */
static void test_point_sub_rsp(void **state)
{
	static const uint8_t code[] = {
		0x48, 0x83, 0xec, 0x08,                   /* 0: sub rsp, 8 */
		0x53,                                     /* 4: push rbx */
		0xc3,
	};

	check_point("sub rsp, 8; push rbx", code, sizeof(code), 0, "entry", "sub", NULL);
}

/* Neither does the frame pointer. */
static void test_point_writes_rbp(void **state)
{
	static const uint8_t code[] = {
		0x48, 0x89, 0xe5,                         /* 0: mov rbp, rsp */
		0x53,                                     /* 3: push rbx */
		0xc3,
	};

	check_point("mov rbp, rsp; push rbx", code, sizeof(code), 0, "entry", NULL);
}

/* Control flow first: a call, a ret, an unconditional jump (emulated, but
 * leaving the function), an indirect jump. */
static void test_point_control_flow_first(void **state)
{
	static const uint8_t call[] = { 0xe8, 0x00, 0x00, 0x00, 0x00, 0x55, 0xc3 };
	static const uint8_t ret[] = { 0xc3, 0x55 };
	static const uint8_t jmp[] = { 0xe9, 0x00, 0x01, 0x00, 0x00, 0x55 };
	static const uint8_t jmp_mem[] = { 0xff, 0x25, 0x00, 0x01, 0x00, 0x00, 0x55 };

	check_point("call first", call, sizeof(call), 0, "entry", NULL);
	check_point("ret first", ret, sizeof(ret), 0, "entry", NULL);
	check_point("jmp first", jmp, sizeof(jmp), 0, "entry", NULL);
	check_point("jmp [rip+x] first", jmp_mem, sizeof(jmp_mem), 0, "entry", NULL);
}

/* No bytes, or bytes that do not decode. */
static void test_point_nothing_to_decode(void **state)
{
	static const uint8_t bad[] = { 0x06 }; /* push es: not in 64-bit mode */

	check_point("no bytes", glibc_free, 0, 0, "entry", NULL);
	check_point("undecodable", bad, sizeof(bad), 0, "entry", NULL);
}

static void test_emulated(void **state)
{
	static const uint8_t push_r12[] = { 0x41, 0x54 };
	static const uint8_t push_rbp[] = { 0x55 };
	static const uint8_t push_rbx[] = { 0x53 };
	static const uint8_t test_rdi[] = { 0x48, 0x85, 0xff };
	static const uint8_t call_rel[] = { 0xe8, 0x10, 0x00, 0x00, 0x00 };
	static const uint8_t jmp_rel[] = { 0xe9, 0x10, 0x00, 0x00, 0x00 };
	static const uint8_t jmp_short[] = { 0xeb, 0x10 };
	static const uint8_t je_short[] = { 0x74, 0x10 };
	static const uint8_t je_near[] = { 0x0f, 0x84, 0x10, 0x00, 0x00, 0x00 };
	static const uint8_t nop[] = { 0x90 };

	check_emulated(push_r12, sizeof(push_r12), true, "push r12");
	check_emulated(push_rbp, sizeof(push_rbp), true, "push rbp");
	check_emulated(push_rbx, sizeof(push_rbx), true, "push rbx");
	check_emulated(test_rdi, sizeof(test_rdi), false, "test rdi, rdi");
	check_emulated(call_rel, sizeof(call_rel), true, "call 0x15");
	check_emulated(jmp_rel, sizeof(jmp_rel), true, "jmp 0x15");
	check_emulated(jmp_short, sizeof(jmp_short), true, "jmp 0x12");
	check_emulated(je_short, sizeof(je_short), true, "je 0x12");
	check_emulated(je_near, sizeof(je_near), true, "je 0x16");
	check_emulated(nop, sizeof(nop), true, "nop");
}

/* Single-stepped: indirect calls and jumps, push of an immediate or of
 * memory, pop, endbr64, moves, stack adjustments. */
static void test_not_emulated(void **state)
{
	static const struct {
		uint8_t code[8];
		size_t len;
		const char *text;
	} cases[] = {
		{ { 0xff, 0xd0 }, 2, "call rax" },
		{ { 0xff, 0x15, 0x00, 0x01, 0x00, 0x00 }, 6, "call qword ptr [rip + 0x100]" },
		{ { 0xff, 0xe0 }, 2, "jmp rax" },
		{ { 0x68, 0x01, 0x00, 0x00, 0x00 }, 5, "push 1" },
		{ { 0xff, 0x37 }, 2, "push qword ptr [rdi]" },
		{ { 0x5b }, 1, "pop rbx" },
		{ { 0xf3, 0x0f, 0x1e, 0xfa }, 4, "endbr64" },
		{ { 0x48, 0x89, 0xe5 }, 3, "mov rbp, rsp" },
		{ { 0x48, 0x83, 0xec, 0x18 }, 4, "sub rsp, 0x18" },
		{ { 0xc3 }, 1, "ret" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		check_emulated(cases[i].code, cases[i].len, false, cases[i].text);
}

static void test_emulated_nothing_to_decode(void **state)
{
	static const uint8_t bad[] = { 0x06 };                /* push es: not in 64-bit mode */
	static const uint8_t call_cut[] = { 0xe8, 0x10, 0x00 }; /* a call cut short */

	check_emulated(bad, 0, false, "?");
	check_emulated(bad, sizeof(bad), false, "?");
	check_emulated(call_cut, sizeof(call_cut), false, "?");
}

static void test_thunk(void **state)
{
	static const uint8_t endbr_jmp[] = { 0xf3, 0x0f, 0x1e, 0xfa, 0xe9, 0x10, 0x20, 0xff, 0xff };
	static const uint8_t jmp[] = { 0xe9, 0x10, 0x20, 0xff, 0xff };
	static const uint8_t endbr_jmp_short[] = { 0xf3, 0x0f, 0x1e, 0xfa, 0xeb, 0x10 };
	static const uint8_t push[] = { 0x55, 0x48, 0x89, 0xe5 };
	static const uint8_t endbr_push[] = { 0xf3, 0x0f, 0x1e, 0xfa, 0x55 };
	/* libstdc++'s sized aligned delete: moves an argument, then jumps */
	static const uint8_t endbr_mov_jmp[] = { 0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x89, 0xd6,
						 0xe9, 0x10, 0x20, 0xff, 0xff };
	static const uint8_t endbr_only[] = { 0xf3, 0x0f, 0x1e, 0xfa };

	assert_true(insn_is_thunk(endbr_jmp, sizeof(endbr_jmp)));
	assert_true(insn_is_thunk(jmp, sizeof(jmp)));
	assert_true(insn_is_thunk(endbr_jmp_short, sizeof(endbr_jmp_short)));
	assert_false(insn_is_thunk(push, sizeof(push)));
	assert_false(insn_is_thunk(push, 1));
	assert_false(insn_is_thunk(endbr_push, sizeof(endbr_push)));
	assert_false(insn_is_thunk(endbr_mov_jmp, sizeof(endbr_mov_jmp)));
	assert_false(insn_is_thunk(endbr_only, sizeof(endbr_only)));
	assert_false(insn_is_thunk(endbr_jmp, 0));
}

/* The bytes before a return address, ending in each form of call. */
static void test_call_before(void **state)
{
	static const struct {
		uint8_t code[16];
		size_t len;
		const char *what;
	} calls[] = {
		{ { 0x48, 0x89, 0xc7, 0xe8, 0x12, 0x34, 0x56, 0x78 }, 8, "call rel32" },
		{ { 0xe8, 0xfb, 0xff, 0xff, 0xff }, 5, "call rel32, nothing before it" },
		{ { 0x48, 0x89, 0xc7, 0xff, 0xd0 }, 5, "call rax" },
		{ { 0x90, 0x41, 0xff, 0xd4 }, 4, "call r12" },
		{ { 0x48, 0x89, 0xc7, 0xff, 0x15, 0x10, 0x20, 0x30, 0x00 }, 9, "call [rip + disp32]" },
		{ { 0x90, 0xff, 0x50, 0x08 }, 4, "call [rax + 8]" },
		{ { 0x90, 0xff, 0x54, 0x24, 0x08 }, 5, "call [rsp + 8]" },
		{ { 0x90, 0xff, 0x94, 0x24, 0x00, 0x01, 0x00, 0x00 }, 8, "call [rsp + disp32]" },
	};
	static const struct {
		uint8_t code[16];
		size_t len;
		const char *what;
	} others[] = {
		{ { 0x48, 0x8b, 0x45, 0xf8, 0xc9, 0xc3, 0x90, 0x90 }, 8, "mov; leave; ret; nops" },
		{ { 0x48, 0x89, 0xc7, 0x48, 0x83, 0xc4, 0x08 }, 7, "mov rdi, rax; add rsp, 8" },
		{ { 0xe8, 0x00, 0x00, 0x00, 0x00, 0x90 }, 6, "a call, then a nop" },
		{ { 0xff, 0xe0 }, 2, "jmp rax" },
		{ { 0xe9, 0x12, 0x34, 0x56, 0x78 }, 5, "jmp rel32" },
		{ { 0xd0 }, 1, "one byte" },
		{ { 0 }, 0, "no bytes" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(calls); i++)
		if (!insn_call_before(calls[i].code, calls[i].len))
			fail_msg("%s: no call found before the return address", calls[i].what);
	for (size_t i = 0; i < ARRAY_SIZE(others); i++)
		if (insn_call_before(others[i].code, others[i].len))
			fail_msg("%s: a call found before the return address", others[i].what);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_point_glibc_free),
		cmocka_unit_test(test_point_two_arguments),
		cmocka_unit_test(test_point_early_return_sets_result),
		cmocka_unit_test(test_point_je_to_work),
		cmocka_unit_test(test_point_je_to_call),
		cmocka_unit_test(test_point_je_target_outside),
		cmocka_unit_test(test_point_endbr64_push),
		cmocka_unit_test(test_point_cmp_memory_push_r12),
		cmocka_unit_test(test_point_mov_to_scratch),
		cmocka_unit_test(test_point_writes_rdi),
		cmocka_unit_test(test_point_writes_part_of_argument),
		cmocka_unit_test(test_point_memory_write),
		cmocka_unit_test(test_point_push_at_entry),
		cmocka_unit_test(test_point_sub_rsp),
		cmocka_unit_test(test_point_writes_rbp),
		cmocka_unit_test(test_point_control_flow_first),
		cmocka_unit_test(test_point_nothing_to_decode),
		cmocka_unit_test(test_emulated),
		cmocka_unit_test(test_not_emulated),
		cmocka_unit_test(test_emulated_nothing_to_decode),
		cmocka_unit_test(test_thunk),
		cmocka_unit_test(test_call_before),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
