// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* pystacks.h: Python frames merged into a native stack. Each eval-loop
 * call's Python frames take the place of one native
 * _PyEval_EvalFrameDefault frame, innermost first; calls left over when
 * the native frames end follow them; nothing goes past max. Native frames
 * are told apart by address (0x1xx), Python ones by code object (0x7xx). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "leakwatch.h"
#include "stacks/pystacks.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const struct lw_sym eval = { .function = "_PyEval_EvalFrameDefault" };
/* gcc's split-off cold part of the same function */
static const struct lw_sym eval_cold = { .function = "_PyEval_EvalFrameDefault.cold" };
static const struct lw_sym vector = { .function = "_PyEval_Vector" };
static const struct lw_sym leaf = { .function = "PyMem_Malloc" };
static const struct lw_sym main_sym = { .function = "main" };
static const struct lw_sym unnamed = { .function = NULL }; /* module+offset */

static struct lw_frame native(uint64_t addr, const struct lw_sym *sym)
{
	return (struct lw_frame){ .addr = addr, .sym = sym };
}

/* Python frames 0x700, 0x701, ... innermost first. */
static void python_frames(struct lw_frame *py, int n)
{
	for (int i = 0; i < n; i++)
		py[i] = (struct lw_frame){ .addr = 0x700 + i, .python = true };
}

/* frames[0..n) must be want[0..nr_want), Python ones (0x7xx) marked so. */
static void expect(const struct lw_frame *frames, int n, const uint64_t *want, int nr_want)
{
	assert_int_equal(n, nr_want);
	for (int i = 0; i < n; i++) {
		if (frames[i].addr != want[i])
			fail_msg("frame %d: 0x%lx, want 0x%lx", i, (unsigned long)frames[i].addr,
				 (unsigned long)want[i]);
		assert_int_equal(frames[i].python, (want[i] & 0xf00) == 0x700);
	}
}

static void test_eval_function_names(void **state)
{
	assert_true(py_eval_function("_PyEval_EvalFrameDefault"));
	assert_true(py_eval_function("_PyEval_EvalFrameDefault.cold"));
	assert_true(py_eval_function("_PyEval_EvalFrameDefault.part.0"));
	assert_true(py_eval_function("_PyEval_EvalFrameDefault.constprop.0"));
	assert_false(py_eval_function("_PyEval_EvalFrameDefaultX"));
	assert_false(py_eval_function("_PyEval_EvalFrame"));
	assert_false(py_eval_function("_PyEval_Vector"));
	assert_false(py_eval_function(""));
	assert_false(py_eval_function(NULL));
}

/* Two eval-loop calls: f and g in the inner one (g its entry), h alone
 * in the outer one. */
static void test_each_call_replaces_one_eval_frame(void **state)
{
	struct lw_frame frames[16] = {
		native(0x100, &leaf), native(0x101, &eval), native(0x102, &vector),
		native(0x103, &eval_cold), native(0x104, &main_sym),
	}, py[3];
	static const uint64_t want[] = { 0x100, 0x700, 0x701, 0x102, 0x702, 0x104 };
	int n;

	python_frames(py, 3);
	n = py_stacks__splice(frames, 5, ARRAY_SIZE(frames), py, 3, 1u << 1 | 1u << 2);
	expect(frames, n, want, ARRAY_SIZE(want));
}

/* No entry bits: the whole walk is one call, cut short. */
static void test_walk_without_entries_is_one_call(void **state)
{
	struct lw_frame frames[16] = {
		native(0x100, &leaf), native(0x101, &eval), native(0x102, &eval),
		native(0x103, &main_sym),
	}, py[4];
	/* the second eval frame has no Python call left: it stays native */
	static const uint64_t want[] = { 0x100, 0x700, 0x701, 0x702, 0x703, 0x102, 0x103 };
	int n;

	python_frames(py, 4);
	n = py_stacks__splice(frames, 4, ARRAY_SIZE(frames), py, 4, 0);
	expect(frames, n, want, ARRAY_SIZE(want));
}

/* The last call's entry was not reached (the walk stopped): its frames
 * are a call of their own all the same. */
static void test_last_call_cut_short(void **state)
{
	struct lw_frame frames[16] = {
		native(0x100, &leaf), native(0x101, &eval), native(0x102, &vector),
		native(0x103, &eval), native(0x104, &main_sym),
	}, py[3];
	static const uint64_t want[] = { 0x100, 0x700, 0x102, 0x701, 0x702, 0x104 };
	int n;

	python_frames(py, 3);
	n = py_stacks__splice(frames, 5, ARRAY_SIZE(frames), py, 3, 1u << 0);
	expect(frames, n, want, ARRAY_SIZE(want));
}

