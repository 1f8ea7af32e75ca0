/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Per-stack history of outstanding bytes (one sample per report, the last
 * LW_SERIES_LEN kept) and the verdict drawn from it with rank statistics,
 * which a few outliers do not move:
 *
 *  - the growth rate is the Theil-Sen slope: the median of the slopes
 *    between every pair of samples;
 *  - whether the growth is real is a Mann-Kendall test: is the count of
 *    rising pairs minus falling pairs too large for chance (one-sided,
 *    p < 0.01, with the variance corrected for tied values)?
 *
 * "growing" needs both over the whole window, and a rise that goes on in
 * its recent half: a cache that filled and then stopped is "steady", as are
 * churn and a sawtooth (batches filled and released), whose pairs rise and
 * fall alike. "shrinking" is the mirror image; "new" is too few samples.
 */
#ifndef LW_TREND_H
#define LW_TREND_H

#include <stdint.h>

#define LW_SERIES_LEN 64
/* Fewer samples than this and a stack is "new". */
#define LW_MIN_SAMPLES 4

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
/* Sample i, 0 = oldest held. */
int64_t series__bytes(const struct series *s, unsigned int i);
double series__time(const struct series *s, unsigned int i);
/* Theil-Sen slope (bytes per second) of samples [from, n); 0 if < 2. */
double series__theil_sen(const struct series *s, unsigned int from);
/* Mann-Kendall z of samples [from, n); 0 if < 3. */
double series__mann_kendall(const struct series *s, unsigned int from);
/* The verdict and rates (O(n^2) in the window: call for what is shown). */
void series__trend(const struct series *s, struct trend *out);
const char *verdict__name(enum verdict v);

#endif
