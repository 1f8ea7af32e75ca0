/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The meaning of one code address, shared by the symbolizer (symbolize.h),
 * the worker that finds it (dwarf_lookup.h) and the messages between them. */
#ifndef LW_SYM_H
#define LW_SYM_H

#include <stdbool.h>
#include <stdint.h>

/* What one code address in a module means: a function, or several when
 * the compiler inlined calls there. The innermost comes first; caller
 * leads outward to the function the code really belongs to. */
struct lw_sym {
	const char *function; /* NULL when no symbol covers it */
	uint64_t offset;      /* from the function's start (the outermost's only) */
	const char *file;     /* source file, NULL without line info */
	int line;
	bool return_site;     /* the instruction before it is a call */
	bool stripped;        /* named from the dynamic symbols only: no symtab, no DWARF */
	const struct lw_sym *caller; /* the function this one is inlined into, or NULL */
};

#endif
