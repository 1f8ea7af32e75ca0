/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --growth's reading (bpf/growth.bpf.h): each granule's first toucher, from
 * the BPF map, and which of its pages are resident now, from
 * /proc/PID/pagemap, summed per (process, stack) into the same aggregates
 * the per-call mode reads, so every later stage serves both.
 */
#ifndef LW_GROWTH_H
#define LW_GROWTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "leakwatch.h"

#define GROWTH_PAGE 4096u
#define GROWTH_HUGE (2u << 20) /* a transparent huge page on x86-64 */

/* pagemap's bits (Documentation/admin-guide/mm/pagemap.rst) */
#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_FILE (1ULL << 61)    /* a file's page, or shared: not the process's own growth */
#define PM_PFN_MASK ((1ULL << 55) - 1)

struct growth_granule {
	uint32_t tgid;
	uint64_t addr;      /* its start */
	uint64_t stack_id;
	uint64_t time_ns;
};

/* What one granule holds now, from its pagemap words (one per page: its
 * anonymous pages, those of a file mapping sharing the granule left out) and,
 * when its first resident page is part of a huge page, huge: bytes
 * resident (a huge page counted whole by the first granule of its 2 MiB
 * that is met, *huge_block noting which, so the others add nothing), and
 * whether anything is left of it at all (resident or swapped). */
struct growth_tally {
	uint64_t bytes;
	bool empty;         /* no page resident or swapped: the memory is gone */
};
void growth__tally(uint64_t addr, const uint64_t *words, unsigned int pages, bool huge,
		   uint64_t *huge_block, struct growth_tally *out);

/* Adds a granule's bytes to the aggregate of its stack, in the per-call
 * mode's layout: bytes, granules as its blocks, and its first touch's age
 * epoch (epoch_ns long) as an allocation's. */
void growth__add(struct lw_stats *s, uint64_t bytes, uint64_t time_ns, uint64_t epoch_ns);

#endif
