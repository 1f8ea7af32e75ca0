// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* JSON lines, schema 1 (DESIGN.md): one object per report, flushed. */
#include <inttypes.h>
#include "outputs/json_writer.h"
#include "outputs/report_json.h"
#include "judge/zoom.h"
#include "stacks/unwind.h"

void report_json__begin(struct jw *w, FILE *f, const struct report *r)
{
	jw_init(w, f);
	jw_object(w, NULL);
	jw_string(w, "type", r->summary ? "summary" : "interval");
}

void report_json__time_members(struct jw *w, const struct report *r)
{
	char when[32];

	report__time(r, when, sizeof(when));
	jw_string(w, "time", when);
	jw_double(w, "elapsed_s", r->elapsed_s);
}

void report_json__count_members(struct jw *w, const struct report_counts *c, bool growth)
{
	jw_int(w, "outstanding_bytes", c->outstanding_bytes);
	if (growth) {
		/* no allocator call is seen: counts of granules instead */
		jw_null(w, "outstanding_allocs");
		jw_null(w, "alloc_calls");
		jw_null(w, "free_calls");
		jw_uint(w, "granules_touched", c->granules_touched);
		jw_uint(w, "granules_given_back", c->granules_given_back);
	} else {
		jw_int(w, "outstanding_allocs", c->outstanding_allocs);
		jw_uint(w, "alloc_calls", c->alloc_calls);
		jw_uint(w, "free_calls", c->free_calls);
	}
	jw_uint(w, "lost_events", report_counts__lost(c));
}

static void counts(struct jw *w, const char *key, const struct report_counts *c,
		   const struct report *r)
{
	const struct report_sampling *sampling = &r->sampling;

	jw_object(w, key);
	report_json__count_members(w, c, r->growth);
	if (r->min_age_s > 0)
		jw_int(w, "bytes_older_than_min_age", c->bytes_older);
	if (sampling->mode) {
		jw_double(w, "sample_rate", report_counts__sample_rate(c, sampling));
		jw_object(w, "sampling");
		jw_string(w, "mode", sampling->mode);
		jw_uint(w, "value", sampling->value);
		jw_object_end(w);
	} else {
		jw_int(w, "sample_rate", 1);
	}
	jw_object(w, "lost");
	for (int i = 0; i < LW_LOST_NR; i++)
		jw_uint(w, lw_lost_names[i], c->lost[i]);
	jw_object_end(w);
	if (c == &r->totals && r->unwind.mode) {
		if (r->unwind.stack_quality >= 0)
			jw_double(w, "stack_quality", r->unwind.stack_quality);
		else
			jw_null(w, "stack_quality");
		if (r->unwind.verifying) {
			jw_object(w, "stack_verify");
			jw_uint(w, "compared", r->unwind.verified);
			jw_uint(w, "agreed", r->unwind.agreed);
			jw_uint(w, "unverifiable", r->unwind.unverifiable);
			jw_uint(w, "dropped", r->unwind.dropped);
			jw_object_end(w);
		}
	}
	jw_object_end(w);
}

/* Which unwinder serves which module. */
static void unwind(struct jw *w, const struct report_unwind *u)
{
	jw_object(w, "unwind");
	jw_string(w, "mode", u->mode);
	jw_uint(w, "table_bytes", u->table_bytes);
	jw_array(w, "modules");
	for (size_t i = 0; i < u->nr_modules; i++) {
		const struct unwind_module *m = &u->modules[i];

		jw_object(w, NULL);
		jw_string(w, "module", m->path);
		jw_string(w, "build_id", m->build_id[0] ? m->build_id : NULL);
		jw_bool(w, "frame_pointers", m->has_fp);
		jw_bool(w, "cfi", m->has_cfi);
		jw_string(w, "unwinder", m->by_cfi ? "cfi" : "fp");
		jw_uint(w, "table_bytes", m->table_bytes);
		jw_uint(w, "text_bytes", m->text_bytes);
		jw_object_end(w);
	}
	jw_array_end(w);
	jw_object_end(w);
}

static void per_generation(struct jw *w, const char *name, const int64_t v[LW_GC_GENERATIONS])
{
	jw_array(w, name);
	for (int g = 0; g < LW_GC_GENERATIONS; g++)
		jw_int(w, NULL, v[g]);
	jw_array_end(w);
}

static void pauses(struct jw *w, const char *name, const struct py_gc_pauses *p)
{
	jw_object(w, name);
	jw_uint(w, "count", p->n);
	jw_uint(w, "total", p->total_ns);
	jw_uint(w, "max", p->max_ns);
	jw_uint(w, "p99", p->p99_ns);
	jw_object_end(w);
}

