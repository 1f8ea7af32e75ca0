/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unwind tables for the BPF unwinder, built from a module's CFI
 * (.eh_frame, else .debug_frame) with elfutils' libdw: for every address of
 * its executable segments, how to find the caller's frame (leakwatch.h,
 * struct lw_cfi_row). Consecutive rows that say the same are merged. This
 * parses files leakwatch does not control, so it runs in the symbolizer
 * worker (symbol_worker.h); the loader gets the rows over its socket.
 */
#ifndef LW_CFI_H
#define LW_CFI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "leakwatch.h"

struct cfi_table {
	struct lw_cfi_row *rows; /* sorted by off */
	size_t nr;
	uint64_t text_bytes;     /* executable bytes covered (segments' sizes) */
	uint64_t cfi_bytes;      /* of which some CFI describes */
	bool has_fp;             /* most of its functions keep frame pointers */
};

/* libdw types, so callers that only read tables need not include libdw. */
typedef struct Dwarf_CFI_s Dwarf_CFI;
typedef struct Dwarf_Frame_s Dwarf_Frame;
typedef struct Elf Elf;

/*
 * Seconds a table may take to build. libdw's CFI interpreter can take
 * milliseconds per address on a malformed (or hostile) file, which costs
 * minutes over a whole text segment; past the budget the module gets no
 * table (its frames are walked by frame pointers, or end the stack).
 */
extern double cfi_build_budget_s;

/*
 * Builds the table of elf from eh (its .eh_frame) and debug (.debug_frame,
 * its own or its debug file's); either may be NULL, eh is asked first.
 * 0, -ENOENT when neither describes any code, -ETIME past the budget, or
 * -ENOMEM.
 */
int cfi_table__build(Elf *elf, Dwarf_CFI *eh, Dwarf_CFI *debug, struct cfi_table *out);
/* The row that holds at file offset off, or NULL before the first. */
const struct lw_cfi_row *cfi_table__find(const struct cfi_table *t, uint64_t off);
void cfi_table__free(struct cfi_table *t);
/* A row from libdw's answer at one address (off left 0). */
void cfi_row_of(Dwarf_Frame *frame, struct lw_cfi_row *out);

#endif
