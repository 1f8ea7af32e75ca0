/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What to probe in a process: each allocator function (the malloc family,
 * mmap, C++ operator new and delete, and the own entry points of jemalloc,
 * tcmalloc and mimalloc, je_-prefixed names included) where the dynamic
 * linker binds it for that process, which may be several objects (libc,
 * libstdc++, a preloaded or linked allocator, the executable itself).
 */
#ifndef LW_ALLOCATOR_H
#define LW_ALLOCATOR_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>
#include "leakwatch.h"

#define LW_MAX_PROBES 96 /* mimalloc's own API has some 60 distinct entry points */
#define LW_MAX_OBJECTS 8

struct lw_probe {
	enum lw_func func;
	const char *symbol;
	uint64_t entry_offset; /* file offset of the function */
	uint64_t offset;       /* file offset of the probed instruction (see insn.h) */
	uint64_t size;         /* the function's size, from its symbol */
	char first_insn[48];   /* the instruction probed, as disassembled */
	char placement[128];   /* why the probe sits where it does */
	bool single_step;      /* the kernel cannot emulate it: a second trap per call */
	bool skipped;          /* not attached: a thunk into a probed function */
	bool pymalloc;         /* CPython's object allocator (LW_COOKIE_PYMALLOC) */
	uint64_t ref_ctr_offset; /* a USDT probe's semaphore (file offset), counted up
				  * while attached; 0: none */
	char chosen[112];      /* why this object's definition: "LD_PRELOAD, before libc.so.6" */
};

/* One object with probes in it. */
struct lw_object {
	char module[PATH_MAX];   /* as the target names it */
	char attach_path[96];    /* the same file through the target's view */
	struct lw_probe probes[LW_MAX_PROBES];
	int nr_probes;
};

struct lw_plan {
	struct lw_object objects[LW_MAX_OBJECTS];
	int nr_objects;
	bool link_order;         /* lookup order read from the dynamic linker */
	/* operator new defined outside libstdc++ (jemalloc, tcmalloc): return
	 * probed, so an exception it throws cannot unwind (leakwatch.h) */
	const char *new_return_probed;
};

/*
 * Resolves every allocator function for pid as the dynamic linker does:
 * the first object in lookup order that defines it (the executable, then
 * preloaded libraries, then the others as loaded). Returns 0, or an exit
 * code with why set to one line when malloc and free are not found.
 */
int allocator__plan(pid_t pid, struct lw_plan *plan, char *why, size_t len);
/* The object defining malloc (what the banner names). */
const struct lw_object *allocator__main_object(const struct lw_plan *plan);
/* For -v: one line per function, the object chosen and why, e.g.
 * "leakwatch:   malloc: libtcmalloc_minimal.so.4.5.10 (LD_PRELOAD, before
 * libc.so.6)". */
void allocator__describe(const struct lw_plan *plan, FILE *f);
/* One object's probes: where each sits and why (-v). */
void allocator__describe_object(const struct lw_object *o, FILE *f);

#endif