/* Its garbage collector (python_gc.h): counts since watching began, the
 * process's own totals (gc.get_stats()), the pauses, gc.garbage. */
static void python_gc(struct jw *w, const struct py_gc_report *gc)
{
	jw_object(w, "gc");
	jw_bool(w, "available", gc->available);
	if (gc->reason)
		jw_string(w, "reason", gc->reason);
	if (!gc->available) {
		jw_object_end(w);
		return;
	}
	per_generation(w, "collections", gc->collections);
	per_generation(w, "collected", gc->collected);
	per_generation(w, "uncollectable", gc->uncollectable);
	jw_object(w, "process");
	per_generation(w, "collections", gc->process_collections);
	per_generation(w, "collected", gc->process_collected);
	per_generation(w, "uncollectable", gc->process_uncollectable);
	jw_object_end(w);
	if (gc->timed) {
		jw_string(w, "timed_at", gc->hook);
		pauses(w, "pause_ns", &gc->pauses);
		pauses(w, "interval_pause_ns", &gc->interval);
	} else {
		jw_null(w, "pause_ns");
	}
	if (gc->garbage >= 0) {
		jw_int(w, "garbage", gc->garbage);
		jw_string(w, "garbage_verdict", verdict__name(gc->garbage_trend.verdict));
		jw_double(w, "garbage_growth_per_s", gc->garbage_trend.rate);
	} else {
		jw_null(w, "garbage");
	}
	jw_uint(w, "dropped", gc->dropped);
	jw_uint(w, "unreadable", gc->unreadable);
	jw_object_end(w);
}

/* The process's interpreter, when it has one: walked, or why not. */
static void python(struct jw *w, const struct py_report *py)
{
	char version[16];

	if (!py->present && !py->unsupported && !py->pending)
		return;
	jw_object(w, "python");
	if (py->pending) {
		jw_string(w, "pending", py->pending);
		jw_object_end(w);
		return;
	}
	if (py->unsupported) {
		jw_string(w, "unsupported", py->unsupported);
		jw_object_end(w);
		return;
	}
	snprintf(version, sizeof(version), "%u.%u.%u", py->version_hex >> 24,
		 (py->version_hex >> 16) & 255, (py->version_hex >> 8) & 255);
	jw_string(w, "version", version);
	jw_string(w, "module", py->module);
	if (py->finalized)
		jw_bool(w, "finalized", true);
	if (py->pymalloc)
		jw_string(w, "pymalloc", py->pymalloc);
	if (py->pymalloc_why)
		jw_string(w, "pymalloc_why", py->pymalloc_why);
	jw_uint(w, "walked", py->walked);
	jw_uint(w, "no_frames", py->no_frames);
	jw_uint(w, "unreadable", py->unreadable);
	jw_uint(w, "too_deep", py->too_deep);
	jw_uint(w, "not_kept", py->not_kept);
	python_gc(w, &py->gc);
	jw_object_end(w);
}

void report_json__process_id_members(struct jw *w, const struct report_process *p)
{
	jw_int(w, "pid", p->pid);
	jw_string(w, "comm", p->comm);
}

void report_json__process_state_members(struct jw *w, const struct report_process *p)
{
	if (p->rss_bytes >= 0)
		jw_int(w, "rss_bytes", p->rss_bytes);
	else
		jw_null(w, "rss_bytes");
	jw_bool(w, "alive", p->alive);
}

void report_json__frame_members(struct jw *w, const struct lw_frame *f)
{
	char addr[24];

	snprintf(addr, sizeof(addr), "0x%" PRIx64, f->addr);
	jw_string(w, "addr", addr);
	jw_string(w, "kind", f->python ? "python" : "native");
	if (f->python) {
		/* addr is the code object's */
		jw_null(w, "module");
		jw_null(w, "build_id");
		jw_null(w, "module_offset");
	} else if (f->module) {
		jw_string(w, "module", f->module->path);
		jw_string(w, "build_id", f->module->build_id[0] ? f->module->build_id : NULL);
		jw_uint(w, "module_offset", f->module_offset);
	} else {
		jw_null(w, "module");
		jw_null(w, "build_id");
		jw_null(w, "module_offset");
		jw_bool(w, "jit", f->mapped_exec);
	}
	/* every key is always present; null where it is unknown */
	if (f->sym && f->sym->function) {
		jw_string(w, "function", f->sym->function);
		if (f->sym->caller || f->python)
			jw_null(w, "offset"); /* inlined, or Python: no offset of its own */
		else
			jw_uint(w, "offset", f->sym->offset);
	} else {
		jw_null(w, "function");
		jw_null(w, "offset");
	}
	if (f->sym && f->sym->file) {
		jw_string(w, "file", f->sym->file);
		jw_int(w, "line", f->sym->line);
	} else {
		jw_null(w, "file");
		jw_null(w, "line");
	}
	jw_bool(w, "inlined", f->sym && f->sym->caller);
	if (f->sym && f->sym->stripped)
		jw_bool(w, "stripped", true);
}

