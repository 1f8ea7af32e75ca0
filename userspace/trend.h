/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Per-stack history of outstanding bytes (one sample per report, the last
 * LW_SERIES_LEN kept) and the verdict drawn from it. The verdict here is a
 * rank test on the window: a stack is "growing" only when later samples
 * are consistently above earlier ones, not on a single rise.
 */
#ifndef LW_TREND_H
#define LW_TREND_H

#include <stdint.h>

#define LW_SERIES_LEN 64
/* Fewer samples than this and a stack is "new". */
#define LW_MIN_SAMPLES 3

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

void series__add(struct series *s, double t, int64_t bytes);
/* Sample i, 0 = oldest held. */
int64_t series__bytes(const struct series *s, unsigned int i);
double series__time(const struct series *s, unsigned int i);
/* Kendall's tau of bytes against time over the window, in [-1, 1]. */
double series__tau(const struct series *s);
/* Bytes per second from the oldest to the newest sample held; 0 if < 2. */
double series__rate(const struct series *s);
enum verdict series__verdict(const struct series *s);
const char *verdict__name(enum verdict v);

#endif
