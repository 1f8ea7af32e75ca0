/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The messages between leakwatch (symbol_worker.c, the client) and its
 * symbolizer worker (worker_serve.c): one request, one reply, on a
 * socket pair, with descriptors passed alongside. */
#ifndef LW_WORKER_WIRE_H
#define LW_WORKER_WIRE_H

#include <stdint.h>
#include "leakwatch.h"

/* The largest message either way. */
#define MSG_MAX 65536
/* Longest function or file name passed back; longer ones are cut. */
#define NAME_MAX_LEN 4095
/* Descriptors in the worker: its socket, and leakwatch's binary to exec. */
#define WORKER_SOCK_FD 3
#define WORKER_EXE_FD 4

enum worker_op {
	OP_OPEN = 1,  /* + fd, path: build-id and debuglink */
	OP_DEBUG,     /* + fd or none: stripped */
	OP_LOOKUP,    /* off: the inline chain */
	OP_CFI,       /* off: rows of the unwind table from this one on */
	OP_UNWIND,    /* + wire_unwind: the oracle's frames */
};

/* OP_UNWIND request, after struct request: this, nr_maps oracle_maps, then
 * stack_len bytes of stack. The reply holds the frames, 64 bits each. */
struct wire_unwind {
	uint32_t nr_maps, pad;
	uint64_t regs[LW_VERIFY_REGS];
	uint64_t stack_len;
};

/* OP_CFI reply: this, then n rows (struct lw_cfi_row) of the table. */
struct wire_cfi {
	uint64_t nr;          /* rows in the whole table */
	uint64_t text_bytes, cfi_bytes;
	uint32_t has_fp, pad;
};

struct request {
	uint32_t op, id;
	uint64_t off;
	char path[]; /* OP_OPEN: NUL-terminated */
};

struct reply {
	int32_t status; /* 0 or -errno */
	uint32_t n;     /* OP_LOOKUP: frames that follow */
	char data[];
};

/* One frame of a chain in a reply, followed by function and file names,
 * each NUL-terminated (empty when absent, flags tell). */
struct wire_sym {
	uint64_t offset;
	int32_t line;
	uint8_t flags;
};

enum { WS_FUNCTION = 1, WS_FILE = 2, WS_STRIPPED = 4 };

#endif
