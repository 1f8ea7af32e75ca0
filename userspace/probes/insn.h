/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* x86-64 instructions as uprobes see them, decoded with capstone. */
#ifndef LW_INSN_H
#define LW_INSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <capstone/capstone.h>

/* The one capstone handle (x86-64, with details), or 0 if it cannot open. */
csh insn_capstone(void);
/* The 64-bit register r is part of (edi, di, dil: rdi); others as they are. */
x86_reg insn_full_reg(x86_reg r);

/*
 * Whether the kernel emulates the instruction at code[0] when a uprobe
 * hits it (one trap) rather than single-stepping a copy out of line (a
 * second trap, several microseconds on a VM). x86 uprobes emulate relative
 * jumps, calls and conditional jumps, nops, and push of a register; the
 * rest is single-stepped. text receives the instruction ("push r12").
 */
bool insn_emulated(const uint8_t *code, size_t len, char *text, size_t text_len);

/*
 * Where a uprobe on the function whose first bytes are code can sit: the
 * first instruction the kernel emulates, if every path that can allocate or
 * free reaches it with the stack pointer, the frame pointer and the
 * function's nargs argument registers as they were at entry; otherwise the
 * entry. Instructions before
 * it may only set flags or other registers (test, cmp, mov to a scratch
 * register, endbr64), and a conditional branch must lead to a plain return
 * (free(NULL)'s "test %rdi,%rdi; je ret"). Returns the offset from the
 * function's start; why receives one line saying what was decided.
 */
size_t insn_probe_point(const uint8_t *code, size_t len, unsigned int nargs, char *why,
			size_t why_len);

/* Whether the function is a thunk: (endbr64 and) a jump elsewhere. */
bool insn_is_thunk(const uint8_t *code, size_t len);

/* Whether the bytes just before a return address end with a call
 * instruction; code holds the len bytes that precede it. */
bool insn_call_before(const uint8_t *code, size_t len);

#endif