static void frame(struct jw *w, const struct lw_frame *f)
{
	jw_object(w, NULL);
	report_json__frame_members(w, f);
	jw_object_end(w);
}

void report_json__stack_members(struct jw *w, const struct lw_site *s, const struct report *r)
{
	char id[20];

	snprintf(id, sizeof(id), "%016" PRIx64, s->id);
	jw_string(w, "id", id);
	jw_int(w, "pid", s->pid);
	jw_string(w, "category", category_name(s->category));
	jw_int(w, "outstanding_bytes", s->bytes);
	/* --growth: pages, no allocations, but for a zoom window's stacks */
	if (r->growth && s->category == LW_CAT_RESIDENT)
		jw_null(w, "outstanding_allocs");
	else
		jw_int(w, "outstanding_allocs", s->allocs);
	if (r->growth)
		jw_bool(w, "zoom", s->category != LW_CAT_RESIDENT);
	jw_int(w, "delta_bytes", s->bytes - s->reported_bytes);
	if (r->since_s > 0)
		jw_int(w, "since_delta_bytes", s->since_bytes);
	jw_double(w, "growth_bytes_per_s", s->trend.rate);
	jw_string(w, "verdict", verdict__name(s->trend.verdict));
	if (s->oldest_age_s >= 0)
		jw_double(w, "oldest_age_s", s->oldest_age_s);
	else
		jw_null(w, "oldest_age_s");
	if (r->min_age_s > 0)
		jw_int(w, "bytes_older_than_min_age", s->bytes_older);
	jw_uint(w, "total_allocs", s->total_allocs);
	jw_uint(w, "total_frees", s->total_frees);
	jw_bool(w, "truncated", s->truncated);
	jw_array(w, "frames");
	for (int i = 0; i < s->nr_frames; i++)
		frame(w, &s->frames[i]);
	jw_array_end(w);
}

/* --group-by: "group_by" and the groups, top first (judge/groups.h). */
static void groups(struct jw *w, const struct report *r)
{
	jw_string(w, "group_by", group_by__name(r->group_by));
	jw_array(w, "groups");
	for (int i = 0; i < r->nr_groups; i++) {
		const struct group *g = r->groups[i];

		jw_object(w, NULL);
		jw_string(w, "key", g->key);
		jw_int(w, "outstanding_bytes", g->bytes);
		jw_int(w, "outstanding_allocs", g->allocs);
		jw_int(w, "delta_bytes", g->bytes - g->reported_bytes);
		jw_double(w, "growth_bytes_per_s", g->trend.rate);
		jw_string(w, "verdict", verdict__name(g->trend.verdict));
		jw_int(w, "stacks", g->nr_stacks);
		jw_object_end(w);
	}
	jw_array_end(w);
}

static void rollup(struct jw *w, const struct rollup *u)
{
	char id[20];

	snprintf(id, sizeof(id), "%016" PRIx64, u->id);
	jw_object(w, NULL);
	jw_string(w, "id", id);
	jw_string(w, "exe", u->exe);
	jw_string(w, "category", category_name(u->category));
	jw_int(w, "processes", u->nr_procs);
	jw_array(w, "pids");
	for (int i = 0; i < u->nr_procs && i < LW_ROLLUP_PIDS; i++)
		jw_int(w, NULL, u->pids[i]);
	jw_array_end(w);
	jw_int(w, "outstanding_bytes", u->bytes);
	jw_int(w, "outstanding_allocs", u->allocs);
	jw_double(w, "growth_bytes_per_s", u->trend.rate);
	jw_double(w, "growth_per_process_bytes_per_s", u->rate_per_process);
	jw_string(w, "verdict", verdict__name(u->trend.verdict));
	jw_bool(w, "truncated", u->example->truncated);
	jw_array(w, "frames");
	for (int i = 0; i < u->example->nr_frames; i++)
		frame(w, &u->example->frames[i]);
	jw_array_end(w);
	jw_object_end(w);
}

