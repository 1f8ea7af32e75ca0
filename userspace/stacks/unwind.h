/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The CFI unwinder's tables in BPF: one table per module (cfi.h, built by
 * the symbolizer worker), shared by every process mapping the module and
 * placed in the BPF row store once; per process, an index of its executable
 * mappings saying which table (or frame pointers) serves each. Kept up to
 * date at every refresh of a process's mappings (attach, fork, exec, and
 * code the unwinder met without a table: dlopen).
 */
#ifndef LW_UNWIND_H
#define LW_UNWIND_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

enum unwind_mode {
	UNWIND_FP = 0, /* frame pointers only */
	UNWIND_AUTO,   /* CFI for modules without frame pointers, frame pointers for the rest */
	UNWIND_CFI,    /* CFI wherever a module has it */
};

/* How a module is unwound, as -v and the report's header say. */
struct unwind_module {
	const char *path;
	const char *build_id;
	bool has_cfi, has_fp;
	bool by_cfi;          /* served by its CFI table (else frame pointers) */
	uint64_t text_bytes;
	uint64_t table_bytes; /* its rows in the BPF row store */
};

struct unwinder;
struct tracer;
struct symbolizer;

/* "fp", "auto", "cfi" to a mode; -EINVAL for anything else. */
int unwind_mode_parse(const char *s, enum unwind_mode *out);
const char *unwind_mode_name(enum unwind_mode m);

/* Hooks itself on sym's refreshes. max_rows: the BPF row store's size;
 * verifying: --verify-stacks is on. */
struct unwinder *unwinder__new(struct tracer *t, struct symbolizer *sym, enum unwind_mode mode,
			       unsigned int max_rows, bool verifying, int verbose);
void unwinder__free(struct unwinder *u);
/* Every module seen so far, in the order seen. */
const struct unwind_module *unwinder__modules(const struct unwinder *u, size_t *n);
/* Rows in use in the row store, in bytes. */
uint64_t unwinder__table_bytes(const struct unwinder *u);
struct report;
/* Fills r->unwind: the modules, stack quality over r->all_stacks, and the
 * --verify-stacks comparisons made since the last call (their records
 * are read and unwound again now). */
void unwinder__report(struct unwinder *u, struct report *r);
/* One line per module to f: what serves it. */
void unwinder__describe(const struct unwinder *u, FILE *f);

#endif
