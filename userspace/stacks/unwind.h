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

/* How stacks were taken, and how good they came out (the report shows it). */
struct report_unwind {
	const char *mode;            /* "fp", "auto", "cfi"; NULL: not said */
	const struct unwind_module *modules; /* each module seen, and what walks it */
	size_t nr_modules;
	uint64_t table_bytes;        /* CFI rows loaded in the kernel */
	/* share of the stacks holding memory that end cleanly at the process
	 * entry or a thread start; < 0 when there are none */
	double stack_quality;
	int stacks, complete;        /* the counts behind it */
	bool verifying;              /* --verify-stacks */
	uint64_t verified, agreed;   /* stacks unwound again by libdw, and equal */
	uint64_t unverifiable;       /* the oracle could not run (process gone), or only
				      * a prefix of a stack deeper than the copy agreed */
	uint64_t dropped;            /* records lost to a full ring buffer: not compared */
};

struct lw_site;
/* Fills out: the modules, stack quality over the nr sites holding memory,
 * and the --verify-stacks comparisons made since the last call (their
 * records are read and unwound again now). */
void unwinder__stats(struct unwinder *u, struct lw_site *const *sites, int nr,
		     struct report_unwind *out);
/* One line per module to f: what serves it. */
void unwinder__describe(const struct unwinder *u, FILE *f);

#endif
