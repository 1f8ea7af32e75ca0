/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Which mapped object serves a process's malloc, and the probe points in it. */
#ifndef LW_ALLOCATOR_H
#define LW_ALLOCATOR_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>
#include "leakwatch.h"

struct lw_probe {
	enum lw_func func;
	const char *symbol;
	uint64_t offset; /* file offset of the probed instruction */
};

struct lw_allocator {
	char module[PATH_MAX];   /* the object, as the target names it */
	char attach_path[96];    /* the same file through the target's view */
	struct lw_probe probes[LW_FUNC_NR];
	int nr_probes;
};

/*
 * Finds the object the dynamic linker binds malloc to for pid: the
 * executable when it defines malloc, else a preloaded or linked library
 * that does (jemalloc, tcmalloc, ...), else libc. Returns 0, or an exit
 * code with why set to one line.
 */
int allocator__find(pid_t pid, struct lw_allocator *out, char *why, size_t len);

#endif
