/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A small symbolic evaluator of x86-64 code, for finding where a function
 * reads its data: a pthread key's slot in the thread's TSD, a TLS
 * variable, a table in the target's memory. It runs straight-line code
 * (conditional branches not taken: the fast path comes first) and follows
 * what each register holds in terms of the key and the thread pointer.
 */
#ifndef LW_X86_EVAL_H
#define LW_X86_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <capstone/capstone.h>

/* Reads len bytes at addr of the code's process: 0, or nonzero. */
typedef int (*x86_read_fn)(void *ctx, uint64_t addr, void *buf, size_t len);

/* What a register holds: key_coef * key + value (+ the thread pointer if
 * tp), known or not; loaded32 says it was last set by a 4-byte load from
 * load_addr (a pthread key read from memory). */
struct sym_val {
	bool known, tp, loaded32;
	int64_t key_coef, value;
	uint64_t load_addr;
};

struct eval {
	struct sym_val regs[X86_REG_ENDING];
	x86_read_fn read;      /* constants in memory; NULL: none are read */
	void *ctx;
};

/* What evaluation stopped at. */
enum eval_stop {
	STOP_END,		/* ran out of code or met something it cannot follow */
	STOP_CALL,		/* a call or jump (out of the function) */
	STOP_LOAD,		/* a load whose address involves the key or the thread pointer */
};

struct eval_result {
	enum eval_stop stop;
	struct sym_val addr;	/* STOP_LOAD: its address */
	bool tls_call;		/* STOP_CALL: the general-dynamic TLS call sequence */
};

/* Runs the code at addr, len bytes, from e's registers, until a call, a
 * jump, or a load that depends on the key or the thread pointer. */
struct eval_result eval_until_stop(struct eval *e, const uint8_t *code, size_t len,
				   uint64_t addr);

#endif
