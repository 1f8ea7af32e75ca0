// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "common/series.h"

void series__add(struct series *s, double t, int64_t bytes)
{
	s->t[s->head] = t;
	s->bytes[s->head] = bytes;
	s->head = (s->head + 1) % LW_SERIES_LEN;
	if (s->n < LW_SERIES_LEN)
		s->n++;
}

void series__add_spaced(struct series *s, double t, int64_t bytes, double min_gap)
{
	unsigned int last = (s->head + LW_SERIES_LEN - 1) % LW_SERIES_LEN;

	if (s->n && t - s->t[last] < min_gap) {
		s->t[last] = t;
		s->bytes[last] = bytes;
		return;
	}
	series__add(s, t, bytes);
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

void lookback__add(struct lookback *l, double span_s, double t, int64_t bytes)
{
	unsigned int last = (l->head + LW_LOOKBACK_LEN - 1) % LW_LOOKBACK_LEN;

	if (l->n && t - l->t[last] < span_s / LW_LOOKBACK_STEPS)
		return;
	l->t[l->head] = t;
	l->bytes[l->head] = bytes;
	l->head = (l->head + 1) % LW_LOOKBACK_LEN;
	if (l->n < LW_LOOKBACK_LEN)
		l->n++;
}

bool lookback__at(const struct lookback *l, double t, int64_t *bytes)
{
	/* newest first */
	for (unsigned int i = 0; i < l->n; i++) {
		unsigned int k = (l->head + LW_LOOKBACK_LEN - 1 - i) % LW_LOOKBACK_LEN;

		if (l->t[k] <= t) {
			*bytes = l->bytes[k];
			return true;
		}
	}
	return false;
}
