// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include <string.h>
#include "common/hashmap.h"
#include "common/messages.h"
#include "judge/zoom.h"

struct zoomer {
	double window_s;
	int per;
	int active;              /* windows open now */
	struct hashmap *by_pid;  /* pid -> struct zoom_window */
};

struct zoomer *zoomer__new(double window_s, int per)
{
	struct zoomer *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	z->window_s = window_s;
	z->per = per > 0 ? per : 1;
	z->by_pid = hashmap__new();
	if (!z->by_pid) {
		free(z);
		return NULL;
	}
	return z;
}

void zoomer__free(struct zoomer *z)
{
	struct zoom_window *w;
	size_t pos = 0;

	if (!z)
		return;
	while ((w = hashmap__next(z->by_pid, &pos, NULL)))
		free(w);
	hashmap__free(z->by_pid);
	free(z);
}

const struct zoom_window *zoomer__window(const struct zoomer *z, pid_t pid)
{
	struct lw_key key = { (uint64_t)pid, 0 };

	return z ? hashmap__get(z->by_pid, key) : NULL;
}

static void end_window(struct zoomer *z, struct tracer *tracer, pid_t pid, struct zoom_window *w,
		       double t_s)
{
	tracer__zoom_end(tracer, pid);
	w->state = ZOOM_DONE;
	w->end_s = t_s;
	z->active--;
}

void zoomer__end_all(struct zoomer *z, struct tracer *tracer, double t_s)
{
	struct zoom_window *w;
	struct lw_key key;
	size_t pos = 0;

	if (!z)
		return;
	while ((w = hashmap__next(z->by_pid, &pos, &key)))
		if (w->state == ZOOM_ACTIVE)
			end_window(z, tracer, (pid_t)key.a, w, t_s);
}

static bool growing(const struct report_process *p)
{
	return p->alive && (p->heap_trend.verdict == VERDICT_GROWING ||
			    p->rss_trend.verdict == VERDICT_GROWING);
}

static const struct target *target_of(const struct target *targets, int nr, pid_t pid)
{
	for (int i = 0; i < nr; i++)
		if (targets[i].pid == pid)
			return &targets[i];
	return NULL;
}

void zoomer__step(struct zoomer *z, struct tracer *tracer, const struct target *targets,
		  int nr_targets, const struct report *r, double t_s, int verbose)
{
	int limit = (nr_targets + z->per - 1) / z->per;
	struct zoom_window *w;
	struct lw_key key;
	size_t pos = 0;

	if (limit < 1)
		limit = 1;
	while ((w = hashmap__next(z->by_pid, &pos, &key))) {
		const struct target *t = target_of(targets, nr_targets, (pid_t)key.a);

		if (w->state == ZOOM_ACTIVE && (t_s >= w->start_s + z->window_s || !t || !t->alive))
			end_window(z, tracer, (pid_t)key.a, w, t_s);
	}
	/* the processes in rank order: the fastest growing first */
	for (int rank = 1; rank <= r->nr_procs && z->active < limit; rank++) {
		const struct report_process *p = NULL;
		const struct target *t;
		struct lw_key k;
		char why[160];

		for (int i = 0; i < r->nr_procs; i++)
			if (r->procs[i].rank == rank)
				p = &r->procs[i];
		if (!p || !growing(p) || zoomer__window(z, p->pid))
			continue;
		t = target_of(targets, nr_targets, p->pid);
		if (!t)
			continue;
		w = calloc(1, sizeof(*w));
		k = (struct lw_key){ (uint64_t)p->pid, 0 };
		if (!w || hashmap__set(z->by_pid, k, w)) {
			free(w);
			return;
		}
		w->start_s = t_s;
		if (!t->plan || !t->plan->nr_objects) {
			w->state = ZOOM_UNAVAILABLE;
			snprintf(w->why, sizeof(w->why), "no allocator found in it to probe");
		} else if (tracer__zoom(tracer, p->pid, t->plan, why, sizeof(why))) {
			w->state = ZOOM_UNAVAILABLE;
			snprintf(w->why, sizeof(w->why), "%s", why);
		} else {
			w->state = ZOOM_ACTIVE;
			z->active++;
		}
		if (verbose || w->state == ZOOM_UNAVAILABLE)
			lw_say("zoom: PID %d grows: %s", p->pid, w->state == ZOOM_ACTIVE ?
			       "every allocator call counted for a while" : w->why);
	}
}
