/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Stacks rolled up per executable: the same stack (same id: same code
 * path) in several processes running the same program, as N forked
 * workers are, summed into one line with its growth in total and per
 * process, so a leak every worker has reads as one leak.
 */
#ifndef LW_ROLLUP_H
#define LW_ROLLUP_H

#include <stdint.h>
#include <sys/types.h>
#include "stacks/stacks.h"
#include "judge/trend.h"

/* PIDs listed per rollup; the count is exact beyond that. */
#define LW_ROLLUP_PIDS 16

struct rollup {
	const char *exe;
	uint64_t id;
	enum lw_category category;
	int nr_procs;
	pid_t pids[LW_ROLLUP_PIDS];
	int64_t bytes, allocs;
	struct series series;     /* the sum of its stacks' series */
	struct trend trend;
	double rate_per_process;  /* trend.rate / nr_procs */
	const struct lw_site *example; /* frames (the same in every process) */
};

struct report_process;

/*
 * The rollups of sites (all sites holding memory) over processes procs,
 * into *out (freed by the caller): only stacks held by two processes or
 * more of one executable, most bytes first (growing first when summary),
 * at most top. Returns how many, or -ENOMEM.
 */
int rollup__build(struct lw_site *const *sites, int nr_sites, const struct report_process *procs,
		  int nr_procs, int top, bool summary, struct rollup **out);

#endif
