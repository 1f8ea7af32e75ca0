// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The terminal table: a header line per report, one line per process, then
 * the top stacks, each with its frames beneath it. Fits 100 columns. */
#include <ctype.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>
#include "outputs/report_text.h"
#include "judge/zoom.h"
#include "stacks/unwind.h"

/* Frames shown per stack; JSON has them all. */
#define TEXT_FRAMES 8

/* The process ranked rank (report__rank_processes); the first one when
 * none is (ranks always cover 1..nr_procs). */
static const struct report_process *by_rank(const struct report *r, int rank)
{
	for (int i = 0; i < r->nr_procs; i++)
		if (r->procs[i].rank == rank)
			return &r->procs[i];
	return &r->procs[0];
}

/* An ALLOCS column: the count, or "-" where none is kept (none: --growth's
 * pages). */
static const char *allocs_col(bool none, int64_t n, char *buf, size_t len)
{
	if (none)
		return "-";
	snprintf(buf, len, "%" PRId64, n);
	return buf;
}

static const char *human(int64_t v, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double d = v < 0 ? -(double)v : (double)v;
	int u = 0;

	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%s%" PRId64 " B", v < 0 ? "-" : "", v < 0 ? -v : v);
	else if (d >= 100)
		snprintf(buf, len, "%s%.0f %s", v < 0 ? "-" : "", d, units[u]);
	else
		snprintf(buf, len, "%s%.1f %s", v < 0 ? "-" : "", d, units[u]);
	return buf;
}

/* An age in at most 6 columns: 42s, 12m05s, 3h07m, 2d04h; "-" unknown. */
static const char *duration(double s, char *buf, size_t len)
{
	long t = (long)s;

	if (s < 0)
		snprintf(buf, len, "-");
	else if (t < 60)
		snprintf(buf, len, "%.0fs", s);
	else if (t < 3600)
		snprintf(buf, len, "%ldm%02ld", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, len, "%ldh%02ld", t / 3600, t % 3600 / 60);
	else
		snprintf(buf, len, "%ldd%02ld", t / 86400, t % 86400 / 3600);
	return buf;
}

/* Columns of the trend sparkline: the last samples, scaled to their range. */
#define SPARK_WIDTH 12

static void sparkline(const struct series *s, char *out)
{
	static const char *const bars[] = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };
	unsigned int n = s->n < SPARK_WIDTH ? s->n : SPARK_WIDTH, from = s->n - n;
	int64_t lo = INT64_MAX, hi = INT64_MIN;

	out[0] = 0;
	for (unsigned int i = from; i < s->n; i++) {
		int64_t v = series__bytes(s, i);

		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	for (unsigned int i = from; i < s->n; i++) {
		int64_t v = series__bytes(s, i);
		int level = hi > lo ? (int)((v - lo) * 7 / (hi - lo)) : 0;

		strcat(out, bars[level]);
	}
	for (unsigned int i = n; i < SPARK_WIDTH; i++)
		strcat(out, " ");
}

/* One module and what walks its frames (the summary's header). */
static void unwind_module_line(FILE *f, const struct unwind_module *m)
{
	const char *base = strrchr(m->path, '/');

	fprintf(f, "    %s: %s, %s; unwound by %s\n", base ? base + 1 : m->path,
		m->has_fp ? "frame pointers" : "no frame pointers", m->has_cfi ? "CFI" : "no CFI",
		m->by_cfi ? "CFI" : "frame pointers");
}

static void lost_line(FILE *f, const char *indent, const struct report_counts *c)
{
	uint64_t lost = report_counts__lost(c);
	const char *sep = " (";

	fprintf(f, "%snot recorded: %" PRIu64, indent, lost);
	for (int i = 0; i < LW_LOST_NR && lost; i++) {
		if (!c->lost[i])
			continue;
		fprintf(f, "%s%s %" PRIu64, sep, lw_lost_names[i], c->lost[i]);
		sep = ", ";
	}
	fprintf(f, "%s", lost ? ")" : "");
	/* what a full map needs */
	if (c->lost[LW_LOST_ALLOCS_MAP_FULL])
		fprintf(f, "; raise --max-allocs");
	if (c->lost[LW_LOST_STATS_MAP_FULL])
		fprintf(f, "; raise --max-stacks");
	fputc('\n', f);
}

