// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "judge/report.h"

const char *const lw_lost_names[LW_LOST_NR] = {
	[LW_LOST_ALLOCS_MAP_FULL] = "allocs_map_full",
	[LW_LOST_STACK_MISSING] = "stack_missing",
	[LW_LOST_STACK_COLLISION] = "stack_collision",
	[LW_LOST_UNKNOWN_FREES] = "unknown_frees",
	[LW_LOST_UNATTACHED_WINDOW] = "unattached_window",
	[LW_LOST_STATS_MAP_FULL] = "stats_map_full",
	[LW_LOST_UNWIND_PENDING] = "unwind_pending",
	[LW_LOST_NO_THREAD_STATE] = "thread_state_unavailable",
};

void report__time(const struct report *r, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&r->when.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, r->when.tv_nsec / 1000000);
}

uint64_t report_counts__lost(const struct report_counts *c)
{
	uint64_t sum = 0;

	for (int i = 0; i < LW_LOST_NR; i++)
		sum += c->lost[i];
	return sum;
}

double report_counts__sample_rate(const struct report_counts *c, const struct report_sampling *s)
{
	if (!s->mode)
		return 1;
	if (!strcmp(s->mode, "every"))
		return s->value;
	if (c->recorded)
		return (double)c->alloc_calls / c->recorded;
	/* nothing recorded yet: each would stand for at least all the calls */
	return c->alloc_calls ? (double)c->alloc_calls : 1;
}

void report__memory_note(const struct trend *rss, const struct trend *heap, bool growth,
			 char *note, size_t len)
{
	double heap_rate = heap->verdict == VERDICT_GROWING ? heap->slope : 0;

	note[0] = 0;
	if (rss->verdict != VERDICT_GROWING || heap_rate > rss->slope / 4)
		return;
	/* --growth sees every anonymous page made resident: what else grows
	 * is not the process's own anonymous memory */
	if (growth)
		snprintf(note, len, "RSS grows by %.0f KiB/min while the anonymous memory it made "
			 "resident since attach %s: likely file-backed or shared memory (mapped "
			 "files, /dev/shm, a driver's mappings), or pages it touched before attach "
			 "coming back from swap", rss->slope * 60 / 1024,
			 heap_rate > 0 ? "explains under a quarter of it" : "does not grow");
	else
		snprintf(note, len, "RSS grows by %.0f KiB/min while the heap leakwatch tracks %s: "
			 "likely fragmentation, an allocator leakwatch does not see, or memory "
			 "outside malloc (a GPU driver, a custom arena, direct system calls)",
			 rss->slope * 60 / 1024,
			 heap_rate > 0 ? "explains under a quarter of it" : "does not grow");
}

static int by_outstanding(const void *pa, const void *pb)
{
	const struct lw_site *a = *(struct lw_site *const *)pa, *b = *(struct lw_site *const *)pb;

	if (a->bytes != b->bytes)
		return a->bytes > b->bytes ? -1 : 1;
	if (a->allocs != b->allocs)
		return a->allocs > b->allocs ? -1 : 1;
	if (a->pid != b->pid)
		return a->pid < b->pid ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* The summary: growing stacks first, fastest first; then the rest. */
static int by_leak(const void *pa, const void *pb)
{
	const struct lw_site *a = *(struct lw_site *const *)pa, *b = *(struct lw_site *const *)pb;
	bool ga = a->trend.verdict == VERDICT_GROWING, gb = b->trend.verdict == VERDICT_GROWING;

	if (ga != gb)
		return ga ? -1 : 1;
	if (ga && a->trend.slope != b->trend.slope)
		return a->trend.slope > b->trend.slope ? -1 : 1;
	return by_outstanding(pa, pb);
}

int report__holding(struct lw_site **sites, int nr)
{
	int kept = 0;

	for (int i = 0; i < nr; i++)
		if (sites[i]->allocs > 0 || sites[i]->bytes > 0)
			sites[kept++] = sites[i];
	return kept;
}

int report__pick_stacks(struct lw_site **sites, int nr, int top, bool summary)
{
	int kept = report__holding(sites, nr);

	if (summary) {
		/* the ranking needs every trend: once, at the end */
		for (int i = 0; i < kept; i++)
			series__trend(&sites[i]->series, &sites[i]->trend);
		if (kept > 1)
			qsort(sites, kept, sizeof(*sites), by_leak);
		return kept < top ? kept : top;
	}
	if (kept > 1)
		qsort(sites, kept, sizeof(*sites), by_outstanding);
	if (kept > top)
		kept = top;
	/* the trend costs O(window^2): only for what is shown */
	for (int i = 0; i < kept; i++)
		series__trend(&sites[i]->series, &sites[i]->trend);
	return kept;
}

static double rank_rate(const struct report_process *p)
{
	return p->heap_trend.rate > p->rss_trend.rate ? p->heap_trend.rate : p->rss_trend.rate;
}

static bool growing(const struct report_process *p)
{
	return p->heap_trend.verdict == VERDICT_GROWING || p->rss_trend.verdict == VERDICT_GROWING;
}

/* Whether a ranks before b. */
static bool ahead(const struct report_process *a, const struct report_process *b)
{
	if (a->alive != b->alive)
		return a->alive;
	if (growing(a) != growing(b))
		return growing(a);
	if (rank_rate(a) != rank_rate(b))
		return rank_rate(a) > rank_rate(b);
	return a->pid < b->pid;
}

void report__rank_processes(struct report_process *procs, int n)
{
	for (int i = 0; i < n; i++) {
		procs[i].rank = 1;
		for (int j = 0; j < n; j++)
			if (j != i && ahead(&procs[j], &procs[i]))
				procs[i].rank++;
	}
}
