/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The objects of a process in the dynamic linker's lookup order: the
 * executable, then preloaded libraries, then the rest as loaded. Read from
 * the linker's own list (r_debug, through /proc/PID/mem; read only), which
 * is the order symbol lookups follow.
 */
#ifndef LW_LINKMAP_H
#define LW_LINKMAP_H

#include <stddef.h>
#include <sys/types.h>
#include "common/proc.h"

/* Fills order[] with indices into maps of one mapping per loaded object,
 * in lookup order, and returns how many (at most max), or a negative errno
 * when the list cannot be read (static executable, linker not done yet). */
int linkmap__order(pid_t pid, const struct lw_maps *maps, size_t *order, size_t max);

#endif
