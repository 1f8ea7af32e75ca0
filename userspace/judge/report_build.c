// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include <string.h>
#include "common/exitcodes.h"
#include "common/messages.h"
#include "judge/report_build.h"
#include "judge/rollup.h"
#include "targets/memory.h"
#include "common/proc.h"

static void add_stats(const struct lw_stats_key *key, const struct lw_stats *val, void *ctx)
{
	stack_table__add(ctx, key, val);
}

static void add_counts(struct report_counts *to, const struct report_counts *c)
{
	to->outstanding_bytes += c->outstanding_bytes;
	to->outstanding_allocs += c->outstanding_allocs;
	to->alloc_calls += c->alloc_calls;
	to->granules_touched += c->granules_touched;
	to->granules_given_back += c->granules_given_back;
	to->free_calls += c->free_calls;
	to->recorded += c->recorded;
	to->bytes_older += c->bytes_older;
	for (int i = 0; i < LW_LOST_NR; i++)
		to->lost[i] += c->lost[i];
}

int report__build(struct report *r, const struct report_inputs *in, bool summary)
{
	struct report_process *procs = calloc(in->nr_targets + 1, sizeof(*procs));
	struct lw_site **sites = NULL, *site;
	size_t pos = 0, nr_sites = 0, cap = 0;
	int err;

	*r = (struct report){ .summary = summary, .procs = procs, .nr_procs = in->nr_targets,
			      .wide = in->wide, .kernel = in->kernel,
			      .growth = tracer__growth(in->tracer) };
	if (!procs) {
		lw_say("out of memory");
		return LW_EXIT_FAILURE;
	}
	clock_gettime(CLOCK_REALTIME, &r->when);
	r->elapsed_s = in->elapsed_s;
	symbolizer__new_round(in->sym);
	stack_table__begin_round(in->stacks);
	err = tracer__read_stats(in->tracer, add_stats, in->stacks);
	if (err) {
		lw_say("cannot read the per-stack map: %s", strerror(-err));
		free(procs);
		return LW_EXIT_FAILURE;
	}
	/* the summary right after a report: the same point, not another */
	stack_table__end_round(in->stacks, r->elapsed_s, in->interval_s / 2);
	stack_table__ages(in->stacks, in->now_s, r->elapsed_s, tracer__age_epoch_s(in->tracer),
			  in->min_age_s);

	for (int i = 0; i < in->nr_targets; i++) {
		struct target *t = &in->targets[i];
		struct report_process *p = &procs[i];
		struct lw_proc_counters c;

		p->rss_bytes = t->alive ? proc__rss_bytes(t->pid) : -1;
		if (p->rss_bytes < 0)
			t->alive = false;
		p->pid = t->pid;
		memcpy(p->comm, t->comm, sizeof(p->comm));
		p->alive = t->alive;
		p->started = t->started;
		p->parent = t->parent;
		p->exe = t->exe;
		p->ns_pid = t->ns_pid;
		p->left = t->left;
		p->exit_status = t->exit_status;
		p->exit_signal = t->exit_signal;
		tracer__read_proc(in->tracer, t->pid, &c);
		p->counts.alloc_calls = c.alloc_calls;
		p->counts.granules_touched = c.granules_touched;
		p->counts.granules_given_back = c.granules_given_back;
		p->counts.free_calls = c.free_calls;
		memcpy(p->counts.lost, c.lost, sizeof(c.lost));
		p->counts.lost[LW_LOST_UNATTACHED_WINDOW] += t->ran_unwatched;
		py_stacks__report(in->py, t->pid, &p->python);
		if (p->python.gc.garbage_series)
			series__trend(p->python.gc.garbage_series, &p->python.gc.garbage_trend);
	}
	while ((site = stack_table__next(in->stacks, &pos))) {
		if (nr_sites == cap) {
			size_t want = cap ? cap * 2 : 256;
			struct lw_site **v = realloc(sites, want * sizeof(*v));

			if (!v) {
				free(sites);
				free(procs);
				lw_say("out of memory");
				return LW_EXIT_FAILURE;
			}
			sites = v;
			cap = want;
		}
		sites[nr_sites++] = site;
		/* a zoom window's per-call stacks are not part of what grew */
		if (r->growth && site->category != LW_CAT_RESIDENT)
			continue;
		for (int i = 0; i < in->nr_targets; i++) {
			if (procs[i].pid == site->pid) {
				procs[i].counts.outstanding_bytes += site->bytes;
				procs[i].counts.outstanding_allocs += site->allocs;
				procs[i].counts.recorded += site->total_allocs;
				procs[i].counts.bytes_older += site->bytes_older;
			}
		}
	}
	for (int i = 0; i < in->nr_targets; i++) {
		struct target *t = &in->targets[i];
		struct trend rss, heap;

		add_counts(&r->totals, &procs[i].counts);
		procs[i].cgroup_bytes = t->alive ? memory__cgroup_bytes(t->pid) : -1;
		if (t->alive) {
			series__add_spaced(&t->rss, r->elapsed_s, procs[i].rss_bytes,
					   in->interval_s / 2);
			series__add_spaced(&t->heap, r->elapsed_s, procs[i].counts.outstanding_bytes,
					   in->interval_s / 2);
		}
		series__trend(&t->rss, &rss);
		series__trend(&t->heap, &heap);
		procs[i].rss_trend = rss;
		procs[i].heap_trend = heap;
		if (t->alive)
			report__memory_note(&rss, &heap, r->growth, procs[i].note,
					    sizeof(procs[i].note));
	}
	report__rank_processes(procs, in->nr_targets);
	if (in->sample_every)
		r->sampling = (struct report_sampling){ "every", in->sample_every };
	else if (in->sample_bytes)
		r->sampling = (struct report_sampling){ "bytes", in->sample_bytes };
	r->stacks = sites;
	r->min_age_s = in->min_age_s;
	if (in->since_s > 0)
		r->since_s = in->since_s < r->elapsed_s ? in->since_s : r->elapsed_s;
	if (r->min_age_s > 0) {
		/* only what is older than the minimum age: leaks are old */
		size_t kept = 0;

		for (size_t i = 0; i < nr_sites; i++)
			if (sites[i]->bytes_older > 0)
				sites[kept++] = sites[i];
		nr_sites = kept;
	}
	nr_sites = report__holding(sites, nr_sites);
	r->nr_stacks = report__pick_stacks(sites, nr_sites, in->top, summary);
	r->all_stacks = sites;
	r->nr_all_stacks = nr_sites;
	r->nr_rollups = rollup__build(sites, nr_sites, procs, in->nr_targets, in->top, summary,
				     &r->rollups);
	if (r->nr_rollups < 0)
		r->nr_rollups = 0; /* out of memory: the per-process stacks still go out */
	if (in->groups) {
		r->group_by = group_table__by(in->groups);
		r->nr_groups = group_table__report(in->groups, sites, nr_sites, r->elapsed_s,
						   in->interval_s / 2, in->top,
						   summary, &r->groups);
		if (r->nr_groups < 0)
			r->nr_groups = 0; /* out of memory: the stacks still go out */
	}
	r->interval_s = in->interval_s;
	symbolizer__worker_stats(in->sym, &r->symbolizer);
	unwinder__stats(in->unwind, r->all_stacks, r->nr_all_stacks, &r->unwind);
	return 0;
}

void report__done(struct report *r, struct stack_table *stacks)
{
	struct lw_site *site;
	size_t pos = 0;

	/* deltas in the next report are against this one */
	while ((site = stack_table__next(stacks, &pos)))
		site->reported_bytes = site->bytes;
	free(r->rollups);
	free(r->groups);
	free(r->all_stacks);
	free(r->procs);
}