/* The native walk ended inside the interpreter (no frame pointers in
 * it): the calls it did not reach follow what there is. */
static void test_native_stack_ends_first(void **state)
{
	struct lw_frame frames[16] = {
		native(0x100, &leaf), native(0x101, &eval), native(0x102, &unnamed),
	}, py[5];
	static const uint64_t want[] = { 0x100, 0x700, 0x102, 0x701, 0x702, 0x703, 0x704 };
	int n;

	python_frames(py, 5);
	n = py_stacks__splice(frames, 3, ARRAY_SIZE(frames), py, 5, 1u << 0 | 1u << 2 | 1u << 4);
	expect(frames, n, want, ARRAY_SIZE(want));
}

/* Frames without a name, or without a function, are never eval frames. */
static void test_unnamed_frames_stay(void **state)
{
	struct lw_frame frames[16] = {
		native(0x100, NULL), native(0x101, &unnamed), native(0x102, &eval),
	}, py[1];
	static const uint64_t want[] = { 0x100, 0x101, 0x700 };
	int n;

	python_frames(py, 1);
	n = py_stacks__splice(frames, 3, ARRAY_SIZE(frames), py, 1, 1u << 0);
	expect(frames, n, want, ARRAY_SIZE(want));
	assert_ptr_equal(frames[1].sym, &unnamed);
}

/* Never more than max frames, wherever the cut falls. */
static void test_at_most_max(void **state)
{
	struct lw_frame frames[8] = {
		native(0x100, &leaf), native(0x101, &eval), native(0x102, &main_sym),
	}, py[4];
	static const uint64_t in_call[] = { 0x100, 0x700, 0x701 };
	static const uint64_t after[] = { 0x100, 0x700, 0x701, 0x702 };
	int n;

	/* the cut inside a call's frames */
	python_frames(py, 4);
	n = py_stacks__splice(frames, 3, 3, py, 4, 1u << 3);
	expect(frames, n, in_call, ARRAY_SIZE(in_call));

	/* the cut inside the calls left over after the native frames */
	frames[0] = native(0x100, &leaf);
	n = py_stacks__splice(frames, 1, 4, py, 4, 1u << 0 | 1u << 1 | 1u << 2 | 1u << 3);
	expect(frames, n, after, ARRAY_SIZE(after));
}

/* No Python frames: the native stack as it was. */
static void test_no_python_frames(void **state)
{
	struct lw_frame frames[4] = {
		native(0x100, &leaf), native(0x101, &eval), native(0x102, &main_sym),
	};
	static const uint64_t want[] = { 0x100, 0x101, 0x102 };
	int n;

	n = py_stacks__splice(frames, 3, ARRAY_SIZE(frames), NULL, 0, 0);
	expect(frames, n, want, ARRAY_SIZE(want));
	assert_ptr_equal(frames[1].sym, &eval);
}

/* A deep walk: all LW_PY_MAX_FRAMES frames, each its own call, and as
 * many eval frames; bit 31 of entries included. */
static void test_full_walk(void **state)
{
	struct lw_frame frames[2 * LW_PY_MAX_FRAMES + 2], py[LW_PY_MAX_FRAMES];
	int n;

	frames[0] = native(0x100, &leaf);
	for (int i = 0; i < LW_PY_MAX_FRAMES; i++)
		frames[1 + i] = native(0x200 + i, &eval);
	frames[1 + LW_PY_MAX_FRAMES] = native(0x104, &main_sym);
	python_frames(py, LW_PY_MAX_FRAMES);
	n = py_stacks__splice(frames, LW_PY_MAX_FRAMES + 2, ARRAY_SIZE(frames), py,
			      LW_PY_MAX_FRAMES, 0xffffffffu);
	assert_int_equal(n, LW_PY_MAX_FRAMES + 2);
	assert_int_equal(frames[0].addr, 0x100);
	for (int i = 0; i < LW_PY_MAX_FRAMES; i++) {
		assert_int_equal(frames[1 + i].addr, 0x700 + i);
		assert_true(frames[1 + i].python);
	}
	assert_int_equal(frames[1 + LW_PY_MAX_FRAMES].addr, 0x104);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eval_function_names),
		cmocka_unit_test(test_each_call_replaces_one_eval_frame),
		cmocka_unit_test(test_walk_without_entries_is_one_call),
		cmocka_unit_test(test_last_call_cut_short),
		cmocka_unit_test(test_native_stack_ends_first),
		cmocka_unit_test(test_unnamed_frames_stay),
		cmocka_unit_test(test_at_most_max),
		cmocka_unit_test(test_no_python_frames),
		cmocka_unit_test(test_full_walk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