/* "kernel": {release, tier, features: {name: bool}, dropped: [{feature, reason}]} */
static void kernel(struct jw *w, const struct kernel_info *k)
{
	jw_object(w, "kernel");
	jw_string(w, "release", k->release);
	jw_string(w, "tier", kernel__tier(k));
	jw_object(w, "features");
	for (int f = 0; f < KF_NR; f++)
		jw_bool(w, kernel__feature_name(f), k->has[f]);
	jw_object_end(w);
	jw_array(w, "dropped");
	for (int p = 0; p < LW_PART_NR; p++) {
		if (!k->dropped[p])
			continue;
		jw_object(w, NULL);
		jw_string(w, "feature", kernel__part_name(p));
		jw_string(w, "reason", k->reason[p]);
		jw_object_end(w);
	}
	jw_array_end(w);
	jw_object_end(w);
}

/* --zoom: the process's window. */
static void zoom(struct jw *w, const struct zoom_window *z)
{
	static const char *const states[] = {
		[ZOOM_NONE] = "none", [ZOOM_ACTIVE] = "active", [ZOOM_DONE] = "done",
		[ZOOM_UNAVAILABLE] = "unavailable",
	};

	jw_object(w, "zoom");
	jw_string(w, "state", states[z->state]);
	jw_double(w, "start_s", z->start_s);
	if (z->state == ZOOM_DONE)
		jw_double(w, "end_s", z->end_s);
	else
		jw_null(w, "end_s");
	jw_string(w, "reason", z->state == ZOOM_UNAVAILABLE ? z->why : NULL);
	jw_object_end(w);
}

void report_json__print(FILE *f, const struct report *r)
{
	struct jw w;

	report_json__begin(&w, f, r);
	jw_int(&w, "schema", 1);
	jw_string(&w, "mode", r->growth ? "growth" : "calls");
	report_json__time_members(&w, r);
	if (r->since_s > 0)
		jw_double(&w, "since_s", r->since_s);
	if (r->kernel)
		kernel(&w, r->kernel);
	jw_array(&w, "processes");
	for (int i = 0; i < r->nr_procs; i++) {
		const struct report_process *p = &r->procs[i];

		jw_object(&w, NULL);
		report_json__process_id_members(&w, p);
		jw_string(&w, "exe", p->exe && p->exe[0] ? p->exe : NULL);
		if (p->ns_pid > 0 && p->ns_pid != p->pid)
			jw_int(&w, "ns_pid", p->ns_pid);
		report_json__process_state_members(&w, p);
		if (p->parent)
			jw_int(&w, "parent_pid", p->parent);
		if (p->left)
			jw_bool(&w, "left_cgroup", true);
		if (p->cgroup_bytes >= 0)
			jw_int(&w, "memory_cgroup_bytes", p->cgroup_bytes);
		else
			jw_null(&w, "memory_cgroup_bytes");
		jw_string(&w, "note", p->note[0] ? p->note : NULL);
		if (p->started && p->alive) {
			jw_null(&w, "exit_status");
		} else if (p->started) {
			jw_int(&w, "exit_status", p->exit_status);
			if (p->exit_signal)
				jw_int(&w, "exit_signal", p->exit_signal);
		}
		python(&w, &p->python);
		counts(&w, "totals", &p->counts, r);
		if (p->zoom)
			zoom(&w, p->zoom);
		/* which process grows */
		jw_int(&w, "rank", p->rank);
		jw_double(&w, "growth_bytes_per_s", p->heap_trend.rate);
		jw_string(&w, "verdict", verdict__name(p->heap_trend.verdict));
		jw_double(&w, "rss_growth_bytes_per_s", p->rss_trend.rate);
		jw_string(&w, "rss_verdict", verdict__name(p->rss_trend.verdict));
		jw_object_end(&w);
	}
	jw_array_end(&w);
	counts(&w, "totals", &r->totals, r);
	jw_object(&w, "symbolizer");
	jw_uint(&w, "crashes", r->symbolizer.crashes);
	jw_uint(&w, "timeouts", r->symbolizer.timeouts);
	jw_uint(&w, "modules_failed", r->symbolizer.modules_failed);
	jw_object_end(&w);
	if (r->unwind.mode)
		unwind(&w, &r->unwind);
	jw_array(&w, "stacks");
	for (int i = 0; i < r->nr_stacks; i++) {
		jw_object(&w, NULL);
		report_json__stack_members(&w, r->stacks[i], r);
		jw_object_end(&w);
	}
	jw_array_end(&w);
	jw_array(&w, "rollups");
	for (int i = 0; i < r->nr_rollups; i++)
		rollup(&w, &r->rollups[i]);
	jw_array_end(&w);
	if (r->group_by != GROUP_BY_STACK)
		groups(&w, r);
	jw_object_end(&w);
	fputc('\n', f);
	fflush(f);
}