static const char *module_base(const struct lw_frame *fr)
{
	const char *slash;

	if (fr->python)
		return "python";
	if (!fr->module)
		return fr->mapped_exec ? "[anon exec]" : "[unmapped]";
	slash = strrchr(fr->module->path, '/');
	return slash ? slash + 1 : fr->module->path;
}

/* A pause: 850 us, 3.2 ms, 120 ms. */
static const char *pause(uint64_t ns, char *buf, size_t len)
{
	if (ns < 10000)
		snprintf(buf, len, "%" PRIu64 " us", (ns + 500) / 1000);
	else if (ns < 10000000)
		snprintf(buf, len, "%.1f ms", ns / 1e6);
	else
		snprintf(buf, len, "%.0f ms", ns / 1e6);
	return buf;
}

/* Its garbage collector: collections per generation since watching
 * began, their pauses, and gc.garbage (what no collection could free). */
static void gc_line(FILE *f, const struct py_gc_report *gc)
{
	char a[32], b[32], c[32];

	if (!gc->available) {
		fprintf(f, "    gc: unavailable: %s\n", gc->reason ? gc->reason : "not watched yet");
		return;
	}
	fprintf(f, "    gc: %" PRId64 "/%" PRId64 "/%" PRId64 " collections (generations 0/1/2), %"
		PRId64 " objects collected, %" PRId64 " uncollectable", gc->collections[0],
		gc->collections[1], gc->collections[2],
		gc->collected[0] + gc->collected[1] + gc->collected[2],
		gc->uncollectable[0] + gc->uncollectable[1] + gc->uncollectable[2]);
	if (gc->timed && !gc->pauses.n)
		fprintf(f, "; none timed yet");
	else if (gc->timed)
		fprintf(f, "; paused %s in all, longest %s, p99 %s", pause(gc->pauses.total_ns, a,
			sizeof(a)), pause(gc->pauses.max_ns, b, sizeof(b)),
			pause(gc->pauses.p99_ns, c, sizeof(c)));
	if (gc->garbage >= 0)
		fprintf(f, "; gc.garbage %" PRId64 " objects, %s", gc->garbage,
			verdict__name(gc->garbage_trend.verdict));
	fputc('\n', f);
	if (!gc->timed && gc->reason)
		fprintf(f, "    gc: pauses not timed: %s\n", gc->reason);
	if (gc->dropped || gc->unreadable)
		fprintf(f, "    gc: not recorded: %" PRIu64 " collections (%" PRIu64 " ring buffer "
			"full, %" PRIu64 " statistics unreadable)\n", gc->dropped + gc->unreadable,
			gc->dropped, gc->unreadable);
}
static void frame_line(FILE *f, int i, const struct lw_frame *fr)
{
	const char *file;

	fprintf(f, "        #%-2d ", i);
	if (fr->sym && fr->sym->function && (fr->sym->caller || fr->python))
		fprintf(f, "%s", fr->sym->function); /* inlined or Python: no offset */
	else if (fr->python)
		fprintf(f, "<code 0x%" PRIx64 ">", fr->addr);
	else if (fr->sym && fr->sym->function)
		fprintf(f, "%s+0x%" PRIx64, fr->sym->function, fr->sym->offset);
	else if (fr->module)
		fprintf(f, "0x%" PRIx64, fr->module_offset);
	else
		fprintf(f, "0x%" PRIx64, fr->addr);
	if (fr->sym && fr->sym->file) {
		file = strrchr(fr->sym->file, '/');
		fprintf(f, " %s:%d", file ? file + 1 : fr->sym->file, fr->sym->line);
	}
	fprintf(f, " [%s]%s%s\n", module_base(fr), fr->sym && fr->sym->caller ? " (inlined)" : "",
		fr->sym && fr->sym->stripped ? " [stripped]" : "");
}

