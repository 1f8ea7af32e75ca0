/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One report (an interval, or the final summary) as every output format
 * sees it: the processes with their totals, the sums, and the top stacks.
 */
#ifndef LW_REPORT_H
#define LW_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include "kernel/kernel.h"
#include "stacks/pystacks.h"
#include "judge/groups.h"
#include "judge/rollup.h"
#include "stacks/stacks.h"
#include "stacks/unwind.h"
#include "symbols/symbol_worker.h"

struct report_counts {
	int64_t outstanding_bytes;
	int64_t outstanding_allocs;
	uint64_t alloc_calls;
	uint64_t free_calls;
	uint64_t recorded;     /* allocations recorded (all of them unless sampling) */
	uint64_t granules_touched, granules_given_back; /* --growth (growth.bpf.h) */
	int64_t bytes_older;   /* outstanding bytes older than --min-age */
	uint64_t lost[LW_LOST_NR];
};

/* How allocations were sampled: none, one in value, or by value bytes. */
struct report_sampling {
	const char *mode;      /* NULL (every allocation), "every" or "bytes" */
	unsigned long long value;
};

struct zoom_window;

struct report_process {
	pid_t pid;
	char comm[16];
	const char *exe;      /* "" when unknown */
	pid_t ns_pid;         /* its PID in its own namespace */
	long long rss_bytes;  /* -1 when unknown (exited) */
	bool alive;
	bool started;         /* a command leakwatch started */
	pid_t parent;         /* forked by this watched process, else 0 */
	bool left;            /* left the -C cgroup: no longer watched */
	int exit_status;      /* started and ended: exit code, or 128 + signal */
	int exit_signal;      /* started and killed by a signal, else 0 */
	long long cgroup_bytes; /* its memory cgroup's usage, -1 when unknown */
	char note[256];       /* a sentence for a person, "" when none */
	struct report_counts counts;
	struct py_report python; /* its CPython interpreter, if any (pystacks.h) */
	/* which process grows: its resident memory's trend and that of what
	 * leakwatch counts for it (heap, or --growth's pages), and its place
	 * when the processes are ranked by them (1: growing fastest) */
	struct trend rss_trend, heap_trend;
	int rank;
	const struct zoom_window *zoom; /* --zoom: its window (judge/zoom.h), or NULL */
};

struct report {
	bool summary;
	/* --growth: bytes are resident pages by first toucher, and there are
	 * no allocation counts (granules instead), except on the stacks of a
	 * --zoom window */
	bool growth;
	struct timespec when;        /* wall clock, when the maps were read */
	double elapsed_s;            /* since the probes went in */
	struct report_process *procs;
	int nr_procs;
	struct report_counts totals;
	struct lw_site **stacks;     /* top stacks, most outstanding bytes first */
	int nr_stacks;
	/* every stack holding memory (after --min-age), stacks[] first: for
	 * exporters of whole profiles (pprof, folded) */
	struct lw_site **all_stacks;
	int nr_all_stacks;
	/* stacks several processes of one program hold (rollup.h), top first */
	struct rollup *rollups;
	int nr_rollups;
	/* --group-by (groups.h): what stacks are summed by (GROUP_BY_STACK:
	 * no groups), and the groups, top first */
	enum group_by group_by;
	struct group **groups;
	int nr_groups;
	double interval_s;           /* between reports */
	struct symbol_worker_stats symbolizer; /* how the worker fared so far */
	struct report_sampling sampling;
	bool wide;                   /* text: every frame of every stack */
	double min_age_s;            /* --min-age, 0 when not asked */
	double since_s;              /* --since: what delta spans (the watch's age while
				      * younger); 0: since the report before */
	struct report_unwind unwind;
	const struct kernel_info *kernel; /* what this kernel runs and what was left out */
};

/* Mean number of allocations each recorded one stands for (1: exact). */
double report_counts__sample_rate(const struct report_counts *c, const struct report_sampling *s);

/*
 * The words for a process whose resident memory grows while the heap that
 * leakwatch tracks does not (or explains under a quarter of it), into note
 * ("" when there is nothing to say). growth: what is tracked is --growth's
 * pages, not the heap.
 */
void report__memory_note(const struct trend *rss, const struct trend *heap, bool growth,
			 char *note, size_t len);

/* Ranks the processes (rank 1 first): the live ones growing, fastest first
 * by the faster of their two trends, then the other live ones by that rate,
 * then the ones gone. */
void report__rank_processes(struct report_process *procs, int n);

/* When r's maps were read, as JSON's "time" says it (UTC, milliseconds). */
void report__time(const struct report *r, char *buf, size_t len);

/* JSON names of enum lw_lost, in order. */
extern const char *const lw_lost_names[LW_LOST_NR];
uint64_t report_counts__lost(const struct report_counts *c);

/* Moves the sites holding memory (outstanding bytes or allocations) to the
 * front, keeping their order; returns how many. */
int report__holding(struct lw_site **sites, int nr);

/* Keeps the sites holding memory, at most top, ordered for a report: most
 * outstanding bytes first (then most allocations, then id); for the
 * summary, growing stacks first, fastest growth first. Sets the trend of
 * each site kept. */
int report__pick_stacks(struct lw_site **sites, int nr, int top, bool summary);

#endif
