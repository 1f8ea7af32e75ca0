/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One report built from the kernel's aggregates: the per-stack totals read
 * into the stack table, each watched process's counts and trends, the
 * stacks picked for the report and the rollups. The outputs then print it.
 */
#ifndef LW_REPORT_BUILD_H
#define LW_REPORT_BUILD_H

#include <stdbool.h>
#include "judge/groups.h"
#include "judge/report.h"
#include "kernel/kernel.h"
#include "kernel/tracer.h"
#include "stacks/pystacks.h"
#include "stacks/stacks.h"
#include "stacks/unwind.h"
#include "symbols/symbolize.h"
#include "targets/targets.h"

struct report_inputs {
	struct target *targets;      /* their liveness, RSS and heap series move on */
	int nr_targets;
	struct tracer *tracer;
	struct stack_table *stacks;
	struct group_table *groups;  /* --group-by's, kept across reports; NULL: none */
	struct symbolizer *sym;
	struct py_stacks *py;
	struct unwinder *unwind;
	const struct kernel_info *kernel;
	double now_s, elapsed_s;     /* CLOCK_MONOTONIC now, and since the probes went in */
	double interval_s;           /* between reports */
	double min_age_s;            /* --min-age, 0 when not asked */
	double since_s;              /* --since, 0 when not asked */
	int top;                     /* stacks per report */
	bool wide;
	unsigned int sample_every;
	unsigned long long sample_bytes;
};

/* Builds r (its arrays allocated here). 0, or an exit code after one
 * line saying why. */
int report__build(struct report *r, const struct report_inputs *in, bool summary);
/* After r is printed: the next report's deltas are against this one; frees
 * what report__build allocated. */
void report__done(struct report *r, struct stack_table *stacks);

#endif
