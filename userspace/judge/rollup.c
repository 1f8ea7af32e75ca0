// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "common/hashmap.h"
#include "judge/report.h"
#include "judge/rollup.h"

static const char *exe_of(const struct report_process *procs, int nr, pid_t pid)
{
	for (int i = 0; i < nr; i++)
		if (procs[i].pid == pid)
			return procs[i].exe && procs[i].exe[0] ? procs[i].exe : NULL;
	return NULL;
}

/* Adds a site's series to the sum, aligned from the latest sample: every
 * site gets one sample per report, so the k-th latest samples are of the
 * same report. */
static void add_series(struct series *sum, const struct series *s)
{
	struct series out = {};
	unsigned int n = sum->n > s->n ? sum->n : s->n;

	for (unsigned int i = 0; i < n; i++) {
		/* i-th oldest of the longer one */
		unsigned int back = n - 1 - i;
		int64_t b = 0;
		double t = 0;

		if (back < sum->n) {
			b += series__bytes(sum, sum->n - 1 - back);
			t = series__time(sum, sum->n - 1 - back);
		}
		if (back < s->n) {
			b += series__bytes(s, s->n - 1 - back);
			t = series__time(s, s->n - 1 - back);
		}
		series__add(&out, t, b);
	}
	*sum = out;
}

static int by_bytes(const void *pa, const void *pb)
{
	const struct rollup *a = pa, *b = pb;

	if (a->bytes != b->bytes)
		return a->bytes > b->bytes ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static int by_leak(const void *pa, const void *pb)
{
	const struct rollup *a = pa, *b = pb;
	bool ga = a->trend.verdict == VERDICT_GROWING, gb = b->trend.verdict == VERDICT_GROWING;

	if (ga != gb)
		return ga ? -1 : 1;
	if (ga && a->trend.rate != b->trend.rate)
		return a->trend.rate > b->trend.rate ? -1 : 1;
	return by_bytes(pa, pb);
}

int rollup__build(struct lw_site *const *sites, int nr_sites, const struct report_process *procs,
		  int nr_procs, int top, bool summary, struct rollup **out)
{
	struct hashmap *index = hashmap__new();
	struct rollup *v = NULL;
	int n = 0, cap = 0, kept = 0;

	*out = NULL;
	if (nr_procs < 2) {
		/* nothing to roll up */
		hashmap__free(index);
		return 0;
	}
	if (!index)
		return -ENOMEM;
	for (int i = 0; i < nr_sites; i++) {
		const struct lw_site *s = sites[i];
		const char *exe = exe_of(procs, nr_procs, s->pid);
		struct lw_key key;
		struct rollup *r;
		uintptr_t at;

		if (!exe)
			continue;
		/* (stack, category, executable) */
		key.a = s->id;
		key.b = s->category;
		for (const char *c = exe; *c; c++)
			key.b = (key.b ^ (unsigned char)*c) * 0x100000001b3ULL;
		at = (uintptr_t)hashmap__get(index, key);
		if (at && !strcmp(v[at - 1].exe, exe)) {
			r = &v[at - 1];
		} else {
			if (n == cap) {
				int want = cap ? cap * 2 : 64;
				struct rollup *grown = realloc(v, want * sizeof(*v));

				if (!grown)
					goto nomem;
				v = grown;
				cap = want;
			}
			if (hashmap__set(index, key, (void *)(uintptr_t)(n + 1)))
				goto nomem;
			r = &v[n++];
			memset(r, 0, sizeof(*r));
			r->exe = exe;
			r->id = s->id;
			r->category = s->category;
			r->example = s;
		}
		if (r->nr_procs < LW_ROLLUP_PIDS)
			r->pids[r->nr_procs] = s->pid;
		r->nr_procs++;
		r->bytes += s->bytes;
		r->allocs += s->allocs;
		/* series are summed only for stacks of several processes: most
		 * stacks have one, and summing costs the whole window */
		if (r->nr_procs == 2)
			add_series(&r->series, &r->example->series);
		if (r->nr_procs >= 2)
			add_series(&r->series, &s->series);
	}
	/* several processes of one program only */
	for (int i = 0; i < n; i++)
		if (v[i].nr_procs >= 2)
			v[kept++] = v[i];
	for (int i = 0; i < kept; i++) {
		series__trend(&v[i].series, &v[i].trend);
		v[i].rate_per_process = v[i].trend.rate / v[i].nr_procs;
	}
	if (kept > 1)
		qsort(v, kept, sizeof(*v), summary ? by_leak : by_bytes);
	hashmap__free(index);
	if (!kept) {
		free(v);
		v = NULL;
	}
	*out = v;
	return kept < top ? kept : top;
nomem:
	hashmap__free(index);
	free(v);
	return -ENOMEM;
}
