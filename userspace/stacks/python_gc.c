// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "stacks/python_gc.h"

const double py_gc_bucket_le[PY_GC_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1,
};

/* The all-time p99 from a log-linear histogram: 16 steps per power of two
 * (within 4.4 %); the interval's is exact, from its own pauses. */
#define SUB 16
#define OCTAVES 40

struct py_gc {
	bool available, started;
	bool frozen;                /* py_gc__freeze */
	char reason[512];
	const char *hook;
	int64_t base[LW_GC_STATS];  /* at start */
	int64_t now[LW_GC_STATS];   /* last read */
	int64_t garbage;
	struct series garbage_series;
	struct py_gc_pauses all;
	uint64_t hist[OCTAVES * SUB];
	uint64_t buckets[PY_GC_BUCKETS + 1];
	uint64_t *pauses;           /* this interval's, in ns */
	size_t n, cap;
	uint64_t dropped, unreadable;
};

struct py_gc *py_gc__new(void)
{
	struct py_gc *g = calloc(1, sizeof(*g));

	if (g)
		g->garbage = -1;
	return g;
}

void py_gc__free(struct py_gc *g)
{
	if (!g)
		return;
	free(g->pauses);
	free(g);
}

void py_gc__start(struct py_gc *g, const char *hook, const char *why_untimed,
		  const int64_t stats[LW_GC_STATS])
{
	g->available = g->started = true;
	g->hook = hook;
	snprintf(g->reason, sizeof(g->reason), "%s", hook ? "" : why_untimed);
	memcpy(g->base, stats, sizeof(g->base));
	memcpy(g->now, stats, sizeof(g->now));
}

void py_gc__unavailable(struct py_gc *g, const char *why)
{
	g->available = false;
	snprintf(g->reason, sizeof(g->reason), "%s", why);
}

static unsigned int hist_slot(uint64_t ns)
{
	unsigned int octave, sub;

	if (ns < SUB)
		return ns;
	octave = 63 - __builtin_clzll(ns);
	sub = (ns >> (octave - 4)) & (SUB - 1); /* the 4 bits below the top one */
	octave -= 3;
	return octave >= OCTAVES ? OCTAVES * SUB - 1 : octave * SUB + sub;
}

/* The largest value slot i holds. */
static uint64_t hist_value(unsigned int i)
{
	unsigned int octave = i / SUB, sub = i % SUB;

	if (octave == 0)
		return i;
	octave += 3;
	return ((uint64_t)(SUB + sub + 1) << (octave - 4)) - 1;
}

void py_gc__collection(struct py_gc *g, const struct lw_gc_event *e)
{
	uint64_t ns = e->duration_ns;
	int b = 0;

	if (!g->started)
		return;
	/* a call that collected nothing (3.13 enters the collector for that) */
	for (int gen = 0; gen < LW_GC_GENERATIONS && !b; gen++)
		b = e->after[3 * gen] != e->before[3 * gen];
	if (!b)
		return;
	g->all.n++;
	g->all.total_ns += ns;
	if (ns > g->all.max_ns)
		g->all.max_ns = ns;
	g->hist[hist_slot(ns)]++;
	for (b = 0; b < PY_GC_BUCKETS && ns > py_gc_bucket_le[b] * 1e9; b++)
		;
	g->buckets[b]++;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 256;
		uint64_t *v = realloc(g->pauses, cap * sizeof(*v));

		if (!v)
			return; /* the interval's p99 from what fitted */
		g->pauses = v;
		g->cap = cap;
	}
	g->pauses[g->n++] = ns;
}

void py_gc__freeze(struct py_gc *g)
{
	g->frozen = true;
}

void py_gc__read(struct py_gc *g, const int64_t stats[LW_GC_STATS], int64_t garbage,
		 uint64_t dropped, uint64_t unreadable)
{
	memcpy(g->now, stats, sizeof(g->now));
	g->garbage = garbage;
	g->dropped = dropped;
	g->unreadable = unreadable;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The nearest-rank 99th percentile of n values. */
static uint64_t rank99(uint64_t n)
{
	return (n * 99 + 99) / 100; /* ceil(0.99 n), 1-based */
}

void py_gc__report(struct py_gc *g, struct py_gc_report *out)
{
	uint64_t seen = 0, want;
	struct timespec now;

	memset(out, 0, sizeof(*out));
	out->available = g->available;
	out->reason = g->reason[0] ? g->reason : NULL;
	out->garbage = -1;
	if (!g->available)
		return;
	out->hook = g->hook;
	out->timed = g->hook != NULL;
	for (int gen = 0; gen < LW_GC_GENERATIONS; gen++) {
		out->collections[gen] = g->now[3 * gen] - g->base[3 * gen];
		out->collected[gen] = g->now[3 * gen + 1] - g->base[3 * gen + 1];
		out->uncollectable[gen] = g->now[3 * gen + 2] - g->base[3 * gen + 2];
		out->process_collections[gen] = g->now[3 * gen];
		out->process_collected[gen] = g->now[3 * gen + 1];
		out->process_uncollectable[gen] = g->now[3 * gen + 2];
	}
	out->pauses = g->all;
	want = rank99(g->all.n);
	for (unsigned int i = 0; g->all.n && i < OCTAVES * SUB; i++) {
		seen += g->hist[i];
		if (seen >= want) {
			out->pauses.p99_ns = hist_value(i) < g->all.max_ns ? hist_value(i) : g->all.max_ns;
			break;
		}
	}
	memcpy(out->buckets, g->buckets, sizeof(out->buckets));
	if (g->n) {
		qsort(g->pauses, g->n, sizeof(*g->pauses), cmp_u64);
		out->interval.n = g->n;
		for (size_t i = 0; i < g->n; i++)
			out->interval.total_ns += g->pauses[i];
		out->interval.max_ns = g->pauses[g->n - 1];
		out->interval.p99_ns = g->pauses[rank99(g->n) - 1];
		g->n = 0;
	}
	out->garbage = g->garbage;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (g->garbage >= 0 && !g->frozen)
		series__add(&g->garbage_series, now.tv_sec + now.tv_nsec / 1e9, g->garbage);
	out->garbage_series = &g->garbage_series;
	out->dropped = g->dropped;
	out->unreadable = g->unreadable;
}
