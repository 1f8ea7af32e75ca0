/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * CPython's garbage collector in one watched process, from outside: the
 * counts gc.get_stats() gives (read from the interpreter's memory at each
 * report, so they are exact whatever was lost), the pause of every
 * collection (bpf/python_gc.bpf.h sends each one), and the length of
 * gc.garbage, the objects a collection found but could not free (or kept:
 * gc.DEBUG_SAVEALL). pystacks.c owns one per interpreter it walks.
 */
#ifndef LW_PYTHON_GC_H
#define LW_PYTHON_GC_H

#include <stdbool.h>
#include <stdint.h>
#include "common/series.h"
#include "leakwatch.h"

/* Prometheus' pause histogram: upper bounds in seconds (then +Inf). */
#define PY_GC_BUCKETS 10
extern const double py_gc_bucket_le[PY_GC_BUCKETS];

struct py_gc_pauses {
	uint64_t n;                /* collections timed */
	uint64_t total_ns, max_ns, p99_ns;
};

struct py_gc_report {
	bool available;            /* false: nothing is known, reason says why */
	const char *reason;        /* not available, or why pauses are not timed */
	const char *hook;          /* "usdt", "function", NULL: pauses not timed */
	/* since leakwatch began watching the interpreter, per generation */
	int64_t collections[LW_GC_GENERATIONS];
	int64_t collected[LW_GC_GENERATIONS];
	int64_t uncollectable[LW_GC_GENERATIONS];
	/* since the process started: what gc.get_stats() says */
	int64_t process_collections[LW_GC_GENERATIONS];
	int64_t process_collected[LW_GC_GENERATIONS];
	int64_t process_uncollectable[LW_GC_GENERATIONS];
	bool timed;                /* the pauses below are measured */
	struct py_gc_pauses pauses;   /* since watching began */
	struct py_gc_pauses interval; /* since the last report */
	uint64_t buckets[PY_GC_BUCKETS + 1]; /* pauses per bucket (not cumulative), +Inf last */
	int64_t garbage;           /* len(gc.garbage); -1: unknown */
	const struct series *garbage_series; /* its history, one sample a report */
	struct trend garbage_trend; /* judged from it (judge/report_build.c) */
	uint64_t dropped;          /* collections not sent: the ring buffer was full */
	uint64_t unreadable;       /* collections whose statistics could not be read */
};

struct py_gc;

struct py_gc *py_gc__new(void);
void py_gc__free(struct py_gc *g);
/* Watched from now: hook and why_untimed as py_target__gc gave them;
 * stats is gc.get_stats() now, the baseline of "since watching". */
void py_gc__start(struct py_gc *g, const char *hook, const char *why_untimed,
		  const int64_t stats[LW_GC_STATS]);
/* Not watched: why, said in every report instead of counts. */
void py_gc__unavailable(struct py_gc *g, const char *why);
/* One collection, from the BPF side. */
void py_gc__collection(struct py_gc *g, const struct lw_gc_event *e);
/* The statistics and gc.garbage's length read now (at a report, or as the
 * interpreter begins finalizing: later reads keep these), and the BPF
 * side's counts of what it could not send. */
void py_gc__read(struct py_gc *g, const int64_t stats[LW_GC_STATS], int64_t garbage,
		 uint64_t dropped, uint64_t unreadable);
/* The interpreter began finalizing: what was read then is its last word,
 * and the reports after it add nothing to gc.garbage's history (the
 * program's teardown is no plateau of its own). */
void py_gc__freeze(struct py_gc *g);
/* The report's view; starts a new interval. */
void py_gc__report(struct py_gc *g, struct py_gc_report *out);

#endif