/* --group-by: the groups in place of the stacks; STACKS is how many
 * stacks (over every process) each sums. */
static void group_lines(FILE *f, const struct report *r)
{
	char a[24], b[24], c[32], d[32], key[16], n[24];

	snprintf(key, sizeof(key), "%s", group_by__name(r->group_by));
	for (char *k = key; *k; k++)
		*k = toupper((unsigned char)*k);
	fprintf(f, "  %10s %7s %10s %12s %-*s %-9s %6s  %s\n", "OUTSTANDING", "ALLOCS", "DELTA",
		"GROWTH", SPARK_WIDTH, "TREND", "VERDICT", "STACKS", key);
	for (int i = 0; i < r->nr_groups; i++) {
		const struct group *g = r->groups[i];
		int64_t delta = g->bytes - g->reported_bytes;
		char spark[SPARK_WIDTH * 3 + 1];

		snprintf(c, sizeof(c), "%s/min", human((int64_t)(g->trend.rate * 60), b, sizeof(b)));
		snprintf(d, sizeof(d), "%s%s", delta > 0 ? "+" : "", human(delta, b, sizeof(b)));
		sparkline(&g->series, spark);
		fprintf(f, "  %10s %7s %10s %12s %s %-9s %6d  %s\n", human(g->bytes, a, sizeof(a)),
			allocs_col(r->growth, g->allocs, n, sizeof(n)), d, c, spark,
			verdict__name(g->trend.verdict), g->nr_stacks, g->key);
	}
}

