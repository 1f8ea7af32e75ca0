// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "trend.h"

/* |tau| above this over the window is a consistent direction. */
#define TAU_TREND 0.5

void series__add(struct series *s, double t, int64_t bytes)
{
	s->t[s->head] = t;
	s->bytes[s->head] = bytes;
	s->head = (s->head + 1) % LW_SERIES_LEN;
	if (s->n < LW_SERIES_LEN)
		s->n++;
}

static unsigned int slot(const struct series *s, unsigned int i)
{
	return (s->head + LW_SERIES_LEN - s->n + i) % LW_SERIES_LEN;
}

int64_t series__bytes(const struct series *s, unsigned int i)
{
	return s->bytes[slot(s, i)];
}

double series__time(const struct series *s, unsigned int i)
{
	return s->t[slot(s, i)];
}

double series__tau(const struct series *s)
{
	long concordant = 0, pairs = 0;

	for (unsigned int i = 0; i < s->n; i++) {
		int64_t a = series__bytes(s, i);

		for (unsigned int j = i + 1; j < s->n; j++) {
			int64_t b = series__bytes(s, j);

			concordant += (b > a) - (b < a);
			pairs++;
		}
	}
	return pairs ? (double)concordant / pairs : 0;
}

double series__rate(const struct series *s)
{
	double dt;

	if (s->n < 2)
		return 0;
	dt = series__time(s, s->n - 1) - series__time(s, 0);
	if (dt <= 0)
		return 0;
	return (series__bytes(s, s->n - 1) - series__bytes(s, 0)) / dt;
}

enum verdict series__verdict(const struct series *s)
{
	double tau;

	if (s->n < LW_MIN_SAMPLES)
		return VERDICT_NEW;
	tau = series__tau(s);
	if (tau > TAU_TREND && series__bytes(s, s->n - 1) > series__bytes(s, 0))
		return VERDICT_GROWING;
	if (tau < -TAU_TREND && series__bytes(s, s->n - 1) < series__bytes(s, 0))
		return VERDICT_SHRINKING;
	return VERDICT_STEADY;
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
