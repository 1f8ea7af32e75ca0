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
