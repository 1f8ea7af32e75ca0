/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The stacks leakwatch has seen, as a person reads them: one site per
 * (process, stack id), where the id hashes the frames as (module build-id,
 * file offset) so the same code path has the same id in every process and
 * across restarts. Raw BPF stacks are resolved once, when first seen (while
 * their process is alive), and several raw stacks that resolve alike share
 * a site.
 */
#ifndef LW_STACKS_H
#define LW_STACKS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "leakwatch.h"
#include "symbols/symbolize.h"
#include "common/series.h"

struct lw_site {
	pid_t pid;
	uint64_t id;
	enum lw_category category;
	struct lw_frame *frames; /* innermost first, from the allocator's caller */
	int nr_frames;
	bool truncated;          /* the walk is known to have stopped early */
	struct series series;
	struct trend trend;      /* of series, for the sites a report shows */
	/* this round: sums over the raw stacks resolving here */
	int64_t bytes, allocs;   /* allocs rounded from alloc_units */
	int64_t alloc_units;     /* in 1/LW_ONE allocations (sampled blocks stand for fractions) */
	uint64_t total_allocs, total_frees;
	int64_t reported_bytes;  /* at the previous report */
	struct lookback *lookback; /* --since: its sparse history; else NULL */
	int64_t since_bytes;     /* --since: its growth over that span */
	/* this round: outstanding bytes by allocation epoch (leakwatch.h) */
	int64_t age_bytes[LW_AGE_SLOTS];
	uint64_t age_epoch[LW_AGE_SLOTS];
	int64_t older_bytes;
	double older_since_s;    /* older_bytes > 0 in every round since; < 0: not */
	/* set by stack_table__ages */
	double oldest_age_s;     /* < 0: unknown (nothing outstanding) */
	int64_t bytes_older;     /* outstanding bytes older than the minimum age asked */
};

/* JSON name of a category: "malloc", "mmap", "python", "resident". */
const char *category_name(enum lw_category c);
/* Function names where a user stack properly ends: process entry, thread start. */
bool stack_root_function(const char *name);
/* The id of frames (FNV-1a over build-id or path, and file offset). */
uint64_t stack_id_of(const struct lw_frame *frames, int nr);

/*
 * Turns a raw stack into frames: each return address is resolved and must
 * lie just after a call instruction in a mapped file; the first that does
 * not ends the stack (a frame-pointer walk through code without frame
 * pointers yields such garbage). The stack is truncated when it ends that
 * way, or at the depth limit, before reaching a root function.
 * Frames inlined at one address follow each other, innermost first, sharing
 * the address. first_exact: the first address is an instruction the stack
 * was taken at (a page fault, --growth), kept as its address + 1 like a
 * return address, not the address after a call. Returns the number of
 * frames (at most max).
 */
int stack_resolve(struct symbolizer *sym, pid_t pid, const __u64 *ips, int nr,
		  struct lw_frame *frames, int max, bool *truncated, bool first_exact);

struct stack_table;
struct tracer;

struct stack_table *stack_table__new(struct symbolizer *sym, struct tracer *tracer);
/* --since DURATION: each site's growth since the report that long ago
 * (lw_site.since_bytes). */
void stack_table__set_since(struct stack_table *t, double span_s);
/* Python frames to merge into the stacks of processes running CPython. */
struct py_stacks;
void stack_table__set_python(struct stack_table *t, struct py_stacks *py);
void stack_table__free(struct stack_table *t);
/* Starts a round: every site's sums go to zero. */
void stack_table__begin_round(struct stack_table *t);
/* Adds one BPF aggregate to its site, resolving its stack on first sight. */
void stack_table__add(struct stack_table *t, const struct lw_stats_key *key,
		      const struct lw_stats *val);
/* Ends a round: appends each site's bytes to its series at time t_s (a
 * round less than min_gap_s after the last replaces its sample). */
void stack_table__end_round(struct stack_table *t, double t_s, double min_gap_s);
/* Ages from the epochs (each epoch_s long, the last ended by now_s on
 * CLOCK_MONOTONIC; report time t_s): the oldest live block of each site,
 * to within an epoch (a lower bound once its bytes are older than
 * LW_AGE_SLOTS epochs), and bytes older than min_age_s. */
void stack_table__ages(struct stack_table *t, double now_s, double t_s, double epoch_s,
		       double min_age_s);
/* Iteration over sites: *pos starts at 0; NULL at the end. */
struct lw_site *stack_table__next(struct stack_table *t, size_t *pos);

#endif