void report_text__print(FILE *f, const struct report *r)
{
	char clock[16], a[24], b[24], c[24], d[32], e[32], n[24];
	struct tm tm;

	localtime_r(&r->when.tv_sec, &tm);
	strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	if (r->summary)
		fprintf(f, "\n=== Summary after %.1f s ===\n", r->elapsed_s);
	if (r->growth)
		fprintf(f, "[%s] %.1f s: %s resident, by the stacks that first touched it; %" PRIu64
			" granules touched, %" PRIu64 " given back\n", clock, r->elapsed_s,
			human(r->totals.outstanding_bytes, a, sizeof(a)), r->totals.granules_touched,
			r->totals.granules_given_back);
	else
		fprintf(f, "[%s] %.1f s: %s outstanding in %" PRId64 " allocations; %" PRIu64
			" allocs, %" PRIu64 " frees seen\n", clock, r->elapsed_s,
			human(r->totals.outstanding_bytes, a, sizeof(a)), r->totals.outstanding_allocs,
			r->totals.alloc_calls, r->totals.free_calls);
	for (int k = 0; k < r->nr_procs; k++) {
		/* --growth: which process grows first (ranked) */
		const struct report_process *p = r->growth ? by_rank(r, k + 1) : &r->procs[k];
		char ended[80] = "";

		if (!p->alive && p->started && p->exit_signal)
			snprintf(ended, sizeof(ended), " (killed by signal %d)", p->exit_signal);
		else if (!p->alive && p->started)
			snprintf(ended, sizeof(ended), " (exited with status %d)", p->exit_status);
		else if (!p->alive)
			snprintf(ended, sizeof(ended), " (exited)");
		if (p->parent)
			snprintf(ended + strlen(ended), sizeof(ended) - strlen(ended),
				 " (child of PID %d)", p->parent);
		if (p->left)
			snprintf(ended + strlen(ended), sizeof(ended) - strlen(ended),
				 " (left the cgroup)");
		if (r->growth)
			fprintf(f, "  PID %-7d %-15s %s grown since attach, RSS %s", p->pid, p->comm,
				human(p->counts.outstanding_bytes, a, sizeof(a)),
				p->rss_bytes >= 0 ? human(p->rss_bytes, b, sizeof(b)) : "-");
		else
			fprintf(f, "  PID %-7d %-15s %s in %" PRId64 " allocs, RSS %s", p->pid, p->comm,
				human(p->counts.outstanding_bytes, a, sizeof(a)),
				p->counts.outstanding_allocs,
				p->rss_bytes >= 0 ? human(p->rss_bytes, b, sizeof(b)) : "-");
		if (p->cgroup_bytes >= 0)
			fprintf(f, ", cgroup %s", human(p->cgroup_bytes, b, sizeof(b)));
		if (r->growth && p->alive && (p->heap_trend.verdict == VERDICT_GROWING ||
					      p->rss_trend.verdict == VERDICT_GROWING))
			fprintf(f, ", growing %s/min",
				human((int64_t)(60 * (p->heap_trend.rate > p->rss_trend.rate ?
						      p->heap_trend.rate : p->rss_trend.rate)),
				      b, sizeof(b)));
		fprintf(f, "%s\n", ended);
		if (p->note[0])
			fprintf(f, "    note: %s\n", p->note);
		if (p->zoom && p->zoom->state == ZOOM_ACTIVE)
			fprintf(f, "    zoom: every allocator call counted since %.1f s (the zoom "
				"stacks below)\n", p->zoom->start_s);
		else if (p->zoom && p->zoom->state == ZOOM_DONE)
			fprintf(f, "    zoom: every allocator call counted from %.1f s to %.1f s "
				"(the zoom stacks below, as the window left them)\n",
				p->zoom->start_s, p->zoom->end_s);
		else if (p->zoom && p->zoom->state == ZOOM_UNAVAILABLE)
			fprintf(f, "    zoom: not possible: %s\n", p->zoom->why);
		if (p->python.unsupported)
			fprintf(f, "    python: %s: native frames only\n", p->python.unsupported);
		if (p->python.finalized)
			fprintf(f, "    python: counted until its interpreter began finalizing (the "
				"frees of its teardown are not seen)\n");
		if (p->python.pymalloc_why)
			fprintf(f, "    python: %s counted: %s\n",
				p->python.pymalloc ? p->python.pymalloc : "nothing",
				p->python.pymalloc_why);
		if (p->python.present)
			gc_line(f, &p->python.gc);
	}
	lost_line(f, "  ", &r->totals);
	if (r->symbolizer.crashes || r->symbolizer.timeouts)
		fprintf(f, "  symbolizer: %u crashes, %u timeouts, restarted; %u modules given up "
			"(their frames show module+offset)\n", r->symbolizer.crashes,
			r->symbolizer.timeouts, r->symbolizer.modules_failed);
	if (r->kernel && strcmp(kernel__tier(r->kernel), "full")) {
		fprintf(f, "  kernel %s: tier %s;", r->kernel->release, kernel__tier(r->kernel));
		for (int k = 0; k < KF_NR; k++)
			if (!r->kernel->has[k])
				fprintf(f, " no %s;", kernel__feature_name(k));
		for (int p = 0; p < LW_PART_NR; p++)
			if (r->kernel->dropped[p])
				fprintf(f, " %s left out;", kernel__part_name(p));
		fprintf(f, " leakwatch --check says what each means\n");
	}
	if (r->unwind.mode && r->unwind.stack_quality >= 0)
		fprintf(f, "  stacks: %s unwinder; %d of %d stacks (%.0f%%) reach the process entry or "
			"a thread start\n", r->unwind.mode, r->unwind.complete, r->unwind.stacks,
			100 * r->unwind.stack_quality);
	if (r->unwind.verifying)
		fprintf(f, "  stacks verified with libdw: %llu of %llu agree; %llu could not be "
			"checked (process gone, or deeper than the copy), %llu dropped (buffer "
			"full)\n", (unsigned long long)r->unwind.agreed,
			(unsigned long long)r->unwind.verified,
			(unsigned long long)r->unwind.unverifiable,
			(unsigned long long)r->unwind.dropped);
	if (r->unwind.mode && r->summary)
		for (size_t i = 0; i < r->unwind.nr_modules; i++)
			unwind_module_line(f, &r->unwind.modules[i]);
	if (r->sampling.mode)
		fprintf(f, "  sampled (%s %llu): bytes and counts are estimates, each recorded "
			"allocation standing for %.1f on average\n", r->sampling.mode,
			r->sampling.value, report_counts__sample_rate(&r->totals, &r->sampling));
	if (!r->nr_stacks) {
		fprintf(f, r->growth ? "  no memory made resident since attach\n" :
			"  no outstanding allocations made since attach\n");
		return;
	}
	if (r->min_age_s > 0)
		fprintf(f, "  %s older than %g s (only stacks holding some)\n",
			human(r->totals.bytes_older, a, sizeof(a)), r->min_age_s);
	if (r->group_by != GROUP_BY_STACK) {
		group_lines(f, r);
		/* the summary is what a person acts on: the stacks too */
		if (!r->summary) {
			fflush(f);
			return;
		}
	}
	if (r->since_s > 0)
		snprintf(d, sizeof(d), "+%s", duration(r->since_s, e, sizeof(e)));
	fprintf(f, "  %10s %7s %10s %12s %-*s %-9s %6s %7s  %s\n", "OUTSTANDING", "ALLOCS",
		r->since_s > 0 ? d : "DELTA", "GROWTH", SPARK_WIDTH, "TREND", "VERDICT", "AGE", "PID",
		"STACK");
	for (int i = 0; i < r->nr_stacks; i++) {
		const struct lw_site *s = r->stacks[i];
		int64_t delta = r->since_s > 0 ? s->since_bytes : s->bytes - s->reported_bytes;
		char spark[SPARK_WIDTH * 3 + 1];

		snprintf(c, sizeof(c), "%s/min", human((int64_t)(s->trend.rate * 60), b, sizeof(b)));
		snprintf(d, sizeof(d), "%s%s", delta > 0 ? "+" : "", human(delta, b, sizeof(b)));
		sparkline(&s->series, spark);
		fprintf(f, "  %10s %7s %10s %12s %s %-9s %6s %7d  %016" PRIx64 "%s%s\n",
			human(s->bytes, a, sizeof(a)), allocs_col(r->growth && s->category == LW_CAT_RESIDENT, s->allocs, n,
						 sizeof(n)), d, c,
			spark,
			verdict__name(s->trend.verdict), duration(s->oldest_age_s, e, sizeof(e)),
			s->pid, s->id,
			r->growth && s->category != LW_CAT_RESIDENT ? " zoom" :
			s->category == LW_CAT_MMAP ? " mmap" : s->category == LW_CAT_PYTHON ? " python" : "",
			s->truncated ? " (truncated)" : "");
		if (!s->nr_frames)
			fprintf(f, "        [stack not recorded]\n");
		/* the summary is what a person acts on: whole stacks */
		for (int j = 0; j < s->nr_frames && (r->wide || r->summary || j < TEXT_FRAMES); j++)
			frame_line(f, j, &s->frames[j]);
		if (!r->wide && !r->summary && s->nr_frames > TEXT_FRAMES)
			fprintf(f, "        ... %d more frames (-w shows them)\n", s->nr_frames - TEXT_FRAMES);
	}
	if (r->nr_rollups)
		fprintf(f, "  the same stack in several processes of one program:\n"
			"  %10s %7s %12s %12s %-9s %5s  %s\n", "OUTSTANDING", "ALLOCS", "GROWTH",
			"PER PROCESS", "VERDICT", "PROCS", "STACK");
	for (int i = 0; i < r->nr_rollups; i++) {
		const struct rollup *u = &r->rollups[i];
		char per[32];

		snprintf(c, sizeof(c), "%s/min", human((int64_t)(u->trend.rate * 60), b, sizeof(b)));
		snprintf(per, sizeof(per), "%s/min", human((int64_t)(u->rate_per_process * 60), b,
							   sizeof(b)));
		fprintf(f, "  %10s %7s %12s %12s %-9s %5d  %016" PRIx64 " %s\n",
			human(u->bytes, a, sizeof(a)), allocs_col(r->growth, u->allocs, n, sizeof(n)), c, per,
			verdict__name(u->trend.verdict),
			u->nr_procs, u->id, u->exe);
		for (int j = 0; j < u->example->nr_frames && (r->wide || j < 3); j++)
			frame_line(f, j, &u->example->frames[j]);
	}
	fflush(f);
}
