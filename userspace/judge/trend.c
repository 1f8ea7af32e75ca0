// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <math.h>
#include <stdlib.h>
#include "judge/trend.h"

/* One-sided p < 0.01 under the normal approximation. */
#define Z_SIGNIFICANT 2.326

/* The k-th smallest of v[0..n) (quickselect; reorders v). The partition is
 * three-way: a steady series' slopes are nearly all equal, and a two-way
 * partition takes quadratic time on them. */
static double select_kth(double *v, int n, int k)
{
	int lo = 0, hi = n - 1;

	while (lo < hi) {
		double pivot = v[lo + (hi - lo) / 2], tmp;
		int lt = lo, i = lo, gt = hi;

		/* v[lo..lt) < pivot, v[lt..i) == pivot, v(gt..hi] > pivot */
		while (i <= gt) {
			if (v[i] < pivot) {
				tmp = v[i];
				v[i++] = v[lt];
				v[lt++] = tmp;
			} else if (v[i] > pivot) {
				tmp = v[i];
				v[i] = v[gt];
				v[gt--] = tmp;
			} else {
				i++;
			}
		}
		if (k < lt)
			hi = lt - 1;
		else if (k > gt)
			lo = gt + 1;
		else
			return pivot;
	}
	return v[k];
}

double series__theil_sen(const struct series *s, unsigned int from)
{
	static double slopes[LW_SERIES_LEN * (LW_SERIES_LEN - 1) / 2];
	int n = 0;
	double lower;

	for (unsigned int i = from; i < s->n; i++) {
		for (unsigned int j = i + 1; j < s->n; j++) {
			double dt = series__time(s, j) - series__time(s, i);

			if (dt > 0)
				slopes[n++] = (series__bytes(s, j) - series__bytes(s, i)) / dt;
		}
	}
	if (!n)
		return 0;
	lower = select_kth(slopes, n, (n - 1) / 2);
	if (n % 2)
		return lower;
	/* even count: the mean of the two middle slopes */
	return (lower + select_kth(slopes, n, n / 2)) / 2;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

double series__mann_kendall(const struct series *s, unsigned int from)
{
	int64_t sorted[LW_SERIES_LEN];
	unsigned int n = s->n > from ? s->n - from : 0;
	double var, stat = 0;

	if (n < 3)
		return 0;
	for (unsigned int i = from; i < s->n; i++) {
		int64_t a = series__bytes(s, i);

		sorted[i - from] = a;
		for (unsigned int j = i + 1; j < s->n; j++) {
			int64_t b = series__bytes(s, j);

			stat += (b > a) - (b < a);
		}
	}
	/* variance of the statistic without a trend, less what ties remove */
	var = n * (n - 1.0) * (2.0 * n + 5) / 18;
	qsort(sorted, n, sizeof(sorted[0]), cmp_i64);
	for (unsigned int i = 0, j; i < n; i = j) {
		double t;

		for (j = i + 1; j < n && sorted[j] == sorted[i]; j++)
			;
		t = j - i;
		var -= t * (t - 1) * (2 * t + 5) / 18;
	}
	if (var <= 0 || stat == 0)
		return 0;
	/* continuity correction */
	return (stat > 0 ? stat - 1 : stat + 1) / sqrt(var);
}

void series__trend(const struct series *s, struct trend *out)
{
	unsigned int half = s->n / 2;

	out->verdict = VERDICT_NEW;
	out->slope = out->rate = series__theil_sen(s, 0);
	out->recent_slope = series__theil_sen(s, half);
	out->z = series__mann_kendall(s, 0);
	if (s->n < LW_MIN_SAMPLES)
		return;
	if (out->z >= Z_SIGNIFICANT && out->slope > 0 && out->recent_slope > 0)
		out->verdict = VERDICT_GROWING;
	else if (out->z <= -Z_SIGNIFICANT && out->slope < 0 && out->recent_slope < 0)
		out->verdict = VERDICT_SHRINKING;
	else
		out->verdict = VERDICT_STEADY;
	out->rate = out->verdict == VERDICT_STEADY ? out->recent_slope : out->slope;
}

const char *verdict__name(enum verdict v)
{
	switch (v) {
	case VERDICT_GROWING:
		return "growing";
	case VERDICT_STEADY:
		return "steady";
	case VERDICT_SHRINKING:
		return "shrinking";
	default:
		return "new";
	}
}
