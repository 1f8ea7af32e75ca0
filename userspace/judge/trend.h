/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The verdict drawn from a series (common/series.h) with rank statistics,
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

#include "common/series.h"

/* Theil-Sen slope (bytes per second) of samples [from, n); 0 if < 2. */
double series__theil_sen(const struct series *s, unsigned int from);
/* Mann-Kendall z of samples [from, n); 0 if < 3. */
double series__mann_kendall(const struct series *s, unsigned int from);
/* The verdict and rates (O(n^2) in the window: call for what is shown). */
void series__trend(const struct series *s, struct trend *out);
const char *verdict__name(enum verdict v);

#endif
