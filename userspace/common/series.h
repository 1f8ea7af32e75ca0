/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A history of outstanding bytes, one sample per report (the last
 * LW_SERIES_LEN kept), and the types of what is judged of it: kept by each
 * stack (stacks/stacks.h) and each process (targets/targets.h), judged by
 * judge/trend.h.
 */
#ifndef LW_SERIES_H
#define LW_SERIES_H

#include <stdbool.h>
#include <stdint.h>

#define LW_SERIES_LEN 64
/*
 * Fewer samples than this and a stack is "new": the trend test (one-sided
 * p < 0.01) cannot call even a series that rises every sample growing on
 * fewer than 6, so judging sooner would call such a leak steady.
 */
#define LW_MIN_SAMPLES 6

struct series {
	double t[LW_SERIES_LEN];        /* seconds since watching began */
	int64_t bytes[LW_SERIES_LEN];
	unsigned int n;                 /* samples held, <= LW_SERIES_LEN */
	unsigned int head;              /* next slot to write */
};

enum verdict {
	VERDICT_NEW,
	VERDICT_GROWING,
	VERDICT_STEADY,
	VERDICT_SHRINKING,
};

struct trend {
	enum verdict verdict;
	double rate;         /* what to show as the growth: slope when growing or
			      * shrinking, else recent_slope (a cache that filled
			      * and stopped grows at 0 now) */
	double slope;        /* Theil-Sen, bytes per second over the window */
	double recent_slope; /* the same over its recent half */
	double z;            /* Mann-Kendall statistic over the window */
};

void series__add(struct series *s, double t, int64_t bytes);
/* The same, except that a sample less than min_gap after the last one (the
 * summary right after a report) takes the last one's place: a second,
 * near-duplicate point would flatten the tail of every trend. */
void series__add_spaced(struct series *s, double t, int64_t bytes, double min_gap);
/* Sample i, 0 = oldest held. */
int64_t series__bytes(const struct series *s, unsigned int i);
double series__time(const struct series *s, unsigned int i);

/*
 * --since: a sparser history reaching back a span, so a report can say how
 * much a stack grew since the report that long ago. Samples are kept at
 * least span / LW_LOOKBACK_STEPS apart: the one found is at most that much
 * older than asked.
 */
#define LW_LOOKBACK_STEPS 16
#define LW_LOOKBACK_LEN (LW_LOOKBACK_STEPS + 4)

struct lookback {
	double t[LW_LOOKBACK_LEN];
	int64_t bytes[LW_LOOKBACK_LEN];
	unsigned int n, head;
};

void lookback__add(struct lookback *l, double span_s, double t, int64_t bytes);
/* The bytes of the latest sample at or before t: true, or false when
 * every sample is later (the stack appeared after t). */
bool lookback__at(const struct lookback *l, double t, int64_t *bytes);

#endif
