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

/* Which pages of a granule hold its memory, as last read. */
struct growth_pages {
	uint16_t resident, swapped; /* anonymous pages: a file's sharing it left out */
	bool huge;                  /* its first resident page is part of a huge page */
};

struct growth_granule {
	uint32_t tgid;
	struct growth_pages pages;
	bool read;          /* its pages were read this round */
	uint64_t addr;      /* its start */
	uint64_t stack_id;
	uint64_t time_ns;   /* its first touch */
	uint64_t touched_ns; /* its last fault, or a release taking part of it */
};

/* Counts the anonymous pages of a granule from its pagemap words (huge is
 * left false: telling it takes /proc/kpageflags). */
void growth__count(const uint64_t *words, unsigned int pages, struct growth_pages *out);

/* What one granule holds now: bytes resident (a huge page counted whole
 * by the first granule of its 2 MiB that is met, *huge_block noting which,
 * so the others add nothing), and whether anything is left of it at all
 * (resident or swapped). */
struct growth_tally {
	uint64_t bytes;
	bool empty;         /* no page resident or swapped: the memory is gone */
};
void growth__tally(uint64_t addr, const struct growth_pages *pages, uint64_t *huge_block,
		   struct growth_tally *out);

/* A granule left unchanged is read again once in this many rounds, for what
 * changes without a fault or a release: khugepaged collapsing pages into a
 * huge page, the kernel writing for another process (process_vm_writev). */
#define GROWTH_REFRESH_ROUNDS 8

/*
 * Which of this round's granules v[0..n) must be read, both v and last (the
 * last round's, as read) sorted by process and address: sets v[i].read, or
 * takes last's pages for a granule unchanged since since_ns (its last
 * fault or partial release older), in a process given nothing back since
 * then if its page is huge (a release splits it), and not due for its
 * refresh in this round. Returns how many must be read.
 */
size_t growth__plan(struct growth_granule *v, size_t n, const struct growth_granule *last,
		    size_t nr_last, uint64_t since_ns, unsigned int round,
		    bool (*released)(uint32_t tgid, uint64_t since_ns, void *ctx), void *ctx);

/* Adds a granule's bytes to the aggregate of its stack, in the per-call
 * mode's layout: bytes, granules as its blocks, and its first touch's age
 * epoch (epoch_ns long) as an allocation's. */
void growth__add(struct lw_stats *s, uint64_t bytes, uint64_t time_ns, uint64_t epoch_ns);

#endif
